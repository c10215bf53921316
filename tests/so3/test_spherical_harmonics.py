"""Tests of equitens.so3.spherical_harmonics.

Oracles: e3nn_jax.spherical_harmonics (values), Gauss-Legendre x uniform quadrature on the sphere
(orthonormality, independent of e3nn), e3nn_jax's Irreps.D_from_matrix (equivariance under
rotations and the inversion), finite differences (jax.test_util.check_grads) and automatic
differentiation through the plain recursion (the analytic derivative rule).

Compilation dominates the run time, so every evaluation at a given (lmax, normalize,
normalization) goes through ``sh`` with the vectors padded to a fixed number of rows: each
combination is compiled once for the whole file.
"""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from equitens.so3.spherical_harmonics import _polynomials, spherical_harmonics

ROWS = 384  # every array of vectors is padded to this many rows (one compilation per combination)
LMAX = 12


def sh(
    lmax: int, vectors: np.ndarray, normalize: bool = True, normalization: str = "component"
) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, 3)
    n = vectors.shape[0]
    assert n <= ROWS
    padded = np.concatenate([vectors, np.tile([[0.3, -0.5, 0.8]], (ROWS - n, 1))])
    return np.asarray(spherical_harmonics(lmax, jnp.asarray(padded), normalize, normalization))[:n]


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _e3nn_padded(vectors: jax.Array, lmax: int, normalize: bool, normalization: str) -> jax.Array:
    return e3nn.sh(list(range(lmax + 1)), vectors, normalize, normalization)


def e3nn_sh(lmax: int, vectors: np.ndarray, normalize: bool, normalization: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, 3)
    n = vectors.shape[0]
    padded = np.concatenate([vectors, np.tile([[0.3, -0.5, 0.8]], (ROWS - n, 1))])
    return np.asarray(_e3nn_padded(jnp.asarray(padded), lmax, normalize, normalization))[:n]


def degrees(lmax: int) -> np.ndarray:
    return np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)


def assert_close_per_degree(
    actual: np.ndarray, desired: np.ndarray, lmax: int, rtol: float
) -> None:
    """|actual - desired| <= rtol * (largest |desired| of the same degree, at least 1)."""
    assert actual.shape == desired.shape
    ls = degrees(lmax)
    for l in range(lmax + 1):
        block = ls == l
        scale = max(1.0, float(np.max(np.abs(desired[:, block]), initial=0.0)))
        err = float(np.max(np.abs(actual[:, block] - desired[:, block]), initial=0.0))
        assert err <= rtol * scale, f"l={l}: max error {err:.2e} > {rtol:.0e} * {scale:.2e}"


AXES = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64
)
NEAR_POLES = np.array(
    [
        [1e-9, 1.0, 0.0],
        [0.0, -1.0, 1e-12],
        [1e-7, 1.0, -1e-7],
        [-3e-5, -1.0, 2e-5],
        [1e-300, 1.0, 0.0],
        [2e-4, 0.7, -1e-4],
    ]
)


