"""Weighted loss on energy per atom, forces and stress, masked by the batch's weights.

A batch is a padded ``jraph.GraphsTuple`` (see the data contract): each graph carries a
``weight`` (0 for padding graphs) and per-property weights ``energy_weight``, ``forces_weight``,
``stress_weight`` (1 where the property is known, else 0). Every term is a weighted mean over the
entries that count, so padding and missing labels never change the loss.

:func:`error_sums` returns the sums that :func:`errors_from_sums` turns into MAE and RMSE over a
whole data set (accumulated batch by batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jraph
import numpy as np

__all__ = ["LossWeights", "error_sums", "errors_from_sums", "node_graph_index", "weighted_loss"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three loss terms.

    Attributes:
        energy: weight of the squared error of the energy per atom (eV/atom)^2.
        forces: weight of the mean squared force-component error (eV/A)^2.
        stress: weight of the mean squared stress-component error (eV/A^3)^2.

    Examples:
        >>> LossWeights.from_config({"energy_weight": 1.0, "forces_weight": 10.0,
        ...                          "stress_weight": 0.0})
        LossWeights(energy=1.0, forces=10.0, stress=0.0)
    """

    energy: float = 1.0
    forces: float = 10.0
    stress: float = 0.0

    @classmethod
    def from_config(cls, loss_config: Mapping) -> LossWeights:
        """Read the ``loss`` section of a training configuration."""
        return cls(
            energy=float(loss_config["energy_weight"]),
            forces=float(loss_config["forces_weight"]),
            stress=float(loss_config["stress_weight"]),
        )


def node_graph_index(graph: jraph.GraphsTuple) -> jax.Array:
    """The index of the graph of each node, ``(N,)`` int32.

    Args:
        graph: a (padded) graphs tuple.

    Returns:
        ``i`` repeated ``n_node[i]`` times, for each graph ``i``.

    Examples:
        >>> import jraph, numpy as np
        >>> g = jraph.GraphsTuple(nodes=np.zeros((3, 1)), edges=None, senders=None,
        ...                       receivers=None, globals=None, n_node=np.array([2, 1]),
        ...                       n_edge=np.array([0, 0]))
        >>> node_graph_index(g).tolist()
        [0, 0, 1]
    """
    n_graph = graph.n_node.shape[0]
    n_nodes = jax.tree_util.tree_leaves(graph.nodes)[0].shape[0]
    return jnp.repeat(jnp.arange(n_graph), graph.n_node, total_repeat_length=n_nodes)


def _weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    total = jnp.sum(weights)
    safe = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, jnp.sum(weights * values) / safe, 0.0)


