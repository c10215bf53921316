"""Energies, forces and stress of a batch: ``predict(model, params, graph)``.

- forces are ``F = -dE/dR`` (one backward pass through the model);
- the stress is the strain derivative, ASE's convention: every graph gets a symmetric strain
  ``eps`` applied to its positions and cell (``R -> R (I + eps)``, ``cell -> cell (I + eps)``, rows
  are vectors), and ``sigma = (1 / V) dE/d eps`` at ``eps = 0`` with ``V = |det cell|``: a
  compressed system (whose energy falls as it expands) has negative stress and positive pressure
  ``-tr(sigma) / 3``. Non-periodic graphs (zero cell) get zero stress.

Both come from the same ``jax.grad``, so the function is pure and jit-able.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from equitens.models.graph import node_graph_index

__all__ = ["predict"]


def predict(
    model: nn.Module, params, graph: jraph.GraphsTuple, compute_stress: bool = True
) -> dict:
    """Energies, forces and (optionally) stress of the graphs of a batch.

    Args:
        model: a potential (see :func:`~equitens.models.build.build_model`).
        params: its parameters.
        graph: a batch (``nodes["positions"]``, ``nodes["species"]``, ``globals["cell"]``, ...).
        compute_stress: also return the stress (needs ``globals["cell"]``).

    Returns:
        ``{"energy": (G,), "forces": (N, 3)}`` and with ``compute_stress``
        ``"stress": (G, 3, 3)`` (eV/A^3, zeros for non-periodic graphs and padding).

    Examples:
        >>> import jax, numpy as np, jraph
        >>> from equitens.models.build import build_model
        >>> model = build_model({"model": {"name": "mace", "num_channels": 4, "lmax": 1,
        ...     "correlation": 1, "num_interactions": 1, "radial_mlp": [8]}}, (1,), [0.0])
        >>> g = jraph.GraphsTuple(nodes={"positions": np.array([[0.0, 0, 0], [1.0, 0.2, 0]]),
        ...     "species": np.array([0, 0])}, edges={"unit_shifts": np.zeros((2, 3))},
        ...     globals={"cell": np.zeros((1, 3, 3))}, senders=np.array([0, 1]),
        ...     receivers=np.array([1, 0]), n_node=np.array([2]), n_edge=np.array([2]))
        >>> params = jax.jit(model.init)(jax.random.PRNGKey(0), g)
        >>> out = jax.jit(lambda p, g: predict(model, p, g))(params, g)
        >>> out["energy"].shape, out["forces"].shape, out["stress"].shape
        ((1,), (2, 3), (1, 3, 3))
        >>> float(abs(out["forces"].sum(0)).max()) < 1e-5  # Newton's third law
        True
    """
    nodes = dict(graph.nodes)
    globals_ = dict(graph.globals) if isinstance(graph.globals, dict) else {}
    positions = jnp.asarray(nodes["positions"])
    num_graphs = jnp.shape(graph.n_node)[0]

    if not compute_stress:

        def energy_of_positions(r):
            energies = model.apply(params, graph._replace(nodes={**nodes, "positions": r}))
            return jnp.sum(energies), energies

        gradient, energies = jax.grad(energy_of_positions, has_aux=True)(positions)
        return {"energy": energies, "forces": -gradient.astype(positions.dtype)}

    if "cell" not in globals_:
        raise ValueError(
            "predict: compute_stress=True needs globals['cell'] (zeros for non-periodic graphs)"
        )
    cell = jnp.asarray(globals_["cell"]).astype(positions.dtype)
    node_graph = node_graph_index(graph)

    def energy_of(r, strain):
        strain = 0.5 * (strain + jnp.swapaxes(strain, -1, -2))
        r = r + jnp.einsum("ni,nij->nj", r, strain[node_graph])
        strained_cell = cell + jnp.einsum("gai,gij->gaj", cell, strain)
        strained = graph._replace(
            nodes={**nodes, "positions": r}, globals={**globals_, "cell": strained_cell}
        )
        energies = model.apply(params, strained)
        return jnp.sum(energies), energies

    strain = jnp.zeros((num_graphs, 3, 3), positions.dtype)
    (gradient, d_strain), energies = jax.grad(energy_of, argnums=(0, 1), has_aux=True)(
        positions, strain
    )
    volume = jnp.abs(jnp.linalg.det(cell))
    periodic = volume > 0
    stress = jnp.where(
        periodic[:, None, None], d_strain / jnp.where(periodic, volume, 1.0)[:, None, None], 0.0
    )
    return {"energy": energies, "forces": -gradient, "stress": stress.astype(positions.dtype)}
