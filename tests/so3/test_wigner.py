"""Tests of equitens.so3.wigner (float64 unless stated).

Oracles: e3nn-jax (matrix exponential of generators), scipy.linalg.expm of equitens' generators, a
polynomial Clebsch-Gordan recursion D^l = (2l+1) C^T (D^{l-1} x R) C written here in numpy,
e3nn-jax's spherical harmonics (Y(R x) = D(R) Y(x)), and group identities.
"""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.linalg import expm

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.generators import so3_generators
from equitens.so3.irreps import Irreps
from equitens.so3.rotations import (
    angles_to_matrix,
    angles_to_quaternion,
    axis_angle_to_matrix,
    matrix_x,
    quaternion_to_matrix,
    random_o3,
    random_rotation,
)
from equitens.so3.wigner import (
    D_from_matrix,
    J_matrix,
    wigner_D,
    wigner_D_from_angles,
    wigner_D_from_quaternion,
    wigner_D_polar,
    wigner_D_up_to,
)

LMAX = 12
TOL = 1e-12


def _recursion_oracle(lmax: int, R: np.ndarray) -> list[np.ndarray]:
    """D^l(R) by the Clebsch-Gordan recursion in numpy float64 (independent of J and angles)."""
    R = np.asarray(R, dtype=np.float64)
    out = [np.ones(R.shape[:-2] + (1, 1)), R]
    for l in range(2, lmax + 1):
        C = clebsch_gordan(l - 1, 1, l)
        out.append(
            (2 * l + 1) * np.einsum("abm,...ac,...bd,cdn->...mn", C, out[-1], R, C, optimize=True)
        )
    return out[: lmax + 1]


def _expm_oracle(l: int, alpha: float, beta: float, gamma: float) -> np.ndarray:
    G = so3_generators(l)
    return expm(alpha * G[1]) @ expm(beta * G[0]) @ expm(gamma * G[1])


@functools.cache
def _rotations(n: int = 16) -> jax.Array:
    return random_rotation(jax.random.key(0), (n,), jnp.float64)


def _gimbal_angles() -> list[tuple[float, float, float]]:
    return [
        (0.0, 0.0, 0.0),
        (0.3, 0.0, 0.5),
        (-1.2, np.pi, 0.4),
        (2.0, 1e-9, -0.7),
        (0.1, np.pi - 1e-9, 0.2),
        (np.pi, np.pi, np.pi),
    ]


# ------------------------------------------------------------------------------------------
# J and the polar rotation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_J_is_involutory_symmetric_and_swaps_x_y(l):
    J = J_matrix(l)
    n = 2 * l + 1
    assert J.dtype == np.float64 and J.shape == (n, n) and not J.flags.writeable
    np.testing.assert_allclose(J @ J, np.eye(n), atol=1e-14)
    np.testing.assert_allclose(J, J.T, atol=1e-14)
    G = so3_generators(l)
    np.testing.assert_allclose(J, expm(np.pi * (G[0] + G[1]) / np.sqrt(2)), atol=1e-12)
    swap = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, -1]])
    np.testing.assert_allclose(J, _recursion_oracle(l, swap)[l], atol=1e-14)
    # J X(beta) J is the rotation about x
    np.testing.assert_allclose(J @ expm(0.7 * G[1]) @ J, expm(0.7 * G[0]), atol=TOL)
    assert J_matrix(l) is J  # cached


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_polar_rotation_is_exponential_of_G_y(l):
    G = so3_generators(l)
    angles = (0.0, 0.4, -2.9, 7.0)
    X = wigner_D_polar(l, jnp.array(angles))
    for t, x in zip(angles, X, strict=True):
        np.testing.assert_allclose(x, expm(t * G[1]), atol=TOL)
    X = np.asarray(wigner_D_polar(l, 0.4))
    f = l - np.arange(2 * l + 1)
    np.testing.assert_allclose(np.diag(X), np.cos(0.4 * f), atol=1e-15)
    anti = X[np.arange(2 * l + 1), 2 * l - np.arange(2 * l + 1)]
    np.testing.assert_allclose(np.where(f == 0, 0, anti), np.sin(0.4 * f), atol=1e-15)


