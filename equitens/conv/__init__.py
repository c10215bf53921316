"""Edge convolutions of message passing, one interface for every tensor-product family."""

from equitens.conv import cg as _cg  # noqa: F401  (registers the "cg" method)
from equitens.conv import cp as _cp  # noqa: F401  (registers the "cp" method)
from equitens.conv import gaunt_grid as _gaunt_grid  # noqa: F401  (registers "gaunt_grid")
from equitens.conv import so2 as _so2  # noqa: F401  (registers the "so2" method)
from equitens.conv.so2 import so2_layout, so2_weights_from_cg
from equitens.conv.cg import sh_irreps
from equitens.conv.interface import (
    EdgeConvolution,
    available_conv_methods,
    edge_convolution,
    register_conv_method,
)

__all__ = [
    "EdgeConvolution",
    "available_conv_methods",
    "edge_convolution",
    "register_conv_method",
    "sh_irreps",
    "so2_layout",
    "so2_weights_from_cg",
]
