"""Tests of equitens.so3.gaunt against quadrature of e3nn-jax harmonics and sympy (exact)."""

from __future__ import annotations

import functools
import itertools
import math

import e3nn_jax
import jax
import numpy as np
import pytest
from sympy.physics.wigner import gaunt as sympy_gaunt
from sympy.physics.wigner import real_gaunt as sympy_real_gaunt
from sympy.physics.wigner import wigner_3j

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.gaunt import gaunt, gaunt_kappa
from equitens.so3.generators import real_to_complex

LMAX_QUADRATURE = 8

# e3nn's "legendre" harmonics call jax.scipy.special.lpmn_values, deprecated in recent jax.
pytestmark = pytest.mark.filterwarnings("ignore:jax.scipy.special.lpmn_values:DeprecationWarning")


def _triples(lmax: int):
    return itertools.product(range(lmax + 1), repeat=3)


@functools.cache
def _quadrature_harmonics(lmax: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Weights and e3nn harmonics on a grid exact for polynomials of degree 3 * lmax on S^2.

    Gauss-Legendre in y = cos(beta) (n points: exact to degree 2n - 1) times a uniform grid in
    alpha (N points: exact for Fourier modes |k| < N).
    """
    degree = 3 * lmax
    y, wy = np.polynomial.legendre.leggauss(degree // 2 + 1)
    n_alpha = degree + 1
    alpha = 2 * np.pi * np.arange(n_alpha) / n_alpha
    yy, aa = np.meshgrid(y, alpha, indexing="ij")
    s = np.sqrt(1 - yy**2)
    points = np.stack([s * np.sin(aa), yy, s * np.cos(aa)], axis=-1).reshape(-1, 3)
    weights = np.outer(wy, np.full(n_alpha, 2 * np.pi / n_alpha)).reshape(-1)
    irreps = e3nn_jax.Irreps.spherical_harmonics(lmax)
    # e3nn's "legendre" algorithm builds the harmonics from associated Legendre polynomials, without
    # Clebsch-Gordan coefficients (its default recursion uses them), and is quick to set up.
    evaluate = jax.jit(
        lambda x: (
            e3nn_jax.spherical_harmonics(
                irreps, x, True, "integral", algorithm=("legendre", "dense")
            ).array
        )
    )
    sh = np.asarray(evaluate(points))
    assert sh.dtype == np.float64
    blocks = [sh[:, l * l : (l + 1) ** 2] for l in range(lmax + 1)]
    return weights, blocks


def test_quadrature_grid_is_orthonormal():
    # Sanity check of the oracle itself: <Y_l, Y_l'> = delta on the grid.
    weights, blocks = _quadrature_harmonics(LMAX_QUADRATURE)
    sh = np.concatenate(blocks, axis=1)
    np.testing.assert_allclose(
        np.einsum("p,pa,pb->ab", weights, sh, sh), np.eye(sh.shape[1]), atol=1e-13
    )


def test_matches_quadrature_of_e3nn_harmonics():
    weights, blocks = _quadrature_harmonics(LMAX_QUADRATURE)
    for l1, l2, l3 in _triples(LMAX_QUADRATURE):
        pair = (weights[:, None, None] * blocks[l1][:, :, None] * blocks[l2][:, None, :]).reshape(
            len(weights), -1
        )
        integral = (pair.T @ blocks[l3]).reshape(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
        np.testing.assert_allclose(
            gaunt(l1, l2, l3), integral, rtol=0, atol=2e-14, err_msg=str((l1, l2, l3))
        )


def _complex_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """Integral Y_{l1 m1} Y_{l2 m2} Y_{l3 m3} by sympy (complex, Condon-Shortley, no conjugates)."""
    out = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
        m3 = -m1 - m2
        if abs(m3) <= l3:
            out[l1 + m1, l2 + m2, l3 + m3] = float(sympy_gaunt(l1, l2, l3, m1, m2, m3).evalf(30))
    return out


def _real_from_complex_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    # The real harmonics are Y_real = Q'^H Y_complex with Q' = i^l real_to_complex(l) (the phase
    # (-i)^l of real_to_complex acts on coefficient vectors, not on the functions); e3nn's harmonics
    # are the standard (z-polar) ones at rotated coordinates, which leaves the integral unchanged.
    q1, q2, q3 = (real_to_complex(l).conj() for l in (l1, l2, l3))
    g = (-1j) ** (l1 + l2 + l3) * np.einsum(
        "ia,jb,kc,ijk->abc", q1, q2, q3, _complex_gaunt(l1, l2, l3)
    )
    assert np.abs(g.imag).max(initial=0) < 1e-15
    return g.real


def test_matches_sympy_complex_gaunt_small():
    for l1, l2, l3 in _triples(3):
        np.testing.assert_allclose(
            gaunt(l1, l2, l3), _real_from_complex_gaunt(l1, l2, l3), rtol=0, atol=1e-15
        )


@pytest.mark.parametrize("l1, l2, l3", [(4, 5, 5), (6, 6, 6), (2, 6, 8), (8, 8, 4)])
def test_matches_sympy_complex_gaunt_larger(l1, l2, l3):
    np.testing.assert_allclose(
        gaunt(l1, l2, l3), _real_from_complex_gaunt(l1, l2, l3), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize(
    "l1, l2, l3", [(1, 1, 2), (2, 2, 2), (1, 2, 3), (2, 2, 4), (0, 2, 2), (1, 1, 1)]
)
def test_matches_sympy_real_gaunt(l1, l2, l3):
    # sympy's real harmonics Z_l^mu (z-polar, [Homeier96]) equal (-1)^mu times the standard
    # (Wikipedia) ones, which are e3nn's at cyclically permuted coordinates (a rotation).
    ours = gaunt(l1, l2, l3)
    for i1, i2, i3 in itertools.product(*(range(2 * l + 1) for l in (l1, l2, l3))):
        m1, m2, m3 = i1 - l1, i2 - l2, i3 - l3
        if abs(m3) not in (abs(m1) + abs(m2), abs(abs(m1) - abs(m2))):
            assert ours[i1, i2, i3] == 0.0  # sympy skips these too (and is slow)
            continue
        ref = (-1) ** (m1 + m2 + m3) * float(sympy_real_gaunt(l1, l2, l3, m1, m2, m3).evalf(30))
        assert abs(ours[i1, i2, i3] - ref) < 1e-15, (m1, m2, m3)


def test_kappa_relation_even_and_odd_paths():
    for l1, l2, l3 in _triples(8):
        kappa = gaunt_kappa(l1, l2, l3)
        triangle = abs(l1 - l2) <= l3 <= l1 + l2
        if triangle and (l1 + l2 + l3) % 2 == 0:
            three_j = float(wigner_3j(l1, l2, l3, 0, 0, 0).evalf(30))
            expected = math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4 * math.pi)) * abs(
                three_j
            )
            assert kappa > 0 and kappa == pytest.approx(expected, rel=1e-15, abs=0)
            np.testing.assert_allclose(
                gaunt(l1, l2, l3), kappa * clebsch_gordan(l1, l2, l3), rtol=0, atol=1e-16
            )
            assert np.abs(gaunt(l1, l2, l3)).max() > 1e-3
        else:
            assert kappa == 0.0
            assert gaunt(l1, l2, l3).shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
            assert not gaunt(l1, l2, l3).any()


def test_permutation_symmetry():
    for l1, l2, l3 in _triples(5):
        g = gaunt(l1, l2, l3)
        for perm in itertools.permutations(range(3)):
            ls = tuple((l1, l2, l3)[p] for p in perm)
            np.testing.assert_allclose(gaunt(*ls), g.transpose(perm), rtol=0, atol=1e-16)


def test_cached_and_read_only():
    g = gaunt(2, 2, 2)
    assert g is gaunt(np.int64(2), 2, 2)
    assert g.dtype == np.float64 and not g.flags.writeable


@pytest.mark.parametrize("bad", [-1, 1.0, True, "1"])
def test_bad_degree(bad):
    with pytest.raises(ValueError, match="l1 must be a non-negative int"):
        gaunt(bad, 1, 1)
    with pytest.raises(ValueError, match="l3 must be a non-negative int"):
        gaunt_kappa(1, 1, bad)