def weighted_loss(
    prediction: Mapping[str, jax.Array],
    batch: jraph.GraphsTuple,
    weights: LossWeights,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The training loss of a batch and its three terms.

    ``loss = w_E * <(dE / n_atoms)^2> + w_F * <|dF|^2 / 3> + w_S * <|dS|^2 / 9>``, each mean
    weighted by ``weight * <property>_weight`` of the graphs (forces: of the atom's graph).
    A term with no labelled entry in the batch is 0.

    Args:
        prediction: ``{"energy": (G,), "forces": (N, 3)}`` and, when ``weights.stress > 0``,
            ``"stress": (G, 3, 3)``.
        batch: the padded batch with the reference labels and weights.
        weights: the weights of the terms.

    Returns:
        ``(loss, terms)`` with ``terms = {"energy": ..., "forces": ..., "stress": ...}`` (the
        unweighted mean squared errors).

    Examples:
        >>> import jraph, numpy as np
        >>> batch = jraph.GraphsTuple(
        ...     nodes={"forces": np.zeros((2, 3))}, edges=None, senders=None, receivers=None,
        ...     n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([1.0]), "stress": np.zeros((1, 3, 3)),
        ...              "weight": np.ones(1), "energy_weight": np.ones(1),
        ...              "forces_weight": np.ones(1), "stress_weight": np.zeros(1)})
        >>> pred = {"energy": np.array([3.0]), "forces": np.ones((2, 3))}
        >>> loss, terms = weighted_loss(pred, batch, LossWeights(1.0, 10.0, 0.0))
        >>> float(terms["energy"]), float(terms["forces"]), float(loss)
        (1.0, 1.0, 11.0)
    """
    batch = jax.tree_util.tree_map(jnp.asarray, batch)
    prediction = {k: jnp.asarray(v) for k, v in prediction.items()}
    g = batch.globals
    n_atoms = jnp.maximum(batch.n_node, 1).astype(prediction["energy"].dtype)
    graph_weight = g["weight"]

    energy_error = (prediction["energy"] - g["energy"]) / n_atoms
    energy_term = _weighted_mean(energy_error**2, graph_weight * g["energy_weight"])

    node_weight = (graph_weight * g["forces_weight"])[node_graph_index(batch)]
    force_error = prediction["forces"] - batch.nodes["forces"]
    forces_term = _weighted_mean(jnp.mean(force_error**2, axis=-1), node_weight)

    if weights.stress > 0:
        stress_error = prediction["stress"] - g["stress"]
        stress_term = _weighted_mean(
            jnp.mean(stress_error**2, axis=(-2, -1)), graph_weight * g["stress_weight"]
        )
    else:
        stress_term = jnp.zeros_like(energy_term)

    loss = (
        weights.energy * energy_term + weights.forces * forces_term + weights.stress * stress_term
    )
    return loss, {"energy": energy_term, "forces": forces_term, "stress": stress_term}


def error_sums(
    prediction: Mapping[str, jax.Array], batch: jraph.GraphsTuple
) -> dict[str, jax.Array]:
    """Sums of absolute and squared errors of a batch, for MAE/RMSE over a whole data set.

    Only labelled, non-padding entries count. Energies are compared in total (eV) and per atom
    (eV/atom), forces per Cartesian component (eV/A), stress per component (eV/A^3).

    Args:
        prediction: ``{"energy", "forces"}`` and optionally ``"stress"``.
        batch: the padded batch with the labels and weights.

    Returns:
        A dict of scalars: ``energy_abs, energy_sq, energy_per_atom_abs, energy_per_atom_sq,
        energy_count, forces_abs, forces_sq, forces_count`` and, with stress predicted,
        ``stress_abs, stress_sq, stress_count``.

    Examples:
        >>> import jraph, numpy as np
        >>> batch = jraph.GraphsTuple(
        ...     nodes={"forces": np.zeros((2, 3))}, edges=None, senders=None, receivers=None,
        ...     n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([1.0]), "weight": np.ones(1),
        ...              "energy_weight": np.ones(1), "forces_weight": np.ones(1)})
        >>> sums = error_sums({"energy": np.array([3.0]), "forces": np.ones((2, 3))}, batch)
        >>> float(sums["energy_per_atom_abs"]), float(sums["forces_count"])
        (1.0, 6.0)
    """
    batch = jax.tree_util.tree_map(jnp.asarray, batch)
    prediction = {k: jnp.asarray(v) for k, v in prediction.items()}
    g = batch.globals
    n_atoms = jnp.maximum(batch.n_node, 1).astype(prediction["energy"].dtype)
    energy_mask = (g["weight"] * g["energy_weight"] > 0).astype(prediction["energy"].dtype)
    de = prediction["energy"] - g["energy"]
    node_mask = (g["weight"] * g["forces_weight"] > 0)[node_graph_index(batch)]
    node_mask = node_mask.astype(prediction["forces"].dtype)[:, None]
    df = prediction["forces"] - batch.nodes["forces"]
    sums = {
        "energy_abs": jnp.sum(energy_mask * jnp.abs(de)),
        "energy_sq": jnp.sum(energy_mask * de**2),
        "energy_per_atom_abs": jnp.sum(energy_mask * jnp.abs(de / n_atoms)),
        "energy_per_atom_sq": jnp.sum(energy_mask * (de / n_atoms) ** 2),
        "energy_count": jnp.sum(energy_mask),
        "forces_abs": jnp.sum(node_mask * jnp.abs(df)),
        "forces_sq": jnp.sum(node_mask * df**2),
        "forces_count": 3 * jnp.sum(node_mask),
    }
    if "stress" in prediction and "stress" in g:
        stress_mask = (g["weight"] * g["stress_weight"] > 0).astype(prediction["stress"].dtype)
        ds = prediction["stress"] - g["stress"]
        sums["stress_abs"] = jnp.sum(stress_mask[:, None, None] * jnp.abs(ds))
        sums["stress_sq"] = jnp.sum(stress_mask[:, None, None] * ds**2)
        sums["stress_count"] = 9 * jnp.sum(stress_mask)
    return sums


def errors_from_sums(sums: Mapping[str, float]) -> dict[str, float]:
    """MAE and RMSE from accumulated :func:`error_sums` (quantities with no labels are left out).

    Args:
        sums: the per-key totals over all batches.

    Returns:
        ``{"energy_mae", "energy_rmse", "energy_per_atom_mae", "energy_per_atom_rmse",
        "forces_mae", "forces_rmse", ("stress_mae", "stress_rmse")}`` as floats.

    Examples:
        >>> errors_from_sums({"forces_abs": 6.0, "forces_sq": 12.0, "forces_count": 3.0})
        {'forces_mae': 2.0, 'forces_rmse': 2.0}
    """
    out: dict[str, float] = {}
    groups = {
        "energy": "energy_count",
        "energy_per_atom": "energy_count",
        "forces": "forces_count",
        "stress": "stress_count",
    }
    for name, count_key in groups.items():
        count = float(sums.get(count_key, 0.0))
        if count <= 0 or f"{name}_abs" not in sums:
            continue
        out[f"{name}_mae"] = float(sums[f"{name}_abs"]) / count
        out[f"{name}_rmse"] = float(np.sqrt(float(sums[f"{name}_sq"]) / count))
    return out
