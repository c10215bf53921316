"""The Gaunt product basis of MACE: an independent oracle, O(3) equivariance, gradients, MACE.

The oracle builds the Gaunt tensor ``(1/4 pi) integral Y_a Y_b Y_c`` (component normalisation)
from e3nn-jax's spherical harmonics on a numpy Gauss-Legendre x uniform quadrature, and contracts
the mixed factors path by path with it (no function on a grid, no equitens transform), following
the documented weight layout. Counts of polynomials are checked against the character formula of
the symmetric power (CG) and against the multisets of degrees (Gaunt).
"""

from __future__ import annotations

import functools
import itertools

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from equitens.analysis import compare_product_bases, product_basis_expressivity
from equitens.models import build_model, predict
from equitens.nn.gaunt_product_basis import GauntProductBasisSpec, gaunt_product_basis
from equitens.nn.symmetric_contraction import (
    SymmetricContraction,
    product_basis_spec,
    symmetric_contraction,
)
from tests.models._graphs import CUTOFF, SPECIES, batch, ethanol, graph_from_atoms
from tests.nn._helpers import act, orthogonal_matrices

METHODS = ("gaunt_grid", "gaunt_fourier", "vector_gaunt")


def natural(c: int, lmax: int) -> str:
    return " + ".join(f"{c}x{l}{'eo'[l % 2]}" for l in range(lmax + 1))


