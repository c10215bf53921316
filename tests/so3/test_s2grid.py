"""Tests of equitens.so3.s2grid and equitens.so3.legendre.

Oracles: e3nn_jax.spherical_harmonics evaluated at the grid points, scipy's associated Legendre
functions, the exact Gaunt tensor (equitens.so3.gaunt, integer arithmetic), quadrature on an
independent randomly rotated fine grid, and e3nn_jax's Wigner matrices.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from jax.test_util import check_grads

from equitens.so3.gaunt import gaunt
from equitens.so3.legendre import normalized_legendre
from equitens.so3.s2grid import S2Grid, from_s2grid, grid_for_product, s2grid_matrix, to_s2grid

# e3nn-jax's default (Legendre) algorithm, used as the oracle, calls a deprecated jax function.
pytestmark = pytest.mark.filterwarnings("ignore:jax.scipy.special.lpmn_values:DeprecationWarning")

NORMALIZATIONS = ("component", "norm", "integral")
METHODS = ("dense", "fft", "dft")  # "auto" resolves to one of these (test_auto_method)


ORACLE_LMAX = 12  # the oracle is compiled once per normalization at this degree, then sliced


@functools.partial(jax.jit, static_argnums=1)
def _e3nn_sh_padded(points: jax.Array, normalization: str) -> jax.Array:
    irreps = e3nn.Irreps.spherical_harmonics(ORACLE_LMAX)
    return e3nn.spherical_harmonics(irreps, points, True, normalization).array


def e3nn_sh(lmax: int, points: np.ndarray, normalization: str) -> np.ndarray:
    """e3nn_jax.spherical_harmonics(0..lmax) at points (..., 3); points are padded to a multiple of
    1024 so that every test shares one compilation."""
    assert lmax <= ORACLE_LMAX
    flat = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = flat.shape[0]
    padded = np.concatenate([flat, np.tile([[0.0, 1.0, 0.0]], (-n % 1024, 1))])
    y = np.asarray(_e3nn_sh_padded(jnp.asarray(padded), normalization))[:n, : (lmax + 1) ** 2]
    return y.reshape(np.shape(points)[:-1] + (y.shape[-1],))


def random_coeffs(lmax: int, batch: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, (lmax + 1) ** 2))


def degrees(lmax: int) -> np.ndarray:
    return np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)


# --------------------------------------------------------------------------------------------
# Legendre functions
# --------------------------------------------------------------------------------------------


def test_legendre_matches_scipy() -> None:
    x = np.linspace(-1, 1, 41)
    lmax = 12
    p = normalized_legendre(lmax, x)
    for l in range(lmax + 1):
        for m in range(l + 1):
            norm = math.sqrt((2 * l + 1) / 2 * math.factorial(l - m) / math.factorial(l + m))
            # scipy includes the Condon-Shortley phase (-1)^m; equitens (like e3nn) does not.
            ref = (-1) ** m * norm * scipy.special.lpmv(m, l, x)
            np.testing.assert_allclose(p[m, l], ref, atol=1e-12, rtol=1e-12)
        assert np.all(p[l + 1 :, l] == 0)


def test_legendre_orthonormal_high_degree() -> None:
    lmax = 60
    x, w = np.polynomial.legendre.leggauss(lmax + 1)
    p = normalized_legendre(lmax, x)
    for m in (0, 1, 17, 59, 60):
        gram = (p[m] * w) @ p[m].T
        expected = np.diag((np.arange(lmax + 1) >= m).astype(float))
        np.testing.assert_allclose(gram, expected, atol=1e-12)


def test_legendre_bad_input() -> None:
    with pytest.raises(ValueError, match="lmax"):
        normalized_legendre(-1, np.zeros(3))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        normalized_legendre(2, np.array([1.5]))


# --------------------------------------------------------------------------------------------
# The grid and its quadrature
# --------------------------------------------------------------------------------------------


def test_grid_arrays() -> None:
    grid = S2Grid(5, 8)
    assert grid.points.shape == (5, 8, 3)
    np.testing.assert_allclose(np.linalg.norm(grid.points, axis=-1), 1, atol=1e-15)
    np.testing.assert_allclose(grid.weights.sum(), 4 * np.pi, atol=1e-13)
    np.testing.assert_allclose(grid.weights_beta.sum(), 2, atol=1e-14)
    assert np.all(np.diff(grid.beta) > 0) and np.all((grid.beta > 0) & (grid.beta < np.pi))
    np.testing.assert_allclose(grid.alpha, 2 * np.pi * np.arange(8) / 8)
    b, a = grid.beta[:, None], grid.alpha[None, :]
    expected = np.stack(
        np.broadcast_arrays(np.sin(b) * np.sin(a), np.cos(b), np.sin(b) * np.cos(a)), -1
    )
    np.testing.assert_allclose(grid.points, expected, atol=1e-15)
    with pytest.raises(ValueError):
        grid.points[0, 0, 0] = 1.0  # cached constants are read-only


def test_grid_is_static_and_hashable() -> None:
    assert S2Grid(3, 5) == S2Grid.exact_for(4) and hash(S2Grid(3, 5)) == hash(S2Grid.exact_for(4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        S2Grid(3, 5).n_beta = 4  # type: ignore[misc]
    f = jax.jit(to_s2grid, static_argnums=(1, 2, 3))
    c = jnp.asarray(random_coeffs(2))
    np.testing.assert_allclose(
        f(c, 2, S2Grid(3, 5), "norm"), to_s2grid(c, 2, S2Grid(3, 5), "norm"), atol=1e-13
    )


@pytest.mark.parametrize("degree", range(0, 14))
def test_exact_for_and_exact_degree(degree: int) -> None:
    grid = S2Grid.exact_for(degree)
    assert grid.n_beta == math.ceil((degree + 1) / 2) and grid.n_alpha == degree + 1
    assert grid.exact_degree == degree


def product_gram_error(grid: S2Grid, degree: int) -> float:
    """Largest quadrature error of integral Y_a Y_b (orthonormal e3nn SH), l_a + l_b <= degree."""
    y = e3nn_sh(degree, grid.points, "integral").reshape(-1, (degree + 1) ** 2)
    gram = y.T @ (grid.weights.reshape(-1, 1) * y)
    l = degrees(degree)
    mask = l[:, None] + l[None, :] <= degree
    return float(np.abs(gram - np.eye(len(l)))[mask].max())


@pytest.mark.parametrize("degree", range(0, 13))
def test_minimal_grid_is_exact_and_minimal(degree: int) -> None:
    """exact_for(d) integrates every product Y_a Y_b with l_a + l_b <= d exactly (these span the
    polynomials of degree <= d on the sphere); one node fewer in either direction does not."""
    grid = S2Grid.exact_for(degree)
    assert product_gram_error(grid, degree) < 1e-12
    if grid.n_beta > 1:
        assert product_gram_error(S2Grid(grid.n_beta - 1, grid.n_alpha), degree) > 1e-3
    if grid.n_alpha > 1:
        assert product_gram_error(S2Grid(grid.n_beta, grid.n_alpha - 1), degree) > 1e-3


def test_integrate_polynomials() -> None:
    grid = S2Grid.exact_for(10)
    x, y, z = np.moveaxis(grid.points, -1, 0)
    for k in range(0, 11, 2):  # integral of y^k over the sphere is 4 pi / (k + 1)
        np.testing.assert_allclose(
            grid.integrate(jnp.asarray(y**k)), 4 * np.pi / (k + 1), atol=1e-13
        )
    # x^2 z^4: 4 pi * 1!! 3!! / 7!! = 4 pi / 35
    np.testing.assert_allclose(grid.integrate(jnp.asarray(x**2 * z**4)), 4 * np.pi / 35, atol=1e-13)
    batch = grid.integrate(jnp.stack([jnp.asarray(x**2), jnp.asarray(z**2)]))
    np.testing.assert_allclose(batch, [4 * np.pi / 3] * 2, atol=1e-13)
    with pytest.raises(ValueError, match="n_beta, n_alpha"):
        grid.integrate(jnp.ones((3, 4)))


def test_grid_for_product() -> None:
    assert grid_for_product(3, 2, 4) == S2Grid.exact_for(9)
    assert grid_for_product(1, 0, 3) == S2Grid.exact_for(6)  # lout > l1 + l2: exact for 2 lout
    with pytest.raises(ValueError, match="l1max"):
        grid_for_product(-1, 2, 2)


# --------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------


GRIDS = {
    "round_trip": lambda l: S2Grid.exact_for(2 * l),
    "product": lambda l: S2Grid.exact_for(3 * l),
    "even_alpha": lambda l: S2Grid(l + 1, 2 * l + 2),  # Nyquist bin present
    # n_alpha < 2 l + 1: frequencies fold onto lower ones (even and odd n_alpha, Nyquist in use)
    "aliased": lambda l: S2Grid(2, l + 1),
    "aliased_more": lambda l: S2Grid(3, l // 2 + 1),
}


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("lmax", [1, 5, 12])
def test_to_s2grid_matches_e3nn(lmax: int, normalization: str) -> None:
    c = random_coeffs(lmax)
    for name, make_grid in GRIDS.items():
        if lmax == 12 and name == "product":
            continue  # keeps the test fast; test_product_projects_to_gaunt covers product grids
        grid = make_grid(lmax)
        y = e3nn_sh(lmax, grid.points, normalization)
        np.testing.assert_allclose(s2grid_matrix(lmax, grid, normalization), y, atol=1e-12)
        expected = np.einsum("bc,iac->bia", c, y)
        for method in METHODS:
            values = to_s2grid(jnp.asarray(c), lmax, grid, normalization, method=method)
            assert values.shape == (3, grid.n_beta, grid.n_alpha)
            np.testing.assert_allclose(values, expected, atol=1e-12, err_msg=f"{grid} {method}")


@pytest.mark.parametrize("lmax", range(0, 13))
def test_exact_round_trip(lmax: int) -> None:
    c = random_coeffs(lmax, seed=lmax)
    grids = [S2Grid.exact_for(2 * lmax)]
    if lmax == 3:
        grids += [S2Grid(lmax + 1, 2 * lmax + 2), S2Grid(lmax + 3, 2 * lmax + 5)]  # larger grids
    for grid in grids:
        for normalization in NORMALIZATIONS:
            for method in METHODS:
                values = to_s2grid(jnp.asarray(c), lmax, grid, normalization, method=method)
                back = from_s2grid(values, lmax, grid, normalization, method=method)
                np.testing.assert_allclose(
                    back, c, atol=1e-12, err_msg=f"{grid} {normalization} {method}"
                )


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_projection_is_quadrature_of_e3nn(normalization: str) -> None:
    """from_s2grid(values) = sum w f Y / integral Y^2, with e3nn's Y, for arbitrary samples."""
    lmax, grid = 4, S2Grid(6, 11)
    values = np.random.default_rng(1).normal(size=(2, grid.n_beta, grid.n_alpha))
    y = e3nn_sh(lmax, grid.points, normalization)
    norm2 = {"component": 4 * np.pi, "norm": 4 * np.pi / (2 * degrees(lmax) + 1), "integral": 1.0}[
        normalization
    ]
    expected = np.einsum("bia,ia,iac->bc", values, grid.weights, y) / norm2
    for method in METHODS:
        out = from_s2grid(jnp.asarray(values), lmax, grid, normalization, method=method)
        np.testing.assert_allclose(out, expected, atol=1e-12, err_msg=method)


