"""The MACE product basis: equivariance, degrees, spanning the invariants, algorithms, gradients."""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from equitens.nn.last_degree import last_degree
from equitens.nn.symmetric_contraction import (
    SymmetricContraction,
    SymmetricContractionSpec,
    kernel_layout,
    symmetric_contraction,
)
from equitens.nn.vanishing_blocks import evaluated_products, vanishing_blocks
from equitens.so3 import D_from_matrix
from equitens.tp import registry
from equitens.tp.plan import Plan
from equitens.tp.registry import tensor_product_kernel

IRREPS_A = "3x0e + 3x1o + 3x2e"
IRREPS_OUT = "3x0e + 3x1o + 3x1e + 3x2e"


def _inputs(spec, n=6, num_species=2, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    x = jax.random.normal(k1, (n, spec.irreps_in.dim), jnp.float64)
    w = jax.random.normal(k2, (num_species, spec.weight_numel), jnp.float64)
    species = jnp.arange(n) % num_species
    return x, w, species


@pytest.mark.parametrize("algorithm", ["blocked", "dense", "kernel"])
def test_equivariant_under_rotations_and_inversion(algorithm):
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    x, w, species = _inputs(spec)
    apply = jax.jit(lambda x: symmetric_contraction(spec, w, x, species, algorithm))
    out = apply(x)
    assert float(jnp.abs(out).max()) > 1e-2
    rotation = Rotation.random(random_state=1).as_matrix()
    for q in (rotation, -np.eye(3), -rotation):
        d_in, d_out = (
            np.asarray(D_from_matrix(IRREPS_A, q)),
            np.asarray(D_from_matrix(IRREPS_OUT, q)),
        )
        rotated = apply(x @ d_in.T)
        np.testing.assert_allclose(rotated, out @ d_out.T, atol=1e-10)


def test_the_three_algorithms_agree():
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    x, w, species = _inputs(spec, seed=3)
    reference = symmetric_contraction(spec, w, x, species, "kernel")  # the registry's CG kernels
    for algorithm in ("blocked", "dense"):
        np.testing.assert_allclose(
            symmetric_contraction(spec, w, x, species, algorithm), reference, atol=1e-12
        )


def _mix(spec, w, species, degrees):
    """``B[n, c, L] = sum_k W[z_n, k, c] T^k[n, c, L]`` over the blocks feeding each output, with
    the weights of an output laid out (block, channel); ``degrees[nu - 1][k]`` is ``(N, C, d)``."""
    w = np.asarray(w)[np.asarray(species)]
    n, channels = w.shape[0], spec.num_channels
    out, start = [], 0
    for feeding in spec.blocks:
        total = 0.0
        for k, (nu, b) in enumerate(feeding):
            weight = w[:, start + k * channels : start + (k + 1) * channels]
            total = total + weight[:, :, None] * degrees[nu - 1][b]
        start += len(feeding) * channels
        out.append(np.asarray(total).reshape(n, -1))
    return np.concatenate(out, axis=1)


def _channel_blocks(x, irreps):
    """mul_ir ``(N, dim)`` -> one ``(N, C, 2l+1)`` array per irrep."""
    out, start = [], 0
    for mul, ir in e3nn.Irreps(str(irreps)):
        out.append(np.asarray(x)[:, start : start + mul * ir.dim].reshape(-1, mul, ir.dim))
        start += mul * ir.dim
    return out


@pytest.mark.parametrize("algorithm", ["blocked", "dense", "kernel"])
def test_correlation_two_is_the_hand_written_polynomial(algorithm):
    """A = a0 (0e) + a1 (1o) per channel, correlation 2, outputs 0e and 1o: the basis is
    0e: a0, a0 a0, (a1 . a1) / sqrt(3);  1o: a1, a0 a1  (e3nn's component normalisation: the
    coupling into l3 is sqrt(2 l3 + 1) times the unit-norm Clebsch-Gordan tensor), mixed with
    per-species weights laid out (block, channel). Written here in numpy."""
    spec = SymmetricContractionSpec.create("2x0e + 2x1o", "2x0e + 2x1o", 2)
    assert spec.weight_numel == 5 * 2
    x, w, species = _inputs(spec, n=5, num_species=2, seed=4)
    a0, a1 = _channel_blocks(x, spec.irreps_in)
    dot = np.sum(a1 * a1, axis=-1, keepdims=True)
    degrees = [[a0, a1], [a0 * a0, a0 * a1, dot / np.sqrt(3)]]
    expected = _mix(spec, w, species, degrees)
    got = symmetric_contraction(spec, w, x, species, algorithm)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@functools.cache
def _e3nn_product_basis():
    """Correlation 3: every block ``T_nu = T_{nu-1} (x) A`` recomputed with e3nn-jax's
    ``tensor_product`` (its Clebsch-Gordan tensors and component normalisation), coupling by
    coupling as listed by the spec's products, then mixed with the same weights."""
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    x, w, species = _inputs(spec, seed=5)
    a_blocks = _channel_blocks(x, spec.irreps_in)
    degrees = [a_blocks]
    for product in spec.products:
        previous, blocks = degrees[-1], [None] * len(product.irreps_out)
        for path in product.paths:
            ir1, ir2, ir3 = (
                str(irreps[i].ir)
                for irreps, i in (
                    (product.irreps_in1, path.i_in1),
                    (product.irreps_in2, path.i_in2),
                    (product.irreps_out, path.i_out),
                )
            )
            assert blocks[path.i_out] is None  # one coupling per block
            blocks[path.i_out] = np.asarray(
                e3nn.tensor_product(
                    e3nn.IrrepsArray(ir1, jnp.asarray(previous[path.i_in1])),
                    e3nn.IrrepsArray(ir2, jnp.asarray(a_blocks[path.i_in2])),
                    filter_ir_out=[ir3],
                    irrep_normalization="component",
                ).array
            )
        degrees.append(blocks)
    assert [len(d) for d in degrees] == [3, 14, 50]
    return spec, x, w, species, _mix(spec, w, species, degrees)


@pytest.mark.parametrize("algorithm", ["blocked", "dense", "kernel"])
def test_product_basis_matches_e3nn_couplings(algorithm):
    spec, x, w, species, expected = _e3nn_product_basis()
    got = symmetric_contraction(spec, w, x, species, algorithm)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)