def inputs(spec, n=5, num_species=2, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    x = jax.random.normal(k1, (n, spec.irreps_in.dim), jnp.float64)
    w = jax.random.normal(k2, (num_species, spec.weight_numel), jnp.float64)
    return x, w, jnp.arange(n) % num_species


# ------------------------------------------------------------------------------ the oracle


def _sphere_quadrature(n_beta: int, n_alpha: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre in cos(beta) (polar axis +y) x uniform in alpha: unit points, weights."""
    x, w = np.polynomial.legendre.leggauss(n_beta)
    alpha = 2 * np.pi * np.arange(n_alpha) / n_alpha
    s = np.sqrt(1 - x**2)
    points = np.stack(
        [
            s[:, None] * np.sin(alpha),
            np.broadcast_to(x[:, None], (n_beta, n_alpha)),
            s[:, None] * np.cos(alpha),
        ],
        -1,
    ).reshape(-1, 3)
    weights = np.outer(w, np.full(n_alpha, 2 * np.pi / n_alpha)).reshape(-1)
    return points, weights


@functools.cache
def gaunt_tensor(lmax: int) -> np.ndarray:
    """``G[a, b, c] = (1/4 pi) integral Y_a Y_b Y_c`` for all components up to ``lmax`` (e3nn's
    component-normalised harmonics), by a quadrature exact for degree ``3 lmax``."""
    n_beta, n_alpha = 3 * lmax // 2 + 2, 3 * lmax + 2
    points, weights = _sphere_quadrature(n_beta, n_alpha)
    y = np.asarray(
        e3nn.spherical_harmonics(
            e3nn.Irreps.spherical_harmonics(lmax), points, False, "component"
        ).array
    )
    return np.einsum("p,pa,pb,pc->abc", weights, y, y, y) / (4 * np.pi)


@functools.cache
def vector_gaunt_tensor(lmax: int) -> np.ndarray:
    """``V[a, b, c] = (1/4 pi) integral n . (grad_S Y_a x grad_S Y_b) Y_c``: the surface
    gradients are the gradients of e3nn-jax's harmonics of ``r / |r|`` at unit vectors."""
    n_beta, n_alpha = 3 * lmax // 2 + 3, 3 * lmax + 3
    points, weights = _sphere_quadrature(n_beta, n_alpha)
    irreps = e3nn.Irreps.spherical_harmonics(lmax)

    def sh(r):
        return e3nn.spherical_harmonics(irreps, r, True, "component").array

    y = np.asarray(jax.vmap(sh)(jnp.asarray(points)))
    grad = np.asarray(jax.vmap(jax.jacfwd(sh))(jnp.asarray(points)))  # (P, D, 3)
    cross = np.cross(grad[:, :, None, :], grad[:, None, :, :])  # (P, D, D, 3)
    normal = np.einsum("pabi,pi->pab", cross, points)
    return np.einsum("p,pab,pc->abc", weights, normal, y) / (4 * np.pi)


def oracle(spec: GauntProductBasisSpec, w, x, species) -> np.ndarray:
    """The basis from the documented semantics, contracted path by path with ``gaunt_tensor``
    (and ``vector_gaunt_tensor``), all coefficients of every product kept."""
    w, x = np.asarray(w)[np.asarray(species)], np.asarray(x)
    n, c = x.shape[0], spec.num_channels
    lmax, p, k = spec.lmax_in, spec.max_power, spec.num_mixes
    top = p * lmax
    g = gaunt_tensor(top)
    vector = spec.method == "vector_gaunt"
    v = vector_gaunt_tensor(top) if vector else None
    # A as (N, C, (top + 1)^2) coefficients
    a = np.zeros((n, c, (top + 1) ** 2))
    start = 0
    for mul, ir in spec.irreps_in:
        block = x[:, start : start + mul * ir.dim].reshape(n, mul, ir.dim)
        a[:, :, ir.l**2 : (ir.l + 1) ** 2] = block
        start += mul * ir.dim

    def gaunt(left, right, tensor=g):
        return np.einsum("nca,ncb,abd->ncd", left, right, tensor)

    products = {}  # (nu, chain, natural?) -> coefficients
    if p >= 2:
        entries = len(spec.irreps_in)
        end = spec.output_numel + k * p * entries * c
        mix = w[:, spec.output_numel : end].reshape(n, k, p, entries, c)
        odd = w[:, end:].reshape(n, k, 2 * p - 3, c) if vector else None
        for chain in range(k):
            factors = []
            for i in range(p):
                f = np.zeros_like(a)
                for e, (_, ir) in enumerate(spec.irreps_in):
                    sl = slice(ir.l**2, (ir.l + 1) ** 2)
                    f[:, :, sl] = mix[:, chain, i, e, :, None] * a[:, :, sl]
                factors.append(f)
            nat, pseudo = factors[0], np.zeros_like(a)
            for i in range(1, p):
                f = factors[i]
                new_nat, new_pseudo = gaunt(nat, f), gaunt(pseudo, f)
                if vector:
                    if i == 1:
                        new_pseudo = new_pseudo + odd[:, chain, 0, :, None] * gaunt(nat, f, v)
                    else:
                        alpha = odd[:, chain, 2 * i - 3, :, None]
                        beta = odd[:, chain, 2 * i - 2, :, None]
                        new_nat = new_nat + alpha * gaunt(pseudo, f, v)
                        new_pseudo = new_pseudo + beta * gaunt(nat, f, v)
                nat, pseudo = new_nat, new_pseudo
                products[(i + 1, chain, True)] = nat
                products[(i + 1, chain, False)] = pseudo
    out, start = [], 0
    for feeding, (_, ir) in zip(spec.blocks, spec.irreps_out, strict=True):
        sl = slice(ir.l**2, (ir.l + 1) ** 2)
        natural_ir = ir.p == (-1) ** ir.l
        total = 0.0
        for j, (nu, chain) in enumerate(feeding):
            weight = w[:, start + j * c : start + (j + 1) * c, None]
            t = a[:, :, sl] if nu == 1 else products[(nu, chain, natural_ir)][:, :, sl]
            total = total + weight * t
        start += len(feeding) * c
        out.append(np.asarray(total).reshape(n, -1))
    return np.concatenate(out, axis=1)


def test_the_oracle_tensor_is_the_gaunt_integral():
    """Spot checks of the oracle's tensor by hand (sphere means <y^2> = 1/3, <y^4> = 1/5)."""
    g = gaunt_tensor(2)
    np.testing.assert_allclose(g[0, 1:4, 1:4], np.eye(3), atol=1e-13)  # <Y_0 Y_1m Y_1m'>
    # Y_1y = sqrt(3) y, Y_20 = sqrt(5) (3 y^2 - 1) / 2: <3 y^2 Y_20> = 3 sqrt(5) / 2 * 4 / 15
    np.testing.assert_allclose(g[2, 2, 6], 2 / np.sqrt(5), atol=1e-13)
    np.testing.assert_allclose(g[1, 1, 6], -1 / np.sqrt(5), atol=1e-13)  # <3 x^2 Y_20>
    # grad_S x = e_x - x n: n . (grad_S x x grad_S y) = n . (e_x x e_y) = z, so
    # <n . (grad Y_1x x grad Y_1y) Y_1z> = 3 <z sqrt(3) z> = sqrt(3)
    v = vector_gaunt_tensor(1)
    np.testing.assert_allclose(v[1, 2, 3], np.sqrt(3), atol=1e-13)
    np.testing.assert_allclose(v[2, 1, 3], -np.sqrt(3), atol=1e-13)
    np.testing.assert_allclose(v[1, 1], 0.0, atol=1e-13)


# ------------------------------------------------------------------------------ values


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mixes", [1, 2])
def test_matches_the_direct_gaunt_contraction(method, mixes):
    irreps_out = "3x0e + 3x1o + 3x2e"
    if method == "vector_gaunt":  # and the pseudo outputs of the odd couplings
        irreps_out += " + 3x1e + 3x2o"
    spec = GauntProductBasisSpec.create(
        natural(3, 2), irreps_out, 3, method=method, num_mixes=mixes
    )
    x, w, species = inputs(spec, seed=mixes)
    got = gaunt_product_basis(spec, w, x, species)
    expected = oracle(spec, w, x, species)
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)


def test_missing_degrees_and_high_outputs():
    """A = 0e + 2e (no 1o) and outputs up to 4e, reached only by products."""
    spec = GauntProductBasisSpec.create("2x0e + 2x2e", "2x0e + 2x2e + 2x4e", 2, num_mixes=2)
    assert [len(b) for b in spec.blocks] == [3, 3, 2]
    x, w, species = inputs(spec, seed=7)
    got = gaunt_product_basis(spec, w, x, species)
    np.testing.assert_allclose(got, oracle(spec, w, x, species), rtol=1e-11, atol=1e-11)


def test_grid_fourier_and_every_transform_agree():
    grid = GauntProductBasisSpec.create(natural(2, 3), natural(2, 2), 3, num_mixes=2)
    fourier = GauntProductBasisSpec.create(
        natural(2, 3), natural(2, 2), 3, method="gaunt_fourier", num_mixes=2
    )
    x, w, species = inputs(grid, seed=3)
    reference = gaunt_product_basis(fourier, w, x, species)
    for transform in ("auto", "dense", "dft", "fft"):
        np.testing.assert_allclose(
            gaunt_product_basis(grid, w, x, species, transform=transform),
            reference,
            rtol=1e-11,
            atol=1e-10,
        )


def test_vector_gaunt_without_odd_weights_is_the_scalar_basis():
    irreps = natural(2, 2)
    scalar = GauntProductBasisSpec.create(irreps, irreps, 3, num_mixes=2)
    vector = GauntProductBasisSpec.create(irreps, irreps, 3, method="vector_gaunt", num_mixes=2)
    assert vector.blocks == scalar.blocks and vector.odd_numel == 2 * 3 * 2
    x, w, species = inputs(vector, seed=9)
    w = w.at[:, scalar.weight_numel :].set(0.0)
    for transform in ("auto", "dft", "fft"):
        np.testing.assert_allclose(
            gaunt_product_basis(vector, w, x, species, transform=transform),
            gaunt_product_basis(scalar, w[:, : scalar.weight_numel], x, species),
            rtol=1e-11,
            atol=1e-10,
        )


def test_each_degree_is_homogeneous():
    spec = GauntProductBasisSpec.create(natural(2, 2), natural(2, 1), 3, num_mixes=2)
    x, w, species = inputs(spec, seed=4)
    c = spec.num_channels
    for nu in (1, 2, 3):
        mask = np.concatenate(
            [np.repeat([d == nu for d, _ in feeding], c) for feeding in spec.blocks]
            + [np.ones(spec.mix_numel, bool)]
        )
        out = gaunt_product_basis(spec, w * mask, x, species)
        scaled = gaunt_product_basis(spec, w * mask, 1.3 * x, species)
        assert float(jnp.abs(out).max()) > 1e-3
        np.testing.assert_allclose(scaled, 1.3**nu * out, rtol=1e-11, atol=1e-12)


# ------------------------------------------------------------------------------ symmetry


@pytest.mark.parametrize("method", METHODS)
def test_equivariant_under_rotations_and_inversion(method):
    irreps_in, irreps_out = natural(3, 3), natural(3, 3)
    if method == "vector_gaunt":
        irreps_out += " + 3x0o + 3x1e + 3x2o + 3x3e"
    spec = GauntProductBasisSpec.create(irreps_in, irreps_out, 3, method=method, num_mixes=2)
    x, w, species = inputs(spec, n=4, seed=5)
    apply = jax.jit(lambda x: gaunt_product_basis(spec, w, x, species))
    out = apply(x)
    assert float(jnp.abs(out).max()) > 1e-2
    for q in orthogonal_matrices(11):  # a rotation, the inversion, an improper rotation
        rotated = apply(act(e3nn.IrrepsArray(irreps_in, x), q).array)
        expected = act(e3nn.IrrepsArray(irreps_out, out), q).array
        np.testing.assert_allclose(rotated, expected, atol=1e-10 * float(jnp.abs(out).max()))


def test_gradients_first_and_second_order():
    spec = GauntProductBasisSpec.create(natural(2, 2), natural(2, 1), 3, num_mixes=2)
    x, w, species = inputs(spec, n=2, seed=6)
    w = w * jnp.asarray(spec.weight_init_std())
    f = jax.jit(lambda x, w: gaunt_product_basis(spec, w, x, species))
    check_grads(f, (x, w), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_gradients_vector_gaunt():
    spec = GauntProductBasisSpec.create(
        natural(1, 2), "1x0e + 1x1o + 1x1e", 3, method="vector_gaunt", num_mixes=1
    )
    x, w, species = inputs(spec, n=2, seed=8)
    w = w * jnp.asarray(spec.weight_init_std())
    f = jax.jit(lambda x, w: gaunt_product_basis(spec, w, x, species))
    check_grads(f, (x, w), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_gradients_fourier():
    spec = GauntProductBasisSpec.create(
        natural(2, 2), natural(2, 1), 3, method="gaunt_fourier", num_mixes=2
    )
    x, w, species = inputs(spec, n=2, seed=6)
    w = w * jnp.asarray(spec.weight_init_std())
    f = jax.jit(lambda x, w: gaunt_product_basis(spec, w, x, species))
    check_grads(f, (x, w), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------------------ the layer


def test_the_layer_picks_the_gaunt_basis_for_gaunt_methods():
    x, z = jax.random.normal(jax.random.PRNGKey(0), (4, 36)), jnp.array([0, 1, 1, 0])
    layer = SymmetricContraction(
        "4x0e + 4x1o",
        irreps_in=natural(4, 2),
        correlation=3,
        num_species=2,
        method="gaunt_grid",
        num_mixes=2,
        param_dtype=jnp.float64,
    )
    params = layer.init(jax.random.PRNGKey(1), x, z)
    spec = product_basis_spec(natural(4, 2), "4x0e + 4x1o", 3, "gaunt_grid", "auto", 2)
    assert isinstance(spec, GauntProductBasisSpec)
    w = params["params"]["w"]
    assert w.shape == (2, spec.weight_numel)
    np.testing.assert_allclose(
        layer.apply(params, x, z), symmetric_contraction(spec, w, x, z), atol=1e-13
    )
    np.testing.assert_allclose(layer.apply(params, x, z), oracle(spec, w, x, z), atol=1e-11)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"irreps_in": "2x0e + 2x1e"}, "unnatural parity.*1e.*method='cg'"),
        ({"irreps_in": "2x0e + 2x1e", "method": "vector_gaunt"}, "unnatural parity"),
        ({"irreps_out": "2x0e + 2x1e"}, "unnatural parity.*method='vector_gaunt'"),
        ({"irreps_out": "2x2o", "method": "vector_gaunt"}, "2x2o is not reachable"),
        ({"irreps_out": "2x4e"}, "2x4e is not reachable"),
        ({"method": "cg"}, "needs method in"),
        ({"irreps_in": "2x0e + 2x1o + 2x1o"}, "repeats a degree"),
        ({"num_mixes": 0}, "num_mixes must be an int >= 1"),
        ({"correlation": 0}, "correlation must be an int >= 1"),
    ],
)
def test_clear_errors(kwargs, message):
    args = {"irreps_in": "2x0e + 2x1o", "irreps_out": "2x0e", "correlation": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        GauntProductBasisSpec.create(
            args.pop("irreps_in"), args.pop("irreps_out"), args.pop("correlation"), **args
        )


# ------------------------------------------------------------------------------ counts


def _character_count(degrees: list[int], nu: int, l_out: int, p_out: int) -> int:
    """Multiplicity of the irrep ``(l_out, p_out)`` in ``Sym^nu`` of natural irreps of the
    ``degrees``: O(3) characters, ``h_nu`` of the eigenvalues by Newton's identities, integrated
    over the rotation angle (uniform rule, exact for these trigonometric polynomials)."""
    m = 4 * (nu * max(degrees) + l_out) + 8
    theta = 2 * np.pi * (np.arange(m) + 0.5) / m
    total = 0.0
    for improper in (False, True):

        def power_sum(k, improper=improper):  # chi_A(g^k)
            return sum(
                ((-1) ** (l * k) if improper else 1)
                * sum(np.exp(1j * mm * k * theta) for mm in range(-l, l + 1))
                for l in degrees
            )

        h = [np.ones(m, complex)]
        for n in range(1, nu + 1):
            h.append(sum(power_sum(k) * h[n - k] for k in range(1, n + 1)) / n)
        chi_out = sum(np.exp(1j * mm * theta) for mm in range(-l_out, l_out + 1))
        sign = p_out if improper else 1
        measure = (1 - np.cos(theta)) / m  # (1/2pi) int (1 - cos) dtheta
        total += np.real(np.sum(h[nu] * sign * chi_out * measure)) / 2
    return round(total)


def _multiset_count(degrees: list[int], nu: int, l_out: int) -> int:
    """Multisets of ``nu`` degrees whose product of harmonics has a degree-``l_out`` part."""
    count = 0
    for multiset in itertools.combinations_with_replacement(degrees, nu):
        reach = {multiset[0]}
        for l2 in multiset[1:]:
            reach = {
                l3
                for l1 in reach
                for l3 in range(abs(l1 - l2), l1 + l2 + 1)
                if (l1 + l2 + l3) % 2 == 0
            }
        count += l_out in reach
    return count


def test_counts_against_characters_and_multisets():
    degrees = [0, 1, 2]
    outputs = "0e + 1o + 1e + 2e"
    cg = product_basis_expressivity("0e + 1o + 2e", outputs, 3)
    gaunt = product_basis_expressivity("0e + 1o + 2e", outputs, 3, "gaunt_grid", num_mixes=2)
    for report in (cg, gaunt):
        for count in report.counts:
            p = count.ir.p
            assert count.upper_bound == _character_count(degrees, count.nu, count.ir.l, p), count
    assert all(c.reachable == c.upper_bound for c in cg.counts)  # CG spans everything
    for nu in (1, 2, 3):
        for ir, l in (("0e", 0), ("1o", 1), ("2e", 2)):
            expected = 1 if nu == 1 else _multiset_count(degrees, nu, l)
            assert gaunt.reachable(nu, ir) == expected, (nu, ir)
        assert gaunt.reachable(nu, "1e") == 0  # no antisymmetric couplings
    blocks = {(c.nu, str(c.ir)): c.blocks for c in gaunt.counts}
    assert blocks[(3, "2e")] == 2 and blocks[(1, "1o")] == 1
    assert "gaunt_grid" in compare_product_bases("0e + 1o", "0e", 2)


def test_vector_gaunt_reaches_the_odd_couplings():
    """Where the scalar products miss polynomials (the antisymmetric couplings), the vector
    products reach all of them at lmax 2 (checked against the character count)."""
    vector = product_basis_expressivity("0e + 1o + 2e", "1o + 1e", 3, "vector_gaunt")
    for count in vector.counts:
        expected = _character_count([0, 1, 2], count.nu, count.ir.l, count.ir.p)
        assert count.reachable == count.upper_bound == expected, count
    assert vector.reachable(3, "1e") == 1 and vector.reachable(3, "1o") == 5


# ------------------------------------------------------------------------------ MACE

MACE_CONFIG = {
    "name": "mace",
    "cutoff": CUTOFF,
    "num_channels": 4,
    "lmax": 2,
    "hidden_lmax": 1,
    "correlation": 3,
    "num_interactions": 1,
    "radial_mlp": [8],
    "avg_num_neighbors": 8.0,
    "product_method": "gaunt_grid",
    "product_mixes": 2,
}


@functools.cache
def mace_setup(method: str = "gaunt_grid"):
    config = {**MACE_CONFIG, "product_method": method}
    model = build_model({"model": config, "dtype": "float64"}, (1, 6, 8), [-1.0, -2.0, -3.0])
    graph = batch(graph_from_atoms(ethanol(), CUTOFF, SPECIES))
    params = jax.jit(model.init)(jax.random.PRNGKey(0), graph)
    params = jax.tree_util.tree_map(  # random weights everywhere: no block stays at its init
        lambda p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(p.size), p.shape, p.dtype), params
    )
    return model, params, graph, jax.jit(lambda p, g: predict(model, p, g))


