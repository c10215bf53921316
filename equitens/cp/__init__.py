"""CP (canonical polyadic) decompositions of the path-weight-shared Clebsch-Gordan tensor (TDN)."""

from equitens.cp.als import CPFit, cp_als, cp_reconstruct
from equitens.cp.factors import (
    DATA_DIR,
    CPFactors,
    cp_factors,
    fit_cp_factors,
    save_factors,
    shared_cg_tensor,
)

__all__ = [
    "CPFit",
    "CPFactors",
    "DATA_DIR",
    "cp_als",
    "cp_factors",
    "cp_reconstruct",
    "fit_cp_factors",
    "save_factors",
    "shared_cg_tensor",
]