def _every_block(spec, x):
    """The blocks of every degree from the spec's own product kernels, none grouped."""
    degrees, t = [_channel_blocks(x, spec.irreps_in)], x
    for product in spec.products:
        t = tensor_product_kernel(product)(t, x)
        degrees.append(_channel_blocks(t, product.irreps_out))
    return degrees


@pytest.mark.parametrize(
    ("irreps_a", "irreps_out", "correlation", "method", "paths"),
    [
        ("2x0e + 2x1o + 2x2e + 2x3o", "2x0e + 2x1o", 3, "cg", (49, 13)),
        ("2x0e + 2x1o + 2x2e", IRREPS_OUT.replace("3x", "2x"), 3, "cg", (50, 19)),
        ("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 2, "gaunt_grid", (5, 5)),
        ("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 3, "vector_gaunt", (22, 9)),
        ("2x1o", "2x2e", 2, "cg", (1, 1)),  # reachable at the highest degree only
        ("2x0e + 2x1o", "2x0e + 2x1o", 2, "cg", (3, 3)),
    ],
)
def test_the_highest_degree_is_contracted_with_its_weights_first(
    irreps_a, irreps_out, correlation, method, paths
):
    """The kernel algorithm sums the blocks of ``T_{nu-1}`` that share an irrep, a factor of A
    and an output, with their weights, before its last product (fewer paths); the result is the
    weighted sum of every block computed one by one (float64)."""
    spec = SymmetricContractionSpec.create(irreps_a, irreps_out, correlation, method=method)
    assert (len(spec.products[-1].paths), len(last_degree(spec).product.paths)) == paths
    x, w, species = _inputs(spec, n=5, num_species=3, seed=6)
    expected = _mix(spec, w, species, _every_block(spec, x))
    assert np.abs(expected).max() > 1e-2
    got = symmetric_contraction(spec, w, x, species, "kernel")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_the_vanishing_blocks_are_the_zero_couplings_of_an_entry_with_itself():
    """Recomputed with e3nn-jax: every coupling of ``A (x) A`` that ``vanishing_blocks`` lists is
    zero for random inputs, every other one is not; the kernel algorithm skips their paths."""
    spec = SymmetricContractionSpec.create("1x0e + 1x1o + 1x2e + 1x3o", "1x0e + 1x1o", 3)
    product = spec.products[0]
    vanishing = vanishing_blocks(spec)
    assert [len(v) for v in vanishing] == [5, 5]
    a = _channel_blocks(
        jax.random.normal(jax.random.PRNGKey(2), (7, 16), jnp.float64), "0e+1o+2e+3o"
    )
    for path in product.paths:
        ir1, ir2, ir3 = (str(ir) for (_, ir) in product.mul_irreps(path))
        block = e3nn.tensor_product(
            e3nn.IrrepsArray(ir1, jnp.asarray(a[path.i_in1])),
            e3nn.IrrepsArray(ir2, jnp.asarray(a[path.i_in2])),
            filter_ir_out=[ir3],
        ).array
        size = float(jnp.abs(block).max())
        assert (size < 1e-12) == (path.i_out in vanishing[0]), (path, size)
    second = spec.products[1]
    assert vanishing[1] == {p.i_out for p in second.paths if p.i_in1 in vanishing[0]}
    evaluated = evaluated_products(spec)
    assert [len(p.paths) for p in evaluated] == [21, 44]
    for kept, dropped in zip(evaluated, vanishing, strict=True):
        assert all(path.i_out not in dropped for path in kept.paths)


def test_a_method_registered_elsewhere_is_evaluated_block_by_block(monkeypatch):
    """Grouping and leaving out blocks rely on the Clebsch-Gordan structure of cg and the Gaunt
    families; another registered method (here cg's kernels under another name) keeps every path
    and every block, and gives the same numbers."""
    monkeypatch.setitem(registry._FACTORIES, "cg_elsewhere", registry._FACTORIES["cg"])
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3, method="cg_elsewhere")
    assert last_degree(spec) is None
    assert all(not v for v in vanishing_blocks(spec))
    assert evaluated_products(spec) == spec.products
    x, w, species = _inputs(spec, seed=7)
    reference = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    np.testing.assert_allclose(
        symmetric_contraction(spec, w, x, species, "kernel"),
        symmetric_contraction(reference, w, x, species, "kernel"),
        rtol=1e-12,
        atol=1e-12,
    )


def test_the_kernel_algorithm_gives_the_same_numbers_in_both_layouts():
    """With unrolled CG products the kernel algorithm runs in the ir_mul layout; where one product
    runs the pair products (here all, ``cg_sparse_terms=0``) it stays in mul_ir. Values and the
    force-training gradient (second order) agree."""
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    plans = (Plan(), Plan(cg_sparse_terms=0))
    assert [kernel_layout(spec, plan) for plan in plans] == ["ir_mul", "mul_ir"]
    # at lmax 3 too: A (x) A has 428 terms, under the default plan's 600 for "uuu" products
    lmax3 = SymmetricContractionSpec.create("1x0e + 1x1o + 1x2e + 1x3o", "1x0e + 1x1o", 3)
    assert kernel_layout(lmax3) == "ir_mul"
    x, w, species = _inputs(spec, seed=11)

    def training_gradient(plan):
        def energy(x, w):
            return jnp.sum(jnp.sin(symmetric_contraction(spec, w, x, species, "kernel", plan)))

        return jax.grad(lambda w: jnp.sum(jax.grad(energy)(x, w) ** 2))(w)

    values = [symmetric_contraction(spec, w, x, species, "kernel", plan) for plan in plans]
    np.testing.assert_allclose(values[0], values[1], rtol=1e-12, atol=1e-12)
    gradients = [jax.jit(training_gradient, static_argnums=0)(plan) for plan in plans]
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-10, atol=1e-10)


