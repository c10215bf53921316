"""equitens: E(3)-equivariant geometric deep learning in JAX.

Example:
    >>> import equitens as et
    >>> et.Irreps("32x0e + 16x1o").dim
    80
"""

from equitens.so3 import *  # noqa: F401,F403 - the SO(3) core is the top-level namespace
from equitens.so3 import __all__ as _so3_all

__version__ = "0.1.0"
__all__ = list(_so3_all)
