"""Wigner-D matrices: the representation matrices of rotations in equitens' real basis.

For each degree ``l`` the Wigner matrix ``D^l(R)`` is the ``(2l+1) x (2l+1)`` orthogonal matrix with
``Y^l(R x) = D^l(R) @ Y^l(x)`` for the real spherical harmonics ``Y^l`` (components ``m = -l..l``,
polar axis +y, the basis of :mod:`equitens.so3.generators`); ``D^1(R) = R``.

Evaluation uses the J-method of e3nn 0.4 / eSCN: with ``R = R_y(alpha) R_x(beta) R_y(gamma)``,

    ``D^l(R) = X_l(alpha) @ J_l @ X_l(beta) @ J_l @ X_l(gamma)``,

where ``X_l(t) = expm(t G_y)`` is the sparse rotation about the polar axis (see
:func:`wigner_D_polar`) and ``J_l`` is the constant, symmetric, involutory Wigner matrix of the
180-degree rotation about ``(x + y) / sqrt(2)``, which swaps the x and y axes so that
``J_l X_l(beta) J_l = D^l(R_x(beta))``. One dense matrix product per evaluation.

Rotation matrices are turned into angles on one of two charts so that the angles are never
evaluated near gimbal lock (``R @ e_y = +-e_y``), where they are not differentiable: see
:func:`wigner_D`. The result is exact to rounding and has finite derivatives of all orders at
every rotation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.generators import so3_generators
from equitens.so3.rotations import matrix_to_angles, quaternion_to_matrix

__all__ = [
    "J_matrix",
    "wigner_D_polar",
    "wigner_D_from_angles",
    "wigner_D",
    "wigner_D_up_to",
    "wigner_D_from_quaternion",
    "D_from_matrix",
]

_HIGHEST = jax.lax.Precision.HIGHEST

# The 3x3 matrix of the 180-degree rotation about (x + y) / sqrt(2): swaps x and y, negates z.
_SWAP_XY = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
_SWAP_XY.setflags(write=False)


def _check_degree(l: Any, name: str = "l") -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(
            f"{name} must be a non-negative int (a degree), got {l!r}; pass e.g. {name}=2"
        )
    return int(l)


def _as_float(*xs: jax.typing.ArrayLike) -> list[jax.Array]:
    dtype = jnp.result_type(*xs, float)
    return [jnp.asarray(x, dtype=dtype) for x in xs]


def _check_matrices(R: jax.Array, name: str = "R") -> None:
    if R.ndim < 2 or tuple(R.shape[-2:]) != (3, 3):
        raise ValueError(
            f"{name} must have shape (..., 3, 3) (rotation matrices), got shape {tuple(R.shape)}"
        )


def J_matrix(l: int) -> np.ndarray:
    """The constant matrix ``J_l = expm(pi (G_x + G_y) / sqrt(2))`` of the J-method.

    ``J_l`` is the Wigner matrix of the rotation by 180 degrees about ``(x + y) / sqrt(2)``, the
    rotation that swaps the x and y axes (and negates z); it is symmetric and involutory
    (``J_l = J_l^T``, ``J_l @ J_l = I``). The exponential is evaluated exactly through its spectral
    decomposition: ``(G_x + G_y) / sqrt(2)`` generates rotations about a unit axis, so
    ``i (G_x + G_y) / sqrt(2)`` is Hermitian with eigenvalues ``m = -l..l`` and
    ``J_l = sum_m (-1)^m P_m``, with the spectral projectors ``P_m`` from a float64 ``eigh``. This
    is accurate to ~1e-15 for every ``l`` (``scipy.linalg.expm`` loses up to two digits).

    Args:
        l: the degree.

    Returns:
        Read-only float64 array of shape ``(2l+1, 2l+1)``, cached.

    Raises:
        ValueError: if ``l`` is not a non-negative int.

    Examples:
        >>> import numpy as np
        >>> J = J_matrix(1)
        >>> bool(np.array_equal(J.round(12), [[0, 1, 0], [1, 0, 0], [0, 0, -1]]))  # swaps x, y
        True
        >>> bool(np.allclose(J_matrix(7) @ J_matrix(7), np.eye(15), atol=1e-13))
        True
    """
    return _J_matrix(_check_degree(l))


@functools.cache
def _J_matrix(l: int) -> np.ndarray:
    g = so3_generators(l)
    hermitian = 1j * (g[0] + g[1]) / np.sqrt(2)
    eigenvalues, vectors = np.linalg.eigh(hermitian)
    m = np.round(eigenvalues)
    if np.abs(eigenvalues - m).max(initial=0.0) > 1e-8:  # pragma: no cover - a broken basis
        raise RuntimeError(f"generators of degree {l} do not have integer spectrum")
    signs = np.where(m % 2 == 0, 1.0, -1.0)
    j = (vectors * signs) @ vectors.conj().T
    if np.abs(j.imag).max(initial=0.0) > 1e-12:  # pragma: no cover - a broken basis
        raise RuntimeError(f"J_{l} is not real")
    j = np.ascontiguousarray(j.real)
    if np.abs(j - j.T).max(initial=0.0) > 1e-12 or np.abs(j @ j - np.eye(2 * l + 1)).max() > 1e-12:
        raise RuntimeError(f"J_{l} is not a symmetric involution")  # pragma: no cover
    j.setflags(write=False)
    return j


def _frequencies(l: int, angle: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``cos(f t)`` and ``sin(f t)`` for row frequencies ``f_i = l - i``, shape ``(..., 2l+1)``."""
    f = np.arange(l, -l - 1, -1, dtype=np.float64)
    ft = angle[..., None] * jnp.asarray(f, dtype=angle.dtype)
    return jnp.cos(ft), jnp.sin(ft)


