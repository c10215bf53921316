"""Tests of equitens.so3.rotations against e3nn-jax, scipy and group identities (float64)."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

from equitens.so3.generators import so3_generators
from equitens.so3.rotations import (
    angles_to_matrix,
    angles_to_quaternion,
    angles_to_xyz,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    compose_quaternion,
    matrix_to_angles,
    matrix_to_quaternion,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_matrix,
    random_o3,
    random_rotation,
    xyz_to_angles,
)

TOL = 1e-13


def _angles(seed: int, n: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-np.pi, np.pi, n), rng.uniform(0, np.pi, n), rng.uniform(-np.pi, np.pi, n)


def _gimbal_matrices() -> np.ndarray:
    """Rotations with R e_y = +-e_y, plus rotations by pi (hard for quaternion extraction)."""
    mats = [np.eye(3)]
    for t in (0.3, -2.0, np.pi):
        mats.append(np.asarray(matrix_y(t)))
        mats.append(np.asarray(matrix_y(t) @ matrix_x(np.pi)))
    for axis in ([1, 0, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3]):
        mats.append(np.asarray(axis_angle_to_matrix(jnp.array(axis, float), np.pi)))
    return np.stack(mats)


def test_axis_matrices_match_e3nn_and_generators():
    t = jnp.linspace(-4, 4, 9)
    G = so3_generators(1)
    for ours, theirs, g in (
        (matrix_x, e3nn.matrix_x, G[0]),
        (matrix_y, e3nn.matrix_y, G[1]),
        (matrix_z, e3nn.matrix_z, G[2]),
    ):
        np.testing.assert_allclose(ours(t), theirs(t), atol=TOL)
        np.testing.assert_allclose(ours(0.7), expm(0.7 * g), atol=TOL)


def test_angles_to_matrix_matches_e3nn_and_definition():
    a, b, c = _angles(0)
    R = angles_to_matrix(a, b, c)
    assert R.shape == (64, 3, 3)
    np.testing.assert_allclose(R, e3nn.angles_to_matrix(a, b, c), atol=TOL)
    np.testing.assert_allclose(R[5], matrix_y(a[5]) @ matrix_x(b[5]) @ matrix_y(c[5]), atol=TOL)
    # broadcasting of the three angles
    assert angles_to_matrix(jnp.zeros((2, 1)), jnp.zeros(3), 0.0).shape == (2, 3, 3, 3)


def test_matrix_to_angles_matches_e3nn_and_round_trips():
    a, b, c = _angles(1)
    R = angles_to_matrix(a, b, c)
    a2, b2, c2 = matrix_to_angles(R)
    np.testing.assert_allclose(a2, a, atol=1e-12)
    np.testing.assert_allclose(b2, b, atol=1e-12)
    np.testing.assert_allclose(c2, c, atol=1e-12)
    for ours, theirs in zip(matrix_to_angles(R), e3nn.matrix_to_angles(R), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_matrix_to_angles_at_gimbal_lock_is_a_valid_decomposition():
    R = jnp.asarray(_gimbal_matrices())
    alpha, beta, gamma = matrix_to_angles(R)
    assert bool(jnp.isfinite(jnp.stack([alpha, beta, gamma])).all())
    np.testing.assert_allclose(angles_to_matrix(alpha, beta, gamma), R, atol=TOL)
    # beta is 0 or pi exactly where R e_y = +-e_y
    polar = np.abs(np.abs(np.asarray(R)[:, 1, 1]) - 1) < 1e-15
    np.testing.assert_allclose(np.sin(np.asarray(beta))[polar], 0, atol=1e-15)


def test_xyz_angles_match_e3nn_and_are_accurate_near_poles():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 3))
    a, b = xyz_to_angles(v)
    ea, eb = e3nn.xyz_to_angles(v)
    np.testing.assert_allclose(a, ea, atol=1e-12)
    np.testing.assert_allclose(b, eb, atol=1e-12)
    # no normalisation needed
    a3, b3 = xyz_to_angles(3.7 * v)
    np.testing.assert_allclose(a3, a, atol=TOL)
    np.testing.assert_allclose(b3, b, atol=TOL)
    unit = v / np.linalg.norm(v, axis=-1, keepdims=True)
    np.testing.assert_allclose(angles_to_xyz(a, b), unit, atol=TOL)
    np.testing.assert_allclose(angles_to_xyz(a, b), e3nn.angles_to_xyz(a, b), atol=TOL)
    # near the pole atan2 keeps full relative accuracy of beta (arccos(y) would give ~1e-8 error)
    _, b_small = xyz_to_angles(jnp.array([1e-10, 1.0, 0.0]))
    assert abs(float(b_small) - 1e-10) < 1e-24
    # poles and the zero vector
    a_p, b_p = xyz_to_angles(jnp.array([[0.0, 2.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(a_p, [0, 0, 0], atol=0)
    np.testing.assert_allclose(b_p, [0, np.pi, 0], atol=TOL)


def test_quaternion_to_matrix_matches_e3nn_and_normalises():
    key = jax.random.key(3)
    q = jax.random.normal(key, (40, 4), dtype=jnp.float64)
    unit = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    R = quaternion_to_matrix(q)
    np.testing.assert_allclose(R, e3nn.quaternion_to_matrix(unit), atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(-2.5 * q), R, atol=TOL)
    np.testing.assert_allclose(
        R @ jnp.swapaxes(R, -1, -2), jnp.broadcast_to(jnp.eye(3), R.shape), atol=TOL
    )
    np.testing.assert_allclose(jnp.linalg.det(R), 1, atol=TOL)


def test_angles_to_quaternion_matches_e3nn():
    a, b, c = _angles(4)
    q = angles_to_quaternion(a, b, c)
    np.testing.assert_allclose(q, e3nn.angles_to_quaternion(a, b, c), atol=TOL)
    np.testing.assert_allclose(quaternion_to_matrix(q), angles_to_matrix(a, b, c), atol=TOL)


def test_compose_quaternion_is_matrix_product():
    k1, k2 = jax.random.split(jax.random.key(5))
    q1 = jax.random.normal(k1, (20, 4), dtype=jnp.float64)
    q2 = jax.random.normal(k2, (20, 4), dtype=jnp.float64)
    q = compose_quaternion(q1, q2)
    np.testing.assert_allclose(q, e3nn.compose_quaternion(q1, q2), atol=TOL)
    np.testing.assert_allclose(
        quaternion_to_matrix(q), quaternion_to_matrix(q1) @ quaternion_to_matrix(q2), atol=TOL
    )


def test_matrix_to_quaternion_round_trips_for_all_rotations():
    R = jnp.concatenate(
        [random_rotation(jax.random.key(6), (200,), jnp.float64), jnp.asarray(_gimbal_matrices())]
    )
    q = matrix_to_quaternion(R)
    np.testing.assert_allclose(jnp.linalg.norm(q, axis=-1), 1, atol=TOL)
    assert bool((q[:, 0] >= 0).all())
    np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-14)
    # agrees with e3nn up to sign (generic rotations only: e3nn goes through axis-angle)
    generic = R[:200]
    ours, theirs = matrix_to_quaternion(generic), e3nn.matrix_to_quaternion(generic)
    sign = jnp.sign(jnp.sum(ours * theirs, axis=-1, keepdims=True))
    np.testing.assert_allclose(ours, sign * theirs, atol=1e-10)


def test_axis_angle_matches_e3nn_and_generator_exponential():
    rng = np.random.default_rng(7)
    axis = rng.normal(size=(30, 3))
    angle = rng.uniform(-4, 4, 30)
    R = axis_angle_to_matrix(axis, angle)
    np.testing.assert_allclose(R, e3nn.axis_angle_to_matrix(axis, angle), atol=1e-12)
    np.testing.assert_allclose(
        axis_angle_to_quaternion(axis, angle), e3nn.axis_angle_to_quaternion(axis, angle), atol=TOL
    )
    G = so3_generators(1)
    n = axis[3] / np.linalg.norm(axis[3])
    np.testing.assert_allclose(R[3], expm(angle[3] * np.einsum("a,aij->ij", n, G)), atol=TOL)
    np.testing.assert_allclose(
        quaternion_to_matrix(axis_angle_to_quaternion(axis, angle)), R, atol=TOL
    )
    # the zero axis is the identity
    np.testing.assert_allclose(axis_angle_to_matrix(jnp.zeros(3), 1.3), jnp.eye(3), atol=0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_random_rotation_is_a_rotation_and_follows_dtype(dtype):
    R = random_rotation(jax.random.key(8), (3, 5), dtype)
    assert R.shape == (3, 5, 3, 3) and R.dtype == dtype
    atol = 1e-5 if dtype == jnp.float32 else TOL
    np.testing.assert_allclose(
        R @ jnp.swapaxes(R, -1, -2), jnp.broadcast_to(jnp.eye(3), R.shape), atol=atol
    )
    np.testing.assert_allclose(jnp.linalg.det(R), 1, atol=atol)
    assert random_rotation(jax.random.key(0)).shape == (3, 3)


def test_random_rotation_is_haar():
    """Characters of SO(3): E[tr R] = 0, E[(tr R)^2] = 1, E[R] = 0, E[R_ij^2] = 1/3 under Haar."""
    n = 40_000
    R = np.asarray(random_rotation(jax.random.key(9), (n,), jnp.float64))
    tr = np.trace(R, axis1=-2, axis2=-1)
    assert abs(tr.mean()) < 5 / np.sqrt(n)
    assert abs((tr**2).mean() - 1) < 5 * np.sqrt(2 / n)
    np.testing.assert_allclose(R.mean(0), 0, atol=5 / np.sqrt(3 * n))
    np.testing.assert_allclose((R**2).mean(0), 1 / 3, atol=5 * np.sqrt(0.09 / n))
    # the rotation angle has density (1 - cos t) / pi: its mean is pi/2 + 2/pi
    angle = np.arccos(np.clip((tr - 1) / 2, -1, 1))
    assert abs(angle.mean() - (np.pi / 2 + 2 / np.pi)) < 5 * 0.7 / np.sqrt(n)


def test_random_o3_contains_both_components():
    Q = random_o3(jax.random.key(10), (2000,), jnp.float64)
    np.testing.assert_allclose(
        Q @ jnp.swapaxes(Q, -1, -2), jnp.broadcast_to(jnp.eye(3), Q.shape), atol=TOL
    )
    det = np.asarray(jnp.linalg.det(Q))
    np.testing.assert_allclose(np.abs(det), 1, atol=TOL)
    assert 0.45 < (det < 0).mean() < 0.55


def test_jit_vmap_and_dtype_following():
    a32 = jnp.linspace(0, 1, 4, dtype=jnp.float32)
    assert angles_to_matrix(a32, a32, a32).dtype == jnp.float32
    assert matrix_to_quaternion(angles_to_matrix(a32, a32, a32)).dtype == jnp.float32
    R = random_rotation(jax.random.key(11), (6,), jnp.float64)
    np.testing.assert_allclose(
        jax.jit(matrix_to_quaternion)(R), jax.vmap(matrix_to_quaternion)(R), atol=TOL
    )
    np.testing.assert_allclose(
        jnp.stack(jax.jit(matrix_to_angles)(R)), jnp.stack(jax.vmap(matrix_to_angles)(R)), atol=TOL
    )


def test_quaternion_to_matrix_has_finite_derivatives():
    q = jnp.array([0.0, 0.0, 1.0, 0.0])  # rotation by pi
    jac = jax.jacfwd(quaternion_to_matrix)(q)
    hess = jax.hessian(lambda q: quaternion_to_matrix(q).sum())(q)
    assert bool(jnp.isfinite(jac).all()) and bool(jnp.isfinite(hess).all())


@pytest.mark.parametrize(
    "call",
    [
        lambda: matrix_to_angles(jnp.eye(4)),
        lambda: quaternion_to_matrix(jnp.ones(3)),
        lambda: matrix_to_quaternion(jnp.ones((3, 2))),
        lambda: xyz_to_angles(jnp.ones(2)),
        lambda: axis_angle_to_matrix(jnp.ones(4), 0.1),
        lambda: compose_quaternion(jnp.ones(4), jnp.ones(3)),
        lambda: random_rotation(jax.random.key(0), (-1,)),
        lambda: random_rotation(jax.random.key(0), (2,), jnp.int32),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
