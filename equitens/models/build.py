"""Build a potential from a configuration: ``build_model(config, species, atomic_energies)``.

``config["model"]`` names the model (``name: mace`` or ``name: nequip``) and its
hyper-parameters; every key is checked (an unknown key is an error that lists the valid ones).
The top-level ``config["dtype"]`` (``"float32"`` or ``"float64"``) sets the dtype of the weights.

The keys and their defaults are the hyper-parameter fields of the model classes, read from
:class:`~equitens.models.MACE` and :class:`~equitens.models.NequIP` (:data:`MACE_DEFAULTS`,
:data:`NEQUIP_DEFAULTS`; :func:`model_defaults` for plain configuration values). These classes are
the single source of the defaults: ``build_model``, the Python API and ``equitens train`` (whose
``model`` section is filled from :func:`model_defaults`) cannot disagree. The table of
``docs/guide/models.md`` lists them.

    >>> MACE_DEFAULTS["cutoff"], MACE_DEFAULTS["radial_mlp"], NEQUIP_DEFAULTS["envelope_p"]
    (4.0, (32, 32), 6)

Keys of the other model are ignored (so that one configuration can switch ``model.name``); any other
unknown key is an error. ``scale`` and ``shift`` are a number or one number per species;
:func:`average_num_neighbors` computes ``avg_num_neighbors`` from training graphs.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from equitens.conv import available_conv_methods
from equitens.models.blocks import hidden_irreps
from equitens.models.graph import graph_mask
from equitens.models.mace import MACE
from equitens.models.nequip import NequIP
from equitens.nn.symmetric_contraction import product_basis_spec, resolve_algorithm
from equitens.precision import run_dtype
from equitens.tp.plan import Plan, as_plan
from equitens.tp.registry import available_methods

__all__ = [
    "MACE_DEFAULTS",
    "NEQUIP_DEFAULTS",
    "average_num_neighbors",
    "build_model",
    "model_defaults",
]

# Fields of the model classes that are not hyper-parameters of the configuration.
_NOT_HYPER_PARAMETERS = ("num_species", "atomic_energies", "param_dtype", "parent", "name")


def _hyper_parameters(cls: type[nn.Module]) -> Mapping[str, Any]:
    """The hyper-parameter fields of a model class and their defaults (a read-only mapping)."""
    defaults = {}
    for field in dataclasses.fields(cls):
        if field.name in _NOT_HYPER_PARAMETERS:
            continue
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{field.name} needs a default to be a hyper-parameter")
        defaults[field.name] = field.default
    return MappingProxyType(defaults)


MACE_DEFAULTS: Mapping[str, Any] = _hyper_parameters(MACE)
"""Hyper-parameters of MACE and their defaults (read-only; read from the fields of MACE)."""

NEQUIP_DEFAULTS: Mapping[str, Any] = _hyper_parameters(NequIP)
"""Hyper-parameters of NequIP and their defaults (read-only; read from the fields of NequIP)."""

_MODELS = {"mace": (MACE, MACE_DEFAULTS), "nequip": (NequIP, NEQUIP_DEFAULTS)}
_INTS = (
    "num_channels",
    "lmax",
    "hidden_lmax",
    "correlation",
    "num_interactions",
    "num_radial_basis",
    "envelope_p",
    "readout_mlp",
    "product_mixes",
)


def _dtype(name: Any):
    """The weights' dtype; float64 needs jax's x64 mode on (the rule of equitens.precision)."""
    return jnp.float64 if run_dtype(name) is np.float64 else jnp.float32


def _per_species(name: str, value: Any, num_species: int) -> float | tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    values = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    if len(values) != num_species:
        raise ValueError(
            f"model.{name} must be a number or one number per species ({num_species}), "
            f"got {len(values)} values"
        )
    return values


def _check(name: str, section: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    # keys of the other models are ignored (one configuration file can switch model.name)
    other = {key for _, other_defaults in _MODELS.values() for key in other_defaults}
    unknown = [
        key
        for key in section
        if key not in defaults and key not in other and key not in ("name", "dtype")
    ]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(defaults), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown {name} hyper-parameter model.{key}{hint}; "
            f"valid keys: {', '.join(sorted(defaults))}"
        )
    merged = {**defaults, **{k: v for k, v in section.items() if k in defaults}}
    for key in _INTS:
        if key in merged and (
            not isinstance(merged[key], (int, np.integer)) or isinstance(merged[key], bool)
        ):
            raise ValueError(f"model.{key} must be an integer, got {merged[key]!r}")
    for key in (
        "num_channels",
        "num_interactions",
        "num_radial_basis",
        "envelope_p",
        "readout_mlp",
        "correlation",
        "product_mixes",
    ):
        if key in merged and merged[key] < 1:
            raise ValueError(f"model.{key} must be >= 1, got {merged[key]!r}")
    for key in ("lmax", "hidden_lmax"):
        if key in merged and merged[key] < 0:
            raise ValueError(f"model.{key} must be >= 0, got {merged[key]!r}")
    if "hidden_lmax" in merged and merged["hidden_lmax"] > merged["lmax"]:
        raise ValueError(
            f"model.hidden_lmax ({merged['hidden_lmax']}) must not exceed "
            f"model.lmax ({merged['lmax']})"
        )
    for key in ("cutoff", "avg_num_neighbors"):
        value = merged[key]
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not np.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"model.{key} must be a positive number, got {value!r}")
    if merged["conv_method"] not in available_conv_methods():
        raise ValueError(
            f"model.conv_method {merged['conv_method']!r} is not available; "
            f"choose one of {available_conv_methods()}"
        )
    if "product_method" in merged and merged["product_method"] not in available_methods():
        raise ValueError(
            f"model.product_method {merged['product_method']!r} is not available; "
            f"choose one of {available_methods()}"
        )
    if "product_algorithm" in merged:
        try:  # "auto" resolved per method; an algorithm that would ignore the method is an error
            algorithm = resolve_algorithm(merged["product_method"], merged["product_algorithm"])
            # the product bases of the layers, built now so that a bad combination fails here
            # (e.g. a Gaunt method the grid product basis does not serve)
            c = merged["num_channels"]
            for lmax_out in {merged["hidden_lmax"] if merged["num_interactions"] > 1 else 0, 0}:
                product_basis_spec(
                    hidden_irreps(c, merged["lmax"]),
                    hidden_irreps(c, lmax_out),
                    merged["correlation"],
                    merged["product_method"],
                    algorithm,
                    merged["product_mixes"],
                )
        except ValueError as error:
            raise ValueError(f"model.product_algorithm / model.product_method: {error}") from None
    merged["radial_mlp"] = tuple(int(n) for n in merged["radial_mlp"])
    try:
        merged["plan"] = as_plan(merged["plan"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"model.plan: {error} (e.g. model.plan.chunk=null, or model.plan='chunk=null')"
        ) from None
    return merged


def model_defaults(name: str) -> dict[str, Any]:
    """The hyper-parameters of a model and their defaults, as plain configuration values.

    Args:
        name: ``"mace"`` or ``"nequip"`` (any case).

    Returns:
        A new dict (sequences as lists, as YAML reads them), in the order of the model's fields.

    Raises:
        ValueError: for an unknown model name.

    Examples:
        >>> defaults = model_defaults("mace")
        >>> defaults["cutoff"], defaults["radial_mlp"], defaults["num_interactions"]
        (4.0, [32, 32], 2)
    """
    key = str(name).lower()
    if key not in _MODELS:
        raise ValueError(
            f"unknown model name {name!r}; choose one of {sorted(_MODELS)} (config key model.name)"
        )
    return {k: _plain(v) for k, v in _MODELS[key][1].items()}


def _plain(value: Any) -> Any:
    """A default as a configuration value: lists for sequences, a mapping for a plan."""
    if isinstance(value, Plan):
        return dataclasses.asdict(value)
    return list(value) if isinstance(value, (tuple, list)) else value


def build_model(
    config: Mapping[str, Any], species: Any, atomic_energies: Sequence[float] | np.ndarray
) -> nn.Module:
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
        raise ValueError(
            f"config must be a dict with a 'model' section, got {type(config).__name__}"
        )
    section = config["model"] if "model" in config else config
    if isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, Mapping):
        raise ValueError(
            f"config['model'] must be a dict of hyper-parameters, got {type(section).__name__}"
        )
    name = str(section.get("name", "mace")).lower()
    if name not in _MODELS:
        raise ValueError(
            f"unknown model name {name!r}; choose one of {sorted(_MODELS)} (config key model.name)"
        )
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
