"""The data of a training run: read, split, species table, atomic energies, graphs.

:func:`prepare_datasets` is the default data factory of :func:`equitens.train.train`: it reads
the ``data`` section of the configuration with :mod:`equitens.data` (imported lazily) and returns
a :class:`Datasets` of unpadded graphs. Tests and users may pass their own factory returning a
:class:`Datasets`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Datasets", "prepare_datasets", "resolve_auto_model_keys"]


@dataclass(frozen=True)
class Datasets:
    """Graphs of a training run, with the species table and the atomic energies.

    Attributes:
        train, valid, test: unpadded ``jraph.GraphsTuple`` graphs (valid/test may be empty).
        species: the species table (``equitens.data.SpeciesTable``; anything with an
            ``atomic_numbers`` tuple works).
        atomic_energies: ``(len(species),)`` isolated-atom energies E0 (eV).

    Examples:
        >>> Datasets([], [], [], None, np.zeros(0)).sizes()
        {'train': 0, 'valid': 0, 'test': 0}
    """

    train: Sequence[Any]
    valid: Sequence[Any]
    test: Sequence[Any]
    species: Any
    atomic_energies: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Number of graphs in each split."""
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _read(data_module: Any, path: str, data_config: Mapping, key: str) -> list:
    """The frames of ``data.<key>``; errors name the configuration keys to set.

    The validation and test files may be energy-only (no frame with forces under
    ``data.forces_key``); the training file needs forces unless ``data.forces_key`` is null, and
    the isolated-atom file is read without forces.
    """
    if not pathlib.Path(path).is_file():
        raise ValueError(f"data.{key} {str(path)!r} does not exist; set data.{key}=<extxyz file>")
    forces_key = None if key == "isolated_file" else data_config["forces_key"]
    try:
        configs = data_module.read_extxyz(
            path,
            energy_key=data_config["energy_key"],
            forces_key=forces_key,
            stress_key=None if key == "isolated_file" else data_config["stress_key"],
            allow_energy_only=key in ("valid_file", "test_file"),
        )
    except data_module.MissingLabelError as error:
        fix = f"Set data.{error.label}_key=<one of those keys>"
        if error.label == "forces":
            fix += ", or data.forces_key=null to train on energies only"
        raise data_module.MissingLabelError(
            f"data.{key}={error.where}",
            error.label,
            error.key,
            error.keys_present,
            note=error.note,
            fix=fix,
        ) from None
    energy_only = configs and all(c.forces is None for c in configs)
    if key in ("valid_file", "test_file") and forces_key is not None and energy_only:
        print(
            f"data.{key} {str(path)!r} has no forces under data.forces_key={forces_key!r}: "
            "its errors are on energies only"
        )
    return configs


def _check_elements(configs: Sequence[Any], known: Sequence[int], what: str) -> None:
    from equitens.train.evaluate import unknown_elements

    unknown = unknown_elements(configs, known)
    if unknown:
        from equitens.data.species import element_names

        raise ValueError(
            f"the {what} have {element_names(unknown)}, which no training frame has: add "
            f"frames with {'it' if len(unknown) == 1 else 'them'} to data.train_file, or leave "
            "them out"
        )


def _is_isolated(config: Any) -> bool:
    from equitens.data import is_isolated_atom

    return is_isolated_atom(config)