def _polar_left(l: int, angle: jax.Array, M: jax.Array) -> jax.Array:
    """``X_l(angle) @ M``: row ``i`` becomes ``cos(f_i t) M[i] + sin(f_i t) M[2l - i]``."""
    c, s = _frequencies(l, angle)
    return c[..., :, None] * M + s[..., :, None] * M[..., ::-1, :]


def _polar_right(l: int, angle: jax.Array, M: jax.Array) -> jax.Array:
    """``M @ X_l(angle)``: column ``j`` becomes ``cos(f_j t) M[:, j] - sin(f_j t) M[:, 2l - j]``."""
    c, s = _frequencies(l, angle)
    return M * c[..., None, :] - M[..., :, ::-1] * s[..., None, :]


def wigner_D_polar(l: int, angle: jax.typing.ArrayLike) -> jax.Array:
    """The Wigner matrix ``X_l(angle) = expm(angle G_y)`` of a rotation about the polar axis +y.

    In the complex basis a rotation about the quantisation axis is diagonal, ``exp(-i m t)``; the
    real basis pairs ``+m`` with ``-m``, so ``X_l`` is a direct sum of 2D rotations by ``m t``. With
    row index ``i = 0..2l`` and frequency ``f_i = l - i`` it has ``cos(f_i t)`` on the diagonal and
    ``sin(f_i t)`` at column ``2l - i`` (the anti-diagonal); the centre entry (``m = 0``) is 1.

    Args:
        l: the degree.
        angle: rotation angles in radians, shape ``(...)``.

    Returns:
        Array of shape ``(..., 2l+1, 2l+1)``.

    Raises:
        ValueError: if ``l`` is not a non-negative int.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.so3.rotations import matrix_y
        >>> bool(jnp.allclose(wigner_D_polar(1, 0.4), matrix_y(0.4)))
        True
    """
    l = _check_degree(l)
    (angle,) = _as_float(angle)
    return _polar(l, angle)


@functools.partial(jax.jit, static_argnums=0)
def _polar(l: int, angle: jax.Array) -> jax.Array:
    return _polar_left(l, angle, jnp.eye(2 * l + 1, dtype=angle.dtype))


def wigner_D_from_angles(
    l: int, alpha: jax.typing.ArrayLike, beta: jax.typing.ArrayLike, gamma: jax.typing.ArrayLike
) -> jax.Array:
    """Wigner matrix of ``R_y(alpha) R_x(beta) R_y(gamma)`` by the J-method.

    ``D^l = X_l(alpha) J_l X_l(beta) J_l X_l(gamma)``, evaluated right to left with three sparse
    polar rotations (element-wise) and one dense product with the constant ``J_l``. The float64
    constant is cast to the dtype of the angles. The angles may take any values; derivatives with
    respect to them are finite everywhere.

    Args:
        l: the degree.
        alpha: angle of the last rotation, about y; shapes of the three angles broadcast together.
        beta: angle of the middle rotation, about x.
        gamma: angle of the first rotation, about y.

    Returns:
        Array of shape ``(..., 2l+1, 2l+1)``, ``...`` the broadcast shape of the angles.

    Raises:
        ValueError: if ``l`` is not a non-negative int.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.so3.rotations import angles_to_matrix
        >>> D = wigner_D_from_angles(1, 0.3, 1.1, -0.4)
        >>> bool(jnp.allclose(D, angles_to_matrix(0.3, 1.1, -0.4), atol=1e-6))
        True
        >>> wigner_D_from_angles(3, jnp.zeros(5), 0.2, 0.1).shape
        (5, 7, 7)
    """
    l = _check_degree(l)
    alpha, beta, gamma = jnp.broadcast_arrays(*_as_float(alpha, beta, gamma))
    return _from_angles(l, alpha, beta, gamma)


