"""Real spherical harmonics in e3nn's basis, evaluated by a Cartesian polynomial recursion.

For a vector ``(x, y, z)`` the degree-``l`` harmonics are homogeneous polynomials of degree ``l``
(solid harmonics); with ``normalize=True`` the vector is first scaled to unit length, so they are
the usual spherical harmonics on the sphere. The polar axis is **+y** and the azimuth is measured
from +z towards +x, so for ``m >= 0``

    Y_l^{+m} = F_lm * Q_l^m(y, r^2) * Re[(z + i x)^m],
    Y_l^{-m} = F_lm * Q_l^m(y, r^2) * Im[(z + i x)^m],

where ``Q_l^m`` is the associated Legendre function divided by ``sin^m`` (no Condon-Shortley phase),
made homogeneous with ``r^2 = x^2 + y^2 + z^2``. ``Q_l^m`` follows the three-term recurrence in
``l`` and ``(z + i x)^m`` the complex-power recurrence in ``m``; all normalization constants are
folded into the recurrence coefficients (float64, computed once in log space so any ``l`` is safe).

The derivative is supplied analytically (``jax.custom_jvp``): the gradient of a solid harmonic of
degree ``l`` is a sparse combination of those of degree ``l - 1`` (at most five terms per
component), so first and second derivatives cost a few multiplications per output, without
differentiating through the recursion.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["spherical_harmonics"]

_NORMALIZATIONS: tuple[str, ...] = ("component", "norm", "integral")


def _check_lmax(lmax: int) -> int:
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0:
        raise ValueError(
            f"lmax must be a non-negative integer (the highest degree to compute), got {lmax!r}"
        )
    return int(lmax)


def _check_normalization(normalization: str) -> str:
    if normalization not in _NORMALIZATIONS:
        raise ValueError(
            f"unknown normalization {normalization!r}; "
            f"use one of {', '.join(map(repr, _NORMALIZATIONS))}"
        )
    return normalization


def _log_scale(l: int, m: int, normalization: str) -> float:
    """log F_lm: the factor that turns ``Q_l^m Re/Im[(z + i x)^m]`` into ``Y_l^{+-m}``."""
    # Orthonormal ("integral"): sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!), times sqrt(2) for m != 0.
    log_f = 0.5 * (math.log(2 * l + 1) - math.log(4 * math.pi))
    log_f += 0.5 * (math.lgamma(l - m + 1) - math.lgamma(l + m + 1))
    if m > 0:
        log_f += 0.5 * math.log(2.0)
    if normalization == "component":  # sum_m Y_lm^2 = 2l + 1 on the sphere
        log_f += 0.5 * math.log(4 * math.pi)
    elif normalization == "norm":  # sum_m Y_lm^2 = 1 on the sphere
        log_f += 0.5 * (math.log(4 * math.pi) - math.log(2 * l + 1))
    return log_f


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def _recurrence_coefficients(
    lmax: int, normalization: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of the recurrence ``P_l^m = a[l, m] y P_{l-1}^m - b[l, m] r^2 P_{l-2}^m``.

    ``P_l^m = F_lm Q_l^m``. Returns ``(start, a, b)``, float64: ``start[m] = P_m^m`` (a constant),
    ``a`` and ``b`` of shape ``(lmax + 1, lmax + 1)`` indexed ``[l, m]`` (``b`` unused for
    ``l = m + 1``, where ``P_{m+1}^m = a y P_m^m``).
    """
    start = np.zeros(lmax + 1)
    a = np.zeros((lmax + 1, lmax + 1))
    b = np.zeros((lmax + 1, lmax + 1))
    for m in range(lmax + 1):
        # Q_m^m = (2m - 1)!!, in log space: log((2m)! / (2^m m!)).
        log_dfact = math.lgamma(2 * m + 1) - m * math.log(2.0) - math.lgamma(m + 1)
        start[m] = math.exp(_log_scale(m, m, normalization) + log_dfact)
        for l in range(m + 1, lmax + 1):
            log_f = _log_scale(l, m, normalization)
            # Q_l^m = ((2l - 1) y Q_{l-1}^m - (l + m - 1) r^2 Q_{l-2}^m) / (l - m)
            a[l, m] = (2 * l - 1) / (l - m) * math.exp(log_f - _log_scale(l - 1, m, normalization))
            if l >= m + 2:
                b[l, m] = (
                    (l + m - 1) / (l - m) * math.exp(log_f - _log_scale(l - 2, m, normalization))
                )
    return _read_only(start), _read_only(a), _read_only(b)


