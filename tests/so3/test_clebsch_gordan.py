"""Tests of equitens.so3.clebsch_gordan against e3nn-jax, sympy (exact) and group identities."""

from __future__ import annotations

import importlib
import itertools
import math
import time
from fractions import Fraction

import e3nn_jax
import numpy as np
import pytest
import sympy
from scipy.linalg import expm
from sympy.physics.wigner import clebsch_gordan as sympy_cg

from equitens.so3.clebsch_gordan import (
    _su2_clebsch_gordan_exact,
    clebsch_gordan,
    clebsch_gordan_nonzero,
    su2_clebsch_gordan,
)
from equitens.so3.generators import real_to_complex, so3_generators

# The package re-exports the function under the module's name, so import the module explicitly.
cg_module = importlib.import_module("equitens.so3.clebsch_gordan")


def _triples(lmax: int, triangle_only: bool = False):
    for l1, l2, l3 in itertools.product(range(lmax + 1), repeat=3):
        if not triangle_only or abs(l1 - l2) <= l3 <= l1 + l2:
            yield l1, l2, l3


# ------------------------------------------------------------------------------------------
# Complex basis: exact against sympy
# ------------------------------------------------------------------------------------------


def _complex_quantum_numbers(jmax2: int):
    """All (j1, m1, j2, m2, j3, m3) with doubled j <= jmax2, as sympy Rationals."""
    half = sympy.Rational(1, 2)
    for tj1, tj2, tj3 in itertools.product(range(jmax2 + 1), repeat=3):
        if (tj1 + tj2 + tj3) % 2 or not abs(tj1 - tj2) <= tj3 <= tj1 + tj2:
            continue
        for tm1 in range(-tj1, tj1 + 1, 2):
            for tm2 in range(-tj2, tj2 + 1, 2):
                tm3 = tm1 + tm2
                if abs(tm3) <= tj3:
                    yield tuple(half * x for x in (tj1, tm1, tj2, tm2, tj3, tm3))


def _assert_exact_equal(args) -> None:
    j1, m1, j2, m2, j3, m3 = args
    expected = sympy_cg(j1, j2, j3, m1, m2, m3)  # exact: rational times sqrt of a rational
    frac_args = [Fraction(int(x.p), int(x.q)) for x in args]
    sign, square = _su2_clebsch_gordan_exact(*frac_args)
    assert sympy.Rational(square.numerator, square.denominator) == expected**2, args
    assert sign == sympy.sign(expected), args


def test_su2_exact_matches_sympy_all_small():
    # Integer and half-integer j up to 5/2: every coefficient, compared exactly (square and sign).
    count = 0
    for args in _complex_quantum_numbers(5):
        _assert_exact_equal(args)
        count += 1
    assert count > 500


@pytest.mark.parametrize(
    "args",
    [
        (8, 3, 7, -2, 6, 1),
        (10, -4, 9, 4, 12, 0),
        (12, 5, 12, -7, 13, -2),
        (6, 0, 6, 0, 12, 0),
        (7, 7, 7, -7, 0, 0),
        (
            sympy.Rational(15, 2),
            sympy.Rational(5, 2),
            4,
            -1,
            sympy.Rational(11, 2),
            sympy.Rational(3, 2),
        ),
    ],
)
def test_su2_exact_matches_sympy_large(args):
    _assert_exact_equal(tuple(sympy.sympify(x) for x in args))


def test_su2_float_is_rounded_exact_value():
    rng = np.random.default_rng(0)
    for _ in range(40):
        j1, j2 = (int(x) for x in rng.integers(0, 11, size=2))
        j3 = int(rng.integers(abs(j1 - j2), j1 + j2 + 1))
        m1 = int(rng.integers(-j1, j1 + 1))
        m2 = int(rng.integers(max(-j2, -j3 - m1), min(j2, j3 - m1) + 1))
        exact = float(sympy_cg(j1, j2, j3, m1, m2, m1 + m2).evalf(40))
        got = su2_clebsch_gordan(j1, m1, j2, m2, j3, m1 + m2)
        assert abs(got - exact) <= math.ulp(exact), (j1, m1, j2, m2, j3)


def test_su2_known_values_and_zeros():
    assert su2_clebsch_gordan(1, 1, 1, -1, 0, 0) == pytest.approx(1 / math.sqrt(3), abs=2e-16)
    assert su2_clebsch_gordan(0.5, 0.5, 0.5, -0.5, 0, 0) == pytest.approx(
        1 / math.sqrt(2), abs=2e-16
    )
    assert su2_clebsch_gordan(Fraction(1, 2), Fraction(-1, 2), 0.5, 0.5, 0, 0) == pytest.approx(
        -1 / math.sqrt(2), abs=2e-16
    )
    assert su2_clebsch_gordan(1, 1, 1, 0, 2, 0) == 0.0  # m3 != m1 + m2
    assert su2_clebsch_gordan(1, 0, 1, 0, 3, 0) == 0.0  # triangle
    assert su2_clebsch_gordan(1, 0, 1, 0, 1, 0) == 0.0  # exact zero of the sum (odd path, m = 0)
    assert su2_clebsch_gordan(0.5, 0.5, 0.5, 0.5, 0.5, 0.5) == 0.0  # j1 + j2 + j3 not integer


