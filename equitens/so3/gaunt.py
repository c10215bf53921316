"""The real Gaunt tensor: integrals of products of three real spherical harmonics.

``G[m1, m2, m3] = integral over S^2 of Y_{l1 m1} Y_{l2 m2} Y_{l3 m3} dOmega`` with orthonormal real
spherical harmonics in equitens' basis (e3nn's ``normalization="integral"``). ``G`` is an invariant
tensor of ``l1 x l2 x l3``, so it is proportional to the real Clebsch-Gordan tensor:
``G = kappa * C`` with

``kappa = sqrt((2l1+1)(2l2+1)(2l3+1) / (4 pi)) * |(l1 l2 l3; 0 0 0)|``

(positive in this basis), and ``kappa = 0`` when ``l1 + l2 + l3`` is odd. Built exactly from
integers; only the final ``1 / sqrt(pi)`` and the product with ``C`` are rounded.
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

__all__ = ["gaunt", "gaunt_kappa"]


def _wigner_3j_zero_squared(l1: int, l2: int, l3: int) -> Fraction:
    """Exact ``(l1 l2 l3; 0 0 0)^2`` (zero unless the triangle holds and ``l1 + l2 + l3`` is even)."""
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
