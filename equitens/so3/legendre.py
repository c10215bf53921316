"""Normalised associated Legendre functions in equitens' (e3nn's) convention.

The real spherical harmonics of equitens factor as a function of the polar angle ``beta`` (from
the +y axis) times a function of the longitude ``alpha``. With ``x = cos(beta)``, the orthonormal
ones (``normalization="integral"``) are

* ``Y_{l,0}  = Lambda_l^0(x) / sqrt(2 pi)``,
* ``Y_{l,m}  = Lambda_l^m(x) cos(m alpha) / sqrt(pi)`` for ``m > 0``,
* ``Y_{l,-m} = Lambda_l^m(x) sin(m alpha) / sqrt(pi)`` for ``m > 0``,

where ``Lambda_l^m`` is the associated Legendre function normalised on ``[-1, 1]``
(``integral Lambda_l^m(x)^2 dx = 1``) **without** the Condon-Shortley phase ``(-1)^m``. This is the
convention of ``e3nn_jax.spherical_harmonics``.

The functions are computed by the standard stable three-term recursion in float64, never by
quadrature. They are numpy constants meant to be built once and cached by their users.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalized_legendre"]


def normalized_legendre(lmax: int, x: np.ndarray) -> np.ndarray:
    """Associated Legendre functions normalised on ``[-1, 1]``, without Condon-Shortley phase.

    Uses the recursion ``Lambda_m^m = sqrt((2m+1)/(2m)) sqrt(1-x^2) Lambda_{m-1}^{m-1}``,
    ``Lambda_{m+1}^m = sqrt(2m+3) x Lambda_m^m`` and, for ``l >= m + 2``,
    ``Lambda_l^m = a_{lm} (x Lambda_{l-1}^m - b_{lm} Lambda_{l-2}^m)`` with
    ``a_{lm} = sqrt((4l^2-1)/(l^2-m^2))`` and ``b_{lm} = sqrt(((l-1)^2-m^2)/(4(l-1)^2-1))``,
    all in float64. It is stable for every degree in practical use.

    Args:
        lmax: the largest degree ``l`` (a non-negative integer).
        x: the points ``cos(beta)``, any shape, values in ``[-1, 1]``.

    Returns:
        float64 array of shape ``(lmax + 1, lmax + 1) + x.shape`` indexed ``[m, l, ...]`` with
        ``0 <= m <= l``; the entries with ``l < m`` are zero.

    Examples:
        >>> import numpy as np
        >>> x, w = np.polynomial.legendre.leggauss(8)
        >>> p = normalized_legendre(3, x)
        >>> bool(np.allclose((p[1] * w) @ p[1].T, np.diag([0.0, 1.0, 1.0, 1.0])))
        True
    """
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    lmax = int(lmax)
    x = np.asarray(x, dtype=np.float64)
    if x.size and (not np.all(np.isfinite(x)) or np.abs(x).max() > 1.0):
        raise ValueError("normalized_legendre expects points x = cos(beta) in [-1, 1]")
    # sin(beta) >= 0 for beta in [0, pi]; (1 - x)(1 + x) is accurate near the poles.
    s = np.sqrt((1.0 - x) * (1.0 + x))
    p = np.zeros((lmax + 1, lmax + 1) + x.shape, dtype=np.float64)
    diagonal = np.full(x.shape, np.sqrt(0.5))
    for m in range(lmax + 1):
        if m > 0:
            diagonal = np.sqrt((2 * m + 1) / (2 * m)) * s * diagonal
        p[m, m] = diagonal
        if m + 1 <= lmax:
            p[m, m + 1] = np.sqrt(2 * m + 3) * x * diagonal
        for l in range(m + 2, lmax + 1):
            a = np.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = np.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            p[m, l] = a * (x * p[m, l - 1] - b * p[m, l - 2])
    return p
