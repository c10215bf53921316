"""Tests of equitens.so3.edge_frame (float64 unless stated)."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from equitens.so3.edge_frame import SINGULAR_DIRECTION, edge_frame, edge_frame_wigner
from equitens.so3.rotations import matrix_y
from equitens.so3.wigner import wigner_D_up_to

Y = np.array([0.0, 1.0, 0.0])
TOL = 1e-12


def _near_poles(eps: float) -> np.ndarray:
    """Vectors at angular distance ~eps from +y and -y, in several azimuths, plus the poles."""
    rng = np.random.default_rng(int(-np.log10(eps)))
    out = [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 2.5, 0.0], [0.0, -0.1, 0.0]]
    for sign in (1.0, -1.0):
        for phi in (0.0, np.pi / 2, np.pi, 3 * np.pi / 2, rng.uniform(0, 2 * np.pi)):
            out.append([eps * np.sin(phi), sign, eps * np.cos(phi)])
    return np.array(out)


def _generic(n: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) * rng.uniform(0.5, 3.0, (n, 1))


def _special_vectors() -> np.ndarray:
    return np.concatenate(
        [_generic(16), _near_poles(1e-7), _near_poles(1e-9), np.eye(3), -np.eye(3)]
    )


def _check_maps_to_y(v: np.ndarray, R: np.ndarray, tol: float = TOL) -> None:
    # |v| computed from the largest component, so that tiny vectors do not underflow here either
    scale = np.abs(v).max(axis=-1, keepdims=True)
    unit = v / scale / np.linalg.norm(v / scale, axis=-1, keepdims=True)
    np.testing.assert_allclose(
        np.einsum("...ij,...j->...i", R, unit), np.broadcast_to(Y, unit.shape), atol=tol
    )


def _check_rotation(R: np.ndarray, tol: float = TOL) -> None:
    eye = np.broadcast_to(np.eye(3), R.shape)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), eye, atol=tol)
    np.testing.assert_allclose(np.linalg.det(R), 1, atol=tol)


def test_maps_edges_to_y_including_poles_and_their_neighbourhoods():
    v = _special_vectors()
    R = np.asarray(edge_frame(v))
    assert R.shape == v.shape[:-1] + (3, 3)
    _check_rotation(R)
    _check_maps_to_y(v, R)
    np.testing.assert_allclose(
        np.einsum("bij,bj->bi", R, v), np.linalg.norm(v, axis=-1)[:, None] * Y, atol=TOL * 3
    )


def test_frame_of_plus_y_is_identity_and_zero_vector_is_roll():
    np.testing.assert_allclose(edge_frame(jnp.array([0.0, 2.0, 0.0])), np.eye(3), atol=1e-15)
    np.testing.assert_allclose(edge_frame(jnp.zeros(3)), np.eye(3), atol=1e-15)
    np.testing.assert_allclose(edge_frame(jnp.zeros(3), 0.4), matrix_y(0.4), atol=1e-15)


def test_tiny_and_huge_vectors():
    v = np.array(
        [
            [1e-100, -2e-100, 5e-101],
            [0.0, 3e-300, 0.0],
            [0.0, -1e-200, 1e-207],
            [1e300, -1e300, 2e299],
        ]
    )
    R = np.asarray(edge_frame(v))
    _check_rotation(R)
    _check_maps_to_y(v, R)
    jac = jax.jacfwd(edge_frame)(jnp.asarray(v[0]))
    assert bool(jnp.isfinite(jac).all())


def test_roll_is_applied_after_and_broadcasts():
    v = _generic(8, seed=1)
    gamma = np.linspace(-3, 3, 8)
    R0 = np.asarray(edge_frame(v))
    R = np.asarray(edge_frame(v, gamma))
    np.testing.assert_allclose(R, np.asarray(matrix_y(gamma)) @ R0, atol=TOL)
    _check_maps_to_y(v, R)
    # one roll for all edges, and one edge for several rolls
    np.testing.assert_allclose(edge_frame(v, 0.3), np.asarray(matrix_y(0.3)) @ R0, atol=TOL)
    assert edge_frame(v[0], gamma).shape == (8, 3, 3)


def test_is_smooth_across_the_poles():
    """Approaching +-y from any direction gives the same limit (no jump, unlike Euler frames)."""
    for sign in (1.0, -1.0):
        limit = np.asarray(edge_frame(jnp.array([0.0, sign, 0.0])))
        for eps in (1e-6, 1e-9):
            near = np.asarray(edge_frame(_near_poles(eps)[4 if sign > 0 else 9 :][:5]))
            np.testing.assert_allclose(near, np.broadcast_to(limit, near.shape), atol=10 * eps)


_jac = jax.jit(jax.vmap(jax.jacfwd(edge_frame)))
_hess = jax.jit(jax.vmap(jax.hessian(edge_frame)))


def test_derivatives_are_finite_everywhere_including_zero_vector():
    v = np.concatenate([_special_vectors(), np.zeros((1, 3))])
    jac, hess = np.asarray(_jac(v)), np.asarray(_hess(v))
    assert np.isfinite(jac).all() and np.isfinite(hess).all()
    np.testing.assert_array_equal(jac[-1], 0)  # padding edges get no gradient
    np.testing.assert_array_equal(hess[-1], 0)
    # bounded near the poles (a frame with a singularity there would blow up like 1/eps); the
    # derivatives scale like 1/|v| and 1/|v|^2
    poles = np.abs(v[:, 1]) > 0.99 * np.linalg.norm(v, axis=-1)
    norm = np.linalg.norm(v[poles], axis=-1)
    assert (np.abs(jac[poles]).max(axis=(1, 2, 3)) * norm).max() < 5
    assert (np.abs(hess[poles]).max(axis=(1, 2, 3, 4)) * norm**2).max() < 20
    rev = jax.jacrev(edge_frame)(jnp.zeros(3))
    assert bool((rev == 0).all())


@pytest.mark.parametrize(
    "v",
    [
        [0.3, -1.2, 0.5],
        [-2.0, 0.1, 0.7],
        [1e-7, 1.0, -2e-7],
        [3e-8, -1.0, 1e-7],
        [0.0, 1.0, 0.0],
        [0.0, -1.0, 0.0],
    ],
)
def test_check_grads_order_1_and_2(v):
    v = jnp.array(v)
    check_grads(edge_frame, (v,), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    check_grads(lambda v, g: edge_frame(v, g), (v, 0.9), order=1, modes=("fwd", "rev"))


def test_roll_invariance_of_m0_projection_and_so2_maps():
    """D(R)^T F D(R) does not depend on the roll for every F that commutes with rolls about +y."""
    v = np.concatenate([_generic(8, seed=2), _near_poles(1e-7)[:4]])
    lmax = 4
    gammas = (0.0, 1.3, -2.2)
    Ds = [[np.asarray(d) for d in edge_frame_wigner(lmax, v, g)] for g in gammas]
    rng = np.random.default_rng(3)
    for l in range(lmax + 1):
        n = 2 * l + 1
        P0 = np.zeros((n, n))
        P0[l, l] = 1.0
        # a generic SO(2)-equivariant map: a I + b K on each (+m, -m) pair, a0 on m = 0
        F = np.zeros((n, n))
        F[l, l] = rng.normal()
        for m in range(1, l + 1):
            a, b = rng.normal(size=2)
            i, j = l + m, l - m
            F[i, i] = F[j, j] = a
            F[i, j], F[j, i] = b, -b
        for op in (P0, F):
            out = [np.swapaxes(D[l], -1, -2) @ op @ D[l] for D in Ds]
            for o in out[1:]:
                np.testing.assert_allclose(o, out[0], atol=TOL)
        # ... while a roll-sensitive map does see the roll (the test can fail)
        if l > 0:
            G = rng.normal(size=(n, n))
            a0, a1 = (np.swapaxes(D[l], -1, -2) @ G @ D[l] for D in Ds[:2])
            assert np.abs(a0 - a1).max() > 1e-3


def test_m0_row_is_the_spherical_harmonic_of_the_edge():
    """D^l(R)[m=0, :] = Y^l(v) / sqrt(2l+1) (component normalisation), for every roll."""
    v = np.concatenate([_generic(8, seed=4), _near_poles(1e-9)[:6]])
    lmax = 6
    Y_all = np.asarray(
        e3nn.spherical_harmonics(
            e3nn.Irreps.spherical_harmonics(lmax), v, normalize=True, normalization="component"
        ).array
    )
    for gamma in (None, 0.8):
        D = edge_frame_wigner(lmax, v, gamma)
        for l in range(lmax + 1):
            np.testing.assert_allclose(
                np.asarray(D[l])[:, l, :],
                Y_all[:, l * l : (l + 1) ** 2] / np.sqrt(2 * l + 1),
                atol=TOL,
            )


def test_gradient_of_roll_invariant_output_near_the_singular_direction():
    """The frame is singular on one ray, but roll-invariant results stay smooth there: the gradient
    of D^l(R(v))[m=0, :] equals that of Y^l(v) / sqrt(2l+1) computed by e3nn."""
    l = 3

    def ours(v):
        return edge_frame_wigner(l, v)[l][l, :]

    def oracle(v):
        sh = e3nn.spherical_harmonics(f"{l}o", v, normalize=True, normalization="component").array
        return sh / np.sqrt(2 * l + 1)

    # rounding is amplified like eps / d^2 at angular distance d from the singular ray
    for distance in (1e-2, 1e-5):
        v = jnp.asarray(SINGULAR_DIRECTION) + distance * jnp.array([0.0, 0.6, 0.8])
        np.testing.assert_allclose(
            jax.jacfwd(ours)(v), jax.jacfwd(oracle)(v), atol=1e-15 / distance**2
        )
    # exactly on the ray: a finite rotation that still maps v to +y up to ~1e-16 / 1e-16
    R = np.asarray(edge_frame(jnp.asarray(SINGULAR_DIRECTION)))
    _check_rotation(R)
    assert np.isfinite(np.asarray(jax.jacfwd(edge_frame)(jnp.asarray(SINGULAR_DIRECTION)))).all()


def test_singular_direction_constant():
    n = np.asarray(SINGULAR_DIRECTION)
    np.testing.assert_allclose(np.linalg.norm(n), 1, atol=1e-15)
    assert abs(n[1]) < 0.3  # far from the poles
    assert not SINGULAR_DIRECTION.flags.writeable
    # the singularity is real and where documented: approaching the ray from two perpendicular
    # sides gives frames that differ by a large roll (and both map v to +y)
    w1 = np.cross(n, [1.0, 0.0, 0.0])
    w2 = np.cross(n, w1)
    v = np.stack([n + 1e-6 * w1 / np.linalg.norm(w1), n + 1e-6 * w2 / np.linalg.norm(w2)])
    R = np.asarray(edge_frame(v))
    _check_maps_to_y(v, R, tol=1e-9)
    assert np.abs(R[0] - R[1]).max() > 0.5
    # the switched frame is regular there
    R = np.asarray(edge_frame(v, continuous=False))
    _check_maps_to_y(v, R)
    np.testing.assert_allclose(R[0], R[1], atol=1e-5)


def test_switched_frame_is_roll_equivalent_and_well_conditioned():
    """continuous=False: same edge direction, frames differ only by a roll, so roll-invariant
    results agree; across the switching circle R jumps (the test can fail), D^T F D does not."""
    n = np.asarray(SINGULAR_DIRECTION)
    singular = np.array([n * 2.0, -n, n + 1e-6 * np.array([1.0, 0, 0])])
    R_s = np.asarray(edge_frame(singular, 0.3, continuous=False))
    _check_rotation(R_s)
    _check_maps_to_y(singular, R_s)
    v = _special_vectors()
    R_c = np.asarray(edge_frame(v))
    R_s = np.asarray(edge_frame(v, 0.3, continuous=False))
    # R_s R_c^T fixes +y: a roll
    roll = R_s @ np.swapaxes(R_c, -1, -2)
    np.testing.assert_allclose(roll[..., :, 1], np.broadcast_to(Y, roll.shape[:-1]), atol=1e-9)
    # a jump across the great circle v . n = 0
    t = np.cross(n, [0.0, 1.0, 0.0])
    t /= np.linalg.norm(t)
    across = np.stack([t + 1e-9 * n, t - 1e-9 * n])
    R_x = np.asarray(edge_frame(across, continuous=False))
    assert np.abs(R_x[0] - R_x[1]).max() > 1e-2
    # ... which roll-invariant quantities do not see
    D = [np.asarray(d) for d in edge_frame_wigner(3, across, continuous=False)]
    m0 = D[3][:, 3, :]
    np.testing.assert_allclose(m0[0], m0[1], atol=1e-8)
    # gradients of a roll-invariant output are accurate also near SINGULAR_DIRECTION
    l = 3

    def ours(v):
        return edge_frame_wigner(l, v, continuous=False)[l][l, :]

    def oracle(v):
        sh = e3nn.spherical_harmonics(f"{l}o", v, normalize=True, normalization="component").array
        return sh / np.sqrt(2 * l + 1)

    w = jnp.asarray(n) + 1e-6 * jnp.array([0.0, 0.6, 0.8])
    np.testing.assert_allclose(jax.jacfwd(ours)(w), jax.jacfwd(oracle)(w), atol=1e-12)
    assert bool(jnp.isfinite(jax.hessian(lambda v: ours(v).sum())(jnp.zeros(3))).all())


def test_wigner_layout_list_and_dense():
    v = _generic(5, seed=5)
    lmax = 3
    blocks = edge_frame_wigner(lmax, v, 0.2)
    assert [b.shape for b in blocks] == [(5, 2 * l + 1, 2 * l + 1) for l in range(lmax + 1)]
    expected = wigner_D_up_to(lmax, edge_frame(v, 0.2))
    for b, e in zip(blocks, expected, strict=True):
        np.testing.assert_allclose(b, e, atol=0)
    dense = np.asarray(edge_frame_wigner(lmax, v, 0.2, dense=True))
    assert dense.shape == (5, 16, 16)
    for l in range(lmax + 1):
        s = slice(l * l, (l + 1) ** 2)
        np.testing.assert_allclose(dense[:, s, s], blocks[l], atol=0)
    off = dense.copy()
    for l in range(lmax + 1):
        off[:, l * l : (l + 1) ** 2, l * l : (l + 1) ** 2] = 0
    assert not off.any()
    # rotating in and back out is the identity
    np.testing.assert_allclose(
        np.swapaxes(dense, -1, -2) @ dense, np.broadcast_to(np.eye(16), dense.shape), atol=TOL
    )


def test_wigner_gradients_finite_at_poles_and_zero_vector():
    def energy(v):
        return sum(jnp.sum(d * jnp.arange(d.shape[-1])) for d in edge_frame_wigner(4, v))

    v = jnp.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [1e-8, -1.0, 0.0], [0.0, 0.0, 0.0]])
    g = jax.jit(jax.vmap(jax.grad(energy)))(v)
    h = jax.jit(jax.vmap(jax.hessian(energy)))(v)
    assert bool(jnp.isfinite(g).all()) and bool(jnp.isfinite(h).all())
    np.testing.assert_array_equal(g[-1], 0)


def test_float32():
    v = _special_vectors().astype(np.float32)
    R = edge_frame(v, jnp.float32(0.5))
    assert R.dtype == jnp.float32
    _check_rotation(np.asarray(R, dtype=np.float64), tol=1e-6)
    _check_maps_to_y(v.astype(np.float64), np.asarray(R, dtype=np.float64), tol=1e-6)
    assert edge_frame_wigner(2, v)[2].dtype == jnp.float32
    jac = jax.vmap(jax.jacfwd(edge_frame))(jnp.asarray(v))
    assert bool(jnp.isfinite(jac).all())


@pytest.mark.parametrize(
    "call",
    [
        lambda: edge_frame(jnp.ones(2)),
        lambda: edge_frame(jnp.float64(1.0)),
        lambda: edge_frame_wigner(-1, jnp.ones(3)),
        lambda: edge_frame_wigner(2.0, jnp.ones(3)),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