# ------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------


@functools.cache
def _e3nn_from_angles(l: int):
    return jax.jit(lambda a, b, c: e3nn.Irrep(l, 1).D_from_angles(a, b, c))


@functools.cache
def _e3nn_from_matrix(l: int):
    return jax.jit(lambda R: e3nn.Irrep(l, 1).D_from_matrix(R))


def _e3nn_tol(l: int) -> float:
    # e3nn's matrix exponential itself loses ~1e-10 at l = 12 (our value agrees with two
    # independent oracles to 1e-14 there, see the recursion and expm tests)
    return TOL if l < 12 else 1e-9


def test_from_angles_matches_expm():
    rng = np.random.default_rng(1)
    a, b, c = rng.uniform(-np.pi, np.pi, 8), rng.uniform(0, np.pi, 8), rng.uniform(-np.pi, np.pi, 8)
    for l in range(LMAX + 1):
        D = wigner_D_from_angles(l, a, b, c)
        assert D.shape == (8, 2 * l + 1, 2 * l + 1)
        np.testing.assert_allclose(D[3], _expm_oracle(l, a[3], b[3], c[3]), atol=TOL)


@pytest.mark.parametrize("l", [0, 1, 2, 3, 6, 12])
def test_from_angles_and_matrix_match_e3nn(l):
    rng = np.random.default_rng(l)
    a, b, c = rng.uniform(-np.pi, np.pi, 8), rng.uniform(0, np.pi, 8), rng.uniform(-np.pi, np.pi, 8)
    np.testing.assert_allclose(
        wigner_D_from_angles(l, a, b, c), _e3nn_from_angles(l)(a, b, c), atol=_e3nn_tol(l)
    )
    R = _rotations()
    np.testing.assert_allclose(wigner_D(l, R), _e3nn_from_matrix(l)(R), atol=_e3nn_tol(l))


@pytest.mark.slow
@pytest.mark.parametrize("l", [4, 5, 7, 8, 9, 10, 11])
def test_from_angles_and_matrix_match_e3nn_all_degrees(l):
    test_from_angles_and_matrix_match_e3nn(l)


def test_from_angles_broadcasts_and_follows_dtype():
    D = wigner_D_from_angles(2, jnp.zeros((3, 1)), jnp.ones(4), 0.5)
    assert D.shape == (3, 4, 5, 5)
    D32 = wigner_D_from_angles(3, jnp.float32(0.1), jnp.float32(0.2), jnp.float32(0.3))
    assert D32.dtype == jnp.float32


def test_D1_is_R():
    R = _rotations()
    np.testing.assert_array_equal(wigner_D(1, R), R)
    np.testing.assert_array_equal(wigner_D(1, -R), -R)
    np.testing.assert_allclose(
        wigner_D_from_angles(1, 0.3, 1.1, -0.4), angles_to_matrix(0.3, 1.1, -0.4), atol=1e-15
    )


def test_matches_polynomial_recursion_to_l12():
    R = _rotations()
    oracle = _recursion_oracle(LMAX, R)
    ours = wigner_D_up_to(LMAX, R)
    assert len(ours) == LMAX + 1
    for l in range(LMAX + 1):
        np.testing.assert_allclose(ours[l], oracle[l], atol=TOL)
    for l in (0, 1, 2, 7, LMAX):  # the single-degree entry point gives the same numbers
        np.testing.assert_allclose(wigner_D(l, R), ours[l], atol=1e-15)


def test_homomorphism_and_orthogonality():
    R = np.asarray(_rotations(32))
    R1, R2 = R[:16], R[16:]
    all_D1, all_D2, all_D12, all_D1T = (
        [np.asarray(d) for d in wigner_D_up_to(LMAX, r)]
        for r in (R1, R2, R1 @ R2, R1.transpose(0, 2, 1))
    )
    for l in range(LMAX + 1):
        D1, D2, D12 = all_D1[l], all_D2[l], all_D12[l]
        np.testing.assert_allclose(D12, D1 @ D2, atol=TOL)
        eye = np.broadcast_to(np.eye(2 * l + 1), D1.shape)
        np.testing.assert_allclose(D1 @ D1.transpose(0, 2, 1), eye, atol=TOL)
        np.testing.assert_allclose(all_D1T[l], D1.transpose(0, 2, 1), atol=TOL)


