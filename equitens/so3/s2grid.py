"""Spherical grids with exact, fast (O(L^3)) transforms to and from real spherical harmonics.

A spherical function of band limit ``lmax`` is ``f(n) = sum_{l <= lmax, m} c_{lm} Y_{lm}(n)`` in
equitens' real basis (identical to ``e3nn_jax.spherical_harmonics``: polar axis +y,
``n = (sin b sin a, cos b, sin b cos a)`` with ``b`` the polar angle from +y and ``a`` the
longitude). An :class:`S2Grid` samples the sphere at Gauss-Legendre nodes in ``cos(beta)`` times
uniform longitudes; with enough nodes its quadrature is exact for every polynomial up to a degree,
which makes :func:`from_s2grid` (projection) the exact inverse of :func:`to_s2grid` (sampling) and
makes the point-wise product of two sampled functions project to the exact Gaunt product.

The transforms factor as an m-blocked associated Legendre transform (float64 tables, one small
matrix product per order ``m``) and a transform over the longitude: a real FFT (``method="fft"``)
or a matrix product with the cos/sin table (``method="dft"``), O(L^3) per function either way.
The dense path (the matrix of every ``Y_{lm}`` at every grid point, O(L^4)) is
:func:`s2grid_matrix` and ``method="dense"``. ``method="auto"`` picks the fastest measured on CPU.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.legendre import normalized_legendre

__all__ = ["S2Grid", "grid_for_product", "s2grid_matrix", "to_s2grid", "from_s2grid"]

NORMALIZATIONS = ("component", "norm", "integral")
METHODS = ("auto", "dense", "fft", "dft")

# method="auto" uses the dense matrix while it has at most this many entries ((lmax + 1)^2 times
# the number of grid points), and the m-blocked Legendre + DFT path above. Chosen from
# single-threaded CPU measurements (batch 10_000, float32; docs/guide/s2grid.md): dense up to
# lmax = 18 on S2Grid.exact_for(2 lmax) and up to lmax = 15 on S2Grid.exact_for(3 lmax).
_DENSE_MAX_ENTRIES = 300_000


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# ----------------------------------------------------------------------------------------------
# The grid
# ----------------------------------------------------------------------------------------------


@functools.cache
def _gauss_legendre(n_beta: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n_beta)
    # Order the nodes by increasing beta: cos(beta) decreasing, from the +y pole to the -y pole.
    return _readonly(x[::-1].copy()), _readonly(w[::-1].copy())


@functools.cache
def _alpha(n_alpha: int) -> np.ndarray:
    return _readonly(2 * np.pi * np.arange(n_alpha) / n_alpha)


@functools.cache
def _weights(n_beta: int, n_alpha: int) -> np.ndarray:
    w_beta = _gauss_legendre(n_beta)[1]
    return _readonly(np.outer(w_beta, np.full(n_alpha, 2 * np.pi / n_alpha)))


@functools.cache
def _points(n_beta: int, n_alpha: int) -> np.ndarray:
    x = _gauss_legendre(n_beta)[0]
    s = np.sqrt((1.0 - x) * (1.0 + x))
    a = _alpha(n_alpha)
    points = np.stack(
        [
            s[:, None] * np.sin(a)[None, :],
            np.broadcast_to(x[:, None], (n_beta, n_alpha)),
            s[:, None] * np.cos(a)[None, :],
        ],
        axis=-1,
    )
    return _readonly(points)


@dataclasses.dataclass(frozen=True)
class S2Grid:
    """A Gauss-Legendre (in ``cos(beta)``) times uniform (in ``alpha``) grid on the sphere.

    Static and hashable, so it can be a static argument of ``jax.jit``. All arrays are cached
    read-only numpy float64 constants. The nodes are ordered by increasing ``beta`` (from the +y
    pole to the -y pole) and ``alpha_k = 2 pi k / n_alpha``.

    The grid integrates every polynomial of degree
    ``<= exact_degree = min(2 n_beta - 1, n_alpha - 1)``
    on the sphere exactly, and no grid with fewer nodes in either direction does (see
    :meth:`exact_for`).

    Args:
        n_beta: number of Gauss-Legendre nodes in ``cos(beta)`` (>= 1).
        n_alpha: number of uniform longitudes (>= 1).

    Examples:
        >>> import numpy as np
        >>> grid = S2Grid.exact_for(4)
        >>> grid
        S2Grid(n_beta=3, n_alpha=5)
        >>> grid.points.shape
        (3, 5, 3)
        >>> y = grid.points[..., 1]
        >>> bool(np.isclose(grid.integrate(y**4), 4 * np.pi / 5))
        True
    """

    n_beta: int
    n_alpha: int

    def __post_init__(self) -> None:
        _check_int("S2Grid.n_beta", self.n_beta, 1)
        _check_int("S2Grid.n_alpha", self.n_alpha, 1)
        object.__setattr__(self, "n_beta", int(self.n_beta))
        object.__setattr__(self, "n_alpha", int(self.n_alpha))

    @classmethod
    def exact_for(cls, degree: int) -> S2Grid:
        """The smallest grid that integrates every polynomial of degree ``<= degree`` exactly.

        ``n_beta = ceil((degree + 1) / 2)`` (Gauss-Legendre with ``k`` nodes is exact to degree
        ``2k - 1``) and ``n_alpha = degree + 1`` (the uniform rule with ``N`` nodes integrates
        ``e^{i m alpha}`` exactly for ``|m| < N``). Both are minimal: with one node fewer in
        ``beta`` the Legendre polynomial ``P_{2 n_beta - 2}(y)`` (degree ``<= degree``) is
        integrated wrongly; with one node fewer in ``alpha``, ``Re (z + i x)^degree`` is.

        Args:
            degree: the polynomial degree to integrate exactly (>= 0). For the product of functions
                of band limits ``l1`` and ``l2`` projected onto degree ``l3`` use ``l1 + l2 + l3``
                (see :func:`grid_for_product`); for the round trip of band limit ``lmax`` use
                ``2 * lmax``.

        Returns:
            The minimal :class:`S2Grid`.

        Examples:
            >>> S2Grid.exact_for(7)
            S2Grid(n_beta=4, n_alpha=8)
        """
        degree = _check_int("degree", degree, 0)
        return cls(n_beta=(degree + 2) // 2, n_alpha=degree + 1)

    @property
    def exact_degree(self) -> int:
        """The largest ``d`` such that every polynomial of degree ``<= d`` is integrated exactly."""
        return min(2 * self.n_beta - 1, self.n_alpha - 1)

    @property
    def cos_beta(self) -> np.ndarray:
        """Gauss-Legendre nodes ``cos(beta_i)``, decreasing, shape ``(n_beta,)``."""
        return _gauss_legendre(self.n_beta)[0]

    @property
    def beta(self) -> np.ndarray:
        """Polar angles from +y, increasing in ``(0, pi)``, shape ``(n_beta,)``."""
        return np.arccos(self.cos_beta)

    @property
    def weights_beta(self) -> np.ndarray:
        """Gauss-Legendre weights of the ``cos(beta)`` nodes (sum 2), shape ``(n_beta,)``."""
        return _gauss_legendre(self.n_beta)[1]

    @property
    def alpha(self) -> np.ndarray:
        """Longitudes ``2 pi k / n_alpha``, shape ``(n_alpha,)``."""
        return _alpha(self.n_alpha)

    @property
    def weights(self) -> np.ndarray:
        """Quadrature weights ``w_i 2 pi / n_alpha`` (sum ``4 pi``), shape ``(n_beta, n_alpha)``."""
        return _weights(self.n_beta, self.n_alpha)

    @property
    def points(self) -> np.ndarray:
        """Unit vectors ``(sin b sin a, cos b, sin b cos a)``, shape ``(n_beta, n_alpha, 3)``."""
        return _points(self.n_beta, self.n_alpha)

    def integrate(self, values: jax.Array) -> jax.Array:
        """Quadrature of sampled values over the sphere (surface measure, total area ``4 pi``).

        Args:
            values: samples at the grid points, shape ``(..., n_beta, n_alpha)``.

        Returns:
            Array of shape ``(...)``, in the (floating) dtype of ``values``.

        Examples:
            >>> import jax.numpy as jnp
            >>> grid = S2Grid(2, 3)
            >>> bool(jnp.isclose(grid.integrate(jnp.ones((2, 3))), 4 * jnp.pi, rtol=1e-12))  # area
            True
        """
        values = _as_float(values, "values")
        self._check_values_shape(values, "integrate")
        w = jnp.asarray(self.weights, dtype=values.dtype)
        return jnp.tensordot(values, w, axes=2)

    def _check_values_shape(self, values: jax.Array, caller: str) -> None:
        if values.ndim < 2 or values.shape[-2:] != (self.n_beta, self.n_alpha):
            raise ValueError(
                f"{caller}: values must have shape (..., n_beta, n_alpha) = (..., {self.n_beta}, "
                f"{self.n_alpha}) for {self!r}, got shape {tuple(values.shape)}"
            )


def grid_for_product(l1max: int, l2max: int, lout_max: int) -> S2Grid:
    """The minimal grid for the exact product of two spherical functions projected to ``lout_max``.

    The integrand ``f1 f2 Y_{l3 m3}`` is a polynomial of degree ``l1max + l2max + lout_max``, so the
    grid is ``S2Grid.exact_for(max(l1max + l2max + lout_max, 2 * lout_max))`` (the second term only
    matters when ``lout_max > l1max + l2max``, where the extra outputs are zero, and keeps the grid
    valid for :func:`from_s2grid`).

    Args:
        l1max: band limit of the first function.
        l2max: band limit of the second function.
        lout_max: largest output degree.

    Returns:
        The :class:`S2Grid` to sample both functions on.

    Examples:
        >>> grid_for_product(2, 2, 4)
        S2Grid(n_beta=5, n_alpha=9)
    """
    l1max = _check_int("l1max", l1max, 0)
    l2max = _check_int("l2max", l2max, 0)
    lout_max = _check_int("lout_max", lout_max, 0)
    return S2Grid.exact_for(max(l1max + l2max + lout_max, 2 * lout_max))


# ----------------------------------------------------------------------------------------------
# Constant tables (numpy float64, built once and cached)
# ----------------------------------------------------------------------------------------------


def _kappa(lmax: int, normalization: str) -> np.ndarray:
    """``Y^normalization_l = kappa_l * Y^integral_l`` (the orthonormal harmonics)."""
    l = np.arange(lmax + 1, dtype=np.float64)
    if normalization == "component":
        return np.full(lmax + 1, np.sqrt(4 * np.pi))
    if normalization == "norm":
        return np.sqrt(4 * np.pi / (2 * l + 1))
    return np.ones(lmax + 1)


def _degrees(lmax: int) -> np.ndarray:
    """The degree ``l`` of each coefficient in the l-major layout."""
    return np.repeat(np.arange(lmax + 1), 2 * np.arange(lmax + 1) + 1)


@functools.cache
def _beta_part(lmax: int, n_beta: int, normalization: str) -> np.ndarray:
    """``B[m, l, i]``: ``Y_{l,+-m}(beta_i, alpha) = B[m, l, i] (1 | cos m alpha | sin m alpha)``."""
    p = normalized_legendre(lmax, _gauss_legendre(n_beta)[0])
    angular = np.full(lmax + 1, 1 / np.sqrt(np.pi))
    angular[0] = 1 / np.sqrt(2 * np.pi)
    return _readonly(p * angular[:, None, None] * _kappa(lmax, normalization)[None, :, None])


# Orders are processed in pairs: for each m the coefficients c_{l, m} (cos m alpha) and c_{l, -m}
# (sin m alpha), l = m..lmax, share the Legendre table B[m, m:]. The "rows" of a function are its
# 2 lmax + 1 longitude components in the order m = 0, (1, cos), (1, sin), (2, cos), ...: row 2m - 1
# is (m, cos) and row 2m is (m, sin).


@functools.cache
def _order_index(lmax: int) -> tuple[np.ndarray, ...]:
    """Per order m: l-major positions ``l^2 + l +- m``, shape ``(1 | 2, lmax + 1 - m)``."""
    out = []
    for m in range(lmax + 1):
        l = np.arange(m, lmax + 1)
        signs = (1,) if m == 0 else (1, -1)
        out.append(_readonly(np.stack([l * l + l + s * m for s in signs]).astype(np.int32)))
    return tuple(out)


@functools.cache
def _from_m_major(lmax: int) -> np.ndarray:
    """Gather index from the m-major layout (order by order as in ``_order_index``) to l-major."""
    perm = np.concatenate([idx.reshape(-1) for idx in _order_index(lmax)])
    return _readonly(np.argsort(perm).astype(np.int32))


def _row_orders(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Order ``m`` and sin flag of each row."""
    r = np.arange(2 * lmax + 1)
    return (r + 1) // 2, (r > 0) & (r % 2 == 0)