@pytest.mark.parametrize(
    "args",
    [
        (-1, 0, 1, 0, 1, 0),
        (1, 2, 1, 0, 1, 2),
        (1, 0.5, 1, 0, 1, 0.5),
        (0.3, 0, 1, 0, 1, 0),
        (True, 0, 1, 0, 1, 0),
        ("1", 0, 1, 0, 1, 0),
    ],
)
def test_su2_bad_input(args):
    with pytest.raises(ValueError):
        su2_clebsch_gordan(*args)


# ------------------------------------------------------------------------------------------
# Real basis: e3nn-jax and sympy
# ------------------------------------------------------------------------------------------


def test_real_matches_e3nn_up_to_6():
    for l1, l2, l3 in _triples(6):
        ours = clebsch_gordan(l1, l2, l3)
        ref = e3nn_jax.clebsch_gordan(l1, l2, l3)
        assert ours.shape == ref.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-13, err_msg=str((l1, l2, l3)))


# e3nn sums the alternating Racah series in floats; its own error grows to ~1e-13 at l = 9 and
# ~7e-13 at l = 10 (measured), hence the looser tolerance there. Exactness is checked vs sympy.
@pytest.mark.parametrize("l1, l2, l3", [(7, 5, 9), (8, 8, 4), (9, 3, 10), (10, 10, 10)])
def test_real_matches_e3nn_sample_to_10(l1, l2, l3):
    np.testing.assert_allclose(
        clebsch_gordan(l1, l2, l3), e3nn_jax.clebsch_gordan(l1, l2, l3), rtol=0, atol=2e-12
    )


@pytest.mark.slow
def test_real_matches_e3nn_full_sweep_to_10():
    for l1, l2, l3 in _triples(10):
        np.testing.assert_allclose(
            clebsch_gordan(l1, l2, l3), e3nn_jax.clebsch_gordan(l1, l2, l3), rtol=0, atol=2e-12
        )


def _real_from_sympy(l1: int, l2: int, l3: int) -> np.ndarray:
    """sympy's complex coefficients, moved to the real basis with real_to_complex, in complex128."""
    cplx = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    if abs(l1 - l2) <= l3 <= l1 + l2:
        for m1 in range(-l1, l1 + 1):
            for m2 in range(-l2, l2 + 1):
                if abs(m1 + m2) <= l3:
                    value = sympy_cg(l1, l2, l3, m1, m2, m1 + m2)
                    cplx[l1 + m1, l2 + m2, l3 + m1 + m2] = float(value.evalf(30))
    q1, q2, q3 = (real_to_complex(l) for l in (l1, l2, l3))
    return np.einsum("ia,jb,kc,ijk->abc", q1, q2, q3.conj(), cplx) / math.sqrt(2 * l3 + 1)


def test_real_matches_sympy_up_to_4():
    for l1, l2, l3 in _triples(4):
        ref = _real_from_sympy(l1, l2, l3)
        assert np.abs(ref.imag).max(initial=0) < 1e-15
        np.testing.assert_allclose(clebsch_gordan(l1, l2, l3), ref.real, rtol=0, atol=1e-15)


@pytest.mark.parametrize("l1, l2, l3", [(5, 6, 7), (8, 2, 9), (10, 10, 10), (12, 1, 12)])
def test_real_matches_sympy_larger(l1, l2, l3):
    ref = _real_from_sympy(l1, l2, l3)
    assert np.abs(ref.imag).max() < 1e-15
    np.testing.assert_allclose(clebsch_gordan(l1, l2, l3), ref.real, rtol=0, atol=2e-15)


# ------------------------------------------------------------------------------------------
# Group identities
# ------------------------------------------------------------------------------------------