@functools.cache
def gaunt_dense(l1max: int, l2max: int, lout: int) -> np.ndarray:
    g = np.zeros(((l1max + 1) ** 2, (l2max + 1) ** 2, (lout + 1) ** 2))
    for l1 in range(l1max + 1):
        for l2 in range(l2max + 1):
            for l3 in range(lout + 1):
                g[l1 * l1 : (l1 + 1) ** 2, l2 * l2 : (l2 + 1) ** 2, l3 * l3 : (l3 + 1) ** 2] = (
                    gaunt(l1, l2, l3)
                )
    return g


def rotated_fine_grid_projection(
    f1: np.ndarray, f2: np.ndarray, l1: int, l2: int, lout: int
) -> np.ndarray:
    """Independent oracle: quadrature of f1 f2 Y (e3nn, "integral") on a randomly rotated, larger
    Gauss-Legendre x uniform grid built here from numpy (exactness is rotation invariant).
    """
    degree = l1 + l2 + lout + 3
    x, w = np.polynomial.legendre.leggauss(degree // 2 + 2)
    a = 2 * np.pi * (np.arange(degree + 2) + 0.37) / (degree + 2)
    s = np.sqrt(1 - x**2)
    pts = np.stack(
        np.broadcast_arrays(s[:, None] * np.sin(a), x[:, None], s[:, None] * np.cos(a)), -1
    ).reshape(-1, 3)
    rot = np.asarray(e3nn.rand_matrix(jax.random.PRNGKey(7), (), dtype=jnp.float64))
    pts = pts @ rot.T
    weights = np.outer(w, np.full(len(a), 2 * np.pi / len(a))).reshape(-1)
    y = e3nn_sh(max(l1, l2, lout), pts, "integral")
    v1 = f1 @ y[:, : (l1 + 1) ** 2].T
    v2 = f2 @ y[:, : (l2 + 1) ** 2].T
    return (v1 * v2 * weights) @ y[:, : (lout + 1) ** 2]


@pytest.mark.parametrize(
    ("l1", "l2", "lout"), [(1, 1, 2), (2, 3, 5), (4, 2, 3), (6, 0, 0), (5, 4, 9)]
)
def test_product_projects_to_gaunt(l1: int, l2: int, lout: int) -> None:
    rng = np.random.default_rng(l1 + 10 * l2)
    a, b = rng.normal(size=(4, (l1 + 1) ** 2)), rng.normal(size=(4, (l2 + 1) ** 2))
    expected = np.einsum("bi,bj,ijk->bk", a, b, gaunt_dense(l1, l2, lout))
    np.testing.assert_allclose(
        rotated_fine_grid_projection(a, b, l1, l2, lout), expected, atol=1e-12
    )
    grid = grid_for_product(l1, l2, lout)
    for method in METHODS:
        fa = to_s2grid(jnp.asarray(a), l1, grid, "integral", method=method)
        fb = to_s2grid(jnp.asarray(b), l2, grid, "integral", method=method)
        out = from_s2grid(fa * fb, lout, grid, "integral", method=method)
        np.testing.assert_allclose(out, expected, atol=1e-12, err_msg=method)
    # One node fewer in alpha (the grid exact for one degree less) gets it wrong.
    if l1 + l2 + lout > 2 * lout:
        small = S2Grid(grid.n_beta, grid.n_alpha - 1)
        out = from_s2grid(
            to_s2grid(jnp.asarray(a), l1, small, "integral")
            * to_s2grid(jnp.asarray(b), l2, small, "integral"),
            lout,
            small,
            "integral",
        )
        assert np.abs(out - expected).max() > 1e-6


def test_rotation_equivariance() -> None:
    """Sampling f(R^T n) equals sampling the coefficients D(R) c; projecting commutes too."""
    lmax = 6
    grid = S2Grid.exact_for(2 * lmax)
    rot = e3nn.rand_matrix(jax.random.PRNGKey(3), (), dtype=jnp.float64)
    d = np.asarray(
        jax.jit(e3nn.Irreps.spherical_harmonics(lmax).D_from_matrix)(rot)
    )  # jit: 4x faster
    c = random_coeffs(lmax)
    for normalization, method in itertools.product(NORMALIZATIONS, METHODS):
        rotated_points = grid.points @ np.asarray(rot)  # rows are R^T n
        expected = np.einsum("bc,iac->bia", c, e3nn_sh(lmax, rotated_points, normalization))
        values = to_s2grid(jnp.asarray(c @ d.T), lmax, grid, normalization, method=method)
        np.testing.assert_allclose(values, expected, atol=1e-12)
        back = from_s2grid(jnp.asarray(expected), lmax, grid, normalization, method=method)
        np.testing.assert_allclose(back, c @ d.T, atol=1e-12)


@pytest.mark.parametrize("method", ["fft", "dft"])
def test_gradients(method: str) -> None:
    lmax, grid = 2, S2Grid(3, 6)
    c = jnp.asarray(random_coeffs(lmax, batch=2))
    to = functools.partial(to_s2grid, lmax=lmax, grid=grid, normalization="norm", method=method)
    back = functools.partial(from_s2grid, lmax=lmax, grid=grid, normalization="norm", method=method)

    def loss(x: jax.Array) -> jax.Array:  # nonlinear, so second derivatives are not trivially zero
        return jnp.sum(jnp.sin(back(to(x) ** 2)))

    check_grads(loss, (c,), order=2, modes=("rev",))  # double backward, as forces training needs
    check_grads(loss, (c,), order=1, modes=("fwd",))
    assert bool(jnp.all(jnp.isfinite(jax.grad(loss)(c))))


@pytest.mark.parametrize("method", METHODS)
def test_vjp_is_transpose(method: str) -> None:
    """The transforms are linear: their vjps are the transposed matrices (oracle: e3nn's Y)."""
    lmax, grid = 2, S2Grid(3, 6)
    c = jnp.asarray(random_coeffs(lmax, batch=2))
    cot = jnp.asarray(np.random.default_rng(3).normal(size=(2, grid.n_beta, grid.n_alpha)))
    y = e3nn_sh(lmax, grid.points, "norm")
    to = functools.partial(to_s2grid, lmax=lmax, grid=grid, normalization="norm", method=method)
    back = functools.partial(from_s2grid, lmax=lmax, grid=grid, normalization="norm", method=method)
    np.testing.assert_allclose(
        jax.vjp(to, c)[1](cot)[0], np.einsum("bia,iac->bc", cot, y), atol=1e-12
    )
    projection = y * grid.weights[..., None] / (4 * np.pi / (2 * degrees(lmax) + 1))
    np.testing.assert_allclose(
        jax.vjp(back, cot)[1](c)[0], np.einsum("bc,iac->bia", c, projection), atol=1e-12
    )


def test_jit_vmap_and_dtypes() -> None:
    lmax, grid = 2, S2Grid(3, 6)
    c = random_coeffs(lmax, batch=5)
    ref = np.einsum("bc,iac->bia", c, s2grid_matrix(lmax, grid))
    for method in METHODS:
        to = jax.jit(jax.vmap(functools.partial(to_s2grid, lmax=lmax, grid=grid, method=method)))
        back = jax.jit(
            jax.vmap(functools.partial(from_s2grid, lmax=lmax, grid=grid, method=method))
        )
        values = to(jnp.asarray(c))
        np.testing.assert_allclose(values, ref, atol=1e-12)
        np.testing.assert_allclose(back(values), c, atol=1e-12)
        v32 = to(jnp.asarray(c, jnp.float32))
        c32 = back(v32)
        assert v32.dtype == jnp.float32 and c32.dtype == jnp.float32
        np.testing.assert_allclose(v32, ref, atol=1e-5)
        np.testing.assert_allclose(c32, c, atol=1e-5)
    assert (
        to_s2grid(jnp.ones(9, jnp.int32), 2, grid).dtype == jnp.float64
    )  # integers -> default float
    assert to_s2grid(jnp.ones(9, jnp.bfloat16), 2, grid).dtype == jnp.float32


def test_errors() -> None:
    grid = S2Grid.exact_for(4)
    c = jnp.ones((2, 9))
    with pytest.raises(ValueError, match=r"\(\.\.\., 16\) for lmax=3"):
        to_s2grid(c, 3, grid)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 5\)"):
        from_s2grid(jnp.ones((2, 5, 3)), 2, grid)
    with pytest.raises(ValueError, match="unknown normalization 'integrals'"):
        to_s2grid(c, 2, grid, "integrals")
    with pytest.raises(ValueError, match="unknown normalization"):
        from_s2grid(jnp.ones((3, 5)), 2, grid, "orthonormal")
    with pytest.raises(ValueError, match="unknown method"):
        to_s2grid(c, 2, grid, method="fast")
    with pytest.raises(ValueError, match=r"S2Grid.exact_for\(6\) = S2Grid\(n_beta=4, n_alpha=7\)"):
        from_s2grid(jnp.ones((3, 5)), 3, grid)
    with pytest.raises(ValueError, match="n_alpha >= 7"):
        from_s2grid(jnp.ones((4, 6)), 3, S2Grid(4, 6))
    with pytest.raises(ValueError, match="must be an S2Grid"):
        to_s2grid(c, 2, (3, 5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be real"):
        to_s2grid(c + 0j, 2, grid)
    with pytest.raises(ValueError, match="lmax"):
        to_s2grid(c, -1, grid)
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="n_beta"):
            S2Grid(bad, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="degree"):
        S2Grid.exact_for(-1)


def test_auto_method() -> None:
    from equitens.so3.s2grid import _resolve_method

    assert _resolve_method("auto", 12, S2Grid.exact_for(24)) == "dense"
    assert _resolve_method("auto", 24, S2Grid.exact_for(48)) == "dft"
    lmax, grid = 3, S2Grid.exact_for(9)
    c = jnp.asarray(random_coeffs(lmax))
    values = to_s2grid(c, lmax, grid, method="auto")
    np.testing.assert_allclose(values, to_s2grid(c, lmax, grid, method="fft"), atol=1e-12)
    np.testing.assert_allclose(from_s2grid(values, lmax, grid), c, atol=1e-12)
