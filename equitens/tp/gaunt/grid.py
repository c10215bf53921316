"""The Gaunt tensor product on a spherical grid (``method="gaunt_grid"``).

The Gaunt product of coefficient vectors is the point-wise product of the two spherical functions
projected back onto the harmonics::

    (x (x)_G y)_{l3 m3} = integral f_x f_y Y_{l3 m3} dOmega
                        = sum G[l1 m1, l2 m2, l3 m3] x_{l1 m1} y_{l2 m2}

with orthonormal harmonics and ``G = equitens.gaunt``. Both functions are sampled on the minimal
Gauss-Legendre x uniform grid that integrates ``f_x f_y Y_{l3}`` exactly
(:func:`~equitens.so3.s2grid.grid_for_product`: degree ``lmax1 + lmax2 + lmax_out``), multiplied
point by point and projected back by quadrature: exact up to rounding, and O(L^3) per product
with the m-blocked Legendre transform and a real FFT (or DFT) over the longitude
(:func:`~equitens.so3.s2grid.to_s2grid`, ``method="auto"`` picks the fastest measured).

Repeated products (MACE's powers ``A^nu``) stay on one grid: :func:`to_grid` once, multiply the
samples ``nu - 1`` times, :func:`from_grid` once, on :func:`grid_for_power`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from equitens.so3.irreps import Irreps
from equitens.so3.s2grid import S2Grid, from_s2grid, grid_for_product, to_s2grid
from equitens.tp.gaunt.plan import GauntProduct, make_kernel, sector
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import register_method
from equitens.tp.spec import TensorProductSpec

__all__ = ["gaunt_grid_kernel", "grid_product", "to_grid", "from_grid", "grid_for_power"]


def grid_product(
    a: jax.Array, b: jax.Array, product: GauntProduct, pairs: bool, transform: str = "auto"
) -> jax.Array:
    """The Gaunt product of coefficient arrays on the minimal exact grid.

    Args:
        a: ``(E, U, (lmax1 + 1)^2)`` coefficients (orthonormal harmonics) of ``U`` functions.
        b: ``(E, V, (lmax2 + 1)^2)`` coefficients of ``V`` functions.
        product: the degrees (``lmax1``, ``lmax2``, ``lmax_out``).
        pairs: all channel pairs (``(E, U * V, ...)`` out) or matching channels (``U == V``).
        transform: the grid transform, ``"auto"`` (dense matrices for small L, m-blocked
            Legendre + DFT above; measured in docs/guide/s2grid.md), ``"fft"``, ``"dft"`` or
            ``"dense"`` (:attr:`equitens.tp.plan.Plan.s2_transform`).

    Returns:
        ``(E, U * V | U, (lmax_out + 1)^2)``: the coefficients of the products.

    Examples:
        >>> import jax.numpy as jnp
        >>> p = GauntProduct((0,), (0,), (0,), 1, 1, 2)
        >>> c = grid_product(jnp.ones((1, 1, 4)), jnp.ones((1, 1, 4)), p, pairs=True)
        >>> c.shape
        (1, 1, 9)
    """
    grid = grid_for_product(product.lmax1, product.lmax2, product.lmax_out)
    fa = to_s2grid(a, product.lmax1, grid, "integral", method=transform)
    fb = to_s2grid(b, product.lmax2, grid, "integral", method=transform)
    if pairs:
        e, u, v = fa.shape[0], fa.shape[1], fb.shape[1]
        values = (fa[:, :, None] * fb[:, None, :]).reshape(e, u * v, grid.n_beta, grid.n_alpha)
    else:
        values = fa * fb
    return from_s2grid(values, product.lmax_out, grid, "integral", method=transform)


def _grid_product_even(a, b, product: GauntProduct, pairs: bool, plan: Plan):
    if product.odd:  # plan_products only makes odd products when odd paths are allowed
        raise ValueError("gaunt_grid evaluates even paths only; use method='vector_gaunt'")
    return grid_product(a, b, product, pairs, plan.s2_transform)


def gaunt_grid_kernel(spec: TensorProductSpec, plan: Plan = DEFAULT_PLAN):
    """The spherical-grid Gaunt kernel of a spec (registered as ``method="gaunt_grid"``).

    Every path of the spec is evaluated with the Gaunt tensor ``equitens.gaunt(l1, l2, l3)``
    (``kappa`` times the unit Clebsch-Gordan tensor), not with the spec's path coefficients; see
    :mod:`equitens.tp.gaunt.plan`. Serves unweighted ``"uvuv"`` and ``"uuu"`` specs whose paths
    are all even (``l1 + l2 + l3`` even), in any parity sectors.

    Args:
        spec: the tensor product.
        plan: how it runs (:class:`~equitens.tp.plan.Plan`).

    Returns:
        ``kernel(x1, x2, weights=None) -> out`` (mul_ir layouts, leading dimensions broadcast).

    Raises:
        ValueError: for weighted specs, ``"uvu"``/``"uvw"`` modes or odd paths, naming a method that
            can evaluate them.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from equitens.so3 import gaunt
        >>> from equitens.tp.gaunt.plan import gaunt_spec
        >>> kernel = gaunt_grid_kernel(gaunt_spec("1o", "1o"))
        >>> x, y = jnp.array([1.0, 2.0, 3.0]), jnp.array([0.5, -1.0, 2.0])
        >>> out = kernel(x, y)  # 0e + 2e
        >>> bool(np.allclose(out[:1], np.einsum("i,j,ijk->k", x, y, gaunt(1, 1, 0))))
        True
    """
    return make_kernel(spec, "gaunt_grid", _grid_product_even, plan)


register_method("gaunt_grid", gaunt_grid_kernel)


# ---------------------------------------------------------------- staying on one grid


def _function_irreps(irreps, caller: str) -> tuple[Irreps, int, int]:
    irreps = Irreps(irreps)
    if len(irreps) == 0:
        raise ValueError(f"{caller}: irreps is empty")
    muls = {mul for mul, _ in irreps}
    ls = [ir.l for _, ir in irreps]
    if len(muls) != 1 or len(set(ls)) != len(ls):
        raise ValueError(
            f"{caller}: irreps {irreps} must have one multiplicity (the number of functions) and "
            "distinct degrees, e.g. '8x0e + 8x1o + 8x2e'; regroup or split it first"
        )
    return irreps, muls.pop(), max(ls)


def _coefficients(x: jax.Array, irreps: Irreps, mul: int, lmax: int) -> jax.Array:
    """mul_ir ``(..., irreps.dim)`` -> ``(..., mul, (lmax + 1)^2)``, zeros at missing degrees."""
    starts, blocks = 0, {}
    for m, ir in irreps:
        blocks[ir.l] = x[..., starts : starts + m * ir.dim].reshape(x.shape[:-1] + (m, ir.dim))
        starts += m * ir.dim

    def zeros(l):
        return jnp.zeros(x.shape[:-1] + (mul, 2 * l + 1), x.dtype)

    return jnp.concatenate([blocks.get(l, zeros(l)) for l in range(lmax + 1)], axis=-1)


def to_grid(x: jax.Array, irreps, grid: S2Grid, *, normalization: str = "integral") -> jax.Array:
    """Sample a set of spherical functions (features in mul_ir layout) on a grid.

    Together with :func:`from_grid` this keeps features on one grid across repeated products:
    ``from_grid(to_grid(x) * to_grid(y))`` is the Gaunt product, and
    ``from_grid(to_grid(a) ** nu)`` the power ``a^nu`` (MACE's product basis), exact on a grid
    from :func:`grid_for_power`.

    Args:
        x: ``(..., irreps.dim)`` features, e3nn's mul_ir layout.
        irreps: one multiplicity ``U`` (the number of functions), distinct degrees, and one parity
            sector (all natural ``0e + 1o + 2e ...`` or all ``0o + 1e + 2o ...``).
        grid: the grid (for products use :func:`grid_for_power` or ``grid_for_product``).
        normalization: the harmonics the coefficients refer to: ``"integral"`` (orthonormal; then
            grid products project to the contraction with ``equitens.gaunt``), ``"component"`` or
            ``"norm"``.

    Returns:
        ``(..., U, n_beta, n_alpha)`` samples.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from equitens.so3 import gaunt
        >>> grid = grid_for_power(1, 2, 2)
        >>> a = jnp.array([[0.3, 1.0, -2.0, 0.5]])  # one function, irreps 0e + 1o
        >>> values = to_grid(a, "0e + 1o", grid)
        >>> a2 = from_grid(values**2, "0e + 1o + 2e", grid)  # a (x)_G a
        >>> expected = np.einsum("i,j,ijk->k", a[0, 1:], a[0, 1:], gaunt(1, 1, 2))
        >>> bool(np.allclose(a2[0, 4:], expected))
        True
    """
    irreps, mul, lmax = _function_irreps(irreps, "to_grid")
    sectors = {sector(ir) for _, ir in irreps}
    if len(sectors) != 1:
        raise ValueError(
            f"to_grid: irreps {irreps} mixes parity sectors (natural 0e, 1o, 2e, ... and "
            "pseudo 0o, 1e, 2o, ...); sample each sector as its own function"
        )
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] != irreps.dim:
        raise ValueError(f"to_grid: x must have shape (..., {irreps.dim}), got {tuple(x.shape)}")
    return to_s2grid(_coefficients(x, irreps, mul, lmax), lmax, grid, normalization)


def from_grid(
    values: jax.Array, irreps_out, grid: S2Grid, *, normalization: str = "integral"
) -> jax.Array:
    """Project samples of spherical functions onto the harmonics of ``irreps_out`` (mul_ir layout).

    Args:
        values: ``(..., U, n_beta, n_alpha)`` samples of ``U`` functions.
        irreps_out: one multiplicity ``U`` and distinct degrees; the parities label the result
            (the product of sectors of the factors, e.g. natural for natural inputs).
        grid: the grid the values live on; it must be exact for ``2 * lmax_out`` (and for the
            degree of the sampled product, for an exact projection).
        normalization: as in :func:`to_grid`.

    Returns:
        ``(..., irreps_out.dim)`` coefficients.

    Examples:
        >>> import jax.numpy as jnp
        >>> grid = grid_for_power(2, 1, 2)
        >>> x = jnp.arange(9.0)
        >>> bool(jnp.allclose(from_grid(to_grid(x, "0e + 1o + 2e", grid), "0e + 1o + 2e", grid), x))
        True
    """
    irreps, mul, lmax = _function_irreps(irreps_out, "from_grid")
    values = jnp.asarray(values)
    if values.ndim < 3 or values.shape[-3] != mul:
        raise ValueError(
            f"from_grid: values must have shape (..., {mul}, n_beta, n_alpha) for irreps_out "
            f"{irreps}, got {tuple(values.shape)}"
        )
    c = from_s2grid(values, lmax, grid, normalization)
    parts = [
        c[..., ir.l**2 : (ir.l + 1) ** 2].reshape(c.shape[:-2] + (mul * ir.dim,))
        for _, ir in irreps
    ]
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def grid_for_power(lmax: int, power: int, lmax_out: int) -> S2Grid:
    """The minimal grid on which ``a^power`` of a band-limit-``lmax`` function projects exactly.

    Args:
        lmax: band limit of the function.
        power: the exponent (``>= 1``; MACE's correlation order ``nu``).
        lmax_out: the largest degree projected onto.

    Returns:
        ``S2Grid.exact_for(max(power * lmax + lmax_out, 2 * lmax_out))``.

    Examples:
        >>> grid_for_power(3, 3, 3)
        S2Grid(n_beta=7, n_alpha=13)
    """
    for name, value, low in (("lmax", lmax, 0), ("power", power, 1), ("lmax_out", lmax_out, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"grid_for_power: {name} must be an int >= {low}, got {value!r}")
    return S2Grid.exact_for(max(power * lmax + lmax_out, 2 * lmax_out))
