"""Evaluation: errors of a model on a data set, and of a saved checkpoint on an extxyz file.

:func:`make_eval_step` jit-compiles the sums of :func:`equitens.train.loss.error_sums` for one
batch; :func:`evaluate_batches` accumulates them over a data set and returns energy, energy per
atom, force (and stress) MAE and RMSE plus the loss of the configuration's weights.
:func:`evaluate_checkpoint` does the same for a checkpoint and an extxyz file (``equitens
evaluate``).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from equitens.train.loss import LossWeights, error_sums, errors_from_sums

__all__ = [
    "cast_batch",
    "fixed_size_batches",
    "padding_size",
    "evaluate_batches",
    "evaluate_checkpoint",
    "format_errors",
    "loss_from_sums",
    "make_eval_step",
]


def cast_batch(batch: jraph.GraphsTuple, dtype: Any) -> jraph.GraphsTuple:
    """Cast the floating-point arrays of a batch to ``dtype`` (integers are kept).

    Args:
        batch: a graphs tuple of numpy or jax arrays.
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
    model: Any, predict: Callable, compute_stress: bool
) -> Callable[[Any, jraph.GraphsTuple], dict]:
    """A jit-compiled function ``(params, batch) -> error sums`` of one batch.

    Args:
        model: the flax module.
        predict: ``predict(model, params, graph, compute_stress=...)`` (see the models contract).
        compute_stress: whether to predict (and compare) the stress.

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
        return error_sums(prediction, batch)

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
    eval_step: Callable, params: Any, batches: Iterable[jraph.GraphsTuple], dtype: Any,
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
    totals: dict[str, float] = {}
    for batch in batches:
        sums = eval_step(params, cast_batch(batch, dtype))
        for key, value in jax.device_get(sums).items():
            totals[key] = totals.get(key, 0.0) + float(value)
    errors = {"loss": loss_from_sums(totals, weights)}
    errors.update(errors_from_sums(totals))
    return errors


def format_errors(errors: Mapping[str, float], title: str = "") -> str:
    """A small human-readable table of errors in meV units.

    Args:
        errors: the dict of :func:`evaluate_batches`.
        title: an optional first line.

    Returns:
        The table as text.

    Examples:
        >>> print(format_errors({"forces_mae": 0.0123, "forces_rmse": 0.02}))
        quantity             MAE        RMSE
        forces (meV/A)       12.300     20.000
    """
    units = {
        "energy": "energy (meV)",
        "energy_per_atom": "energy/atom (meV)",
        "forces": "forces (meV/A)",
        "stress": "stress (meV/A^3)",
    }
    lines = [title] if title else []
    lines.append(f"{'quantity':<20} {'MAE':>4} {'RMSE':>11}")
    for key, label in units.items():
        if f"{key}_mae" in errors:
            mae = 1000 * errors[f"{key}_mae"]
            rmse = 1000 * errors[f"{key}_rmse"]
            lines.append(f"{label:<20} {mae:>7.3f} {rmse:>10.3f}")
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | pathlib.Path,
    data_file: str | pathlib.Path,
    *,
    batch_size: int | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    stress_key: str | None = None,
    build_model: Callable | None = None,
    predict: Callable | None = None,
) -> dict[str, float]:
    """Errors of a saved model on an extxyz file.

    Args:
        checkpoint: a checkpoint file or run folder (the best checkpoint is used).
        data_file: the extxyz file with reference energies and forces.
        batch_size: batch size (default: the run's ``data.eval_batch_size``).
        energy_key: the energy label key (default: the run's ``data`` section).
        forces_key: the forces label key (default: the run's ``data`` section).
        stress_key: the stress label key (default: the run's ``data`` section).
        build_model: the model factory (default ``equitens.models.build_model``).
        predict: the prediction function (default ``equitens.models.predict``).

    Returns:
        The errors of :func:`evaluate_batches` plus ``"n_configs"``.

    Raises:
        ValueError: for a missing/corrupted checkpoint, a missing label key or an element the
            model was not trained on (the message names it).

    Examples:
        >>> evaluate_checkpoint("no/such/run", "data.xyz")
        Traceback (most recent call last):
        ...
        ValueError: no checkpoint found at 'no/such/run' (looked for no/such/run/best.ckpt, no/such/run/checkpoints/best.ckpt); pass a .ckpt file or the folder of a training run (runs/<name>)
    """
    from equitens.train.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint, "best")
    from equitens import data as data_module

    config = state["config"]
    data_config = config["data"]
    if build_model is None or predict is None:
        from equitens import models

        build_model = build_model or models.build_model
        predict = predict or models.predict
    dtype = _enable_dtype(config["dtype"])
    configs = data_module.read_extxyz(
        data_file,
        energy_key=energy_key or data_config["energy_key"],
        forces_key=forces_key or data_config["forces_key"],
        stress_key=stress_key or data_config["stress_key"],
    )
    table = state["species"]
    graphs = [
        data_module.graph_from_configuration(c, config["model"]["cutoff"], table) for c in configs
    ]
    if not graphs:
        raise ValueError(f"{str(data_file)!r} holds no configuration to evaluate")
    loader = fixed_size_batches(graphs, batch_size or data_config["eval_batch_size"])
    model = build_model(config, table, state["atomic_energies"])
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), state["params"])
    compute_stress = any(float(np.max(g.globals["stress_weight"])) > 0 for g in graphs)
    errors = evaluate_batches(
        make_eval_step(model, predict, compute_stress),
        params,
        loader,
        dtype,
        LossWeights.from_config(config["loss"]),
    )
    errors["n_configs"] = len(configs)
    return errors


def _enable_dtype(name: str) -> Any:
    if name == "float64":
        jax.config.update("jax_enable_x64", True)
        return np.float64
    return np.float32
