"""Edge convolutions of message passing, one interface for every tensor-product family."""

from equitens.conv import cg as _cg  # noqa: F401  (registers the "cg" method)
from equitens.conv import cp as _cp  # noqa: F401  (registers the "cp" method)
from equitens.conv import gaunt_grid as _gaunt_grid  # noqa: F401  (registers "gaunt_grid")
from equitens.conv import so2 as _so2  # noqa: F401  (registers the "so2" method)
from equitens.conv.interface import *  # noqa: F403 - the interface (its __all__)
from equitens.conv.interface import __all__ as _interface_all
from equitens.conv.so2 import so2_layout, so2_weights_from_cg

__all__ = [*_interface_all, "so2_layout", "so2_weights_from_cg"]