@functools.cache
def _angular(lmax: int, n_alpha: int) -> np.ndarray:
    """``E[r, k] = cos(m_r alpha_k)`` or ``sin(m_r alpha_k)``, shape ``(2 lmax + 1, n_alpha)``."""
    m, is_sin = _row_orders(lmax)
    ma = m[:, None] * _alpha(n_alpha)[None, :]
    return _readonly(np.where(is_sin[:, None], np.sin(ma), np.cos(ma)))


@functools.cache
def _legendre_tables(lmax: int, n_beta: int) -> tuple[np.ndarray, ...]:
    """Per order m: ``B[m, m:]`` (orthonormal), shape ``(lmax + 1 - m, n_beta)``."""
    beta = _beta_part(lmax, n_beta, "integral")
    return tuple(_readonly(beta[m, m:].copy()) for m in range(lmax + 1))


@functools.cache
def _projection_tables(lmax: int, n_beta: int, n_alpha: int) -> tuple[np.ndarray, ...]:
    """Per order m: ``A[i, l - m] = w_i (2 pi / n_alpha) B[m, l, i]`` (orthonormal harmonics).

    ``c_{l, +-m} = sum_i rows[..., r, i] A[i, l - m]``, where
    ``rows[r, i] = sum_k f(beta_i, alpha_k) E[r, k]``.
    """
    beta = _beta_part(lmax, n_beta, "integral")
    w = _gauss_legendre(n_beta)[1] * (2 * np.pi / n_alpha)
    return tuple(
        _readonly(np.ascontiguousarray((beta[m, m:] * w[None, :]).T)) for m in range(lmax + 1)
    )