@functools.cache
def _derivative_matrix(l: int, normalization: str) -> np.ndarray:
    """The gradient of the degree-``l`` harmonics as a linear map of those of degree ``l - 1``.

    ``d Y_l^m / d v_a = sum_k Y_{l-1}^k W[k, a, m]`` (``a`` = x, y, z). Writing ``G(l, m)`` for
    ``Y_l^m / F_l|m|`` (``Re Q_l^m w^m`` for ``m >= 0``, ``Im Q_l^|m| w^|m|`` for ``m < 0``, with
    ``w = z + i x``), the ladder relations of solid harmonics with polar axis ``y`` read

    * ``d/dy G(l, m) = (l + |m|) G(l - 1, m)``,
    * ``(d/dz + i d/dx) Q_l^m w^m = -Q_{l-1}^{m+1} w^{m+1}``,
    * ``(d/dz - i d/dx) Q_l^m w^m = (l + m)(l + m - 1) Q_{l-1}^{m-1} w^{m-1}``,

    so each component has at most five terms.

    Returns:
        float64 array of shape ``(2l - 1, 3, 2l + 1)``.
    """
    w = np.zeros((2 * l - 1, 3, 2 * l + 1))
    x, y, z = 0, 1, 2

    def put(axis: int, m: int, m_src: int, value: float) -> None:
        if abs(m_src) > l - 1:
            return
        log_ratio = _log_scale(l, abs(m), normalization) - _log_scale(
            l - 1, abs(m_src), normalization
        )
        w[m_src + l - 1, axis, m + l] += value * math.exp(log_ratio)

    for m in range(-l, l + 1):
        k = abs(m)
        c = (l + k) * (l + k - 1)
        put(y, m, m, l + k)
        if m > 0:  # G = Re(Q w^m)
            put(z, m, m + 1, -0.5)
            put(z, m, m - 1, 0.5 * c)
            put(x, m, -m - 1, -0.5)
            if m > 1:  # Im(Q w^0) vanishes
                put(x, m, -m + 1, -0.5 * c)
        elif m == 0:
            put(z, m, 1, -1.0)
            put(x, m, -1, -1.0)
        else:  # G = Im(Q w^k), k = -m
            put(z, m, m - 1, -0.5)
            if k > 1:
                put(z, m, m + 1, 0.5 * c)
            put(x, m, -m - 1, 0.5 * c)
            put(x, m, -m + 1, 0.5)
    return _read_only(w)


def _polynomials(lmax: int, normalization: str, vectors: jax.Array) -> jax.Array:
    """The solid harmonics of degrees ``0..lmax`` of ``vectors`` (no normalization of the input)."""
    start, a, b = _recurrence_coefficients(lmax, normalization)
    x, y, z = (c[..., 0] for c in jnp.split(vectors, 3, axis=-1))
    r2 = x * x + y * y + z * z
    one = jnp.ones_like(x)
    columns: list[jax.Array | None] = [None] * (lmax + 1) ** 2
    # Degree by degree: p[m] = P_l^m (P_m^m is a constant folded into the azimuthal factor),
    # (cos[m], sin[m]) = (z + i x)^m.
    p_prev: list[jax.Array] = []
    p: list[jax.Array] = []  # m = 0..l-1 (the diagonal m = l is the constant start[l])
    cos, sin = [one], [jnp.zeros_like(x)]
    for l in range(lmax + 1):
        new = []
        for m in range(l - 1):
            q = p_prev[m] if m < l - 2 else float(start[m])
            new.append(float(a[l, m]) * y * p[m] - float(b[l, m]) * r2 * q)
        if l >= 1:
            new.append(float(a[l, l - 1] * start[l - 1]) * y)
            cos.append(z * cos[-1] - x * sin[-1])
            sin.append(z * sin[-1] + x * cos[-2])
        p_prev, p = p, new
        center = l * l + l
        columns[center] = p[0] if l > 0 else float(start[0]) * one
        for m in range(1, l + 1):
            pm = p[m] if m < l else float(start[l])
            columns[center + m] = pm * cos[m]
            columns[center - m] = pm * sin[m]
    return jnp.stack(columns, axis=-1)


def _sum(terms: Iterable[jax.Array]) -> jax.Array:
    return functools.reduce(operator.add, terms)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _solid_harmonics(lmax: int, normalization: str, vectors: jax.Array) -> jax.Array:
    return _polynomials(lmax, normalization, vectors)


@functools.cache
def _derivative_terms(
    lmax: int, normalization: str
) -> tuple[tuple[tuple[tuple[int, float], ...], ...], ...]:
    """Sparse form of ``_derivative_matrix`` for all degrees.

    ``terms[j][a]`` lists the ``(source column, coefficient)`` pairs of ``d Y_j / d v_a``.
    """
    terms: list[tuple[tuple[tuple[int, float], ...], ...]] = [((), (), ())]
    for l in range(1, lmax + 1):
        w = _derivative_matrix(l, normalization)
        for j in range(2 * l + 1):
            terms.append(
                tuple(
                    tuple(
                        ((l - 1) ** 2 + i, float(w[i, a, j]))
                        for i in range(2 * l - 1)
                        if w[i, a, j] != 0
                    )
                    for a in range(3)
                )
            )
    return tuple(terms)