def prepare_datasets(config: Mapping) -> Datasets:
    """Read and split the data of a training configuration, and build its graphs.

    ``data.train_file`` null uses the embedded dataset. Frames with ``config_type``
    ``IsolatedAtom`` give the atomic energies and are left out of the training set. The
    validation and test sets come from their files or are split off the training frames with
    ``data.valid_fraction`` / ``data.test_fraction`` (deterministic in ``data.split_seed``, or
    ``seed`` when that is null). The validation
    and test files may hold energies only (no frame with forces under ``data.forces_key``, e.g.
    a dihedral scan): their errors, and the validation loss, are then on the energies only.

    Args:
        config: a full training configuration.

    Returns:
        The :class:`Datasets`.

    Raises:
        ValueError: for a missing label key (naming ``data.energy_key``/``data.forces_key``), a
            validation or test element absent from the training frames, a cell singular along
            a periodic direction, or an empty training set.

    Examples:
        >>> from equitens.train.config import load_config
        >>> config = load_config(overrides=["data.train_file=missing.xyz"])
        >>> prepare_datasets(config)
        Traceback (most recent call last):
        ...
        ValueError: data.train_file 'missing.xyz' does not exist; set data.train_file=<extxyz file>
    """
    from equitens import data as data_module

    data_config = config["data"]
    if data_config["energy_key"] is None:
        raise ValueError(
            "data.energy_key=null reads no energies, but training needs them (the isolated-atom "
            "energies E0 and the energy loss): set data.energy_key=<the key of the energies>"
        )
    if data_config["train_file"] is None:
        frames = list(
            data_module.load_default_dataset(data_config["default_dataset"], isolated_atoms=True)
        )
    else:
        frames = _read(data_module, data_config["train_file"], data_config, "train_file")
    isolated = [c for c in frames if _is_isolated(c)]
    frames = [c for c in frames if not _is_isolated(c)]
    valid, test = (
        _read(data_module, data_config[key], data_config, key) if data_config[key] else None
        for key in ("valid_file", "test_file")
    )
    if data_config["isolated_file"]:
        path = data_config["isolated_file"]
        if not pathlib.Path(path).is_file():
            raise ValueError(f"data.isolated_file {str(path)!r} does not exist")
        extra = _read(data_module, path, data_config, "isolated_file")
        if not extra or not all(_is_isolated(c) for c in extra):
            raise ValueError(
                f"data.isolated_file {str(path)!r} must hold only isolated-atom frames (single "
                "non-periodic atoms or config_type=IsolatedAtom)"
            )
        isolated = isolated + list(extra)

    v = 0.0 if valid is not None else float(data_config["valid_fraction"])
    t = 0.0 if test is not None else float(data_config["test_fraction"])
    if v > 0 or t > 0:
        split_seed = data_config["split_seed"]
        train, split_valid, split_test = data_module.split(
            frames, (1.0 - v - t, v, t), config["seed"] if split_seed is None else split_seed
        )
    else:
        train, split_valid, split_test = frames, [], []
    valid = split_valid if valid is None else valid
    test = split_test if test is None else test
    if data_config["max_train_frames"] is not None:
        train = train[: int(data_config["max_train_frames"])]
    if not train:
        raise ValueError(
            "the training set is empty: check data.train_file and the data fractions "
            "(data.valid_fraction + data.test_fraction leave no frame for training)"
        )

    numbers = sorted({int(z) for c in list(train) + isolated for z in np.asarray(c.atomic_numbers)})
    for configs, key, split_name in (
        (valid, "valid_file", "validation"),
        (test, "test_file", "test"),
    ):
        source = data_config[key] if data_config[key] else "split off data.train_file"
        _check_elements(configs, numbers, f"{split_name} frames ({source})")
    table = data_module.SpeciesTable(tuple(numbers))
    energies = np.asarray(data_module.atomic_energies(list(train) + isolated, table))
    cutoff = float(config["model"]["cutoff"])

    def graphs(configs: Sequence[Any]) -> list:
        return [data_module.graph_from_configuration(c, cutoff, table) for c in configs]

    return Datasets(graphs(train), graphs(valid), graphs(test), table, energies)


def resolve_auto_model_keys(config: Mapping, datasets: Datasets) -> dict:
    """Replace ``"auto"`` model hyper-parameters by statistics of the training graphs.

    - ``avg_num_neighbors``: edges per atom of the training graphs;
    - ``scale``: root mean square of the training force components (eV/A); 1 without forces;
    - ``shift``: mean of ``(E - sum_i E0[z_i]) / n_atoms`` over the training graphs (eV).

    The resolved numbers are stored in the run's configuration (and checkpoints), so the model
    is rebuilt identically from them.

    Args:
        config: the full configuration.
        datasets: the run's data.

    Returns:
        A copy of ``config["model"]`` with numbers in place of ``"auto"``.

    Examples:
        >>> import jraph, numpy as np
        >>> g = jraph.GraphsTuple(
        ...     nodes={"species": np.array([0, 0]), "forces": np.array([[1.0, 0, 0], [-1, 0, 0]])},
        ...     edges=None, senders=np.array([0, 1]), receivers=np.array([1, 0]),
        ...     n_node=np.array([2]), n_edge=np.array([2]),
        ...     globals={"energy": np.array([-3.0]), "energy_weight": np.ones(1),
        ...              "forces_weight": np.ones(1)})
        >>> data = Datasets([g], [], [], None, np.array([-1.0]))
        >>> model = {"avg_num_neighbors": "auto", "scale": "auto", "shift": "auto"}
        >>> resolve_auto_model_keys({"model": model}, data)
        {'avg_num_neighbors': 1.0, 'scale': 0.57735, 'shift': -0.5}
    """
    model = dict(config["model"])
    graphs = list(datasets.train)
    e0 = np.asarray(datasets.atomic_energies, dtype=np.float64)
    if model.get("avg_num_neighbors") == "auto":
        nodes = sum(int(np.sum(g.n_node)) for g in graphs)
        edges = sum(int(np.sum(g.n_edge)) for g in graphs)
        model["avg_num_neighbors"] = round(edges / nodes, 5) if nodes and edges else 1.0
    if model.get("scale") == "auto":
        squares = [
            np.asarray(g.nodes["forces"]) ** 2
            for g in graphs
            if float(np.max(g.globals["forces_weight"])) > 0
        ]
        rms = (
            float(np.sqrt(np.mean(np.concatenate([q.reshape(-1) for q in squares]))))
            if squares
            else 1.0
        )
        model["scale"] = round(rms, 5) if rms > 0 else 1.0
    if model.get("shift") == "auto":
        per_atom = [
            (float(g.globals["energy"][0]) - float(np.sum(e0[np.asarray(g.nodes["species"])])))
            / max(int(g.n_node[0]), 1)
            for g in graphs
            if float(np.max(g.globals["energy_weight"])) > 0
        ]
        model["shift"] = round(float(np.mean(per_atom)), 5) if per_atom else 0.0
    return model