@functools.cache
def _spectrum_map(lmax: int, n_alpha: int) -> tuple:
    """How rows become the ``irfft`` input ``X_k = scale_k (C_k - i S_k)``, ``k <= n_alpha // 2``.

    On ``alpha_j = 2 pi j / n``, ``cos(m alpha)`` equals ``cos(k alpha)`` and ``sin(m alpha)``
    equals ``+-sin(k alpha)`` with ``k = m mod n`` folded into ``[0, n / 2]`` (``-`` when folded);
    ``sin(k alpha)`` vanishes at ``k = 0`` and at the Nyquist bin ``k = n / 2``. ``irfft`` rebuilds
    ``sum_k C_k cos(k alpha) + S_k sin(k alpha)`` from ``X_0 = n C_0``, ``X_{n/2} = n C_{n/2}`` and
    ``X_k = n / 2 (C_k - i S_k)`` otherwise.

    Returns ``("gather", re_index, re_scale, im_index, im_scale)`` when no two rows share a bin
    (``lmax <= n_alpha // 2``; index ``2 lmax + 1`` is a zero row), else ``("matrix", F_re, F_im)``
    with ``X = rows @ (F_re + i F_im)`` (the grid is coarser than the band limit: orders alias).
    """
    n, n_bins = n_alpha, n_alpha // 2 + 1
    m, is_sin = _row_orders(lmax)
    k = m % n
    flip = k > n / 2
    k = np.where(flip, n - k, k)
    edge = (k == 0) | (2 * k == n)
    scale = np.where(edge, float(n), n / 2)
    factor = np.where(is_sin, np.where(edge, 0.0, -scale * np.where(flip, -1.0, 1.0)), scale)
    if lmax <= n // 2:
        zero_row = 2 * lmax + 1
        re_index, im_index = np.full(n_bins, zero_row), np.full(n_bins, zero_row)
        re_scale, im_scale = np.zeros(n_bins), np.zeros(n_bins)
        for r in range(2 * lmax + 1):
            index, scales = (im_index, im_scale) if is_sin[r] else (re_index, re_scale)
            index[k[r]], scales[k[r]] = r, factor[r]
        arrays = (re_index.astype(np.int32), re_scale, im_index.astype(np.int32), im_scale)
        return ("gather",) + tuple(_readonly(a) for a in arrays)
    f_re, f_im = np.zeros((2 * lmax + 1, n_bins)), np.zeros((2 * lmax + 1, n_bins))
    for r in range(2 * lmax + 1):
        (f_im if is_sin[r] else f_re)[r, k[r]] += factor[r]
    return ("matrix", _readonly(f_re), _readonly(f_im))


