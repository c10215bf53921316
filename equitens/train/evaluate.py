"""Evaluation: errors of a model on a data set, and of a saved checkpoint on an extxyz file.

:func:`make_eval_step` jit-compiles the sums of :func:`equitens.train.loss.error_sums` for one
batch; :func:`evaluate_batches` accumulates them over a data set and returns energy, energy per
atom, force (and stress) MAE and RMSE plus the loss of the configuration's weights;
:func:`evaluate_frames` also returns the predicted energy of every frame.
:func:`evaluate_checkpoint` does the same for a checkpoint and an extxyz file (``equitens
evaluate``), energy-only files included, and adds the errors of the energies relative to the
lowest reference energy (:func:`relative_energy_errors`) when the frames share one composition
(a dihedral scan, a reaction path, an MD trajectory).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from equitens.precision import run_dtype
from equitens.train.loss import LossWeights, error_sums, errors_from_sums

__all__ = [
    "cast_batch",
    "fixed_size_batches",
    "padding_size",
    "evaluate_batches",
    "evaluate_checkpoint",
    "evaluate_frames",
    "format_errors",
    "loss_from_sums",
    "make_eval_step",
    "relative_energy_errors",
    "unknown_elements",
]


def cast_batch(batch: jraph.GraphsTuple, dtype: Any) -> jraph.GraphsTuple:
    """Cast the floating-point arrays of a batch to ``dtype`` (integers are kept).

    The one cast of the training code, on the host (numpy: no per-leaf compilation); it takes
    any pytree, so the loop casts parameters with it too.

    Args:
        batch: a graphs tuple (or any pytree) of numpy or jax arrays.
        dtype: e.g. ``np.float32``.

    Returns:
        The batch with floating leaves in ``dtype``, as numpy arrays.

    Examples:
        >>> import jraph, numpy as np
        >>> g = jraph.GraphsTuple(nodes={"positions": np.zeros((2, 3))}, edges=None,
        ...                       senders=np.zeros(0, np.int32), receivers=np.zeros(0, np.int32),
        ...                       globals=None, n_node=np.array([2]), n_edge=np.array([0]))
        >>> cast_batch(g, np.float32).nodes["positions"].dtype
        dtype('float32')
    """

    def cast(x):
        x = np.asarray(x)
        return x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x

    return jax.tree_util.tree_map(cast, batch)


def _chunks(graphs, batch_size: int):
    return [list(graphs[i : i + batch_size]) for i in range(0, len(graphs), batch_size)]


def padding_size(graph_sets, batch_size: int) -> tuple[int, int]:
    """The (nodes, edges) padding that holds every in-order batch of each set of graphs.

    Evaluation batches of all sets padded to this one size compile the evaluation step once.

    Args:
        graph_sets: lists of single graphs (e.g. the validation and the test set).
        batch_size: graphs per batch.

    Returns:
        ``(n_node, n_edge)``: the largest batch totals, plus one padding node.

    Examples:
        >>> import jraph, numpy as np
        >>> def g(n, e):
        ...     return jraph.GraphsTuple(nodes=None, edges=None, senders=None, receivers=None,
        ...                              globals=None, n_node=np.array([n]), n_edge=np.array([e]))
        >>> padding_size([[g(2, 2), g(3, 6)], [g(5, 1)]], batch_size=2)
        (6, 8)
    """
    n_node, n_edge = 1, 0
    for graphs in graph_sets:
        for chunk in _chunks(list(graphs), batch_size):
            n_node = max(n_node, sum(int(g.n_node[0]) for g in chunk) + 1)
            n_edge = max(n_edge, sum(int(g.n_edge[0]) for g in chunk))
    return n_node, n_edge


def fixed_size_batches(
    graphs, batch_size: int, n_node: int | None = None, n_edge: int | None = None
) -> list[jraph.GraphsTuple]:
    """In-order batches of graphs, all padded to one size (``jraph.pad_with_graphs``).

    Args:
        graphs: single graphs (``graph_from_configuration``).
        batch_size: real graphs per batch (each batch has ``batch_size + 1`` graph slots).
        n_node: the padded number of nodes (default: :func:`padding_size` of ``graphs``).
        n_edge: the padded number of edges (default: :func:`padding_size` of ``graphs``).

    Returns:
        The padded batches (numpy).

    Examples:
        >>> import jraph, numpy as np
        >>> g = jraph.GraphsTuple(nodes={"x": np.zeros((2, 1))}, edges={"y": np.zeros((1, 1))},
        ...     senders=np.array([0]), receivers=np.array([1]), globals={"w": np.ones(1)},
        ...     n_node=np.array([2]), n_edge=np.array([1]))
        >>> [b.n_node.tolist() for b in fixed_size_batches([g, g, g], 2)]
        [[2, 2, 1], [2, 3, 0]]
    """
    graphs = list(graphs)
    if n_node is None or n_edge is None:
        n_node, n_edge = padding_size([graphs], batch_size)
    return [
        jraph.pad_with_graphs(jraph.batch_np(chunk), n_node, n_edge, batch_size + 1)
        for chunk in _chunks(graphs, batch_size)
    ]


def make_eval_step(
    model: Any, predict: Callable, compute_stress: bool, *, energies: bool = False
) -> Callable[[Any, jraph.GraphsTuple], Any]:
    """A jit-compiled function ``(params, batch) -> error sums`` of one batch.

    Args:
        model: the flax module.
        predict: ``predict(model, params, graph, compute_stress=...)`` (see the models contract).
        compute_stress: whether to predict (and compare) the stress.
        energies: also return the predicted energies of the batch's graphs: the step returns
            ``(sums, energies)`` (for :func:`evaluate_frames`).

    Returns:
        The compiled function (one compilation per padding bucket).

    Examples:
        >>> import jax.numpy as jnp, jraph, numpy as np
        >>> def predict(model, params, graph, compute_stress=True):
        ...     return {"energy": params["e"] * graph.n_node,
        ...             "forces": jnp.zeros_like(graph.nodes["positions"])}
        >>> batch = jraph.GraphsTuple(
        ...     nodes={"positions": np.zeros((2, 3)), "forces": np.zeros((2, 3))}, edges=None,
        ...     senders=None, receivers=None, n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([1.0]), "weight": np.ones(1),
        ...              "energy_weight": np.ones(1), "forces_weight": np.ones(1)})
        >>> sums = make_eval_step(None, predict, False)({"e": jnp.array(1.0)}, batch)
        >>> float(sums["energy_abs"])
        1.0
    """

    @jax.jit
    def step(params, batch):
        prediction = predict(model, params, batch, compute_stress=compute_stress)
        if not compute_stress:
            prediction = {k: v for k, v in prediction.items() if k != "stress"}
        sums = error_sums(prediction, batch)
        return (sums, prediction["energy"]) if energies else sums

    return step


def loss_from_sums(sums: Mapping[str, float], weights: LossWeights) -> float:
    """The training loss of a whole data set from its accumulated error sums.

    Equals the loss of :func:`equitens.train.loss.weighted_loss` evaluated on all the data as
    one batch (labels weighted 0 or 1).

    Args:
        sums: totals of :func:`equitens.train.loss.error_sums` over the data set.
        weights: the loss weights.

    Returns:
        The loss (a float).

    Examples:
        >>> sums = {"energy_per_atom_sq": 2.0, "energy_count": 2.0, "forces_sq": 3.0,
        ...         "forces_count": 6.0}
        >>> loss_from_sums(sums, LossWeights(1.0, 10.0, 1.0))
        6.0
    """
    total = 0.0
    for name, key, weight in (
        ("energy_count", "energy_per_atom_sq", weights.energy),
        ("forces_count", "forces_sq", weights.forces),
        ("stress_count", "stress_sq", weights.stress),
    ):
        count = float(sums.get(name, 0.0))
        if count > 0 and weight > 0:
            total += weight * float(sums[key]) / count
    return total


def evaluate_batches(
    eval_step: Callable,
    params: Any,
    batches: Iterable[jraph.GraphsTuple],
    dtype: Any,
    weights: LossWeights,
) -> dict[str, float]:
    """Errors of ``params`` over all batches: MAE/RMSE and the weighted loss.

    Args:
        eval_step: from :func:`make_eval_step`.
        params: the model parameters.
        batches: padded batches (e.g. a ``GraphLoader`` without shuffling).
        dtype: the floating dtype of the run.
        weights: the loss weights (for the ``"loss"`` entry).

    Returns:
        ``{"loss", "energy_mae", "energy_rmse", "energy_per_atom_mae", "energy_per_atom_rmse",
        "forces_mae", "forces_rmse", ...}`` in eV, eV/atom, eV/A (eV/A^3 for stress).

    Examples:
        >>> import jax.numpy as jnp, jraph, numpy as np
        >>> def predict(model, params, graph, compute_stress=True):
        ...     return {"energy": params["e"] * graph.n_node,
        ...             "forces": jnp.zeros_like(graph.nodes["positions"])}
        >>> batch = jraph.GraphsTuple(
        ...     nodes={"positions": np.zeros((2, 3)), "forces": np.zeros((2, 3))}, edges=None,
        ...     senders=None, receivers=None, n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([1.0]), "weight": np.ones(1),
        ...              "energy_weight": np.ones(1), "forces_weight": np.ones(1)})
        >>> step = make_eval_step(None, predict, False)
        >>> errors = evaluate_batches(step, {"e": jnp.array(1.0)}, [batch], np.float64,
        ...                           LossWeights())
        >>> errors["energy_per_atom_mae"], errors["forces_mae"]
        (0.5, 0.0)
    """
    totals, _ = _accumulate(eval_step, params, batches, dtype)
    return _errors(totals, weights)


def evaluate_frames(
    eval_step: Callable,
    params: Any,
    batches: Iterable[jraph.GraphsTuple],
    dtype: Any,
    weights: LossWeights,
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`evaluate_batches` plus the predicted energy of every real graph, in batch order.

    Args:
        eval_step: from :func:`make_eval_step` with ``energies=True``.
        params: the model parameters.
        batches: batches padded with ``jraph.pad_with_graphs`` (e.g. :func:`fixed_size_batches`).
        dtype: the floating dtype of the run.
        weights: the loss weights (for the ``"loss"`` entry).

    Returns:
        ``(errors, energies)``: the errors of :func:`evaluate_batches` and the ``(n_graphs,)``
        predicted total energies (eV), padding graphs left out.

    Examples:
        >>> import jax.numpy as jnp, jraph, numpy as np
        >>> def predict(model, params, graph, compute_stress=True):
        ...     return {"energy": params["e"] * graph.n_node,
        ...             "forces": jnp.zeros_like(graph.nodes["positions"])}
        >>> def graph(n, energy):
        ...     return jraph.GraphsTuple(
        ...         nodes={"positions": np.zeros((n, 3)), "forces": np.zeros((n, 3))},
        ...         edges=None, senders=np.zeros(0, int), receivers=np.zeros(0, int),
        ...         n_node=np.array([n]), n_edge=np.array([0]),
        ...         globals={"energy": np.array([energy]), "weight": np.ones(1),
        ...                  "energy_weight": np.ones(1), "forces_weight": np.zeros(1)})
        >>> batches = fixed_size_batches([graph(2, 1.0), graph(3, 3.0), graph(1, 1.0)], 2)
        >>> step = make_eval_step(None, predict, False, energies=True)
        >>> errors, energies = evaluate_frames(step, {"e": jnp.array(1.0)}, batches, np.float64,
        ...                                    LossWeights())
        >>> energies.tolist(), errors["energy_mae"], "forces_mae" in errors
        ([2.0, 3.0, 1.0], 0.3333333333333333, False)
    """
    totals, energies = _accumulate(eval_step, params, batches, dtype)
    return _errors(totals, weights), np.asarray(energies, dtype=np.float64)