@functools.partial(jax.jit, static_argnums=0)
def _from_angles(l: int, alpha: jax.Array, beta: jax.Array, gamma: jax.Array) -> jax.Array:
    # Jitted so that eager calls compile once per (l, shape, dtype) instead of op by op; inside
    # an outer jit this is inlined.
    if l == 0:
        return jnp.ones(alpha.shape + (1, 1), dtype=alpha.dtype)
    J = jnp.asarray(J_matrix(l), dtype=alpha.dtype)
    M = _polar_right(l, gamma, J)  # J X(gamma)
    M = _polar_left(l, beta, M)  # X(beta) J X(gamma)
    M = jnp.einsum("ij,...jk->...ik", J, M, precision=_HIGHEST)
    return _polar_left(l, alpha, M)


def _determinant_sign(R: jax.Array) -> jax.Array:
    """``sign(det R)`` as +-1 (+1 for singular matrices), with no gradient."""
    R = jax.lax.stop_gradient(R)
    det = (
        R[..., 0, 0] * (R[..., 1, 1] * R[..., 2, 2] - R[..., 1, 2] * R[..., 2, 1])
        - R[..., 0, 1] * (R[..., 1, 0] * R[..., 2, 2] - R[..., 1, 2] * R[..., 2, 0])
        + R[..., 0, 2] * (R[..., 1, 0] * R[..., 2, 1] - R[..., 1, 1] * R[..., 2, 0])
    )
    return jnp.where(det < 0, -1.0, 1.0).astype(R.dtype)