def test_each_degree_is_a_homogeneous_polynomial():
    """Weights of degree-nu polynomials only: B(t x) = t^nu B(x)."""
    spec = SymmetricContractionSpec.create(IRREPS_A, IRREPS_OUT, 3)
    x, w, species = _inputs(spec)
    channels = spec.num_channels
    for nu in (1, 2, 3):
        mask = np.concatenate(
            [np.repeat([d == nu for d, _ in feeding], channels) for feeding in spec.blocks]
        )
        assert mask.any()
        w_nu = w * mask
        out = symmetric_contraction(spec, w_nu, x, species)
        scaled = symmetric_contraction(spec, w_nu, 1.7 * x, species)
        np.testing.assert_allclose(scaled, 1.7**nu * out, rtol=1e-11, atol=1e-12)


def _invariant_features(spec, x, degree):
    """Every degree-`degree` scalar polynomial block for one channel, one weight at a time."""
    (feeding,) = spec.blocks
    columns = []
    for k, (d, _) in enumerate(feeding):
        if d != degree:
            continue
        w = np.zeros((1, spec.weight_numel))
        w[0, k] = 1.0
        columns.append(
            np.asarray(symmetric_contraction(spec, w, x, jnp.zeros(x.shape[0], int)))[:, 0]
        )
    return np.stack(columns, axis=1)