def _accumulate(eval_step: Callable, params: Any, batches: Iterable, dtype: Any):
    """Totals of the error sums over the batches, and the predicted energies of the real graphs
    when the step returns them (``make_eval_step(..., energies=True)``)."""
    totals: dict[str, float] = {}
    energies: list[float] = []
    for batch in batches:
        out = eval_step(params, cast_batch(batch, dtype))
        sums, energy = out if isinstance(out, tuple) else (out, None)
        for key, value in jax.device_get(sums).items():
            totals[key] = totals.get(key, 0.0) + float(value)
        if energy is not None:
            real = np.asarray(jraph.get_graph_padding_mask(batch))
            energies.extend(np.asarray(energy, dtype=np.float64)[real].tolist())
    return totals, energies


def _errors(totals: Mapping[str, float], weights: LossWeights) -> dict[str, float]:
    errors = {"loss": loss_from_sums(totals, weights)}
    errors.update(errors_from_sums(totals))
    return errors


def relative_energy_errors(reference: Any, predicted: Any) -> dict[str, Any]:
    """Errors of the energies relative to the frame with the lowest reference energy.

    For a dihedral scan or a reaction path what matters is the energy profile, not its offset:
    both the reference and the predicted energies are taken relative to the same frame, the one
    with the lowest reference energy, and compared on the other frames (the reference frame is 0
    in both by construction, so it is left out of the MAE and RMSE).

    Args:
        reference: ``(n,)`` reference total energies (eV) of frames with the same atoms, n >= 2.
        predicted: ``(n,)`` predicted total energies (eV), in the same order.

    Returns:
        ``{"reference_frame": k, "relative_energy_ref": [...], "relative_energy_pred": [...],
        "relative_energy_mae": ..., "relative_energy_rmse": ...}`` in eV (``k`` indexes the
        inputs; the lists are ``E_i - E_k`` for every frame).

    Raises:
        ValueError: for fewer than two frames or inputs of different lengths.

    Examples:
        >>> out = relative_energy_errors([-9.0, -10.0, -9.5], [-9.0, -10.1, -9.4])
        >>> out["reference_frame"], out["relative_energy_ref"]
        (1, [1.0, 0.0, 0.5])
        >>> [round(e, 6) for e in out["relative_energy_pred"]]
        [1.1, 0.0, 0.7]
        >>> round(out["relative_energy_mae"], 6), round(out["relative_energy_rmse"], 6)
        (0.15, 0.158114)
    """
    reference = np.asarray(reference, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if reference.shape != predicted.shape or reference.size < 2:
        raise ValueError(
            "relative energies need the reference and predicted energies of the same two or "
            f"more frames, got {reference.size} and {predicted.size} energies"
        )
    k = int(np.argmin(reference))
    relative_ref = reference - reference[k]
    relative_pred = predicted - predicted[k]
    error = np.delete(relative_pred - relative_ref, k)
    return {
        "reference_frame": k,
        "relative_energy_ref": relative_ref.tolist(),
        "relative_energy_pred": relative_pred.tolist(),
        "relative_energy_mae": float(np.mean(np.abs(error))),
        "relative_energy_rmse": float(np.sqrt(np.mean(error**2))),
    }


def format_errors(errors: Mapping[str, Any], title: str = "") -> str:
    """A small human-readable table of errors in meV units.

    Only the quantities present are shown (no force rows for energy-only data). With the
    ``"relative_energies"`` of :func:`evaluate_checkpoint`, a last line names the reference frame
    and the range of the relative energies.

    Args:
        errors: the dict of :func:`evaluate_batches` or :func:`evaluate_checkpoint`.
        title: an optional first line.

    Returns:
        The table as text.

    Examples:
        >>> print(format_errors({"forces_mae": 0.0123, "forces_rmse": 0.02}))
        quantity             MAE        RMSE
        forces (meV/A)       12.300     20.000
        >>> relative = {"frames": [0, 1, 2], "reference_frame": 1,
        ...             "relative_energy_ref": [0.1, 0.0, 0.3],
        ...             "relative_energy_pred": [0.12, 0.0, 0.25]}
        >>> print(format_errors({"energy_mae": 0.02, "energy_rmse": 0.03,
        ...                      "relative_energy_mae": 0.035, "relative_energy_rmse": 0.0381,
        ...                      "relative_energies": relative}))
        quantity             MAE        RMSE
        energy (meV)         20.000     30.000
        rel. energy (meV)    35.000     38.100
        relative to frame 1 (lowest reference energy), 3 frames: reference 0.0 to 300.0 meV,
        model 0.0 to 250.0 meV
    """
    units = {
        "energy": "energy (meV)",
        "energy_per_atom": "energy/atom (meV)",
        "forces": "forces (meV/A)",
        "stress": "stress (meV/A^3)",
        "relative_energy": "rel. energy (meV)",
    }
    lines = [title] if title else []
    lines.append(f"{'quantity':<20} {'MAE':>4} {'RMSE':>11}")
    for key, label in units.items():
        if f"{key}_mae" in errors:
            mae = 1000 * errors[f"{key}_mae"]
            rmse = 1000 * errors[f"{key}_rmse"]
            lines.append(f"{label:<20} {mae:>7.3f} {rmse:>10.3f}")
    relative = errors.get("relative_energies")
    if relative:
        ref, pred = relative["relative_energy_ref"], relative["relative_energy_pred"]
        lines.append(
            f"relative to frame {relative['reference_frame']} (lowest reference energy), "
            f"{len(relative['frames'])} frames: reference {1000 * min(ref):.1f} to "
            f"{1000 * max(ref):.1f} meV, model {1000 * min(pred):.1f} to {1000 * max(pred):.1f} meV"
        )
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | pathlib.Path,
    data_file: str | pathlib.Path,
    *,
    batch_size: int | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    stress_key: str | None = None,
    read_forces: bool = True,
    build_model: Callable | None = None,
    predict: Callable | None = None,
) -> dict[str, Any]:
    """Errors of a saved model on an extxyz file, with or without reference forces.

    Forces: by default the run's ``data.forces_key`` is used, and a file in which no frame has
    forces under it is evaluated on its energies only (energy-only data: dihedral scans,
    reaction paths); the result then has no force entries. A ``forces_key`` given here must be
    on every frame (isolated atoms aside), and ``read_forces=False`` ignores forces. A file in
    which some frames have forces and others not is an error.

    Relative energies: when the frames other than isolated atoms (at least two) all have the
    same atoms, the energies relative to the frame with the lowest reference energy are compared
    too (:func:`relative_energy_errors`): the profile of a scan or a path, whatever the offset.

    Args:
        checkpoint: a checkpoint file or run folder (the best checkpoint is used).
        data_file: the extxyz file with reference energies (and forces).
        batch_size: batch size (default: the run's ``data.eval_batch_size``).
        energy_key: the energy label key (default: the run's ``data`` section).
        forces_key: the forces label key (default: the run's ``data`` section, optional).
        stress_key: the stress label key (default: the run's ``data`` section).
        read_forces: False to compare energies (and stress) only.
        build_model: the model factory (default ``equitens.models.build_model``).
        predict: the prediction function (default ``equitens.models.predict``).

    Returns:
        The errors of :func:`evaluate_batches` (eV, eV/atom, eV/A; force entries only where
        forces were compared) plus ``"n_configs"``, ``"forces_key"`` (the key looked up for
        forces; None when they were not read) and, for frames of one composition,
        ``"relative_energy_mae"``, ``"relative_energy_rmse"`` (eV) and ``"relative_energies"``:
        ``{"frames", "reference_frame", "energy_ref", "energy_pred", "relative_energy_ref",
        "relative_energy_pred"}`` (frame indices in the file, per-frame energies in eV).

    Raises:
        ValueError: for a missing/corrupted checkpoint, a missing label key (a
            :class:`equitens.data.MissingLabelError` naming the frame, the keys present and the
            option to set), an element the model was not trained on (the message names it), or
            a float64 run while jax's x64 mode is off (:mod:`equitens.precision`; ``equitens
            evaluate`` switches it on).

    Examples:
        >>> evaluate_checkpoint("no/such/run", "data.xyz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: no checkpoint found at 'no/such/run' (looked for ...); pass a .ckpt file or ...
    """
    from equitens.train.checkpoint import load_checkpoint

    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive number of frames, got {batch_size}")
    state = load_checkpoint(checkpoint, "best")
    from equitens import data as data_module

    config = state["config"]
    data_config = config["data"]
    if build_model is None or predict is None:
        from equitens import models

        build_model = build_model or models.build_model
        predict = predict or models.predict
    dtype = run_dtype(config["dtype"])
    explicit_forces_key = bool(forces_key)  # a key given here must be there
    forces_key = (forces_key or data_config["forces_key"]) if read_forces else None
    try:
        configs = data_module.read_extxyz(
            data_file,
            energy_key=energy_key or data_config["energy_key"],
            forces_key=forces_key,
            stress_key=stress_key or data_config["stress_key"],
            allow_energy_only=not explicit_forces_key,
        )
    except data_module.MissingLabelError as error:
        fix = f"Pass {error.label}_key=<one of those keys>"
        if error.label == "forces":
            fix += ", or read_forces=False to compare the energies only"
        raise error.with_fix(fix) from None
    table = state["species"]
    unknown = unknown_elements(configs, table.atomic_numbers)
    if unknown:
        raise ValueError(
            f"{str(data_file)!r} has {_describe_elements(unknown)}, which the model was not "
            f"trained on (it knows {', '.join(table.symbols)}): evaluate these frames with a "
            "model trained on data with those elements, or leave them out of the file"
        )
    graphs = [
        data_module.graph_from_configuration(c, config["model"]["cutoff"], table) for c in configs
    ]
    if not graphs:
        raise ValueError(f"{str(data_file)!r} holds no configuration to evaluate")
    loader = fixed_size_batches(graphs, batch_size or data_config["eval_batch_size"])
    model = build_model(config, table, state["atomic_energies"])
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), state["params"])
    compute_stress = any(float(np.max(g.globals["stress_weight"])) > 0 for g in graphs)
    errors, predicted = evaluate_frames(
        make_eval_step(model, predict, compute_stress, energies=True),
        params,
        loader,
        dtype,
        LossWeights.from_config(config["loss"]),
    )
    errors["n_configs"] = len(configs)
    errors["forces_key"] = forces_key
    errors.update(_relative_energies(configs, predicted))
    return errors