def _chart_angles(R: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Euler angles of ``R`` (chart 1) or ``R S`` (chart 2, ``S`` swaps x, y), far from gimbal lock.

    Chart 1 is used when ``R[1, 1]^2 <= 1/2``, i.e. ``sin(beta) >= 1/sqrt(2)``. Otherwise
    ``(R S)[1, 1] = R[1, 0]`` and, the rows of ``R`` being unit vectors, ``R[1, 0]^2 < 1/2``: the
    angles of ``R S`` have ``sin(beta) > 1/sqrt(2)``. The chart is chosen before any angle is
    computed, so the unused chart never produces NaN that could leak into gradients.

    Returns:
        ``(alpha, beta, gamma, first)`` with ``first`` true where chart 1 was used.
    """
    first = R[..., 1, 1] ** 2 <= 0.5
    swapped = jnp.einsum("...ij,jk->...ik", R, jnp.asarray(_SWAP_XY, R.dtype), precision=_HIGHEST)
    alpha, beta, gamma = matrix_to_angles(jnp.where(first[..., None, None], R, swapped))
    return alpha, beta, gamma, first


def _wigner_D_charted(
    l: int, alpha: jax.Array, beta: jax.Array, gamma: jax.Array, first: jax.Array
) -> jax.Array:
    D = _from_angles(l, alpha, beta, gamma)
    if l == 0:
        return D
    # Chart 2 gave D(R S); D(R) = D(R S) D(S) = D(R S) J_l because S is an involution.
    DJ = jnp.einsum("...ij,jk->...ik", D, jnp.asarray(J_matrix(l), D.dtype), precision=_HIGHEST)
    return jnp.where(first[..., None, None], D, DJ)


def wigner_D_up_to(lmax: int, R: jax.typing.ArrayLike) -> list[jax.Array]:
    """Wigner matrices ``D^l(R)`` for every ``l = 0..lmax`` (sharing the angle computation).

    See :func:`wigner_D` for the method, the accuracy and the treatment of improper matrices.

    Args:
        lmax: the largest degree.
        R: orthogonal matrices of shape ``(..., 3, 3)``.

    Returns:
        List of ``lmax + 1`` arrays, entry ``l`` of shape ``(..., 2l+1, 2l+1)``.

    Raises:
        ValueError: if ``lmax`` is not a non-negative int or ``R`` does not end with ``(3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.so3.rotations import matrix_x
        >>> tuple(d.shape for d in wigner_D_up_to(2, matrix_x(0.3)))
        ((1, 1), (3, 3), (5, 5))
    """
    lmax = _check_degree(lmax, "lmax")
    (R,) = _as_float(R)
    _check_matrices(R)
    return _up_to(lmax, R)


@functools.partial(jax.jit, static_argnums=0)
def _up_to(lmax: int, R: jax.Array) -> list[jax.Array]:
    sign = _determinant_sign(R)
    proper = sign[..., None, None] * R
    out = [jnp.ones(R.shape[:-2] + (1, 1), dtype=R.dtype)]
    if lmax >= 1:
        out.append(R)
    if lmax >= 2:
        alpha, beta, gamma, first = _chart_angles(proper)
        for l in range(2, lmax + 1):
            D = _wigner_D_charted(l, alpha, beta, gamma, first)
            out.append(D if l % 2 == 0 else sign[..., None, None] * D)
    return out


def wigner_D(l: int, R: jax.typing.ArrayLike) -> jax.Array:
    """Wigner matrix ``D^l(R)`` of rotation matrices, exact and smooth at every rotation.

    ``R`` is turned into Euler angles and ``D^l`` evaluated by the J-method
    (:func:`wigner_D_from_angles`). Euler angles are singular at gimbal lock
    (``R @ e_y = +-e_y``: the identity, ``beta = 0`` or ``pi``, rotations about y), where their
    derivatives are infinite or NaN although ``D^l(R)`` itself is smooth. So two charts are used:
    where ``R[1, 1]^2 > 1/2`` the angles of ``R S`` are taken instead, ``S`` the x/y swap, and
    ``D^l(R) = D^l(R S) J_l``. Each chart is used only where its ``sin(beta) >= 1/sqrt(2)``, so the
    angles, and hence ``D^l``, have finite derivatives of every order at every rotation (also
    under ``jax.jacfwd``/``jax.hessian``), and the two charts agree to rounding on their border.
    Accuracy is ~1e-14 in float64 and ~1e-6 in float32 for ``l <= 8`` (measured in the tests).

    ``l = 1`` returns ``R`` itself. Improper matrices (``det R = -1``) are accepted: the result is
    the natural O(3) representation ``D^l(R) = (-1)^l D^l(-R)``, the one under which
    ``Y^l(R x) = D^l(R) Y^l(x)`` holds for all orthogonal ``R``. For a parity other than
    ``(-1)^l`` use :func:`D_from_matrix`. The input is assumed orthogonal; it is not projected.
    Derivatives with respect to ``R`` in directions off the rotation group are those of this
    particular smooth extension and only matter through the chain rule, where they combine to the
    intrinsic derivative.

    Args:
        l: the degree.
        R: orthogonal matrices of shape ``(..., 3, 3)`` (any float dtype; the result follows it).

    Returns:
        Array of shape ``(..., 2l+1, 2l+1)``.

    Raises:
        ValueError: if ``l`` is not a non-negative int or ``R`` does not end with ``(3, 3)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from equitens.so3.rotations import random_rotation
        >>> R1, R2 = random_rotation(jax.random.key(0), (2,), jnp.float64)
        >>> bool(jnp.allclose(wigner_D(4, R1 @ R2), wigner_D(4, R1) @ wigner_D(4, R2), atol=1e-12))
        True
        >>> g = jax.grad(lambda R: wigner_D(3, R).sum())(jnp.eye(3))  # identity: gimbal lock
        >>> bool(jnp.isfinite(g).all())
        True
    """
    l = _check_degree(l)
    (R,) = _as_float(R)
    _check_matrices(R)
    if l == 0:
        return jnp.ones(R.shape[:-2] + (1, 1), dtype=R.dtype)
    if l == 1:
        return R
    return _single(l, R)


@functools.partial(jax.jit, static_argnums=0)
def _single(l: int, R: jax.Array) -> jax.Array:
    sign = _determinant_sign(R)
    D = _wigner_D_charted(l, *_chart_angles(sign[..., None, None] * R))
    return D if l % 2 == 0 else sign[..., None, None] * D


def wigner_D_from_quaternion(l: int, q: jax.typing.ArrayLike) -> jax.Array:
    """Wigner matrix of the rotation of a quaternion ``(w, x, y, z)`` (any norm > 0).

    Same as ``wigner_D(l, quaternion_to_matrix(q))``: exact and with finite derivatives of all
    orders at every ``q != 0``, including quaternions of gimbal-lock rotations. ``q`` and ``-q``
    give the same matrix.

    Args:
        l: the degree.
        q: quaternions of shape ``(..., 4)``.

    Returns:
        Array of shape ``(..., 2l+1, 2l+1)``.

    Raises:
        ValueError: if ``l`` is not a non-negative int or ``q`` does not end with an axis of size 4.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.so3.rotations import angles_to_quaternion
        >>> q = angles_to_quaternion(0.3, 1.1, -0.4)
        >>> D = wigner_D_from_angles(2, 0.3, 1.1, -0.4)
        >>> bool(jnp.allclose(wigner_D_from_quaternion(2, q), D, atol=1e-6))
        True
    """
    l = _check_degree(l)
    return wigner_D(l, quaternion_to_matrix(q))


def _as_irreps(irreps: Any) -> Iterable[tuple[int, Any]]:
    from equitens.so3.irreps import Irreps

    if isinstance(irreps, str):
        return Irreps(irreps)
    return irreps


def _block_diagonal(
    blocks: list[tuple[int, jax.Array]], batch: tuple[int, ...], dtype: Any
) -> jax.Array:
    """Block-diagonal matrix of ``(mul, block)`` pairs, each block repeated ``mul`` times."""
    pieces = []
    for mul, block in blocks:
        n = block.shape[-1]
        eye = jnp.eye(mul, dtype=dtype)
        big = jnp.einsum("uv,...ij->...uivj", eye, block).reshape(batch + (mul * n, mul * n))
        pieces.append(big)
    dim = sum(p.shape[-1] for p in pieces)
    rows, offset = [], 0
    for p in pieces:
        n = p.shape[-1]
        widths = [(0, 0)] * len(batch) + [(0, 0), (offset, dim - offset - n)]
        rows.append(jnp.pad(p, widths))
        offset += n
    if not rows:
        return jnp.zeros(batch + (0, 0), dtype=dtype)
    return jnp.concatenate(rows, axis=-2)


def D_from_matrix(irreps: Any, R: jax.typing.ArrayLike) -> jax.Array:
    """Block-diagonal matrix representing O(3) matrices on an :class:`~equitens.so3.irreps.Irreps`.

    For a rotation (``det R = +1``) block ``(mul, ir)`` is ``mul`` copies of ``D^l(R)``. For an
    improper matrix (``det R = -1``) it is ``p D^l(-R)``, ``p = ir.p`` the parity of the irrep,
    exactly as ``e3nn_jax.Irreps(...).D_from_matrix(R)`` (to which it is equal). Blocks follow the
    order of ``irreps`` (e3nn's ``mul_ir`` layout: the ``mul`` copies of an irrep are consecutive).

    Args:
        irreps: an :class:`~equitens.so3.irreps.Irreps` or a string such as ``"2x0e + 1o"``; any
            iterable of ``(mul, ir)`` pairs with ``ir.l`` and ``ir.p`` is accepted.
        R: orthogonal matrices of shape ``(..., 3, 3)``.

    Returns:
        Array of shape ``(..., dim, dim)``, ``dim = sum(mul * (2 l + 1))``.

    Raises:
        ValueError: if ``R`` does not end with ``(3, 3)``, or ``irreps`` cannot be parsed.

    Examples:
        >>> import jax.numpy as jnp
        >>> D = D_from_matrix("0e + 0o + 1o + 1e", -jnp.eye(3))  # the inversion
        >>> jnp.diag(D).tolist()
        [1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0]
    """
    spec = tuple((int(mul), int(ir.l), int(ir.p)) for mul, ir in _as_irreps(irreps))
    (R,) = _as_float(R)
    _check_matrices(R)
    return _D_from_matrix(spec, R)


@functools.partial(jax.jit, static_argnums=0)
def _D_from_matrix(spec: tuple[tuple[int, int, int], ...], R: jax.Array) -> jax.Array:
    lmax = max((l for _, l, _ in spec), default=0)
    sign = _determinant_sign(R)
    Ds = _up_to(lmax, sign[..., None, None] * R)
    improper = (sign < 0)[..., None, None]
    blocks = [
        (mul, Ds[l] if p == 1 else jnp.where(improper, -Ds[l], Ds[l]))
        for mul, l, p in spec
        if mul > 0
    ]
    return _block_diagonal(blocks, tuple(R.shape[:-2]), R.dtype)