def test_spans_all_invariant_polynomials():
    """Degree 1, 2, 3 invariants of a (0e + 1o + 2e) channel: 1, 3 and 5 independent ones.

    Degree 2: a0^2, |a1|^2, |a2|^2; degree 3: a0^3, a0 |a1|^2, a0 |a2|^2, a1 a2 a1, (a2 a2 a2)_0
    (a1^3 and a1 a2 a2 are odd, a0 a1 a2 has no scalar). The rank over random samples must be
    exactly these counts: fewer would be a missing polynomial, more an impossible one.
    """
    spec = SymmetricContractionSpec.create("1x0e + 1x1o + 1x2e", "1x0e", 3)
    x = jax.random.normal(jax.random.PRNGKey(0), (40, 9), jnp.float64)
    for degree, expected in ((1, 1), (2, 3), (3, 5)):
        features = _invariant_features(spec, x, degree)
        singular = np.linalg.svd(features, compute_uv=False)
        rank = int(np.sum(singular > 1e-9 * singular[0]))
        assert rank == expected, (degree, rank, features.shape)


def test_per_species_weights_select_rows():
    spec = SymmetricContractionSpec.create(IRREPS_A, "3x0e + 3x1o", 2)
    x, w, species = _inputs(spec, num_species=3)
    out = symmetric_contraction(spec, w, x, species)
    for s in range(3):
        rows = np.nonzero(np.asarray(species) == s)[0]
        alone = symmetric_contraction(spec, w[s : s + 1], x[rows], jnp.zeros(len(rows), int))
        np.testing.assert_allclose(out[rows], alone, rtol=1e-13)


def test_scalar_example_is_a_polynomial():
    spec = SymmetricContractionSpec.create("1x0e", "1x0e", 3)
    w = jnp.array([[0.5, -1.0, 2.0]])
    x = jnp.array([[1.5], [-0.3]])
    expected = 0.5 * x - x**2 + 2.0 * x**3
    np.testing.assert_allclose(
        symmetric_contraction(spec, w, x, jnp.zeros(2, int)), expected, rtol=1e-13
    )


@pytest.mark.parametrize(
    "algorithm", ["blocked", "kernel", pytest.param("dense", marks=pytest.mark.slow)]
)
def test_gradients_first_and_second_order(algorithm):
    """Against finite differences; ``kernel`` with its highest degree grouped (its products'
    kernels are tested with the tp tests)."""
    spec = SymmetricContractionSpec.create("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 3)
    x, w, species = _inputs(spec, n=2)
    f = jax.jit(lambda x, w: symmetric_contraction(spec, w, x, species, algorithm))
    check_grads(f, (x, w), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_flax_module_initialisation():
    layer = SymmetricContraction(
        "3x0e", irreps_in=IRREPS_A, correlation=3, num_species=4, param_dtype=jnp.float64
    )
    x = jnp.ones((2, 27))
    params = layer.init(jax.random.PRNGKey(0), x, jnp.array([0, 3]))
    spec = SymmetricContractionSpec.create(IRREPS_A, "3x0e", 3)
    assert params["params"]["w"].shape == (4, spec.weight_numel)
    assert "correlation=3" in repr(spec)


@pytest.mark.parametrize(
    "args, message",
    [
        (("2x0e + 3x1o", "2x0e", 2), "same nonzero multiplicity"),
        (("2x0e", "2x1o", 3), "2x1o is not reachable"),
        (("2x0e", "2x0e", 0), "correlation must be an int >= 1"),
        (("2x0e + 2x1o", "2x0e + 2x0e", 2), "must not repeat an irrep"),
    ],
)
def test_bad_specs_are_clear_errors(args, message):
    with pytest.raises(ValueError, match=message):
        SymmetricContractionSpec.create(*args)


def test_bad_shapes_are_clear_errors():
    spec = SymmetricContractionSpec.create("2x0e", "2x0e", 2)
    with pytest.raises(ValueError, match=r"x must have shape \(num_nodes, 2\)"):
        symmetric_contraction(
            spec, jnp.ones((1, spec.weight_numel)), jnp.ones((3, 4)), jnp.zeros(3, int)
        )
    with pytest.raises(ValueError, match="weights must have shape"):
        symmetric_contraction(
            spec, jnp.ones(spec.weight_numel), jnp.ones((3, 2)), jnp.zeros(3, int)
        )
    with pytest.raises(ValueError, match="algorithm must be one of"):
        symmetric_contraction(
            spec, jnp.ones((1, spec.weight_numel)), jnp.ones((3, 2)), jnp.zeros(3, int), "x"
        )
