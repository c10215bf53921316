"""Fine-tuning: start a training run from the parameters of a trained model.

With ``training.init_from`` set to a run folder or a checkpoint file, :func:`equitens.train.train`
builds the checkpoint's model (its hyper-parameters, species table and normalisation:
``avg_num_neighbors``, ``scale``, ``shift``), starts from its evaluated parameters (the EMA ones
when it kept an EMA) and trains them on the run's data with a fresh optimiser, schedule and EMA.
The atomic energies E0 are the checkpoint's (``training.init_atomic_energies: checkpoint``, for
data of the same level of theory), or those of the new training data
(``data``: isolated-atom frames, else a least-squares fit, as a new run computes them) for the
elements it has and the checkpoint's for the others.

The new data may hold fewer elements than the checkpoint knows, never more: a model has no
embedding for an element it was not built with. Model keys set in the run's configuration must
agree with the checkpoint's, but for the kernel ``plan``, which changes how the model is
computed, not what.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from equitens.train.datasets import Datasets

__all__ = [
    "describe_start",
    "energy_offset",
    "energy_offset_warning",
    "finetune_model_section",
    "finetune_start",
    "onto_checkpoint_species",
]

# model keys a fine-tuning run may set to other values than the checkpoint's
_FREE_MODEL_KEYS = ("plan",)


def finetune_model_section(
    model: Mapping[str, Any], defaults: Mapping[str, Any], saved: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``model`` section of a fine-tuning run: the checkpoint's, with the run's free keys.

    Args:
        model: the run's ``model`` section (defaults filled in).
        defaults: the default ``model`` section of the run's configuration (what ``model`` holds
            when nothing was set); a key of ``model`` equal to its default counts as not set.
        saved: the ``model`` section of the checkpoint's configuration.

    Returns:
        ``saved``, with the run's value of each free key (``plan``) that was set.

    Raises:
        ValueError: when a key set in ``model`` differs from the checkpoint's (it would change
            the parameters or the function they compute); the message lists them.

    Examples:
        >>> saved = {"name": "mace", "lmax": 2, "plan": "auto"}
        >>> defaults = {"name": "mace", "lmax": 3, "plan": "auto"}
        >>> finetune_model_section({**defaults, "plan": "blocked"}, defaults, saved)
        {'name': 'mace', 'lmax': 2, 'plan': 'blocked'}
        >>> finetune_model_section({**defaults, "lmax": 1}, defaults, saved)
        Traceback (most recent call last):
        ...
        ValueError: training.init_from: model.lmax=1 differs from the checkpoint's
        model.lmax=2; a fine-tuned model keeps the checkpoint's hyper-parameters (leave
        model.lmax unset)
    """
    section = dict(saved)
    conflicts = []
    for key, value in model.items():
        if key not in defaults or value == defaults[key] or value == saved.get(key, value):
            continue
        if key in _FREE_MODEL_KEYS:
            section[key] = value
        else:
            conflicts.append(key)
    if conflicts:
        differ = ", ".join(
            f"model.{key}={model[key]!r} differs from the checkpoint's model.{key}="
            f"{saved.get(key)!r}"
            for key in conflicts
        )
        unset = ", ".join(f"model.{key}" for key in conflicts)
        raise ValueError(
            f"training.init_from: {differ}; a fine-tuned model keeps the checkpoint's "
            f"hyper-parameters (leave {unset} unset)"
        )
    return section


def onto_checkpoint_species(
    datasets: Datasets,
    species: Any,
    checkpoint_energies: np.ndarray,
    atomic_energies: str = "checkpoint",
) -> Datasets:
    """Re-index the run's graphs by the checkpoint's species table and choose the E0s.

    Args:
        datasets: the run's data, indexed by its own species table (the elements it has).
        species: the checkpoint's species table (anything with an ``atomic_numbers`` tuple).
        checkpoint_energies: the checkpoint's E0 per species, in its table's order.
        atomic_energies: ``"checkpoint"`` (its E0s) or ``"data"`` (the data's E0s for the
            elements it has, the checkpoint's for the others).

    Returns:
        The same graphs with node ``species`` indices into the checkpoint's table, that table,
        and the chosen E0s.

    Raises:
        ValueError: when a frame has an element the checkpoint does not know (elements that
            only the isolated-atom frames have are left out).

    Examples:
        >>> import jraph
        >>> from equitens.data import SpeciesTable
        >>> g = jraph.GraphsTuple(nodes={"species": np.array([0, 1, 1], np.int32)}, edges=None,
        ...                       senders=None, receivers=None, n_node=np.array([3]),
        ...                       n_edge=np.array([0]), globals=None)
        >>> data = Datasets([g], [], [], SpeciesTable((1, 8)), np.array([-13.6, -2041.0]))
        >>> out = onto_checkpoint_species(data, SpeciesTable((1, 6, 8)), np.array([-1., -6., -8.]))
        >>> out.train[0].nodes["species"].tolist(), out.atomic_energies.tolist()
        ([0, 2, 2], [-1.0, -6.0, -8.0])
        >>> onto_checkpoint_species(data, SpeciesTable((1, 6, 8)), np.array([-1., -6., -8.]),
        ...                         "data").atomic_energies.tolist()
        [-13.6, -6.0, -2041.0]
    """
    known = tuple(int(z) for z in species.atomic_numbers)
    have = tuple(int(z) for z in datasets.species.atomic_numbers)
    graphs = [*datasets.train, *datasets.valid, *datasets.test]
    used = {int(i) for g in graphs for i in np.unique(np.asarray(g.nodes["species"]))}
    # an element only the isolated-atom frames have (a shared E0 file) is left out
    unknown = [z for i, z in enumerate(have) if z not in known and i in used]
    if unknown:
        from equitens.data.species import element_names

        raise ValueError(
            f"training.init_from: the data has {element_names(unknown)}, which the checkpoint's "
            f"model does not know (it was trained on {element_names(known)}): a model cannot "
            "be fine-tuned onto new elements; train a new model, or leave those frames out"
        )
    if atomic_energies not in ("checkpoint", "data"):
        raise ValueError(
            f"training.init_atomic_energies must be 'checkpoint' or 'data', got {atomic_energies!r}"
        )
    kept = [i for i, z in enumerate(have) if z in known]
    lookup = np.zeros(len(have), np.int32)
    lookup[kept] = [known.index(have[i]) for i in kept]
    energies = np.asarray(checkpoint_energies, np.float64).copy()
    if atomic_energies == "data":
        energies[lookup[kept]] = np.asarray(datasets.atomic_energies, np.float64)[kept]

    def reindex(graphs):
        return [
            g._replace(nodes={**g.nodes, "species": lookup[np.asarray(g.nodes["species"])]})
            for g in graphs
        ]

    return dataclasses.replace(
        datasets,
        train=reindex(datasets.train),
        valid=reindex(datasets.valid),
        test=reindex(datasets.test),
        species=species,
        atomic_energies=energies,
    )