def _wigner(l: int, axis_angle: np.ndarray) -> np.ndarray:
    return expm(np.einsum("a,aij->ij", axis_angle, so3_generators(l)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invariance_under_rotations(seed):
    rng = np.random.default_rng(seed)
    axis_angle = rng.normal(size=3) * 2.0
    wigner = {l: _wigner(l, axis_angle) for l in range(9)}
    for l1, l2, l3 in [(1, 1, 1), (1, 1, 2), (2, 3, 4), (3, 3, 3), (4, 2, 5), (8, 5, 6), (6, 7, 8)]:
        c = clebsch_gordan(l1, l2, l3)
        rotated = np.einsum("ijk,ia,jb,kc->abc", c, wigner[l1], wigner[l2], wigner[l3])
        np.testing.assert_allclose(rotated, c, rtol=0, atol=1e-12)
        # A wrong pairing of legs must break it (the test is not vacuous).
        if l1 == l2 and l1 > 0:
            wrong = np.einsum("ijk,ia,jb,kc->abc", c, wigner[l1].T, wigner[l2], wigner[l3])
            assert np.abs(wrong - c).max() > 1e-3


def test_l1_couplings_are_cartesian():
    # 1 x 1 -> 0 is the dot product and 1 x 1 -> 1 the cross product (x, y, z ordering).
    np.testing.assert_allclose(
        clebsch_gordan(1, 1, 0)[:, :, 0], np.eye(3) / math.sqrt(3), atol=1e-16
    )
    eps = np.zeros((3, 3, 3))
    for i, j, k in itertools.permutations(range(3)):
        eps[i, j, k] = np.linalg.det(np.eye(3)[[i, j, k]])
    np.testing.assert_allclose(clebsch_gordan(1, 1, 1), eps / math.sqrt(6), atol=1e-16)


def test_swap_symmetry_is_exact():
    for l1, l2, l3 in _triples(7, triangle_only=True):
        sign = (-1) ** (l1 + l2 + l3)
        swapped = clebsch_gordan(l2, l1, l3).transpose(1, 0, 2)
        assert np.array_equal(swapped, sign * clebsch_gordan(l1, l2, l3)), (l1, l2, l3)


def test_orthogonality_and_completeness():
    lmax = 5
    for l1, l2 in itertools.product(range(lmax + 1), repeat=2):
        d1, d2 = 2 * l1 + 1, 2 * l2 + 1
        completeness = np.zeros((d1 * d2, d1 * d2))
        for l3 in range(abs(l1 - l2), l1 + l2 + 1):
            c = clebsch_gordan(l1, l2, l3)
            gram = np.einsum("abc,abd->cd", c, c)
            np.testing.assert_allclose(gram, np.eye(2 * l3 + 1) / (2 * l3 + 1), atol=1e-15)
            for l3b in range(l3 + 1, l1 + l2 + 1):  # different outputs are orthogonal
                cross = np.einsum("abc,abd->cd", c, clebsch_gordan(l1, l2, l3b))
                assert np.abs(cross).max() < 1e-15
            flat = c.reshape(d1 * d2, -1)
            completeness += (2 * l3 + 1) * flat @ flat.T
        np.testing.assert_allclose(completeness, np.eye(d1 * d2), atol=1e-14)


# ------------------------------------------------------------------------------------------
# Sparsity and the selection rule
# ------------------------------------------------------------------------------------------


def test_selection_rule_and_sparse_entries():
    for l1, l2, l3 in _triples(8, triangle_only=True):
        dense = clebsch_gordan(l1, l2, l3)
        sparse = clebsch_gordan_nonzero(l1, l2, l3)
        nonzero = np.nonzero(dense)
        for got, want in zip(sparse[:3], nonzero, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(sparse.value, dense[nonzero])
        m1, m2, m3 = sparse.i1 - l1, sparse.i2 - l2, sparse.i3 - l3
        a1, a2, a3 = np.abs(m1), np.abs(m2), np.abs(m3)
        assert np.all((a3 == a1 + a2) | (a3 == np.abs(a1 - a2))), (l1, l2, l3)
        negatives = (m1 < 0).astype(int) + (m2 < 0).astype(int) + (m3 < 0).astype(int)
        assert np.all(negatives % 2 == (l1 + l2 + l3) % 2), (l1, l2, l3)
        per_pair = np.count_nonzero(dense, axis=2)
        assert per_pair.max() <= 2
    # The parity part of the rule is sharp: both parities of l1 + l2 + l3 occur.
    assert clebsch_gordan(1, 1, 1)[0, 1, 2] != 0 and clebsch_gordan(1, 1, 2)[0, 0, 4] != 0


def test_sparse_entries_types_and_empty():
    e = clebsch_gordan_nonzero(2, 3, 4)
    assert e.i1.dtype == np.int64 and e.value.dtype == np.float64
    assert not e.value.flags.writeable
    empty = clebsch_gordan_nonzero(1, 1, 3)
    assert all(a.shape == (0,) for a in empty)


# ------------------------------------------------------------------------------------------
# API details
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("l1, l2, l3", [(1, 1, 3), (0, 2, 1), (5, 1, 2), (0, 0, 1)])
def test_triangle_failure_gives_zeros_like_e3nn(l1, l2, l3):
    c = clebsch_gordan(l1, l2, l3)
    ref = e3nn_jax.clebsch_gordan(l1, l2, l3)
    assert c.shape == ref.shape and not c.any() and not ref.any()


def test_cached_read_only_and_numpy_ints():
    c = clebsch_gordan(2, 2, 2)
    assert c is clebsch_gordan(np.int64(2), 2, 2)
    assert c.dtype == np.float64 and not c.flags.writeable
    with pytest.raises(ValueError):
        c[0, 0, 0] = 1.0


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, True, "2", None])
def test_bad_degree(bad):
    with pytest.raises(ValueError, match="l2 must be a non-negative int"):
        clebsch_gordan(1, bad, 1)
    with pytest.raises(ValueError, match="l3"):
        clebsch_gordan_nonzero(1, 1, bad)


def test_table_builds_fast():
    # The whole table for lmax = 8 from scratch (measured ~0.7 s on one core); generous bound.
    cg_module._real_cg_exact.cache_clear()
    cg_module._clebsch_gordan.cache_clear()
    start = time.perf_counter()
    for l1, l2, l3 in _triples(8):
        clebsch_gordan(l1, l2, l3)
    assert time.perf_counter() - start < 15.0
