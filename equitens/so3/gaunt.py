"""The real Gaunt tensor: integrals of products of three real spherical harmonics.

``G[m1, m2, m3] = integral over S^2 of Y_{l1 m1} Y_{l2 m2} Y_{l3 m3} dOmega`` with orthonormal real
spherical harmonics in equitens' basis (e3nn's ``normalization="integral"``). ``G`` is an invariant
tensor of ``l1 x l2 x l3``, so it is proportional to the real Clebsch-Gordan tensor:
``G = kappa * C`` with

``kappa = sqrt((2l1+1)(2l2+1)(2l3+1) / (4 pi)) * |(l1 l2 l3; 0 0 0)|``

(positive in this basis), and ``kappa = 0`` when ``l1 + l2 + l3`` is odd. Built exactly from
integers; only the final ``1 / sqrt(pi)`` and the product with ``C`` are rounded.

The *vector* Gaunt tensor fills the odd paths the scalar one lacks:
``V[m1, m2, m3] = integral n . (grad_S Y_{l1 m1} x grad_S Y_{l2 m2}) Y_{l3 m3} dOmega``, an
invariant trilinear form too, so ``V = kappa_v * C`` (:func:`vector_gaunt_kappa`). It vanishes on
even paths (by the parity of the integrand) and when ``l1 = 0`` or ``l2 = 0`` (a constant has no
gradient). It is computed in float64 by exact quadrature on a grid, with the surface gradients
written as ``n . (grad_S f x grad_S g) = n . (L f x L g)``, ``L`` the real angular momentum
(``so3_generators``).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from equitens.so3.clebsch_gordan import (
    _check_degree,
    _clebsch_gordan,
    _real_cg_exact,
    _sqrt_ratio,
    _triangle,
)
from equitens.so3.generators import so3_generators
from equitens.so3.s2grid import S2Grid, s2grid_matrix

__all__ = ["gaunt", "gaunt_kappa", "vector_gaunt", "vector_gaunt_kappa"]


def _wigner_3j_zero_squared(l1: int, l2: int, l3: int) -> Fraction:
    """Exact ``(l1 l2 l3; 0 0 0)^2`` (zero unless triangle holds and ``l1 + l2 + l3`` is even)."""
    big = l1 + l2 + l3
    if big % 2 or not _triangle(l1, l2, l3):
        return Fraction(0)
    g = big // 2
    f = math.factorial
    ratio = f(g) // (f(g - l1) * f(g - l2) * f(g - l3))  # an integer (a multinomial coefficient)
    return Fraction(f(big - 2 * l1) * f(big - 2 * l2) * f(big - 2 * l3) * ratio * ratio, f(big + 1))


@functools.cache
def _gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    three_j = _wigner_3j_zero_squared(l1, l2, l3)
    if three_j == 0:
        return 0.0
    # kappa^2 = (2l1+1)(2l2+1)(2l3+1) 3j^2 / (4 pi). The sign is fixed by the m = (0, 0, 0) entry:
    # Y_{l0} = sqrt((2l+1)/(4 pi)) P_l(y), so G[l1, l2, l3] = sqrt(prod (2l+1) / (4 pi)) 3j^2 > 0.
    square = Fraction((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1), 4) * three_j
    zero_entry = [e for e in _real_cg_exact(l1, l2, l3) if e[:3] == (l1, l2, l3)]
    sign = 1 if zero_entry[0][3] > 0 else -1
    return sign * _sqrt_ratio(square.numerator, square.denominator) / math.sqrt(math.pi)


def gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    """The scalar ``kappa`` with ``gaunt(l1, l2, l3) = kappa * clebsch_gordan(l1, l2, l3)``.

    ``kappa = sqrt((2l1+1)(2l2+1)(2l3+1) / (4 pi)) * |(l1 l2 l3; 0 0 0)|``, from the exact Wigner 3j
    symbol with zero projections. It is positive for every allowed path in equitens' basis and zero
    when ``l1 + l2 + l3`` is odd or the triangle condition fails.

    Args:
        l1: degree of the first harmonic.
        l2: degree of the second harmonic.
        l3: degree of the third harmonic.

    Returns:
        ``kappa`` as a Python float.

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> import math
        >>> math.isclose(gaunt_kappa(1, 1, 0), 1 / math.sqrt(4 * math.pi) * math.sqrt(3))
        True
        >>> gaunt_kappa(1, 1, 1)  # odd path
        0.0
    """
    return _gaunt_kappa(_check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3"))


@functools.cache
def _gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    g = _gaunt_kappa(l1, l2, l3) * _clebsch_gordan(l1, l2, l3)
    g.setflags(write=False)
    return g


def gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """The real Gaunt tensor ``G[m1, m2, m3] = integral of Y_{l1 m1} Y_{l2 m2} Y_{l3 m3} dOmega``.

    The harmonics are orthonormal on the unit sphere and in equitens' real basis, i.e.
    ``e3nn_jax.spherical_harmonics(l, x, normalize=True, normalization="integral")``. The tensor is
    symmetric under any permutation of its three (degree, axis) pairs and equals
    ``gaunt_kappa(l1, l2, l3) * clebsch_gordan(l1, l2, l3)``. It vanishes when ``l1 + l2 + l3`` is
    odd (parity) or the triangle condition fails. The array is cached and read-only.

    Args:
        l1: degree of the first harmonic.
        l2: degree of the second harmonic.
        l3: degree of the third harmonic.

    Returns:
        float64 array of shape ``(2l1+1, 2l2+1, 2l3+1)``.

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> import numpy as np
        >>> g = gaunt(1, 1, 0)  # integral of Y_1m Y_1m' Y_00 = delta_mm' / sqrt(4 pi)
        >>> bool(np.allclose(g[:, :, 0], np.eye(3) / np.sqrt(4 * np.pi)))
        True
        >>> bool(np.all(gaunt(1, 1, 1) == 0))
        True
    """
    return _gaunt(_check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3"))


# -------------------------------------------------------------------------- vector Gaunt


@functools.cache
def _vector_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """``V[m1, m2, m3] = integral n . (L Y1 x L Y2) Y3`` by exact quadrature (float64)."""
    grid = S2Grid.exact_for(l1 + l2 + l3 + 1)
    y1 = s2grid_matrix(l1, grid, "integral")[..., l1 * l1 :]  # (b, a, d1)
    y2 = s2grid_matrix(l2, grid, "integral")[..., l2 * l2 :]
    y3 = s2grid_matrix(l3, grid, "integral")[..., l3 * l3 :]
    a1 = np.einsum("ban,inm->ibam", y1, so3_generators(l1))  # L_i Y1_m up to a common sign
    a2 = np.einsum("ban,inm->ibam", y2, so3_generators(l2))
    n, w = grid.points, grid.weights
    eps = np.zeros((3, 3, 3))
    eps[0, 1, 2] = eps[1, 2, 0] = eps[2, 0, 1] = 1.0
    eps[0, 2, 1] = eps[2, 1, 0] = eps[1, 0, 2] = -1.0
    out = np.einsum("ijk,bai,jbap,kbaq,bar,ba->pqr", eps, n, a1, a2, y3, w, optimize=True)
    out.setflags(write=False)
    return out


@functools.cache
def _vector_gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    if not abs(l1 - l2) <= l3 <= l1 + l2 or (l1 + l2 + l3) % 2 == 0 or l1 == 0 or l2 == 0:
        return 0.0
    return float(np.sum(_vector_gaunt(l1, l2, l3) * _clebsch_gordan(l1, l2, l3)))


def vector_gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    """The scalar ``kappa_v`` with ``vector_gaunt(l1, l2, l3) = kappa_v * clebsch_gordan(...)``.

    Zero unless ``l1 + l2 + l3`` is odd, the triangle condition holds and ``l1, l2 > 0``.

    Args:
        l1: degree of the first factor.
        l2: degree of the second factor.
        l3: output degree.

    Returns:
        ``kappa_v`` as a float (computed in float64 by exact quadrature, cached).

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> round(vector_gaunt_kappa(1, 1, 1), 6)
        1.196827
        >>> vector_gaunt_kappa(1, 1, 2)
        0.0
    """
    return _vector_gaunt_kappa(
        _check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3")
    )


def vector_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """The vector Gaunt tensor ``V[m1, m2, m3] = integral n . (grad_S Y1 x grad_S Y2) Y3 dOmega``.

    Orthonormal real harmonics (``normalization="integral"``); ``V = kappa_v C`` with ``C`` the
    unit Clebsch-Gordan tensor. Antisymmetric under exchange of the first two (degree, axis)
    pairs. Read-only and cached.

    Args:
        l1: degree of the first harmonic.
        l2: degree of the second harmonic.
        l3: degree of the third harmonic.

    Returns:
        float64 array ``(2 l1 + 1, 2 l2 + 1, 2 l3 + 1)``.

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> import numpy as np
        >>> bool(np.allclose(vector_gaunt(1, 2, 2), -vector_gaunt(2, 1, 2).transpose(1, 0, 2)))
        True
    """
    l1, l2, l3 = (_check_degree(l, n) for l, n in ((l1, "l1"), (l2, "l2"), (l3, "l3")))
    if _vector_gaunt_kappa(l1, l2, l3) == 0.0:
        out = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
        out.setflags(write=False)
        return out
    return _vector_gaunt(l1, l2, l3)
