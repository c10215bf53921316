"""The edge-aligned frame: a smooth rotation taking each edge vector to the polar axis +y.

SO(2)-reduced (eSCN) convolutions rotate the features of each edge into a frame in which the edge
points along +y, apply an SO(2)-equivariant map per order ``m``, and rotate back. Only the
direction of the edge is fixed by this; the roll about +y is free, and the result of such a
convolution does not depend on it (the SO(2) map commutes with rolls). Conservative force fields
differentiate through the frame, twice for force training, so the frame must have finite first
and second derivatives, in particular for edges parallel to the polar axis, where Euler-angle
frames break down (gimbal lock).

Construction. No continuous choice of frame exists for all directions (hairy-ball theorem: the
frame's x axis would be a nowhere-vanishing tangent field on the sphere). Every continuous frame
therefore has at least one singular direction; this module puts it at a fixed direction
:data:`SINGULAR_DIRECTION` far from +-y, the coordinate axes and low-index lattice directions,
and is smooth (rational in ``v``) everywhere else. With ``u = -SINGULAR_DIRECTION``::

    R0(v) = Rmin(u -> +y) @ Rmin(v -> u),

the shortest-arc rotation of ``v`` onto ``u`` followed by the shortest-arc rotation of ``u`` onto
+y. In quaternions ``Rmin(a -> b) ~ (|a| |b| + a.b, a x b)``, so the quaternion of ``R0`` is a
constant linear map of ``(|v|, v)``; its norm vanishes only for ``v`` along
``SINGULAR_DIRECTION``. ``R0(+y) = I``. (The two-chart quaternion blend of UMA has the same
unavoidable singularity, hidden in its blending band at ``v = +z``.)

With ``continuous=False`` a second frame of the same form, singular at ``-SINGULAR_DIRECTION``, is
used on the half-sphere ``v . SINGULAR_DIRECTION > 0``: every edge is then at least 90 degrees
from the singular direction of its frame, so derivatives are uniformly well conditioned, but the
frame jumps by a roll about +y across the great circle ``v . SINGULAR_DIRECTION = 0``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.rotations import compose_quaternion, quaternion_to_matrix
from equitens.so3.wigner import _block_diagonal, _check_degree, wigner_D_up_to

__all__ = ["SINGULAR_DIRECTION", "edge_frame", "edge_frame_wigner"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x)


SINGULAR_DIRECTION: np.ndarray = _unit(
    np.array([-np.sqrt(2.0), -(np.sqrt(5.0) - 1) / 2, np.sqrt(3.0)])
)
"""The one direction where :func:`edge_frame` is singular: ``(-sqrt 2, -(sqrt 5 - 1)/2, sqrt 3)``,
normalised.