def test_axis_angle_is_exponential_of_generators():
    rng = np.random.default_rng(2)
    axis = rng.normal(size=(16, 3))
    angle = rng.uniform(-np.pi, np.pi, 16)
    n = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    Ds = wigner_D_up_to(LMAX, axis_angle_to_matrix(axis, angle))
    for l in range(LMAX + 1):
        G = so3_generators(l)
        for b in (0, 7, 15):
            np.testing.assert_allclose(
                Ds[l][b], expm(angle[b] * np.einsum("a,aij->ij", n[b], G)), atol=TOL
            )


def test_spherical_harmonics_transform_with_D_including_inversion():
    """Y(R x) = D(R) Y(x) for rotations and improper matrices (D^l(-I) = (-1)^l)."""
    Q = np.array(random_o3(jax.random.key(3), (16,), jnp.float64))
    Q[0] = -Q[0] * np.sign(np.linalg.det(Q[0]))  # make sure one improper is present
    x = np.random.default_rng(4).normal(size=(16, 3))
    sh = jax.jit(
        lambda x: (
            e3nn.spherical_harmonics(
                e3nn.Irreps.spherical_harmonics(LMAX), x, normalize=True, normalization="component"
            ).array
        )
    )
    Y_all, Y_rot_all = np.asarray(sh(x)), np.asarray(sh(np.einsum("bij,bj->bi", Q, x)))
    Ds = wigner_D_up_to(LMAX, Q)
    for l in range(LMAX + 1):
        Y, Y_rot = Y_all[:, l * l : (l + 1) ** 2], Y_rot_all[:, l * l : (l + 1) ** 2]
        np.testing.assert_allclose(Y_rot, np.einsum("bij,bj->bi", np.asarray(Ds[l]), Y), atol=1e-11)


def _special_angles() -> np.ndarray:
    """16 angle triples: gimbal lock, rotations about y and x, and the border of the two charts."""
    rows = list(_gimbal_angles())
    rows += [(t, 0.0, 0.0) for t in (0.5, np.pi, -2.0)]  # about y
    rows += [(0.0, t, 0.0) for t in (0.5, np.pi, 1e-12)]  # about x
    rows += [(0.7, np.pi / 4 + eps, -0.3) for eps in (-1e-12, 0.0, 1e-12)]  # R[1, 1]^2 = 1/2
    rows += [(0.2, 3 * np.pi / 4, 1.0)]  # R[1, 1]^2 = 1/2 from the other side
    assert len(rows) == 16
    return np.array(rows)


def test_gimbal_lock_axis_rotations_and_chart_border_are_exact():
    angles = _special_angles()
    R = angles_to_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    oracle = _recursion_oracle(LMAX, R)
    ours = wigner_D_up_to(LMAX, R)
    for l in range(LMAX + 1):
        np.testing.assert_allclose(ours[l], oracle[l], atol=TOL)
        for b in range(16):
            np.testing.assert_allclose(ours[l][b], _expm_oracle(l, *angles[b]), atol=TOL)
    # rotations about y are X(t), rotations about x are J X(t) J
    for l in (2, 5, LMAX):
        J = J_matrix(l)
        for b, t in zip((6, 7, 8), (0.5, np.pi, -2.0), strict=True):
            np.testing.assert_allclose(ours[l][b], wigner_D_polar(l, t), atol=TOL)
        for b, t in zip((9, 10, 11), (0.5, np.pi, 1e-12), strict=True):
            np.testing.assert_allclose(ours[l][b], J @ wigner_D_polar(l, t) @ J, atol=TOL)


def test_haar_average_of_D_vanishes():
    R = random_rotation(jax.random.key(5), (20_000,), jnp.float64)
    Ds = wigner_D_up_to(4, R)
    for l in (1, 2, 4):
        mean = np.asarray(Ds[l].mean(0))
        np.testing.assert_allclose(mean, 0, atol=5 / np.sqrt(20_000 * (2 * l + 1)))