@pytest.mark.parametrize("method", ["gaunt_grid", "vector_gaunt"])
def test_mace_with_the_gaunt_basis_is_invariant_and_forces_are_gradients(method):
    model, params, graph, run = mace_setup(method)
    assert model.product_method == method and model.product_algorithm == "auto"
    shapes = jax.tree_util.tree_map(jnp.shape, params["params"]["product_0"])
    spec = product_basis_spec(natural(4, 2), "4x0e", 3, method, "auto", 2)
    assert shapes == {"w": (3, spec.weight_numel)}
    ref = run(params, graph)
    forces = np.asarray(ref["forces"])
    assert np.abs(forces).max() > 1e-3
    positions = np.asarray(graph.nodes["positions"])
    for q in orthogonal_matrices(5):
        moved = graph._replace(nodes={**graph.nodes, "positions": positions @ q.T})
        out = run(params, moved)
        np.testing.assert_allclose(out["energy"], ref["energy"], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(out["forces"], forces @ q.T, atol=1e-10)

    def energy(r):
        return float(
            run(params, graph._replace(nodes={**graph.nodes, "positions": r}))["energy"][0]
        )

    rng = np.random.default_rng(0)
    for _ in range(2):
        d = rng.normal(size=positions.shape)
        h = 1e-5
        fd = (energy(positions + h * d) - energy(positions - h * d)) / (2 * h)
        np.testing.assert_allclose(-np.sum(forces * d), fd, rtol=1e-6, atol=1e-7)


def test_equitens_train_config_takes_the_gaunt_method_alone():
    """``equitens train model.product_method=gaunt_grid``: the default product_algorithm (auto)
    picks the Gaunt basis; an algorithm that would ignore the method stays an error."""
    from equitens.train.config import load_config

    for method in METHODS:
        config = load_config(overrides=[f"model.product_method={method}"])
        config["model"].update(avg_num_neighbors=1.0, scale=1.0, shift=0.0)
        model = build_model(config, (1, 6, 8), [0.0, 0.0, 0.0])
        assert model.product_method == method and model.product_algorithm == "auto"
    with pytest.raises(ValueError, match="product_algorithm.*would be ignored"):
        build_model(
            {"model": {"product_method": "gaunt_grid", "product_algorithm": "dense"}}, (1,), [0.0]
        )


@pytest.mark.slow
def test_equitens_train_runs_with_the_gaunt_basis(tmp_path):
    """The command line, end to end (about 15 s): `equitens train model.product_method=...`."""
    import ase.io

    from equitens import data
    from equitens.cli import main

    frames = ase.io.read(data.default_dataset_path("molecule"), index=":24")
    ase.io.write(tmp_path / "train.xyz", frames[:16], format="extxyz")
    ase.io.write(tmp_path / "valid.xyz", frames[16:], format="extxyz")
    files = [
        f"data.{k}_file={tmp_path / n}"
        for k, n in (("train", "train.xyz"), ("valid", "valid.xyz"), ("test", "valid.xyz"))
    ]
    for method in ("gaunt_grid", "vector_gaunt"):
        args = [
            "train",
            f"model.product_method={method}",
            *files,
            f"output_dir={tmp_path}",
            f"name={method}",
            "training.epochs=1",
            "training.progress=false",
            "model.num_channels=4",
            "model.lmax=1",
            "model.radial_mlp=[8]",
        ]
        assert main(args) == 0
        assert (tmp_path / method / "checkpoints" / "best.ckpt").is_file()