Its components have irrational ratios, so no lattice vector or symmetric geometry lies along it;
it is 74.5 degrees from -y and at least 16 degrees from every ``<1 0 0>``, ``<1 1 0>`` and
``<1 1 1>`` direction. Read-only float64 array of shape ``(3,)``.
"""
SINGULAR_DIRECTION.setflags(write=False)

_POLAR = np.array([0.0, 1.0, 0.0])


def _hamilton(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    w1, v1 = q1[0], q1[1:]
    w2, v2 = q2[0], q2[1:]
    return np.concatenate([[w1 * w2 - v1 @ v2], w1 * v2 + w2 * v1 + np.cross(v1, v2)])


def _frame_map(singular: np.ndarray) -> np.ndarray:
    """The 4x4 matrix ``M`` with ``quaternion(Rmin(-s -> y) Rmin(v -> -s)) = M @ (|v|, v)``."""
    u = -singular
    q_u_to_y = np.concatenate([[1 + u @ _POLAR], np.cross(u, _POLAR)])
    columns = [_hamilton(q_u_to_y, np.array([1.0, 0.0, 0.0, 0.0]))]  # the |v| column
    for e in np.eye(3):  # q(v -> u) = (|v| + v.u, v x u) is linear in (|v|, v)
        columns.append(_hamilton(q_u_to_y, np.concatenate([[e @ u], np.cross(e, u)])))
    m = np.stack(columns, axis=-1) / np.linalg.norm(q_u_to_y)
    m.setflags(write=False)
    return m


def _fallback(singular: np.ndarray) -> np.ndarray:
    """Used only exactly on a singular ray: the shortest-arc rotation of that direction to +y."""
    q = _unit(np.concatenate([[1 + singular @ _POLAR], np.cross(singular, _POLAR)]))
    q.setflags(write=False)
    return q


_FRAME_MAPS = (_frame_map(SINGULAR_DIRECTION), _frame_map(-SINGULAR_DIRECTION))
_FALLBACKS = (_fallback(SINGULAR_DIRECTION), _fallback(-SINGULAR_DIRECTION))


def _frame_quaternion(vectors: jax.Array, continuous: bool) -> jax.Array:
    dtype = vectors.dtype
    # Scale by the largest |component|: R is scale invariant, and this keeps |v|^2 free of
    # underflow and overflow for every finite non-zero vector (also 1e-300 in float64). R(v / c)
    # equals R(v) for every constant c > 0, so freezing the scale leaves all derivatives exact
    # and keeps 1 / scale^2 terms (overflow for tiny v) out of them.
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(vectors), axis=-1, keepdims=True))
    zero = scale == 0
    v = jnp.where(zero, jnp.asarray(_POLAR, dtype), vectors / jnp.where(zero, 1.0, scale))
    r = jnp.sqrt(jnp.sum(v * v, axis=-1, keepdims=True))  # in [1, sqrt 3]: smooth
    rv = jnp.concatenate([r, v], axis=-1)

    def chart(k: int) -> jax.Array:
        q = jnp.einsum("ij,...j->...i", jnp.asarray(_FRAME_MAPS[k], dtype), rv)
        regular = jnp.sum(q * q, axis=-1, keepdims=True) > jnp.finfo(dtype).tiny
        return jnp.where(regular, q, jnp.asarray(_FALLBACKS[k], dtype))

    if continuous:
        return chart(0)
    second = jnp.sum(v * jnp.asarray(SINGULAR_DIRECTION, dtype), axis=-1, keepdims=True) > 0
    return jnp.where(second, chart(1), chart(0))


def edge_frame(
    vectors: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike | None = None,
    *,
    continuous: bool = True,
) -> jax.Array:
    """Rotation matrices ``R`` with ``R @ (v / |v|) = +y``, smooth in ``v``.

    ``R = R_y(gamma) @ R0(v)`` where ``R0`` is the fixed frame described in the module docstring and
    ``gamma`` an optional roll about +y applied after it (draw it from an explicit key, e.g.
    ``jax.random.uniform(key, shape, maxval=2 * jnp.pi)``, or leave it at 0). Results of
    SO(2)-reduced convolutions, ``D(R)^T f(D(R) x)`` with ``f`` commuting with rolls about +y, do
    not depend on ``gamma``; only roll-sensitive operations in the edge frame (e.g. point-wise
    activations on a longitude grid) see it.

    Properties (``continuous=True``, the default):

    * ``R`` is rational in ``v``, with derivatives of every order finite everywhere except on the
      ray along :data:`SINGULAR_DIRECTION`, in particular for ``v`` exactly along, or at any
      distance from, +y and -y. ``R0(+y) = I``.
    * Zero vectors (padding edges) give ``R = R_y(gamma)`` with zero derivative with respect to
      ``v``. Tiny and huge vectors are handled at full accuracy (no ``|v|^2`` underflow); vectors
      whose components are all subnormal count as zero (XLA flushes subnormals).
    * Near the singular ray ``R`` is ill-conditioned: at angular distance ``d`` it changes on the
      scale ``d``, so ``R`` is accurate to about ``eps / d`` and its derivatives to ``eps / d^2``
      relative (``eps`` the dtype's epsilon). Exactly on the ray a fixed finite rotation (the
      shortest arc to +y) is returned. Roll-independent results are smooth there in exact
      arithmetic; only this rounding is amplified. In float32 an edge is within ``d = 1e-2`` of
      the ray with probability ``d^2 / 4 = 2.5e-5``.

    With ``continuous=False`` each edge uses whichever of two such frames (singular at
    ``+-SINGULAR_DIRECTION``) is singular at least 90 degrees away, so ``R`` and its derivatives
    are accurate to rounding everywhere, but ``R`` jumps by a roll about +y across the great circle
    ``v . SINGULAR_DIRECTION = 0``. Use it only when everything computed in the edge frame is
    roll-invariant (exact SO(2) convolutions with gate activations); then results and their
    derivatives are identical to the continuous frame's, without the ill-conditioned region.

    Args:
        vectors: edge vectors of shape ``(..., 3)`` (any length, including 0).
        gamma: optional roll angles about +y in radians, shape broadcastable with
            ``vectors.shape[:-1]``; ``None`` means no roll.
        continuous: use the single continuous frame (True) or the switched, uniformly
            well-conditioned pair of frames (False).

    Returns:
        Array of shape ``(..., 3, 3)`` (the broadcast batch shape), orthogonal with determinant 1,
        in the floating dtype of the inputs.

    Raises:
        ValueError: if ``vectors`` does not end with an axis of size 3.

    Examples:
        >>> import jax.numpy as jnp
        >>> v = jnp.array([[0.3, -1.2, 0.5], [0.0, 2.0, 0.0], [0.0, -1.0, 0.0]])
        >>> R = edge_frame(v)
        >>> Rv = jnp.einsum("eij,ej->ei", R, v)
        >>> unit = Rv / jnp.linalg.norm(v, axis=-1, keepdims=True)  # R v = |v| e_y
        >>> bool(jnp.allclose(unit, jnp.array([0.0, 1.0, 0.0]), rtol=0, atol=1e-12))
        True
    """
    dtype = (
        jnp.result_type(vectors, float) if gamma is None else jnp.result_type(vectors, gamma, float)
    )
    vectors = jnp.asarray(vectors, dtype=dtype)
    if vectors.ndim == 0 or vectors.shape[-1] != 3:
        raise ValueError(
            "vectors must have shape (..., 3) (edge vectors x, y, z), "
            f"got shape {tuple(vectors.shape)}"
        )
    gamma = None if gamma is None else jnp.asarray(gamma, dtype=dtype)
    return _edge_frame(vectors, gamma, bool(continuous))


@functools.partial(jax.jit, static_argnums=2)
def _edge_frame(vectors: jax.Array, gamma: jax.Array | None, continuous: bool) -> jax.Array:
    q = _frame_quaternion(vectors, continuous)
    if gamma is not None:
        half = gamma / 2
        zero = jnp.zeros_like(half)
        roll = jnp.stack([jnp.cos(half), zero, jnp.sin(half), zero], axis=-1)
        q = compose_quaternion(roll, q)
    return quaternion_to_matrix(q)


def edge_frame_wigner(
    lmax: int,
    vectors: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike | None = None,
    *,
    continuous: bool = True,
    dense: bool = False,
) -> list[jax.Array] | jax.Array:
    """Wigner matrices ``D^l(R)``, ``l = 0..lmax``, of the frame ``R = edge_frame(vectors, gamma)``.

    Layout: ``x_edge[l] = D[l] @ x[l]`` rotates the components ``x[l]`` (``m = -l..l``) of degree
    ``l`` into the edge frame, where the edge is along +y and ``m`` is the order about the edge;
    ``D[l].T`` (``jnp.swapaxes(D[l], -1, -2)``) rotates back. With ``dense=True`` the blocks are
    assembled into one block-diagonal matrix acting on the l-major flattened vector of size
    ``(lmax+1)^2`` (``l = 0`` first, then ``m = -l..l`` within each ``l``); its transpose rotates
    back. Row ``m = 0`` of ``D[l]`` is ``Y^l(v) / sqrt(2l+1)`` (component-normalised spherical
    harmonics) for every roll. Derivatives with respect to ``vectors`` are finite wherever those of
    :func:`edge_frame` are; never ``stop_gradient`` them in a conservative model.

    Args:
        lmax: the largest degree.
        vectors: edge vectors of shape ``(..., 3)``.
        gamma: optional roll angles about +y, see :func:`edge_frame`.
        continuous: which frame to use, see :func:`edge_frame`.
        dense: return one block-diagonal array instead of a list of blocks.

    Returns:
        List of ``lmax + 1`` arrays of shape ``(..., 2l+1, 2l+1)``, or with ``dense=True`` one array
        of shape ``(..., (lmax+1)^2, (lmax+1)^2)``.

    Raises:
        ValueError: if ``lmax`` is not a non-negative int or ``vectors`` does not end with 3.

    Examples:
        >>> import jax.numpy as jnp
        >>> v = jnp.array([[0.3, -1.2, 0.5]])
        >>> D = edge_frame_wigner(2, v)
        >>> tuple(d.shape for d in D)
        ((1, 1, 1), (1, 3, 3), (1, 5, 5))
        >>> edge_frame_wigner(2, v, dense=True).shape
        (1, 9, 9)
    """
    lmax = _check_degree(lmax, "lmax")
    R = edge_frame(vectors, gamma, continuous=continuous)
    blocks = wigner_D_up_to(lmax, R)
    if not dense:
        return blocks
    return _block_diagonal([(1, d) for d in blocks], tuple(R.shape[:-2]), R.dtype)
