"""equitens: E(3)-equivariant geometric deep learning in JAX.

The SO(3) core (:mod:`equitens.so3`) and the tensor-product interface (:mod:`equitens.tp`) are
the top-level namespace; layers live in :mod:`equitens.nn`.

Example:
    >>> import equitens as et
    >>> et.Irreps("32x0e + 16x1o").dim
    80
    >>> et.TensorProductSpec.full("1o", "1o").irreps_out
    1x0e+1x1e+1x2e
"""

from equitens.so3 import *  # noqa: F403 - the SO(3) core (its __all__) is the top-level namespace
from equitens.so3 import __all__ as _so3_all
from equitens.tp import *  # noqa: F403 - tensor products too (equitens.tp.__all__)
from equitens.tp import __all__ as _tp_all

__version__ = "0.1.0"
__all__ = list(_so3_all) + list(_tp_all)
