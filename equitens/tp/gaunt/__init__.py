"""Gaunt tensor products: the point-wise product of spherical functions, exact and O(L^3).

Importing this package registers ``method="gaunt_grid"``, ``"gaunt_fourier"`` and
``"vector_gaunt"``. See :mod:`equitens.tp.gaunt.plan` for what they compute for a spec.
"""

from equitens.tp.gaunt.fourier import fourier_product, gaunt_fourier_kernel
from equitens.tp.gaunt.grid import (
    from_grid,
    gaunt_grid_kernel,
    grid_for_power,
    grid_product,
    to_grid,
)
from equitens.tp.gaunt.plan import GauntProduct, gaunt_cg_spec, gaunt_spec, plan_products, sector
from equitens.tp.gaunt.vector import (
    vector_gaunt,
    vector_gaunt_kappa,
    vector_gaunt_kernel,
    vector_product,
)

__all__ = [
    "GauntProduct",
    "fourier_product",
    "from_grid",
    "gaunt_fourier_kernel",
    "gaunt_cg_spec",
    "gaunt_grid_kernel",
    "gaunt_spec",
    "grid_for_power",
    "grid_product",
    "plan_products",
    "sector",
    "to_grid",
    "vector_gaunt",
    "vector_gaunt_kappa",
    "vector_gaunt_kernel",
    "vector_product",
]