@functools.cache
def _s2grid_matrix(lmax: int, n_beta: int, n_alpha: int, normalization: str) -> np.ndarray:
    beta = _beta_part(lmax, n_beta, normalization)
    angular = _angular(lmax, n_alpha)
    out = np.zeros((n_beta, n_alpha, (lmax + 1) ** 2))
    for m, index in enumerate(_order_index(lmax)):
        for j, idx in enumerate(index):  # j = 0: cos (row 2m - 1, or 0), j = 1: sin (row 2m)
            r = 2 * m - 1 + j if m else 0
            out[:, :, idx] = beta[m, m:].T[:, None, :] * angular[r][None, :, None]
    return _readonly(out)


@functools.cache
def _projection_matrix(lmax: int, n_beta: int, n_alpha: int) -> np.ndarray:
    """``P[(i, k), c] = w_ik Y_c(beta_i, alpha_k)`` (orthonormal): coefficients = values @ P."""
    y = _s2grid_matrix(lmax, n_beta, n_alpha, "integral")
    return _readonly((y * _weights(n_beta, n_alpha)[:, :, None]).reshape(n_beta * n_alpha, -1))


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _check_grid(grid: object) -> None:
    if not isinstance(grid, S2Grid):
        raise ValueError(f"grid must be an S2Grid (e.g. S2Grid.exact_for(degree)), got {grid!r}")


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"unknown normalization {normalization!r}; use one of {NORMALIZATIONS} "
            "(as in e3nn_jax.spherical_harmonics)"
        )