@_solid_harmonics.defjvp
def _solid_harmonics_jvp(
    lmax: int, normalization: str, primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    (vectors,) = primals
    (dv,) = tangents
    out = _solid_harmonics(lmax, normalization, vectors)
    # Columns by split (not indexing): the transpose of split is one concatenate, and every
    # operation below is elementwise on (..., 1) columns, so the backward pass is a fused sum.
    y = jnp.split(out, out.shape[-1], axis=-1)
    d = jnp.split(dv, 3, axis=-1)
    cols = []
    for column_terms in _derivative_terms(lmax, normalization):
        parts = [
            d[axis] * _sum(c * y[i] for i, c in pairs)
            for axis, pairs in enumerate(column_terms)
            if pairs
        ]
        cols.append(_sum(parts) if parts else jnp.zeros_like(y[0]))
    return out, jnp.concatenate(cols, axis=-1)


@jax.custom_jvp
def _unit(vectors: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(v / |v|, 1 / |v|)``, with ``(0, 1)`` for a zero vector."""
    r2 = jnp.sum(vectors * vectors, axis=-1, keepdims=True)
    inv = jax.lax.rsqrt(jnp.where(r2 == 0, jnp.ones_like(r2), r2))
    return vectors * inv, inv


@_unit.defjvp
def _unit_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    # du = (dv - u (u . dv)) / |v| and d(1/|v|) = -(u . dv) / |v|^2, written with u and 1/|v| only,
    # so no power of |v| beyond the first two appears at any order: derivatives stay finite for
    # tiny vectors, and for a zero vector (u = 0, 1/|v| := 1) they are (dv, 0).
    (dv,) = tangents
    u, inv = _unit(*primals)
    radial = jnp.sum(u * dv, axis=-1, keepdims=True)
    return (u, inv), ((dv - u * radial) * inv, -radial * inv * inv)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _spherical_harmonics(
    lmax: int, vectors: jax.Array, normalize: bool, normalization: str
) -> jax.Array:
    if normalize:
        vectors, _ = _unit(vectors)
    return _solid_harmonics(lmax, normalization, vectors)


def spherical_harmonics(
    lmax: int,
    vectors: jax.Array,
    normalize: bool = True,
    normalization: str = "component",
) -> jax.Array:
    r"""Real spherical harmonics of degrees ``0..lmax`` in e3nn's basis (polar axis +y).

    Equal to ``e3nn_jax.spherical_harmonics(range(lmax + 1), vectors, normalize, normalization)``
    (as a plain array). The ``l = 1`` components are proportional to ``(x, y, z)``, so the
    harmonics transform as ``Y(R v) = D(R) Y(v)`` with ``D^1(R) = R``, and ``Y(-v) = (-1)^l Y(v)``.

    Args:
        lmax: highest degree, ``>= 0``.
        vectors: array of shape ``(..., 3)``, Cartesian ``(x, y, z)``. Floating dtypes are kept
            (float32 in, float32 out); integers are converted to the default float dtype.
        normalize: if True the vectors are scaled to unit length first (a zero vector stays zero:
            its ``l = 0`` harmonic is the constant and all others are 0, with finite derivatives);
            if False the harmonics are the homogeneous polynomials ``|v|^l Y_l(v / |v|)``.
        normalization: ``"component"`` (``sum_m Y_lm^2 = 2l + 1`` on the unit sphere),
            ``"norm"`` (``sum_m Y_lm^2 = 1``) or ``"integral"`` (orthonormal on the sphere).

    Returns:
        Array of shape ``(..., (lmax + 1)**2)``, degree ``l`` in columns ``l**2 .. (l+1)**2 - 1``
        ordered ``m = -l..l``.

    Examples:
        >>> import jax.numpy as jnp
        >>> Y = spherical_harmonics(2, jnp.array([0.0, 2.0, 0.0]))
        >>> Y.shape
        (9,)
        >>> [round(float(t), 4) for t in Y[:4]]  # l = 0, then l = 1 is sqrt(3) * (x, y, z) / |v|
        [1.0, 0.0, 1.7321, 0.0]
    """
    lmax = _check_lmax(lmax)
    normalization = _check_normalization(normalization)
    vectors = jnp.asarray(vectors)
    if vectors.ndim == 0 or vectors.shape[-1] != 3:
        raise ValueError(
            "vectors must have shape (..., 3) (Cartesian x, y, z in the last axis), "
            f"got {vectors.shape}"
        )
    if not jnp.issubdtype(vectors.dtype, jnp.floating):
        if jnp.issubdtype(vectors.dtype, jnp.complexfloating):
            raise ValueError(f"vectors must be real, got dtype {vectors.dtype}")
        vectors = vectors.astype(jnp.result_type(float))
    return _spherical_harmonics(lmax, vectors, bool(normalize), normalization)
