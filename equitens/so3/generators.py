"""The real basis of equitens and the generators of SO(3) acting on it.

equitens uses e3nn's real basis: for each degree ``l`` the ``2l + 1`` components are ordered
``m = -l, ..., l`` with the polar axis along **+y**, so that for ``l = 1`` the components are the
Cartesian ``(x, y, z)`` and the Wigner matrix of a rotation ``R`` is ``R`` itself.

Everything here is a numpy float64 (or complex128) constant, built once and cached.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["real_to_complex", "angular_momentum", "so3_generators"]


def _check_degree(l: int) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"degree l must be a non-negative integer, got {l!r}")
    return int(l)


@functools.cache
def real_to_complex(l: int) -> np.ndarray:
    """Change of basis from equitens' real basis to the complex (Condon-Shortley) basis.

    Complex components are ``Q @ real_components``. The global phase ``(-i)^l`` makes every
    Clebsch-Gordan coefficient real in the real basis.

    Args:
        l: the degree.

    Returns:
        Unitary complex128 array of shape ``(2l+1, 2l+1)``; rows are complex ``m``, columns real
        ``m``.

    Examples:
        >>> import numpy as np
        >>> Q = real_to_complex(2)
        >>> bool(np.allclose(Q.conj().T @ Q, np.eye(5)))
        True
    """
    l = _check_degree(l)
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    s = 1 / np.sqrt(2)
    q[l, l] = 1
    for m in range(1, l + 1):
        q[l - m, l + m] = s
        q[l - m, l - m] = -1j * s
        q[l + m, l + m] = (-1) ** m * s
        q[l + m, l - m] = 1j * (-1) ** m * s
    q = (-1j) ** l * q
    q.setflags(write=False)
    return q


@functools.cache
def angular_momentum(l: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The angular-momentum matrices ``(J_x, J_y, J_z)`` in the complex basis ``|l, m>``.

    Args:
        l: the degree.

    Returns:
        Three complex128 Hermitian arrays of shape ``(2l+1, 2l+1)``, indexed by ``m = -l..l``.

    Examples:
        >>> jx, jy, jz = angular_momentum(1)
        >>> bool(np.allclose(jx @ jy - jy @ jx, 1j * jz))
        True
    """
    l = _check_degree(l)
    m = np.arange(-l, l + 1, dtype=np.float64)
    # J+ |m> = sqrt(l(l+1) - m(m+1)) |m+1>: entry [m+1, m].
    raising = np.diag(np.sqrt(l * (l + 1) - m[:-1] * (m[:-1] + 1)), k=-1).astype(np.complex128)
    lowering = raising.T
    jx = (raising + lowering) / 2
    jy = (raising - lowering) / 2j
    jz = np.diag(m).astype(np.complex128)
    for a in (jx, jy, jz):
        a.setflags(write=False)
    return jx, jy, jz


@functools.cache
def so3_generators(l: int) -> np.ndarray:
    """Real antisymmetric generators ``(G_x, G_y, G_z)`` of rotations about x, y and z.

    ``expm(theta * G_a)`` is the Wigner matrix of the rotation by ``theta`` about axis ``a``.
    For ``l = 1`` they are the Cartesian generators, ``(G_a)_{ij} = -epsilon_{aij}``.

    Args:
        l: the degree.

    Returns:
        float64 array of shape ``(3, 2l+1, 2l+1)``.

    Examples:
        >>> import numpy as np
        >>> from scipy.linalg import expm
        >>> G = so3_generators(1)
        >>> c, s = np.cos(0.3), np.sin(0.3)
        >>> bool(np.allclose(expm(0.3 * G[2]), [[c, -s, 0], [s, c, 0], [0, 0, 1]]))
        True
    """
    q = real_to_complex(l)
    jx, jy, jz = angular_momentum(l)

    def real_generator(j: np.ndarray) -> np.ndarray:
        g = q.conj().T @ (-1j * j) @ q
        assert np.abs(g.imag).max(initial=0.0) < 1e-12
        return g.real

    # The complex quantisation axis z is the real polar axis y; (x, y, z) -> (J_y, -J_z, -J_x).
    g = np.stack([real_generator(jy), -real_generator(jz), -real_generator(jx)])
    g.setflags(write=False)
    return g