def random_vectors(n: int, seed: int, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v * rng.uniform(*scale, size=(n, 1))


# --------------------------------------------------------------------------------------------
# Values against e3nn-jax
# --------------------------------------------------------------------------------------------

# e3nn's default algorithm above l = 8 goes through associated Legendre functions of cos(beta) and
# loses the sin(beta)^m factor next to the poles, so vectors near +-y are compared with its exact
# (Clebsch-Gordan recursive) algorithm at lmax 6 below, and at lmax 12 through equivariance.


@pytest.mark.parametrize(("normalize", "normalization"), [(True, "integral"), (False, "component")])
def test_matches_e3nn_lmax12(normalize: bool, normalization: str) -> None:
    v = np.concatenate([random_vectors(64, seed=1, scale=(0.5, 2.0)), AXES, 2.5 * AXES])
    ours = sh(LMAX, v, normalize, normalization)
    ref = e3nn_sh(LMAX, v, normalize, normalization)
    assert_close_per_degree(ours, ref, LMAX, rtol=1e-12)
    # Every lower lmax is a prefix of the same computation.
    for lmax in (0, 2):
        n = (lmax + 1) ** 2
        assert_close_per_degree(
            sh(lmax, v[:8], normalize, normalization), ref[:8, :n], lmax, rtol=1e-13
        )


@pytest.mark.parametrize(
    ("normalize", "normalization"),
    [
        (True, "component"),
        (False, "norm"),
        pytest.param(True, "norm", marks=pytest.mark.slow),
        pytest.param(True, "integral", marks=pytest.mark.slow),
        pytest.param(False, "component", marks=pytest.mark.slow),
        pytest.param(False, "integral", marks=pytest.mark.slow),
    ],
)
def test_matches_e3nn_near_poles(normalize: bool, normalization: str) -> None:
    lmax = 5  # e3nn's exact recursive algorithm (used up to l = 8) is slow to compile
    v = np.concatenate(
        [NEAR_POLES, 1.7 * NEAR_POLES, AXES, random_vectors(8, seed=2, scale=(0.5, 2.0))]
    )
    ours = sh(lmax, v, normalize, normalization)
    ref = e3nn_sh(lmax, v, normalize, normalization)
    assert_close_per_degree(ours, ref, lmax, rtol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("lmax", range(LMAX + 1))
def test_matches_e3nn_every_lmax(lmax: int, normalize: bool, normalization: str) -> None:
    v = np.concatenate([random_vectors(32, seed=3, scale=(0.5, 2.0)), AXES])
    ref = e3nn_sh(LMAX, v, normalize, normalization)[:, : (lmax + 1) ** 2]
    assert_close_per_degree(sh(lmax, v, normalize, normalization), ref, lmax, rtol=1e-12)


def test_poles_exact() -> None:
    """On +-y only m = 0 survives: Y_l0(+-y) = (+-1)^l sqrt(2l + 1) ("component")."""
    ls = degrees(LMAX)
    expected = np.zeros((2, ls.size))
    m0 = np.array([l * l + l for l in range(LMAX + 1)])
    expected[0, m0] = np.sqrt(2 * np.arange(LMAX + 1) + 1)
    expected[1, m0] = (-1.0) ** np.arange(LMAX + 1) * np.sqrt(2 * np.arange(LMAX + 1) + 1)
    np.testing.assert_allclose(
        sh(LMAX, [[0, 1.0, 0], [0, -1.0, 0]], False, "component"), expected, atol=1e-12
    )
    # Scaled, normalized, orthonormal: the same up to 1 / sqrt(4 pi).
    integral = sh(LMAX, [[0, 3.0, 0], [0, -0.2, 0]], True, "integral")
    np.testing.assert_allclose(integral * np.sqrt(4 * np.pi), expected, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Properties independent of e3nn
# --------------------------------------------------------------------------------------------


def test_orthonormal_by_quadrature() -> None:
    """Gauss-Legendre in cos(beta) x uniform in alpha is exact for products of degree <= 2 lmax."""
    n_beta, n_alpha = LMAX + 1, 2 * LMAX + 2
    cos_beta, w_beta = np.polynomial.legendre.leggauss(n_beta)
    alpha = 2 * np.pi * np.arange(n_alpha) / n_alpha
    sin_beta = np.sqrt(1 - cos_beta**2)
    # Unit vectors n(alpha, beta) = (sin b sin a, cos b, sin b cos a); polar axis y.
    v = np.stack(
        [
            np.outer(sin_beta, np.sin(alpha)),
            np.outer(cos_beta, np.ones(n_alpha)),
            np.outer(sin_beta, np.cos(alpha)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    weights = np.outer(w_beta, np.full(n_alpha, 2 * np.pi / n_alpha)).reshape(-1)
    y = sh(LMAX, v, True, "integral")
    gram = (y * weights[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-12)


def test_sum_rules() -> None:
    """sum_m Y_lm^2 is 2l + 1 ("component") and 1 ("norm") on the unit sphere."""
    v = random_vectors(40, seed=4)
    ls = degrees(LMAX)
    y = sh(LMAX, v, False, "component")  # unit vectors: normalize=False is the same thing
    sums = np.stack([np.sum(y[:, ls == l] ** 2, axis=1) for l in range(LMAX + 1)], axis=1)
    np.testing.assert_allclose(
        sums, np.broadcast_to(2 * np.arange(LMAX + 1) + 1.0, sums.shape), rtol=1e-12
    )
    y = sh(4, v, True, "norm")
    ls = degrees(4)
    sums = np.stack([np.sum(y[:, ls == l] ** 2, axis=1) for l in range(5)], axis=1)
    np.testing.assert_allclose(sums, np.ones_like(sums), rtol=1e-13)


def test_homogeneous_without_normalize() -> None:
    """normalize=False gives homogeneous polynomials: Y_l(s v) = s^l Y_l(v)."""
    v = random_vectors(30, seed=5)
    s = 1.9
    ls = degrees(LMAX)
    scaled, unscaled = sh(LMAX, s * v, False, "component"), sh(LMAX, v, False, "component")
    for l in range(LMAX + 1):  # a degree's polynomials cancel: rounding scales with its largest
        expected = unscaled[:, ls == l] * s**l
        atol = 1e-12 * np.abs(expected).max()
        np.testing.assert_allclose(scaled[:, ls == l], expected, rtol=1e-12, atol=atol)


def _d_matrix(rotations: np.ndarray) -> np.ndarray:
    irreps = e3nn.Irreps([(1, (l, (-1) ** l)) for l in range(LMAX + 1)])
    return np.asarray(jax.jit(jax.vmap(irreps.D_from_matrix))(jnp.asarray(rotations)))


def test_equivariance_rotations_and_inversion() -> None:
    """Y(R v) = D(R) Y(v) for random proper and improper R (D from e3nn), incl. near-pole v."""
    rotations = Rotation.random(4, random_state=6).as_matrix()
    rotations = np.concatenate([rotations, -rotations, -np.eye(3)[None]])  # improper ones too
    d = _d_matrix(rotations)
    v = np.concatenate([random_vectors(16, seed=7, scale=(0.5, 2.0)), NEAR_POLES[:4], AXES[2:4]])
    y = sh(LMAX, v, True, "integral")
    for r, dr in zip(rotations, d, strict=True):
        rotated = sh(LMAX, v @ r.T, True, "integral")
        assert_close_per_degree(rotated, y @ dr.T, LMAX, rtol=1e-10)


def test_inversion_parity() -> None:
    v = random_vectors(20, seed=8, scale=(0.5, 2.0))
    ls = degrees(LMAX)
    inverted, y = sh(LMAX, -v, False, "component"), sh(LMAX, v, False, "component")
    np.testing.assert_allclose(inverted, y * (-1.0) ** ls, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------------
# Derivatives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_grads_finite_differences(normalize: bool) -> None:
    """First derivatives of Y and derivatives of the gradient (second order) vs finite differences.

    ``check_grads`` is applied at order 1 to the jitted function and to its jitted gradient, which
    checks the second derivatives and compiles far less than ``order=2``. (Without normalization
    the derivatives are compared exactly with autodiff below.)
    """
    lmax = 3
    v = jnp.asarray(np.concatenate([random_vectors(3, seed=9, scale=(0.5, 2.0)), NEAR_POLES[:2]]))
    w = jnp.asarray(np.random.default_rng(10).normal(size=(v.shape[0], (lmax + 1) ** 2)))

    @jax.jit
    def f(x: jax.Array) -> jax.Array:
        return jnp.sum(w * spherical_harmonics(lmax, x, normalize, "component"), axis=-1)

    grad = jax.jit(jax.grad(lambda x: jnp.sum(f(x) ** 2)))
    check_grads(f, (v,), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6, eps=1e-5)
    check_grads(grad, (v,), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6, eps=1e-5)


@pytest.mark.parametrize(
    "normalization",
    [
        "integral",
        pytest.param("component", marks=pytest.mark.slow),
        pytest.param("norm", marks=pytest.mark.slow),
    ],
)
def test_derivative_rule_matches_autodiff_of_recursion(normalization: str) -> None:
    """The ladder-relation JVP equals automatic differentiation through the plain recursion."""
    lmax = 4
    v = jnp.asarray(np.concatenate([random_vectors(3, seed=11, scale=(0.5, 2.0)), NEAR_POLES[:1]]))

    def compare(transform) -> None:
        ours = jax.jit(
            jax.vmap(transform(lambda x: spherical_harmonics(lmax, x, False, normalization)))
        )(v)
        plain = jax.jit(jax.vmap(transform(lambda x: _polynomials(lmax, normalization, x))))(v)
        np.testing.assert_allclose(
            ours, plain, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(plain)))
        )

    compare(jax.jacfwd)  # reverse mode is the transpose of the same rule (checked by check_grads)
    compare(jax.hessian)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_zero_vector_values_and_grads_finite(dtype: jnp.dtype) -> None:
    """A zero (padding) vector: Y = (1, 0, ...), and first and second derivatives are finite."""
    lmax = 3
    k = (lmax + 1) ** 2
    v = jnp.asarray([[0.0, 0.0, 0.0], [0.3, -0.4, 0.5], [1e-20, 0.0, 0.0]], dtype=dtype)
    y = spherical_harmonics(lmax, v)
    np.testing.assert_array_equal(np.asarray(y[0]), np.eye(k)[0])

    def energy(x: jax.Array) -> jax.Array:
        return jnp.sum(spherical_harmonics(lmax, x) ** 2 * jnp.arange(k, dtype=dtype))

    @jax.jit
    def forces_and_double(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.grad(energy)(x), jax.grad(lambda x: jnp.sum(jax.grad(energy)(x) ** 2))(x)

    for g in forces_and_double(v):
        assert bool(jnp.all(jnp.isfinite(g))), g
    # The l = 1 part is linear at the origin: d Y_1 / d v = sqrt(3) I there.
    jac = jax.jit(jax.jacfwd(lambda x: spherical_harmonics(1, x)))(v[0])
    np.testing.assert_allclose(np.asarray(jac[1:]), np.sqrt(3) * np.eye(3), rtol=1e-6)
    if dtype == jnp.float64:  # forward-over-reverse too
        hessian = jax.jit(jax.hessian(lambda x: spherical_harmonics(lmax, x)))(v[0])
        assert bool(jnp.all(jnp.isfinite(hessian)))


# --------------------------------------------------------------------------------------------
# JAX transformations, dtypes and errors
# --------------------------------------------------------------------------------------------


def test_dtype_jit_vmap() -> None:
    v64 = jnp.asarray(random_vectors(10, seed=12, scale=(0.5, 2.0)).reshape(2, 5, 3))
    y64 = spherical_harmonics(2, v64)
    assert y64.shape == (2, 5, 9) and y64.dtype == jnp.float64
    y32 = spherical_harmonics(2, v64.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    np.testing.assert_allclose(y32, y64, atol=1e-5)
    np.testing.assert_allclose(jax.jit(lambda x: spherical_harmonics(2, x))(v64), y64, rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(lambda x: spherical_harmonics(2, x))(v64), y64, rtol=1e-14)
    assert spherical_harmonics(2, jnp.asarray([0, 2, 0])).dtype == jnp.result_type(float)
    assert spherical_harmonics(2, jnp.zeros((0, 3))).shape == (0, 9)


def test_errors() -> None:
    v = jnp.ones((4, 3))
    with pytest.raises(ValueError, match="non-negative integer"):
        spherical_harmonics(-1, v)
    with pytest.raises(ValueError, match="non-negative integer"):
        spherical_harmonics(2.0, v)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative integer"):
        spherical_harmonics(True, v)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        spherical_harmonics(2, jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        spherical_harmonics(2, jnp.asarray(1.0))
    with pytest.raises(ValueError, match="'component', 'norm', 'integral'"):
        spherical_harmonics(2, v, normalization="unit")
