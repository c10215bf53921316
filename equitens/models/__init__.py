"""Interatomic potentials: MACE and NequIP, built from a configuration, with forces and stress.

- :func:`build_model` turns ``config["model"]`` into a flax linen module whose
  ``apply(params, graph)`` returns per-graph energies;
- :func:`predict` adds forces (``-dE/dR``) and stress (strain derivative);
- :class:`MACE` and :class:`NequIP` are the modules themselves; their field defaults are the
  defaults of every hyper-parameter (:data:`MACE_DEFAULTS`, :func:`model_defaults`).

Example:
    >>> from equitens.models import build_model
    >>> build_model(
    ...     {"model": {"name": "nequip", "num_channels": 8}}, (1, 6, 8), [0.0, 0.0, 0.0]
    ... ).lmax
    2
"""

from equitens.models.build import (
    MACE_DEFAULTS,
    NEQUIP_DEFAULTS,
    average_num_neighbors,
    build_model,
    model_defaults,
)
from equitens.models.mace import MACE
from equitens.models.nequip import NequIP
from equitens.models.predict import predict

__all__ = [
    "MACE",
    "MACE_DEFAULTS",
    "NEQUIP_DEFAULTS",
    "NequIP",
    "average_num_neighbors",
    "build_model",
    "model_defaults",
    "predict",
]
