"""The SO(3) core: irreps, real spherical harmonics, Clebsch-Gordan, Gaunt, Wigner-D, S2 grids.

Pure math: numpy float64 constants built once and cached, evaluated with jax.numpy.
Everything here is re-exported at the top level of ``equitens``.
"""

from equitens.so3.clebsch_gordan import (
    CGEntries,
    clebsch_gordan,
    clebsch_gordan_nonzero,
    su2_clebsch_gordan,
)
from equitens.so3.edge_frame import SINGULAR_DIRECTION, edge_frame, edge_frame_wigner
from equitens.so3.gaunt import gaunt, gaunt_kappa, vector_gaunt, vector_gaunt_kappa
from equitens.so3.generators import angular_momentum, real_to_complex, so3_generators
from equitens.so3.irreps import Irrep, Irreps, IrrepsSort, MulIrrep, tensor_product_irreps
from equitens.so3.layout import from_e3nn, ir_mul_to_mul_ir, mul_ir_to_ir_mul, to_e3nn
from equitens.so3.legendre import normalized_legendre
from equitens.so3.rotations import (
    angles_to_matrix,
    angles_to_quaternion,
    angles_to_xyz,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    compose_quaternion,
    matrix_to_angles,
    matrix_to_quaternion,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_matrix,
    random_o3,
    random_rotation,
    xyz_to_angles,
)
from equitens.so3.s2grid import S2Grid, from_s2grid, grid_for_product, s2grid_matrix, to_s2grid
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.so3.wigner import (
    D_from_matrix,
    J_matrix,
    wigner_D,
    wigner_D_from_angles,
    wigner_D_from_quaternion,
    wigner_D_polar,
    wigner_D_up_to,
)

__all__ = [
    "CGEntries",
    "clebsch_gordan",
    "clebsch_gordan_nonzero",
    "su2_clebsch_gordan",
    "SINGULAR_DIRECTION",
    "edge_frame",
    "edge_frame_wigner",
    "gaunt",
    "gaunt_kappa",
    "vector_gaunt",
    "vector_gaunt_kappa",
    "angular_momentum",
    "real_to_complex",
    "so3_generators",
    "Irrep",
    "Irreps",
    "IrrepsSort",
    "MulIrrep",
    "tensor_product_irreps",
    "from_e3nn",
    "ir_mul_to_mul_ir",
    "mul_ir_to_ir_mul",
    "to_e3nn",
    "angles_to_matrix",
    "angles_to_quaternion",
    "angles_to_xyz",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "compose_quaternion",
    "matrix_to_angles",
    "matrix_to_quaternion",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "quaternion_to_matrix",
    "random_o3",
    "random_rotation",
    "xyz_to_angles",
    "S2Grid",
    "from_s2grid",
    "grid_for_product",
    "s2grid_matrix",
    "to_s2grid",
    "normalized_legendre",
    "spherical_harmonics",
    "D_from_matrix",
    "J_matrix",
    "wigner_D",
    "wigner_D_from_angles",
    "wigner_D_from_quaternion",
    "wigner_D_polar",
    "wigner_D_up_to",
]