def energy_offset(datasets: Datasets, shift: Any) -> float:
    """Mean energy per atom of the training frames that the model's constants leave out.

    ``mean_frames((E - sum_i (E0[z_i] + shift[z_i])) / n_atoms)`` with the E0s of ``datasets``:
    near zero when the data and the checkpoint share a level of theory; hundreds of eV per atom
    between, say, a semi-empirical method and DFT, whose total energies have other zeros (the
    case for ``training.init_atomic_energies=data``).

    Args:
        datasets: the run's data (after :func:`onto_checkpoint_species`).
        shift: the model's ``shift``, a number or one per species.

    Returns:
        The offset in eV/atom (0 without energy labels).

    Examples:
        >>> import jraph
        >>> g = jraph.GraphsTuple(nodes={"species": np.array([0, 1])}, edges=None,
        ...     senders=None, receivers=None, n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([-10.0]), "energy_weight": np.ones(1)})
        >>> energy_offset(Datasets([g], [], [], None, np.array([-1.0, -3.0])), 0.5)
        -3.5
    """
    e0 = np.asarray(datasets.atomic_energies, np.float64)
    per_species = e0 + np.broadcast_to(np.asarray(shift, np.float64), e0.shape)
    offsets = [
        (float(g.globals["energy"][0]) - float(np.sum(per_species[np.asarray(g.nodes["species"])])))
        / max(int(g.n_node[0]), 1)
        for g in datasets.train
        if float(np.max(g.globals["energy_weight"])) > 0
    ]
    return float(np.mean(offsets)) if offsets else 0.0


def finetune_start(config: dict) -> dict | None:
    """The checkpoint of ``training.init_from``, with ``config`` made its model's; else ``None``.

    ``config`` (a full configuration) is updated in place: its ``model`` section becomes the
    checkpoint's (:func:`finetune_model_section`), completed and validated by ``load_config``.

    Raises:
        ValueError: for a missing checkpoint, one that is not a training run's, or a model key
            that conflicts with the checkpoint's.
    """
    from equitens.train.checkpoint import load_checkpoint
    from equitens.train.config import default_config, load_config

    source = config["training"]["init_from"]
    if source is None:
        return None
    checkpoint = load_checkpoint(source)
    for key in ("config", "params", "species", "atomic_energies"):
        if key not in checkpoint:
            raise ValueError(
                f"training.init_from={source!r}: {checkpoint['path']!r} is not a checkpoint of a "
                f"training run (it has no {key!r}); name a run folder or its best.ckpt"
            )
    defaults = {
        **load_config(base={"model": {"name": config["model"]["name"]}})["model"],
        "name": default_config()["model"]["name"],
    }
    section = finetune_model_section(config["model"], defaults, checkpoint["config"]["model"])
    config.update(load_config(base={**config, "model": section}))
    return checkpoint


def describe_start(start: Mapping[str, Any], atomic_energies: str) -> str:
    """Where a fine-tuning run starts from, for the run log."""
    table = start["species"]
    species = " ".join(table.symbols if hasattr(table, "symbols") else map(str, table))
    return (
        f"fine-tuning from {start['path']} (epoch {start.get('epoch', '?')}): species "
        f"{species}, atomic energies of the {atomic_energies}"
    )


def energy_offset_warning(datasets: Datasets, config: Mapping[str, Any]) -> str | None:
    """A warning when the training energies lie more than 1 eV/atom from what the model's E0s
    and shift give (:func:`energy_offset`: data of another level of theory), else ``None``."""
    offset = energy_offset(datasets, config["model"].get("shift", 0.0))
    if abs(offset) <= 1.0:
        return None
    fix = (
        "; set training.init_atomic_energies=data (with isolated-atom energies of the new "
        "method in data.isolated_file where you have them)"
        if config["training"]["init_atomic_energies"] == "checkpoint"
        else ""
    )
    return (
        f"warning: the training energies lie {offset:+.3g} eV/atom from what the model's "
        f"atomic energies and shift give: the data is not of the checkpoint's level of "
        f"theory{fix}"
    )