# ------------------------------------------------------------------------------------------
# derivatives
# ------------------------------------------------------------------------------------------


_L_GRAD = 4
_jacobian = jax.jit(jax.jacfwd(lambda R: wigner_D(_L_GRAD, R)))
_hessian = jax.jit(jax.hessian(lambda R: jnp.sum(wigner_D(_L_GRAD, R) ** 3)))


@pytest.mark.parametrize("angles", _gimbal_angles() + [(0.3, np.pi / 4, 0.2), (0.4, 1.3, -2.0)])
def test_derivatives_are_finite_and_match_generators(angles):
    R = angles_to_matrix(*angles)
    jac, hess = _jacobian(R), _hessian(R)
    assert bool(jnp.isfinite(jac).all()) and bool(jnp.isfinite(hess).all())
    # along the curve R exp(t G_a) the derivative is D(R) G_a
    G1, Gl = so3_generators(1), so3_generators(_L_GRAD)
    D = wigner_D(_L_GRAD, R)
    for a in range(3):
        dD = np.einsum("ijab,ab->ij", jac, np.asarray(R) @ G1[a])
        np.testing.assert_allclose(dD, D @ Gl[a], atol=1e-11)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (0.3, 0.0, 0.5), (-1.2, np.pi, 0.4)])
def test_check_grads_order_2_at_gimbal_lock(angles):
    R = angles_to_matrix(*angles)
    check_grads(lambda R: wigner_D(3, R), (R,), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_gradients_through_the_Y_relation_near_the_pole():
    """d/dx [D(R(x)) Y(e)] for R(x) = matrix_x(x), including the gimbal-lock points x = 0, pi.

    Oracles: finite differences (five-point stencil) of the same function, and of e3nn-jax's
    Y(R(x) e), equal to D(R(x)) Y(e) for every x and computed with no Wigner matrix.
    """
    l = 6
    e = jnp.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])

    def Y(x):
        return e3nn.spherical_harmonics(f"{l}e", x, normalize=True, normalization="component").array

    @jax.jit
    def ours(t):
        return wigner_D(l, matrix_x(t)) @ Y(e)

    @jax.jit
    def oracle(t):
        return Y(matrix_x(t) @ e)

    h, stencil = 1e-3, np.array([1.0, -8.0, 8.0, -1.0]) / 12e-3

    def derivative(values):  # values at t + h * (-2, -1, 1, 2) along axis 1
        return np.einsum("k,tk...->t...", stencil, np.asarray(values))

    # gimbal lock (0, pi), next to it, chart 2 (-0.7), the chart border (pi/4), chart 1 (1.2)
    t = jnp.array([0.0, 1e-8, np.pi, -0.7, np.pi / 4, 1.2])
    shifted = t[:, None] + h * jnp.array([-2.0, -1.0, 1.0, 2.0])
    np.testing.assert_allclose(ours(t), oracle(t), atol=1e-12)
    expected = derivative(oracle(shifted))
    assert (np.abs(expected).max(axis=1) > 1.0).all()  # derivatives not trivially zero
    d_fwd = jax.jit(jax.vmap(jax.jacfwd(ours)))
    np.testing.assert_allclose(d_fwd(t), expected, atol=1e-8)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.jacrev(ours)))(t), expected, atol=1e-8)
    np.testing.assert_allclose(derivative(ours(shifted)), expected, atol=1e-8)
    second = derivative(d_fwd(shifted.reshape(-1)).reshape(len(t), 4, -1))
    assert (np.abs(second).max(axis=1) > 1.0).all()
    np.testing.assert_allclose(
        jax.jit(jax.vmap(jax.jacfwd(jax.jacrev(ours))))(t), second, atol=1e-7
    )


# ------------------------------------------------------------------------------------------
# float32, quaternions, O(3) blocks
# ------------------------------------------------------------------------------------------


