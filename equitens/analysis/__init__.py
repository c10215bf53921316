"""Measures of what a tensor product can represent: expressivity and interactability, and the
polynomials each family of MACE's product basis reaches."""

from equitens.analysis.expressivity import (
    ExpressivityReport,
    Interaction,
    bilinear_paths,
    expressivity,
    interactability,
)
from equitens.analysis.product_basis import (
    ProductBasisCount,
    ProductBasisReport,
    compare_product_bases,
    product_basis_expressivity,
)

__all__ = [
    "ExpressivityReport",
    "Interaction",
    "ProductBasisCount",
    "ProductBasisReport",
    "bilinear_paths",
    "compare_product_bases",
    "expressivity",
    "interactability",
    "product_basis_expressivity",
]
