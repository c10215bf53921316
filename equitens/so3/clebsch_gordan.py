"""Exact Clebsch-Gordan coefficients, in the complex basis and in equitens' real basis.

The complex (Condon-Shortley) coefficients ``<j1 m1 j2 m2 | j3 m3>`` come from Racah's formula
evaluated with Python integers: the alternating sum is rewritten as an integer sum of products of
binomial coefficients, so every coefficient is known exactly as ``sign * sqrt(p / q)``.

The real-basis tensor ``C[l1, l2, l3]`` is ``e3nn_jax.clebsch_gordan(l1, l2, l3)``: the complex
coefficients contracted with :func:`~equitens.so3.generators.real_to_complex` on the three legs
(conjugated on the third), divided by ``sqrt(2 l3 + 1)`` so that the tensor has unit Frobenius norm.
Each real entry receives at most two complex coefficients, equal in magnitude, so the change of
basis is done exactly too (Gaussian-integer phases times one square root of a rational): the
imaginary parts cancel exactly and every float64 entry is the exact value rounded once.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from numbers import Rational
from typing import NamedTuple

import numpy as np

__all__ = ["su2_clebsch_gordan", "clebsch_gordan", "clebsch_gordan_nonzero", "CGEntries"]


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_degree(l: int, name: str) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)):
        raise ValueError(
            f"{name} must be a non-negative int (an SO(3) degree), got {l!r} of type "
            f"{type(l).__name__}; pass a Python int such as {name}=2"
        )
    if l < 0:
        raise ValueError(f"{name} must be a non-negative int (an SO(3) degree), got {l}")
    return int(l)


def _doubled(x: object, name: str) -> int:
    """``2 * x`` as an int, for ``x`` an integer or half-integer (int, float or Fraction)."""
    if isinstance(x, bool):
        raise ValueError(f"{name} must be an integer or half-integer number, got {x!r}")
    if isinstance(x, (int, np.integer)):
        return 2 * int(x)
    if isinstance(x, (float, np.floating)) and math.isfinite(x) and float(2 * x).is_integer():
        return int(2 * x)
    if isinstance(x, Rational) and (2 * x).denominator == 1:
        return int(2 * x)
    raise ValueError(
        f"{name} must be an integer or half-integer (a multiple of 1/2), got {x!r}; "
        "use e.g. 1, 0.5 or Fraction(3, 2)"
    )


def _triangle(l1: int, l2: int, l3: int) -> bool:
    """Triangle condition |l1 - l2| <= l3 <= l1 + l2 (for integer degrees)."""
    return abs(l1 - l2) <= l3 <= l1 + l2


# --------------------------------------------------------------------------------------------
# Complex basis (exact)
# --------------------------------------------------------------------------------------------


def _cg_exact_doubled(
    tj1: int, tm1: int, tj2: int, tm2: int, tj3: int, tm3: int
) -> tuple[int, int, int]:
    """Exact ``<j1 m1 j2 m2 | j3 m3>`` as ``(sign, num, den)``, value ``sign * sqrt(num / den)``.

    Takes doubled quantum numbers; assumes ``tj >= 0`` and ``|tm| <= tj`` and checks every
    selection rule. ``num / den`` is not reduced (no gcd on the hot path).
    """
    if tm3 != tm1 + tm2:
        return 0, 0, 1
    if (tj1 + tj2 + tj3) % 2 or not abs(tj1 - tj2) <= tj3 <= tj1 + tj2:
        return 0, 0, 1
    if (tj1 - tm1) % 2 or (tj2 - tm2) % 2 or (tj3 - tm3) % 2:
        return 0, 0, 1
    a = (tj1 + tj2 - tj3) // 2  # j1 + j2 - j3
    p = (tj1 - tj2 + tj3) // 2  # j1 - j2 + j3
    q = (-tj1 + tj2 + tj3) // 2  # -j1 + j2 + j3
    b = (tj1 - tm1) // 2  # j1 - m1
    c = (tj2 + tm2) // 2  # j2 + m2
    # Racah: sum_k (-1)^k / (k! (a-k)! (b-k)! (c-k)! (p-b+k)! (q-c+k)!)
    #      = sum_k (-1)^k C(a, k) C(p, b-k) C(q, c-k) / (a! p! q!).
    total = 0
    for k in range(max(0, b - p, c - q), min(a, b, c) + 1):
        term = math.comb(a, k) * math.comb(p, b - k) * math.comb(q, c - k)
        total += -term if k % 2 else term
    if total == 0:
        return 0, 0, 1
    f = math.factorial
    m_factorials = (
        f((tj1 + tm1) // 2)
        * f((tj1 - tm1) // 2)
        * f((tj2 + tm2) // 2)
        * f((tj2 - tm2) // 2)
        * f((tj3 + tm3) // 2)
        * f((tj3 - tm3) // 2)
    )
    big = (tj1 + tj2 + tj3) // 2 + 1
    num = (tj3 + 1) * total * total * m_factorials
    return (1 if total > 0 else -1), num, f(big) * f(a) * f(p) * f(q)


def _su2_clebsch_gordan_exact(
    j1: object, m1: object, j2: object, m2: object, j3: object, m3: object
) -> tuple[int, Fraction]:
    """Exact ``<j1 m1 j2 m2 | j3 m3>`` as ``(sign, square)``, the value ``sign * sqrt(square)``."""
    tj = [_doubled(j, n) for j, n in ((j1, "j1"), (j2, "j2"), (j3, "j3"))]
    tm = [_doubled(m, n) for m, n in ((m1, "m1"), (m2, "m2"), (m3, "m3"))]
    for i in range(3):
        if tj[i] < 0:
            raise ValueError(f"j{i + 1} must be non-negative, got {tj[i] / 2}")
        if abs(tm[i]) > tj[i] or (tj[i] - tm[i]) % 2:
            raise ValueError(
                f"m{i + 1} must be one of -j{i + 1}, -j{i + 1} + 1, ..., j{i + 1}; "
                f"got j{i + 1}={tj[i] / 2}, m{i + 1}={tm[i] / 2}"
            )
    sign, num, den = _cg_exact_doubled(tj[0], tm[0], tj[1], tm[1], tj[2], tm[2])
    return sign, Fraction(num, den)


def _sqrt_ratio(num: int, den: int) -> float:
    """``sqrt(num / den)`` for non-negative ints, rounded to float64 from exact integers.

    The integer square root is taken with 64 + bits(den) guard bits, so the only rounding is the
    final (correctly rounded) int / int division, up to a relative perturbation below 2^-64.
    """
    shift = 64 + den.bit_length()
    return math.isqrt((num * den) << (2 * shift)) / (den << shift)


def su2_clebsch_gordan(j1: float, m1: float, j2: float, m2: float, j3: float, m3: float) -> float:
    """One complex-basis (Condon-Shortley) Clebsch-Gordan coefficient ``<j1 m1 j2 m2 | j3 m3>``.

    Computed exactly with Racah's formula in integer arithmetic and rounded to float64 once.
    Integer and half-integer ``j`` are accepted (ints, floats such as ``0.5`` or ``Fraction``).
    The coefficient is zero unless ``m3 = m1 + m2``, ``|j1 - j2| <= j3 <= j1 + j2`` and
    ``j1 + j2 + j3`` is an integer.

    Args:
        j1: first angular momentum (non-negative integer or half-integer).
        m1: its projection, one of ``-j1, ..., j1``.
        j2: second angular momentum.
        m2: its projection.
        j3: coupled angular momentum.
        m3: its projection.

    Returns:
        The coefficient as a Python float.

    Raises:
        ValueError: if a ``j`` is negative or not a multiple of 1/2, or an ``m`` is out of range.

    Examples:
        >>> su2_clebsch_gordan(1, 1, 1, -1, 0, 0)  # 1/sqrt(3)
        0.57735026919
        >>> su2_clebsch_gordan(0.5, 0.5, 0.5, -0.5, 1, 0)  # 1/sqrt(2)
        0.70710678119
    """
    sign, square = _su2_clebsch_gordan_exact(j1, m1, j2, m2, j3, m3)
    return sign * _sqrt_ratio(square.numerator, square.denominator) if sign else 0.0


# --------------------------------------------------------------------------------------------
# Real basis (exact)
# --------------------------------------------------------------------------------------------


def _q_phase(l: int, m: int, mu: int) -> int:
    """Exponent e with ``real_to_complex(l)[l + m, l + mu] = i^e * (1/sqrt(2) if m else 1)``.

    Valid for ``|mu| = |m|``, the only nonzero entries.
    """
    if m == 0:
        e = 0
    elif m < 0:
        e = 0 if mu > 0 else 3  # 1/sqrt2, -i/sqrt2
    else:
        e = 2 * m if mu > 0 else 1 + 2 * m  # (-1)^m/sqrt2, i(-1)^m/sqrt2
    return (e + 3 * l) % 4  # global phase (-i)^l = i^(3l)


@functools.cache
def _real_cg_exact(l1: int, l2: int, l3: int) -> tuple[tuple[int, int, int, int, int, int], ...]:
    """Exact nonzero entries of the unit-norm real CG tensor: ``(i1, i2, i3, coeff, num, den)``.

    ``C[i1, i2, i3] = coeff * sqrt(num / den)`` with ``coeff`` a nonzero int, sorted by index.

    ``C_real = sum Q1[m1, mu1] Q2[m2, mu2] conj(Q3[m3, mu3]) CG[m1, m2, m3] / sqrt(2 l3 + 1)`` with
    ``Q = real_to_complex``. Column ``mu`` of ``Q`` is nonzero only in rows ``m = +-mu``, so a real
    entry ``(mu1, mu2, mu3)`` only receives the complex pair ``(m1, m2, m3)``, ``(-m1, -m2, -m3)``,
    whose coefficients differ by the sign ``(-1)^(l1 + l2 - l3)``. Each pair is processed once; the
    phases are powers of ``i`` summed as Gaussian integers, whose imaginary part must vanish.
    """
    if not _triangle(l1, l2, l3):
        return ()
    parity = -1 if (l1 + l2 - l3) % 2 else 1
    out: dict[tuple[int, int, int], tuple[int, int, int]] = {}
    for m1 in range(0, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            if m1 == 0 and m2 < 0:
                continue  # (0, m2 < 0) is the partner of (0, -m2)
            m3 = m1 + m2
            sign, num, den = _cg_exact_doubled(2 * l1, 2 * m1, 2 * l2, 2 * m2, 2 * l3, 2 * m3)
            if sign == 0:
                continue
            members = [(m1, m2, m3, sign)]
            if (m1, m2) != (0, 0):
                members.append((-m1, -m2, -m3, sign * parity))
            # Gaussian-integer coefficient of sqrt(num / den) for each real index (mu1, mu2, mu3).
            local: dict[tuple[int, int, int], list[int]] = {}
            for n1, n2, n3, s in members:
                for mu1 in {n1, -n1}:
                    e1 = _q_phase(l1, n1, mu1)
                    for mu2 in {n2, -n2}:
                        e2 = _q_phase(l2, n2, mu2)
                        for mu3 in {n3, -n3}:
                            e = (e1 + e2 - _q_phase(l3, n3, mu3)) % 4
                            slot = local.setdefault((l1 + mu1, l2 + mu2, l3 + mu3), [0, 0])
                            slot[e % 2] += s if e < 2 else -s  # i^e: 1, i, -1, -i
            den_real = den * (2 * l3 + 1) << ((m1 != 0) + (m2 != 0) + (m3 != 0))
            for index, (re, im) in local.items():
                if im != 0 or index in out:  # pragma: no cover - invariants of the real basis
                    raise RuntimeError(
                        f"inexact real Clebsch-Gordan entry {index} of {(l1, l2, l3)}"
                    )
                if re != 0:
                    out[index] = (re, num, den_real)
    return tuple((*index, *value) for index, value in sorted(out.items()))


@functools.cache
def _clebsch_gordan(l1: int, l2: int, l3: int) -> np.ndarray:
    c = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1), dtype=np.float64)
    for i1, i2, i3, coeff, num, den in _real_cg_exact(l1, l2, l3):
        c[i1, i2, i3] = coeff * _sqrt_ratio(num, den)
    c.setflags(write=False)
    return c


def clebsch_gordan(l1: int, l2: int, l3: int) -> np.ndarray:
    """The real-basis Clebsch-Gordan tensor coupling degrees ``l1`` and ``l2`` to ``l3``.

    Equal to ``e3nn_jax.clebsch_gordan(l1, l2, l3)``: unit Frobenius norm, e3nn's sign
    convention, components ordered ``m = -l, ..., l`` (index ``i = m + l``). It is invariant,
    ``C[a, b, c] = sum D1[a', a] D2[b', b] D3[c', c] C[a', b', c']`` for the Wigner matrices of any
    rotation, and ``clebsch_gordan(l2, l1, l3)`` is ``(-1)^(l1 + l2 + l3)`` times the transpose of
    the first two axes. Every entry is computed exactly and rounded to float64 once. The array is
    cached and read-only (copy it to modify it).

    Args:
        l1: degree of the first input.
        l2: degree of the second input.
        l3: degree of the output.

    Returns:
        float64 array of shape ``(2l1+1, 2l2+1, 2l3+1)``; all zeros when the triangle condition
        ``|l1 - l2| <= l3 <= l1 + l2`` fails.

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> import numpy as np
        >>> c = clebsch_gordan(1, 1, 0)  # the dot product: delta / sqrt(3)
        >>> bool(np.allclose(c[:, :, 0], np.eye(3) / np.sqrt(3)))
        True
        >>> float(np.sum(clebsch_gordan(2, 3, 4) ** 2))
        1.0
    """
    return _clebsch_gordan(
        _check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3")
    )


class CGEntries(NamedTuple):
    """Nonzero entries of a real Clebsch-Gordan tensor, in lexicographic order of ``(i1, i2, i3)``.

    Indices are positions along the axes, ``i = m + l``. All arrays are read-only.
    """

    i1: np.ndarray
    """int64 indices along the first axis."""
    i2: np.ndarray
    """int64 indices along the second axis."""
    i3: np.ndarray
    """int64 indices along the third axis."""
    value: np.ndarray
    """float64 values, ``clebsch_gordan(l1, l2, l3)[i1, i2, i3]``."""


@functools.cache
def _clebsch_gordan_nonzero(l1: int, l2: int, l3: int) -> CGEntries:
    dense = _clebsch_gordan(l1, l2, l3)
    entries = _real_cg_exact(l1, l2, l3)
    arrays = [np.array([e[k] for e in entries], dtype=np.int64) for k in range(3)]
    value = dense[tuple(arrays)] if entries else np.zeros(0, dtype=np.float64)
    out = CGEntries(*arrays, np.ascontiguousarray(value, dtype=np.float64))
    for a in out:
        a.setflags(write=False)
    return out


def clebsch_gordan_nonzero(l1: int, l2: int, l3: int) -> CGEntries:
    """The exactly nonzero entries of :func:`clebsch_gordan` as a sparse list.

    Selection rule of the real basis (checked in the tests): with ``m = i - l`` on each axis, an
    entry can be nonzero only if ``|m3| = |m1| + |m2|`` or ``|m3| = ||m1| - |m2||``, and the number
    of negative ``m`` among ``(m1, m2, m3)`` has the parity of ``l1 + l2 + l3``. Hence each
    ``(m1, m2)`` couples to at most two ``m3``, and the tensor has at most ``2 (2l1+1)(2l2+1)``
    nonzero entries instead of ``(2l1+1)(2l2+1)(2l3+1)``. Entries that vanish by accident (exact
    zeros of the coefficients) are left out.

    Args:
        l1: degree of the first input.
        l2: degree of the second input.
        l3: degree of the output.

    Returns:
        A :class:`CGEntries` ``(i1, i2, i3, value)`` of read-only arrays, sorted by
        ``(i1, i2, i3)``; empty when the triangle condition fails.

    Raises:
        ValueError: if a degree is not a non-negative int.

    Examples:
        >>> e = clebsch_gordan_nonzero(1, 1, 1)  # the cross product, 6 entries of +-1/sqrt(6)
        >>> len(e.value), [int(i) for i in e.i3]
        (6, [2, 1, 2, 0, 1, 0])
    """
    return _clebsch_gordan_nonzero(
        _check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3")
    )
