"""The SO(3) core: irreps, real spherical harmonics, Clebsch-Gordan, Gaunt, Wigner-D, S2 grids.

Pure math: numpy float64 constants built once and cached, evaluated with jax.numpy.
The package re-exports the public names of each module (its ``__all__``), and everything here is
re-exported at the top level of ``equitens``.
"""

from equitens.so3.clebsch_gordan import *  # noqa: F403 - each module's __all__ is re-exported
from equitens.so3.clebsch_gordan import __all__ as _clebsch_gordan
from equitens.so3.edge_frame import *  # noqa: F403
from equitens.so3.edge_frame import __all__ as _edge_frame
from equitens.so3.gaunt import *  # noqa: F403
from equitens.so3.gaunt import __all__ as _gaunt
from equitens.so3.generators import *  # noqa: F403
from equitens.so3.generators import __all__ as _generators
from equitens.so3.irreps import *  # noqa: F403
from equitens.so3.irreps import __all__ as _irreps
from equitens.so3.layout import *  # noqa: F403
from equitens.so3.layout import __all__ as _layout
from equitens.so3.legendre import *  # noqa: F403
from equitens.so3.legendre import __all__ as _legendre
from equitens.so3.rotations import *  # noqa: F403
from equitens.so3.rotations import __all__ as _rotations
from equitens.so3.s2grid import *  # noqa: F403
from equitens.so3.s2grid import __all__ as _s2grid
from equitens.so3.spherical_harmonics import *  # noqa: F403
from equitens.so3.spherical_harmonics import __all__ as _spherical_harmonics
from equitens.so3.wigner import *  # noqa: F403
from equitens.so3.wigner import __all__ as _wigner

__all__ = [
    *_clebsch_gordan,
    *_edge_frame,
    *_gaunt,
    *_generators,
    *_irreps,
    *_layout,
    *_legendre,
    *_rotations,
    *_s2grid,
    *_spherical_harmonics,
    *_wigner,
]
