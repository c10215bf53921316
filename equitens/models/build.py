"""Build a potential from a configuration: ``build_model(config, species, atomic_energies)``.

``config["model"]`` names the model (``name: mace`` or ``name: nequip``) and its
hyper-parameters; every key is checked (an unknown key is an error that lists the valid ones).
The top-level ``config["dtype"]`` (``"float32"`` or ``"float64"``) sets the dtype of the weights.

MACE keys and defaults (:data:`MACE_DEFAULTS`): ``cutoff`` 5.0, ``num_channels`` 16,
``lmax`` 2, ``hidden_lmax`` 1, ``correlation`` 3, ``num_interactions`` 2,
``num_radial_basis`` 8, ``envelope_p`` 5, ``radial_mlp`` [64, 64, 64], ``readout_mlp`` 16,
``avg_num_neighbors`` 1.0, ``conv_method`` "cg", ``product_method`` "cg",
``product_algorithm`` "blocked" (or "dense", "kernel": see :mod:`equitens.nn.symmetric_contraction`),
``scale`` 1.0,
``shift`` 0.0. NequIP keys (:data:`NEQUIP_DEFAULTS`): ``cutoff``, ``num_channels``, ``lmax``,
``parity`` true, ``num_interactions`` 3, ``num_radial_basis``, ``envelope_p`` 6,
``radial_mlp`` [64, 64], ``avg_num_neighbors``, ``conv_method``, ``scale``, ``shift``.

Keys of the other model are ignored (so that one configuration can switch ``model.name``); any
other unknown key is an error. ``scale`` and ``shift`` are a number or one number per species; :func:`average_num_neighbors`
computes ``avg_num_neighbors`` from training graphs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from equitens.conv import available_conv_methods
from equitens.models.mace import MACE
from equitens.models.nequip import NequIP
from equitens.models.graph import graph_mask
from equitens.tp.registry import available_methods

__all__ = ["MACE_DEFAULTS", "NEQUIP_DEFAULTS", "average_num_neighbors", "build_model"]

MACE_DEFAULTS: dict[str, Any] = {
    "cutoff": 5.0,
    "num_channels": 16,
    "lmax": 2,
    "hidden_lmax": 1,
    "correlation": 3,
    "num_interactions": 2,
    "num_radial_basis": 8,
    "envelope_p": 5,
    "radial_mlp": [64, 64, 64],
    "readout_mlp": 16,
    "avg_num_neighbors": 1.0,
    "conv_method": "cg",
    "product_method": "cg",
    "product_algorithm": "blocked",
    "scale": 1.0,
    "shift": 0.0,
}
"""Hyper-parameters of MACE and their defaults."""

NEQUIP_DEFAULTS: dict[str, Any] = {
    "cutoff": 5.0,
    "num_channels": 16,
    "lmax": 2,
    "parity": True,
    "num_interactions": 3,
    "num_radial_basis": 8,
    "envelope_p": 6,
    "radial_mlp": [64, 64],
    "avg_num_neighbors": 1.0,
    "conv_method": "cg",
    "scale": 1.0,
    "shift": 0.0,
}
"""Hyper-parameters of NequIP and their defaults."""

_MODELS = {"mace": (MACE, MACE_DEFAULTS), "nequip": (NequIP, NEQUIP_DEFAULTS)}
_INTS = ("num_channels", "lmax", "hidden_lmax", "correlation", "num_interactions", "num_radial_basis",
         "envelope_p", "readout_mlp")


def _dtype(name: Any):
    table = {"float32": jnp.float32, "float64": jnp.float64}
    key = name if isinstance(name, str) else np.dtype(name).name
    if key not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {name!r}")
    if key == "float64":
        import jax

        if not jax.config.jax_enable_x64:
            raise ValueError(
                "dtype float64 needs jax's x64 mode: call jax.config.update('jax_enable_x64', True) "
                "before building the model"
            )
    return table[key]


def _per_species(name: str, value: Any, num_species: int) -> float | tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    values = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    if len(values) != num_species:
        raise ValueError(
            f"model.{name} must be a number or one number per species ({num_species}), got {len(values)} values"
        )
    return values


def _check(name: str, section: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    # keys of the other models are ignored (one configuration file can switch model.name)
    other = {key for _, other_defaults in _MODELS.values() for key in other_defaults}
    unknown = [key for key in section if key not in defaults and key not in other and key not in ("name", "dtype")]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(defaults), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown {name} hyper-parameter model.{key}{hint}; valid keys: {', '.join(sorted(defaults))}"
        )
    merged = {**defaults, **{k: v for k, v in section.items() if k in defaults}}
    for key in _INTS:
        if key in merged and (not isinstance(merged[key], (int, np.integer)) or isinstance(merged[key], bool)):
            raise ValueError(f"model.{key} must be an integer, got {merged[key]!r}")
    for key in ("num_channels", "num_interactions", "num_radial_basis", "envelope_p", "readout_mlp", "correlation"):
        if key in merged and merged[key] < 1:
            raise ValueError(f"model.{key} must be >= 1, got {merged[key]!r}")
    for key in ("lmax", "hidden_lmax"):
        if key in merged and merged[key] < 0:
            raise ValueError(f"model.{key} must be >= 0, got {merged[key]!r}")
    if "hidden_lmax" in merged and merged["hidden_lmax"] > merged["lmax"]:
        raise ValueError(f"model.hidden_lmax ({merged['hidden_lmax']}) must not exceed model.lmax ({merged['lmax']})")
    for key in ("cutoff", "avg_num_neighbors"):
        value = merged[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"model.{key} must be a positive number, got {value!r}")
    if merged["conv_method"] not in available_conv_methods():
        raise ValueError(
            f"model.conv_method {merged['conv_method']!r} is not available; choose one of {available_conv_methods()}"
        )
    if "product_method" in merged and merged["product_method"] not in available_methods():
        raise ValueError(
            f"model.product_method {merged['product_method']!r} is not available; choose one of {available_methods()}"
        )
    if merged.get("product_algorithm", "blocked") not in ("dense", "blocked", "kernel"):
        raise ValueError(f"model.product_algorithm must be 'dense', 'blocked' or 'kernel', got {merged['product_algorithm']!r}")
    merged["radial_mlp"] = tuple(int(n) for n in merged["radial_mlp"])
    return merged


def build_model(config: Mapping[str, Any], species: Any, atomic_energies: Sequence[float] | np.ndarray) -> nn.Module:
    """The flax linen potential a configuration describes.

    Args:
        config: the training configuration (a dict with a ``"model"`` section, and optionally
            ``"dtype"``); a bare model section (with ``"name"``) is accepted too.
        species: the species table (``equitens.data.SpeciesTable``) or a sequence of atomic
            numbers; only its length is used.
        atomic_energies: ``E0`` per species, shape ``(len(species),)``.

    Returns:
        A module whose ``apply(params, graph)`` returns the ``(G,)`` energies of a batch.

    Raises:
        ValueError: for an unknown model name or key, or a bad value.

    Examples:
        >>> config = {"model": {"name": "mace", "num_channels": 8, "correlation": 2}}
        >>> model = build_model(config, (1, 8), [-13.6, -2041.0])
        >>> type(model).__name__, model.num_channels, model.num_species
        ('MACE', 8, 2)
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a dict with a 'model' section, got {type(config).__name__}")
    section = config["model"] if "model" in config else config
    if isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, Mapping):
        raise ValueError(f"config['model'] must be a dict of hyper-parameters, got {type(section).__name__}")
    name = str(section.get("name", "mace")).lower()
    if name not in _MODELS:
        raise ValueError(f"unknown model name {name!r}; choose one of {sorted(_MODELS)} (config key model.name)")
    cls, defaults = _MODELS[name]
    hyper = _check(name, section, defaults)
    num_species = len(species)
    if num_species < 1:
        raise ValueError("the species table is empty: give at least one element")
    energies = np.asarray(atomic_energies, dtype=np.float64).reshape(-1)
    if energies.shape != (num_species,) or not np.all(np.isfinite(energies)):
        raise ValueError(
            f"atomic_energies must be {num_species} finite numbers (one per species), got shape "
            f"{np.shape(atomic_energies)}"
        )
    hyper["scale"] = _per_species("scale", hyper["scale"], num_species)
    hyper["shift"] = _per_species("shift", hyper["shift"], num_species)
    dtype = _dtype(section.get("dtype", config.get("dtype", "float32")))
    return cls(
        num_species=num_species,
        atomic_energies=tuple(float(e) for e in energies),
        param_dtype=dtype,
        **{k: (float(v) if k in ("cutoff", "avg_num_neighbors") else v) for k, v in hyper.items()},
    )


def average_num_neighbors(graphs: Iterable) -> float:
    """Mean number of edges per real node over graphs (for ``model.avg_num_neighbors``).

    Args:
        graphs: ``jraph.GraphsTuple`` s (padded or not; padding graphs, weight 0, are skipped).

    Returns:
        ``edges / nodes`` over the real graphs (1.0 if there are none).

    Examples:
        >>> import numpy as np, jraph
        >>> g = jraph.GraphsTuple(nodes={}, edges={}, globals={}, senders=None, receivers=None,
        ...     n_node=np.array([3]), n_edge=np.array([6]))
        >>> average_num_neighbors([g])
        2.0
    """
    nodes = edges = 0
    for graph in graphs:
        real = np.asarray(graph_mask(graph)) > 0
        nodes += int(np.asarray(graph.n_node)[real].sum())
        edges += int(np.asarray(graph.n_edge)[real].sum())
    return edges / nodes if nodes else 1.0