def test_float32_accuracy_for_l_up_to_8():
    R64 = np.asarray(random_rotation(jax.random.key(6), (2000,), jnp.float64))
    special = np.asarray(
        angles_to_matrix(jnp.array([0.0, 0.3, 1.0]), jnp.array([0.0, 1e-4, np.pi]), 0.2)
    )
    R32 = np.concatenate([R64, special]).astype(np.float32)
    errors = []
    for D32, D64 in zip(
        wigner_D_up_to(8, R32), wigner_D_up_to(8, R32.astype(np.float64)), strict=True
    ):
        assert D32.dtype == jnp.float32
        errors.append(float(np.abs(np.asarray(D32, dtype=np.float64) - np.asarray(D64)).max()))
    # measured: ~2e-6 at l = 8, growing about linearly with l
    assert max(errors) < 1e-5, errors


def test_quaternion_route():
    q = jax.random.normal(jax.random.key(7), (16, 4), dtype=jnp.float64)
    for l in (1, 2, 7, LMAX):
        D = wigner_D_from_quaternion(l, q)
        np.testing.assert_allclose(D, wigner_D(l, quaternion_to_matrix(q)), atol=1e-14)
        np.testing.assert_allclose(wigner_D_from_quaternion(l, -3.0 * q), D, atol=TOL)
    a = angles_to_quaternion(0.3, 0.0, 0.4)  # gimbal lock
    g = jax.jacfwd(lambda q: wigner_D_from_quaternion(5, q))(a)
    assert bool(jnp.isfinite(g).all())


def test_D_from_matrix_matches_e3nn():
    Q = random_o3(jax.random.key(8), (4,), jnp.float64)
    Q = Q.at[0].set(-angles_to_matrix(0.3, 0.0, 0.2))  # improper at gimbal lock
    for text in ("2x0e + 0o + 1o + 1e + 2x2e + 2o + 3o + 4e", "3x1o + 0x2e + 5e"):
        ours = D_from_matrix(text, Q)
        dim = Irreps(text).dim
        assert ours.shape == (4, dim, dim)
        # e3nn's Irreps.D_from_matrix takes one matrix at a time
        theirs = jax.jit(jax.vmap(e3nn.Irreps(text).D_from_matrix))(Q)
        np.testing.assert_allclose(ours, theirs, atol=TOL)
        np.testing.assert_allclose(D_from_matrix(Irreps(text), Q), ours, atol=0)


def test_D_from_matrix_is_a_representation_of_O3():
    Q = np.asarray(random_o3(jax.random.key(9), (10,), jnp.float64))
    irreps = "2x0o + 1e + 3x2o + 3e"
    D1, D2, D12 = (np.asarray(D_from_matrix(irreps, r)) for r in (Q[:5], Q[5:], Q[:5] @ Q[5:]))
    np.testing.assert_allclose(D12, D1 @ D2, atol=TOL)
    np.testing.assert_allclose(
        np.diag(D_from_matrix(irreps, -np.eye(3))), [-1, -1] + [1] * 3 + [-1] * 15 + [1] * 7, atol=0
    )


def test_jit_and_vmap():
    R = _rotations()
    for l in (0, 2, 5):
        np.testing.assert_allclose(
            jax.jit(wigner_D, static_argnums=0)(l, R), wigner_D(l, R), atol=1e-14
        )
        np.testing.assert_allclose(
            jax.vmap(lambda r, l=l: wigner_D(l, r))(R), wigner_D(l, R), atol=1e-14
        )
    f = jax.jit(lambda R: D_from_matrix("1o + 2e", R))
    assert f(R).shape == (16, 8, 8)


@pytest.mark.parametrize(
    "call",
    [
        lambda: J_matrix(-1),
        lambda: J_matrix(1.0),
        lambda: wigner_D(True, jnp.eye(3)),
        lambda: wigner_D(2, jnp.eye(4)),
        lambda: wigner_D(2, jnp.ones(3)),
        lambda: wigner_D_up_to(-2, jnp.eye(3)),
        lambda: wigner_D_from_quaternion(2, jnp.ones(3)),
        lambda: D_from_matrix("1o", jnp.eye(2)),
        lambda: D_from_matrix("1x", jnp.eye(3)),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