def _check_arguments(lmax: int, grid: object, normalization: str) -> int:
    """Validate the arguments every public transform takes; return ``lmax`` as an int."""
    lmax = _check_int("lmax", lmax, 0)
    _check_grid(grid)
    _check_normalization(normalization)
    return lmax


def _as_float(x: jax.Array, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {x.dtype}")
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return x.astype(jnp.result_type(float))


def _resolve_method(method: str, lmax: int, grid: S2Grid) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    if method == "auto":
        entries = (lmax + 1) ** 2 * grid.n_beta * grid.n_alpha
        return "dense" if entries <= _DENSE_MAX_ENTRIES else "dft"
    return method


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def s2grid_matrix(lmax: int, grid: S2Grid, normalization: str = "component") -> np.ndarray:
    """The real spherical harmonics up to ``lmax`` evaluated at every grid point (the dense path).

    Equal to ``e3nn_jax.spherical_harmonics(range(lmax + 1), grid.points, True, normalization)``,
    but built from the float64 Legendre recursion and cached.

    Args:
        lmax: the band limit.
        grid: the sampling grid.
        normalization: ``"component"``, ``"norm"`` or ``"integral"``.

    Returns:
        Read-only float64 array of shape ``(n_beta, n_alpha, (lmax + 1)^2)``.

    Examples:
        >>> import numpy as np
        >>> grid = S2Grid(3, 5)
        >>> Y = s2grid_matrix(1, grid, "component")
        >>> bool(np.allclose(Y[..., 1:], np.sqrt(3) * grid.points))
        True
    """
    lmax = _check_arguments(lmax, grid, normalization)
    return _s2grid_matrix(lmax, grid.n_beta, grid.n_alpha, normalization)


def to_s2grid(
    coeffs: jax.Array,
    lmax: int,
    grid: S2Grid,
    normalization: str = "component",
    *,
    method: str = "auto",
) -> jax.Array:
    """Sample ``f = sum_{l <= lmax, m} c_{lm} Y_{lm}`` at the points of a grid.

    Any grid works: frequencies ``m`` above ``n_alpha / 2`` alias exactly as sampling does.

    Args:
        coeffs: real coefficients, shape ``(..., (lmax + 1)^2)``, l-major with ``m = -l..l``.
        lmax: the band limit (static).
        grid: the sampling grid (static).
        normalization: normalization of ``Y`` as in ``e3nn_jax.spherical_harmonics``:
            ``"component"`` (``sum_m Y_{lm}^2 = 2l + 1``), ``"norm"`` (``= 1``) or ``"integral"``
            (orthonormal on the sphere).
        method: how to compute it; all give the same values. ``"fft"``: m-blocked Legendre
            transform (one small matrix product per order ``m``) and an inverse real FFT over
            ``alpha``, O(L^3). ``"dft"``: the same Legendre transform and a matrix product over
            ``alpha``, O(L^3). ``"dense"``: one matrix product with :func:`s2grid_matrix`, O(L^4).
            ``"auto"``: the fastest measured on CPU, ``"dense"`` while :func:`s2grid_matrix` has at
            most 300_000 entries (``lmax <= 18`` on ``S2Grid.exact_for(2 lmax)``), ``"dft"`` above.

    Returns:
        Array of shape ``(..., n_beta, n_alpha)`` in the dtype of ``coeffs`` (float32 or float64).

    Examples:
        >>> import numpy as np, jax.numpy as jnp
        >>> grid = S2Grid.exact_for(4)
        >>> values = to_s2grid(jnp.array([1.0, 0.0, 0.0, 2.0]), 1, grid, "component")
        >>> bool(np.allclose(values, 1 + 2 * np.sqrt(3) * grid.points[..., 2]))
        True
    """
    lmax = _check_arguments(lmax, grid, normalization)
    coeffs = _as_float(coeffs, "coeffs")
    dim = (lmax + 1) ** 2
    if coeffs.ndim < 1 or coeffs.shape[-1] != dim:
        raise ValueError(
            f"to_s2grid: coeffs must have shape (..., (lmax + 1)^2) = (..., {dim}) for "
            f"lmax={lmax}, got shape {tuple(coeffs.shape)}"
        )
    method = _resolve_method(method, lmax, grid)
    if normalization != "integral":  # Y^normalization_l = kappa_l Y^integral_l
        coeffs = coeffs * jnp.asarray(
            _kappa(lmax, normalization)[_degrees(lmax)], dtype=coeffs.dtype
        )
    return _to_s2grid(coeffs, lmax, grid, method)


# The kernels work with orthonormal harmonics and are jitted (static: lmax, grid, method), so that
# eager calls compile once per configuration rather than once per small operation; inside an
# outer jit they are inlined. The normalization is a scale applied outside, shared by all three.
@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _to_s2grid(coeffs: jax.Array, lmax: int, grid: S2Grid, method: str) -> jax.Array:
    dtype = coeffs.dtype
    if method == "dense":
        y = _s2grid_matrix(lmax, grid.n_beta, grid.n_alpha, "integral")
        y = jnp.asarray(y.reshape(-1, (lmax + 1) ** 2).T, dtype=dtype)
        return (coeffs @ y).reshape(coeffs.shape[:-1] + (grid.n_beta, grid.n_alpha))
    # Legendre transform, one GEMM per order m (cos and sin together): rows (..., 2L + 1, n_beta).
    tables = _legendre_tables(lmax, grid.n_beta)
    rows = jnp.concatenate(
        [
            coeffs[..., idx] @ jnp.asarray(t, dtype=dtype)
            for idx, t in zip(_order_index(lmax), tables, strict=True)
        ],
        axis=-2,
    )
    if method == "dft":
        return jnp.einsum(
            "...ri,rk->...ik", rows, jnp.asarray(_angular(lmax, grid.n_alpha), dtype=dtype)
        )
    spectrum_map = _spectrum_map(lmax, grid.n_alpha)
    if spectrum_map[0] == "gather":
        _, re_index, re_scale, im_index, im_scale = spectrum_map
        rows = jnp.concatenate([rows, jnp.zeros_like(rows[..., :1, :])], axis=-2)
        re = rows[..., re_index, :] * jnp.asarray(re_scale[:, None], dtype=dtype)
        im = rows[..., im_index, :] * jnp.asarray(im_scale[:, None], dtype=dtype)
        spectrum = jnp.swapaxes(jax.lax.complex(re, im), -1, -2)
    else:
        _, f_re, f_im = spectrum_map
        re = jnp.einsum("...ri,rk->...ik", rows, jnp.asarray(f_re, dtype=dtype))
        im = jnp.einsum("...ri,rk->...ik", rows, jnp.asarray(f_im, dtype=dtype))
        spectrum = jax.lax.complex(re, im)
    return jnp.fft.irfft(spectrum, n=grid.n_alpha, axis=-1)


def from_s2grid(
    values: jax.Array,
    lmax: int,
    grid: S2Grid,
    normalization: str = "component",
    *,
    method: str = "auto",
) -> jax.Array:
    """Project grid samples onto the real spherical harmonics up to ``lmax`` by quadrature.

    ``c_{lm} = sum_grid w f Y_{lm} / integral(Y_{lm}^2)``. The result is exact (it equals the
    integral) when ``f Y_{lm}`` is a polynomial of degree ``<= grid.exact_degree``: in particular
    ``from_s2grid(to_s2grid(c))`` is ``c`` on grids exact for ``2 lmax``, and the product of two
    sampled functions of band limits ``l1``, ``l2`` projects to the exact Gaunt product on
    ``grid_for_product(l1, l2, lmax)``.

    Args:
        values: samples at the grid points, shape ``(..., n_beta, n_alpha)``.
        lmax: the band limit of the projection (static). The grid must be exact for ``2 * lmax``.
        grid: the sampling grid (static).
        normalization: ``"component"``, ``"norm"`` or ``"integral"``, as in :func:`to_s2grid`.
        method: ``"fft"`` (real FFT over ``alpha`` and m-blocked Legendre transform, O(L^3)),
            ``"dft"`` (matrix product over ``alpha``, same Legendre transform, O(L^3)), ``"dense"``
            (one matrix product, O(L^4)) or ``"auto"``, as in :func:`to_s2grid`.

    Returns:
        Coefficients of shape ``(..., (lmax + 1)^2)`` in the dtype of ``values``.

    Examples:
        >>> import numpy as np, jax.numpy as jnp
        >>> grid = S2Grid.exact_for(6)
        >>> c = jnp.arange(16.0)
        >>> bool(np.allclose(from_s2grid(to_s2grid(c, 3, grid), 3, grid), c))
        True
    """
    lmax = _check_arguments(lmax, grid, normalization)
    values = _as_float(values, "values")
    grid._check_values_shape(values, "from_s2grid")
    if grid.n_beta < lmax + 1 or grid.n_alpha < 2 * lmax + 1:
        minimal = S2Grid.exact_for(2 * lmax)
        raise ValueError(
            f"from_s2grid: {grid!r} is exact only up to degree {grid.exact_degree}, too small to "
            f"project onto lmax={lmax}, which needs a grid exact for degree 2 * lmax = {2 * lmax} "
            f"(n_beta >= {minimal.n_beta} and n_alpha >= {minimal.n_alpha}); the minimal one is "
            f"S2Grid.exact_for({2 * lmax}) = {minimal!r}. For the product of two functions of band "
            f"limits l1max, l2max use grid_for_product(l1max, l2max, {lmax})."
        )
    coeffs = _from_s2grid(values, lmax, grid, _resolve_method(method, lmax, grid))
    if (
        normalization != "integral"
    ):  # c = integral(f Y) / integral(Y^2) = integral(f Y^integral) / kappa
        coeffs = coeffs * jnp.asarray(
            1 / _kappa(lmax, normalization)[_degrees(lmax)], dtype=coeffs.dtype
        )
    return coeffs


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _from_s2grid(values: jax.Array, lmax: int, grid: S2Grid, method: str) -> jax.Array:
    dtype = values.dtype
    if method == "dense":
        p = _projection_matrix(lmax, grid.n_beta, grid.n_alpha)
        flat = values.reshape(values.shape[:-2] + (grid.n_beta * grid.n_alpha,))
        return flat @ jnp.asarray(p, dtype=dtype)
    # rows[..., r, i] = sum_k f(beta_i, alpha_k) E[r, k]: cos / sin sums of each order.
    if method == "dft":
        rows = jnp.einsum(
            "...ik,rk->...ri", values, jnp.asarray(_angular(lmax, grid.n_alpha), dtype=dtype)
        )
    else:
        # rfft: X_m = sum_k f e^{-i m alpha_k} = C_m - i S_m (n_alpha > 2 lmax: no aliasing).
        spectrum = jnp.swapaxes(jnp.fft.rfft(values, axis=-1)[..., : lmax + 1], -1, -2)
        m, is_sin = _row_orders(lmax)
        source = np.where(is_sin, lmax + 1 + m, m)
        rows = jnp.concatenate([spectrum.real, -spectrum.imag], axis=-2)[..., source, :].astype(
            dtype
        )
    tables = _projection_tables(lmax, grid.n_beta, grid.n_alpha)
    blocks = []
    for m, t in enumerate(tables):
        block = rows[..., max(2 * m - 1, 0) : 2 * m + 1, :] @ jnp.asarray(t, dtype=dtype)
        blocks.append(block.reshape(block.shape[:-2] + (-1,)))
    return jnp.concatenate(blocks, axis=-1)[..., _from_m_major(lmax)]