def unknown_elements(configs: Iterable[Any], known: Iterable[int]) -> dict[int, int]:
    """The elements of ``configs`` that are not in ``known``, with the first frame of each.

    Args:
        configs: configurations (anything with ``atomic_numbers``), in file order.
        known: the atomic numbers a model knows.

    Returns:
        ``{atomic number: index of the first configuration with it}``, sorted; empty when every
        element is known.

    Examples:
        >>> import numpy as np
        >>> from types import SimpleNamespace as C
        >>> configs = [C(atomic_numbers=np.array([1, 8])), C(atomic_numbers=np.array([26, 29]))]
        >>> unknown_elements(configs, (1, 6, 8))
        {26: 1, 29: 1}
    """
    known = {int(z) for z in known}
    first: dict[int, int] = {}
    for position, config in enumerate(configs):
        for z in np.unique(np.asarray(config.atomic_numbers)).tolist():
            if int(z) not in known:
                first.setdefault(int(z), position)
    return dict(sorted(first.items()))


def _describe_elements(unknown: Mapping[int, int]) -> str:
    from ase.data import chemical_symbols

    return ", ".join(
        f"{chemical_symbols[z] if z < len(chemical_symbols) else z} (Z={z}, first in frame "
        f"{position})"
        for z, position in unknown.items()
    )


def _relative_energies(configs: list, predicted: np.ndarray) -> dict[str, Any]:
    """The relative-energy section of :func:`evaluate_checkpoint` (empty when the frames other
    than isolated atoms are fewer than two or differ in composition)."""
    from equitens.data import is_isolated_atom

    frames = [i for i, c in enumerate(configs) if not is_isolated_atom(c) and c.energy is not None]
    compositions = {tuple(np.sort(np.asarray(configs[i].atomic_numbers))) for i in frames}
    if len(frames) < 2 or len(compositions) != 1:
        return {}
    reference = [configs[i].energy for i in frames]
    out = relative_energy_errors(reference, predicted[frames])
    return {
        "relative_energy_mae": out["relative_energy_mae"],
        "relative_energy_rmse": out["relative_energy_rmse"],
        "relative_energies": {
            "frames": frames,
            "reference_frame": frames[out["reference_frame"]],
            "energy_ref": [float(e) for e in reference],
            "energy_pred": [float(e) for e in predicted[frames]],
            "relative_energy_ref": out["relative_energy_ref"],
            "relative_energy_pred": out["relative_energy_pred"],
        },
    }
