"""Rotations of 3D space: Euler angles, matrices, quaternions, axis-angle, random rotations.

Conventions (identical to e3nn-jax):

* Rotation matrices act on column vectors, ``v' = R @ v``, and are right-handed:
  ``matrix_y(t)`` turns ``+z`` towards ``+x``.
* Euler angles: ``R(alpha, beta, gamma) = R_y(alpha) @ R_x(beta) @ R_y(gamma)``; ``+y`` is the polar
  axis of the spherical harmonics, so ``R(alpha, beta, 0) @ e_y`` is the direction
  ``(sin(beta) sin(alpha), cos(beta), sin(beta) cos(alpha))``.
* Quaternions are ``q = (w, x, y, z)`` (scalar first, Hamilton product); ``q`` and ``-q`` give the
  same rotation, and the rotation by ``theta`` about the unit axis ``n`` is
  ``(cos(theta / 2), sin(theta / 2) n)``.

Every function is written with ``jax.numpy``, broadcasts over leading batch axes, works under
``jax.jit`` and ``jax.vmap`` and follows the floating dtype of its input (integer and Python-scalar
inputs become the default float dtype).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = [
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_xyz",
    "xyz_to_angles",
    "compose_quaternion",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "angles_to_quaternion",
    "axis_angle_to_quaternion",
    "axis_angle_to_matrix",
    "random_rotation",
    "random_o3",
]


def _as_float(*xs: jax.typing.ArrayLike) -> list[jax.Array]:
    """Convert to arrays of one common floating dtype (Python scalars do not force a dtype)."""
    dtype = jnp.result_type(*xs, float)
    return [jnp.asarray(x, dtype=dtype) for x in xs]


def _check_last_axes(x: jax.Array, shape: tuple[int, ...], name: str, hint: str) -> None:
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape) :]) != shape:
        want = "(..., " + ", ".join(map(str, shape)) + ")"
        raise ValueError(f"{name} must have shape {want}, got shape {tuple(x.shape)}; {hint}")


def _stack_matrix(rows: Sequence[Sequence[jax.Array]]) -> jax.Array:
    return jnp.stack([jnp.stack(list(row), axis=-1) for row in rows], axis=-2)


def _cos_sin_one_zero(angle: jax.typing.ArrayLike) -> tuple[jax.Array, ...]:
    """The entries of a rotation matrix about a coordinate axis: ``cos``, ``sin``, 1 and 0."""
    (angle,) = _as_float(angle)
    return jnp.cos(angle), jnp.sin(angle), jnp.ones_like(angle), jnp.zeros_like(angle)


def matrix_x(angle: jax.typing.ArrayLike) -> jax.Array:
    """Rotation matrix about the x axis.

    Args:
        angle: rotation angle in radians, any shape ``(...)``.

    Returns:
        Array of shape ``(..., 3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> (matrix_x(jnp.pi / 2) @ jnp.array([0.0, 1.0, 0.0])).round(6).tolist()
        [0.0, 0.0, 1.0]
    """
    c, s, o, z = _cos_sin_one_zero(angle)
    return _stack_matrix([[o, z, z], [z, c, -s], [z, s, c]])


def matrix_y(angle: jax.typing.ArrayLike) -> jax.Array:
    """Rotation matrix about the y axis (the polar axis).

    Args:
        angle: rotation angle in radians, any shape ``(...)``.

    Returns:
        Array of shape ``(..., 3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> (matrix_y(jnp.pi / 2) @ jnp.array([0.0, 0.0, 1.0])).round(6).tolist()
        [1.0, 0.0, 0.0]
    """
    c, s, o, z = _cos_sin_one_zero(angle)
    return _stack_matrix([[c, z, s], [z, o, z], [-s, z, c]])


def matrix_z(angle: jax.typing.ArrayLike) -> jax.Array:
    """Rotation matrix about the z axis.

    Args:
        angle: rotation angle in radians, any shape ``(...)``.

    Returns:
        Array of shape ``(..., 3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> (matrix_z(jnp.pi / 2) @ jnp.array([1.0, 0.0, 0.0])).round(6).tolist()
        [0.0, 1.0, 0.0]
    """
    c, s, o, z = _cos_sin_one_zero(angle)
    return _stack_matrix([[c, -s, z], [s, c, z], [z, z, o]])


def angles_to_matrix(
    alpha: jax.typing.ArrayLike, beta: jax.typing.ArrayLike, gamma: jax.typing.ArrayLike
) -> jax.Array:
    """The rotation matrix ``R_y(alpha) @ R_x(beta) @ R_y(gamma)``.

    Args:
        alpha: angle of the last rotation, about y, shape broadcastable with the others.
        beta: angle of the middle rotation, about x.
        gamma: angle of the first rotation, about y.

    Returns:
        Array of shape ``(..., 3, 3)``, ``...`` the broadcast shape of the angles.

    Examples:
        >>> import jax.numpy as jnp
        >>> R = angles_to_matrix(0.3, 1.1, -0.4)
        >>> bool(jnp.allclose(R @ R.T, jnp.eye(3), atol=1e-6))
        True
    """
    alpha, beta, gamma = jnp.broadcast_arrays(*_as_float(alpha, beta, gamma))
    return matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma)


def matrix_to_angles(R: jax.typing.ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Euler angles ``(alpha, beta, gamma)`` of a rotation matrix; inverts :func:`angles_to_matrix`.

    ``alpha`` and ``beta`` are the angles of the direction ``R @ e_y`` (see :func:`xyz_to_angles`);
    ``gamma`` is read from ``R_x(beta)^T R_y(alpha)^T R = R_y(gamma)``, which stays accurate when
    ``alpha`` itself is ill-conditioned. Ranges: ``alpha, gamma`` in ``[-pi, pi]``, ``beta`` in
    ``[0, pi]``. At gimbal lock (``R @ e_y = +-e_y``, i.e. ``beta = 0`` or ``pi``) the angles are
    still a valid decomposition (``alpha = 0`` there) but they are not differentiable: use
    :func:`equitens.so3.wigner.wigner_D` rather than differentiating through angles.

    Args:
        R: rotation matrices of shape ``(..., 3, 3)``.

    Returns:
        Tuple ``(alpha, beta, gamma)`` of arrays of shape ``(...)``.

    Raises:
        ValueError: if ``R`` does not end with ``(3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> a, b, c = matrix_to_angles(angles_to_matrix(0.3, 1.1, -0.4))
        >>> bool(jnp.allclose(jnp.array([a, b, c]), jnp.array([0.3, 1.1, -0.4]), rtol=0, atol=1e-5))
        True
    """
    (R,) = _as_float(R)
    _check_last_axes(R, (3, 3), "R", "pass rotation matrices")
    alpha, beta = xyz_to_angles(R[..., :, 1])
    ca, sa = jnp.cos(alpha), jnp.sin(alpha)
    # First row of R_y(alpha, beta, 0)^T R equals (cos g, 0, sin g); it is (ca, 0, -sa) @ R.
    gamma = jnp.arctan2(
        ca * R[..., 0, 2] - sa * R[..., 2, 2], ca * R[..., 0, 0] - sa * R[..., 2, 0]
    )
    return alpha, beta, gamma


def angles_to_xyz(alpha: jax.typing.ArrayLike, beta: jax.typing.ArrayLike) -> jax.Array:
    """The unit vector ``(sin(beta) sin(alpha), cos(beta), sin(beta) cos(alpha))``.

    Args:
        alpha: azimuth about the y axis, measured from +z towards +x.
        beta: polar angle from +y.

    Returns:
        Array of shape ``(..., 3)``.

    Examples:
        >>> angles_to_xyz(0.0, 0.0).tolist()
        [0.0, 1.0, 0.0]
    """
    alpha, beta = jnp.broadcast_arrays(*_as_float(alpha, beta))
    sb = jnp.sin(beta)
    return jnp.stack([sb * jnp.sin(alpha), jnp.cos(beta), sb * jnp.cos(alpha)], axis=-1)


def xyz_to_angles(xyz: jax.typing.ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Angles ``(alpha, beta)`` of a direction: ``R(alpha, beta, 0) @ e_y`` is along ``xyz``.

    ``alpha = atan2(x, z)`` and ``beta = atan2(sqrt(x^2 + z^2), y)``, which is accurate near the
    poles (``arccos(y)`` loses half the digits there) and needs no normalisation. On the polar axis
    (``x = z = 0``) ``alpha`` is 0; the zero vector gives ``(0, 0)``. The angles are not
    differentiable on the polar axis.

    Args:
        xyz: vectors of shape ``(..., 3)``, any non-negative length.

    Returns:
        Tuple ``(alpha, beta)`` of arrays of shape ``(...)``, ``alpha`` in ``[-pi, pi]``, ``beta``
        in ``[0, pi]``.

    Raises:
        ValueError: if ``xyz`` does not end with an axis of size 3.

    Examples:
        >>> import jax.numpy as jnp
        >>> a, b = xyz_to_angles(jnp.array([1.0, 0.0, 0.0]))
        >>> round(float(a), 6), round(float(b), 6)
        (1.570796, 1.570796)
    """
    (xyz,) = _as_float(xyz)
    _check_last_axes(xyz, (3,), "xyz", "pass vectors (x, y, z) along the last axis")
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    rho2 = x * x + z * z
    positive = rho2 > 0
    rho = jnp.where(positive, jnp.sqrt(jnp.where(positive, rho2, 1.0)), 0.0)
    return jnp.arctan2(x, z), jnp.arctan2(rho, y)


def compose_quaternion(q1: jax.typing.ArrayLike, q2: jax.typing.ArrayLike) -> jax.Array:
    """Hamilton product ``q1 * q2``: the rotation ``q2`` followed by ``q1``.

    ``quaternion_to_matrix(compose_quaternion(q1, q2)) = quaternion_to_matrix(q1) @
    quaternion_to_matrix(q2)``; the norms multiply.

    Args:
        q1: quaternions ``(w, x, y, z)`` of shape ``(..., 4)``.
        q2: quaternions of shape ``(..., 4)``, broadcastable with ``q1``.

    Returns:
        Array of shape ``(..., 4)``.

    Raises:
        ValueError: if an input does not end with an axis of size 4.

    Examples:
        >>> import jax.numpy as jnp
        >>> i = jnp.array([0.0, 1.0, 0.0, 0.0])
        >>> j = jnp.array([0.0, 0.0, 1.0, 0.0])
        >>> compose_quaternion(i, j).tolist()  # i j = k
        [0.0, 0.0, 0.0, 1.0]
    """
    q1, q2 = _as_float(q1, q2)
    _check_last_axes(q1, (4,), "q1", "pass quaternions (w, x, y, z) along the last axis")
    _check_last_axes(q2, (4,), "q2", "pass quaternions (w, x, y, z) along the last axis")
    w1, x1, y1, z1 = (q1[..., i] for i in range(4))
    w2, x2, y2, z2 = (q2[..., i] for i in range(4))
    return jnp.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def quaternion_to_matrix(q: jax.typing.ArrayLike) -> jax.Array:
    """Rotation matrix of a quaternion of any non-zero norm (it is normalised).

    The matrix is a rational function of ``q`` (quadratic over ``|q|^2``), so it is smooth, with
    finite derivatives of every order, wherever ``q != 0``.

    Args:
        q: quaternions ``(w, x, y, z)`` of shape ``(..., 4)``, norm > 0.

    Returns:
        Array of shape ``(..., 3, 3)``.

    Raises:
        ValueError: if ``q`` does not end with an axis of size 4.

    Examples:
        >>> import jax.numpy as jnp
        >>> q = jnp.array([1.0, 0.0, 1.0, 0.0])  # 90 degrees about y, unnormalised
        >>> (quaternion_to_matrix(q).round(6) + 0.0).tolist()
        [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]
    """
    (q,) = _as_float(q)
    _check_last_axes(q, (4,), "q", "pass quaternions (w, x, y, z) along the last axis")
    w, x, y, z = (q[..., i] for i in range(4))
    s = 2 / (w * w + x * x + y * y + z * z)
    return _stack_matrix(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
        ]
    )


def matrix_to_quaternion(R: jax.typing.ArrayLike) -> jax.Array:
    """Unit quaternion of a rotation matrix (Shepperd's method), with ``w >= 0``.

    Of the four equivalent formulas (led by ``w, x, y`` or ``z``) the one with the largest
    ``4 q_i^2`` is used, so the result is accurate to rounding for every rotation, including
    rotations by ``pi`` where formulas led by ``w`` fail. The sign is fixed so that ``w >= 0``
    (for ``w = 0`` either sign is a valid answer).

    Args:
        R: rotation matrices of shape ``(..., 3, 3)``.

    Returns:
        Array of shape ``(..., 4)``, unit norm.

    Raises:
        ValueError: if ``R`` does not end with ``(3, 3)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> (matrix_to_quaternion(matrix_y(jnp.pi)).round(6) + 0.0).tolist()
        [0.0, 0.0, 1.0, 0.0]
    """
    (R,) = _as_float(R)
    _check_last_axes(R, (3, 3), "R", "pass rotation matrices")
    r = [[R[..., i, j] for j in range(3)] for i in range(3)]
    t = jnp.stack(
        [
            1 + r[0][0] + r[1][1] + r[2][2],
            1 + r[0][0] - r[1][1] - r[2][2],
            1 - r[0][0] + r[1][1] - r[2][2],
            1 - r[0][0] - r[1][1] + r[2][2],
        ],
        axis=-1,
    )
    ax, ay, az = r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]  # 4 w (x, y, z)
    sxy, sxz, syz = r[1][0] + r[0][1], r[0][2] + r[2][0], r[2][1] + r[1][2]  # 4 x y, ...
    candidates = jnp.stack(
        [
            jnp.stack([t[..., 0], ax, ay, az], axis=-1),  # 4 w q
            jnp.stack([ax, t[..., 1], sxy, sxz], axis=-1),  # 4 x q
            jnp.stack([ay, sxy, t[..., 2], syz], axis=-1),  # 4 y q
            jnp.stack([az, sxz, syz, t[..., 3]], axis=-1),  # 4 z q
        ],
        axis=-2,
    )
    best = jnp.argmax(t, axis=-1)
    q = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    return jnp.where(q[..., :1] < 0, -q, q)


def angles_to_quaternion(
    alpha: jax.typing.ArrayLike, beta: jax.typing.ArrayLike, gamma: jax.typing.ArrayLike
) -> jax.Array:
    """Unit quaternion ``q_y(alpha) * q_x(beta) * q_y(gamma)`` of the Euler angles.

    Args:
        alpha: angle of the last rotation, about y.
        beta: angle of the middle rotation, about x.
        gamma: angle of the first rotation, about y.

    Returns:
        Array of shape ``(..., 4)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> q = angles_to_quaternion(0.3, 1.1, -0.4)
        >>> bool(jnp.allclose(quaternion_to_matrix(q), angles_to_matrix(0.3, 1.1, -0.4), atol=1e-6))
        True
    """
    alpha, beta, gamma = jnp.broadcast_arrays(*_as_float(alpha, beta, gamma))
    zero = jnp.zeros_like(alpha)

    def about(axis: int, angle: jax.Array) -> jax.Array:
        parts = [jnp.cos(angle / 2), zero, zero, zero]
        parts[1 + axis] = jnp.sin(angle / 2)
        return jnp.stack(parts, axis=-1)

    return compose_quaternion(about(1, alpha), compose_quaternion(about(0, beta), about(1, gamma)))


def _safe_normalize(v: jax.Array) -> jax.Array:
    """``v / |v|`` along the last axis, 0 for the zero vector, with finite gradients everywhere."""
    n2 = jnp.sum(v * v, axis=-1, keepdims=True)
    positive = n2 > 0
    return jnp.where(positive, v / jnp.sqrt(jnp.where(positive, n2, 1.0)), 0.0)


def axis_angle_to_quaternion(axis: jax.typing.ArrayLike, angle: jax.typing.ArrayLike) -> jax.Array:
    """Unit quaternion ``(cos(angle / 2), sin(angle / 2) axis / |axis|)``.

    Args:
        axis: rotation axes of shape ``(..., 3)``, any length (the zero axis gives the identity).
        angle: rotation angles in radians, shape ``(...)`` broadcastable with ``axis[..., 0]``.

    Returns:
        Array of shape ``(..., 4)``.

    Raises:
        ValueError: if ``axis`` does not end with an axis of size 3.

    Examples:
        >>> import jax.numpy as jnp
        >>> (axis_angle_to_quaternion(jnp.array([0.0, 0.0, 2.0]), jnp.pi).round(6) + 0.0).tolist()
        [0.0, 0.0, 0.0, 1.0]
    """
    axis, angle = _as_float(axis, angle)
    _check_last_axes(axis, (3,), "axis", "pass axes (x, y, z) along the last axis")
    n = _safe_normalize(axis)
    n, angle = jnp.broadcast_arrays(n, angle[..., None])
    return jnp.concatenate([jnp.cos(angle[..., :1] / 2), jnp.sin(angle / 2) * n], axis=-1)


def axis_angle_to_matrix(axis: jax.typing.ArrayLike, angle: jax.typing.ArrayLike) -> jax.Array:
    """Rotation matrix by ``angle`` about ``axis`` (right-handed), by Rodrigues' formula.

    Args:
        axis: rotation axes of shape ``(..., 3)``, any length (the zero axis gives the identity).
        angle: rotation angles in radians, shape ``(...)`` broadcastable with ``axis[..., 0]``.

    Returns:
        Array of shape ``(..., 3, 3)``.

    Raises:
        ValueError: if ``axis`` does not end with an axis of size 3.

    Examples:
        >>> import jax.numpy as jnp
        >>> R = axis_angle_to_matrix(jnp.array([0.0, 1.0, 0.0]), 0.7)
        >>> bool(jnp.allclose(R, matrix_y(0.7)))
        True
    """
    axis, angle = _as_float(axis, angle)
    _check_last_axes(axis, (3,), "axis", "pass axes (x, y, z) along the last axis")
    n = _safe_normalize(axis)
    n, angle = jnp.broadcast_arrays(n, angle[..., None])
    angle = angle[..., 0]
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    zero = jnp.zeros_like(x)
    K = _stack_matrix([[zero, -z, y], [z, zero, -x], [-y, x, zero]])
    s = jnp.sin(angle)[..., None, None]
    c1 = (1 - jnp.cos(angle))[..., None, None]
    return jnp.eye(3, dtype=K.dtype) + s * K + c1 * (K @ K)


def _check_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"shape must be a tuple of non-negative ints, got {shape!r}")
    return shape


def random_rotation(
    key: jax.Array, shape: int | Sequence[int] = (), dtype: jax.typing.DTypeLike = jnp.float32
) -> jax.Array:
    """Uniformly (Haar) distributed random rotation matrices.

    A standard normal 4-vector is rotation invariant in distribution, so its direction is uniform on
    the unit 3-sphere and the rotation of that quaternion is Haar distributed on SO(3).

    Args:
        key: a ``jax.random`` key.
        shape: batch shape of the result.
        dtype: floating dtype of the result.

    Returns:
        Array of shape ``shape + (3, 3)`` with determinant +1.

    Raises:
        ValueError: if ``shape`` is not a tuple of non-negative ints or ``dtype`` is not floating.

    Examples:
        >>> import jax
        >>> R = random_rotation(jax.random.key(0), (5,))
        >>> R.shape, bool(jax.numpy.allclose(jax.numpy.linalg.det(R), 1, atol=1e-5))
        ((5, 3, 3), True)
    """
    shape = _check_shape(shape)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype such as jnp.float32, got {dtype!r}")
    q = jax.random.normal(key, shape + (4,), dtype=dtype)
    # A draw of exactly 0 has probability 0; guard anyway so that no NaN can ever appear.
    q = jnp.where(jnp.sum(q * q, axis=-1, keepdims=True) > 0, q, jnp.array([1, 0, 0, 0], dtype))
    return quaternion_to_matrix(q)


def random_o3(
    key: jax.Array, shape: int | Sequence[int] = (), dtype: jax.typing.DTypeLike = jnp.float32
) -> jax.Array:
    """Uniformly distributed random elements of O(3): ``s R``, ``R`` Haar on SO(3) and ``s = +-1``.

    Half of the matrices (in expectation) contain the inversion ``-I`` and have determinant -1;
    use them to test equivariance under parity as well as rotations.

    Args:
        key: a ``jax.random`` key.
        shape: batch shape of the result.
        dtype: floating dtype of the result.

    Returns:
        Array of shape ``shape + (3, 3)``, orthogonal, determinant ``+-1``.

    Raises:
        ValueError: if ``shape`` is not a tuple of non-negative ints or ``dtype`` is not floating.

    Examples:
        >>> import jax
        >>> Q = random_o3(jax.random.key(1), (4,))
        >>> bool(jax.numpy.allclose(Q @ Q.swapaxes(-1, -2), jax.numpy.eye(3), atol=1e-5))
        True
    """
    shape = _check_shape(shape)
    key_rotation, key_sign = jax.random.split(key)
    R = random_rotation(key_rotation, shape, dtype)
    sign = jnp.where(jax.random.bernoulli(key_sign, 0.5, shape), -1, 1).astype(R.dtype)
    return sign[..., None, None] * R
