"""A configuration as a ``jraph.GraphsTuple``: atoms are nodes, neighbour pairs are edges.

The layout every model and the training loop read (one graph here; batches concatenate them):

- ``nodes``: ``positions (N, 3)``, ``species (N,)`` int32 (index in the
  :class:`~equitens.data.SpeciesTable`), ``forces (N, 3)`` (zeros where unknown);
- ``edges``: ``unit_shifts (E, 3)`` (integer image counts as floats); the edge vector is
  ``positions[receivers] - positions[senders] + unit_shifts @ cell``;
- ``globals``: ``energy (G,)``, ``stress (G, 3, 3)`` (eV/A^3), ``cell (G, 3, 3)`` (zeros for a
  non-periodic structure), ``weight (G,)`` (0 for padding graphs), ``energy_weight``,
  ``forces_weight``, ``stress_weight (G,)`` (1 where the property is known, else 0);
- ``n_node``, ``n_edge (G,)`` int32; ``senders``, ``receivers (E,)`` int32.
"""

from __future__ import annotations

import jraph
import numpy as np

from equitens.data.configuration import Configuration
from equitens.data.neighbours import neighbour_list
from equitens.data.species import SpeciesTable

__all__ = ["graph_from_configuration", "edge_vectors"]


def graph_from_configuration(
    config: Configuration, cutoff: float, table: SpeciesTable, *, dtype=np.float64
) -> jraph.GraphsTuple:
    """The unpadded graph of one configuration (numpy arrays, one graph).

    Args:
        config: the configuration.
        cutoff: neighbour cutoff radius in A.
        table: species table mapping atomic numbers to species indices.
        dtype: float dtype of the float arrays (float64 by default).

    Returns:
        A ``jraph.GraphsTuple`` with ``n_node=[num_atoms]`` and the layout of this module.
        An atom without neighbours simply has no edges.

    Raises:
        ValueError: for an element missing from ``table`` or a cell that is singular along a
            periodic direction.

    Examples:
        >>> import numpy as np
        >>> from equitens.data import Configuration, SpeciesTable
        >>> water = Configuration(np.array([8, 1, 1]), np.array([[0, 0, 0], [0.96, 0, 0],
        ...                       [-0.24, 0.93, 0]]), energy=-14.2)
        >>> g = graph_from_configuration(water, cutoff=1.2, table=SpeciesTable((1, 8)))
        >>> g.n_node, g.n_edge, g.nodes["species"]
        (array([3], dtype=int32), array([4], dtype=int32), array([1, 0, 0], dtype=int32))
        >>> g.globals["energy"].tolist(), g.globals["forces_weight"].tolist()
        ([-14.2], [0.0])
    """
    species = table.index(config.atomic_numbers)
    senders, receivers, shifts = neighbour_list(config.positions, cutoff, config.cell, config.pbc)
    n = config.num_atoms
    cell = config.cell if config.periodic else np.zeros((3, 3))

    def known(value) -> np.ndarray:
        return np.array([0.0 if value is None else 1.0], dtype=dtype)

    return jraph.GraphsTuple(
        nodes={
            "positions": np.asarray(config.positions, dtype=dtype),
            "species": species,
            "forces": (
                np.zeros((n, 3), dtype=dtype)
                if config.forces is None
                else np.asarray(config.forces, dtype=dtype)
            ),
        },
        edges={"unit_shifts": shifts.astype(dtype)},
        globals={
            "energy": np.array([0.0 if config.energy is None else config.energy], dtype=dtype),
            "stress": (
                np.zeros((1, 3, 3), dtype=dtype)
                if config.stress is None
                else np.asarray(config.stress, dtype=dtype)[None]
            ),
            "cell": np.asarray(cell, dtype=dtype)[None],
            "weight": np.array([config.weight], dtype=dtype),
            "energy_weight": known(config.energy),
            "forces_weight": known(config.forces),
            "stress_weight": known(config.stress),
        },
        senders=senders,
        receivers=receivers,
        n_node=np.array([n], dtype=np.int32),
        n_edge=np.array([senders.shape[0]], dtype=np.int32),
    )


def edge_vectors(graph: jraph.GraphsTuple, positions=None):
    """Edge vectors ``positions[receivers] - positions[senders] + unit_shifts @ cell[graph]``.

    The one definition the data pipeline and the models share (``equitens.models.graph``
    re-exports it). Works on numpy arrays (numpy result) and jax arrays (jax result, also under
    ``jax.jit`` when the graph is padded to static sizes), for one graph or a batch.
    ``edges["unit_shifts"]`` and ``globals["cell"]`` may be absent (a non-periodic graph); the
    shifts and cells are cast to the dtype of the positions.

    Args:
        graph: a graph or batch in this module's layout.
        positions: positions to use instead of ``graph.nodes["positions"]`` (to differentiate).

    Returns:
        ``(E, 3)`` edge vectors (zero-length for padding edges).

    Examples:
        >>> import numpy as np
        >>> from equitens.data import Configuration, SpeciesTable
        >>> c = Configuration(np.array([29]), np.zeros((1, 3)), cell=np.eye(3) * 2.5, pbc=True)
        >>> g = graph_from_configuration(c, cutoff=3.0, table=SpeciesTable((29,)))
        >>> np.linalg.norm(edge_vectors(g), axis=1)
        array([2.5, 2.5, 2.5, 2.5, 2.5, 2.5])
    """
    import jax.numpy as jnp

    if positions is None:
        positions = graph.nodes["positions"]
    edges = graph.edges if isinstance(graph.edges, dict) else {}
    globals_ = graph.globals if isinstance(graph.globals, dict) else {}
    periodic = "unit_shifts" in edges and "cell" in globals_
    arrays = [positions] + ([edges["unit_shifts"], globals_["cell"]] if periodic else [])
    xp = np if all(isinstance(a, np.ndarray) for a in arrays) else jnp
    positions = xp.asarray(positions)
    vectors = positions[graph.receivers] - positions[graph.senders]
    if not periodic:
        return vectors
    counts = graph.n_edge
    if isinstance(counts, np.ndarray):
        edge_graph = np.repeat(np.arange(counts.shape[0]), counts)
    else:
        edge_graph = jnp.repeat(
            jnp.arange(counts.shape[0]), counts, total_repeat_length=graph.senders.shape[0]
        )
    cells = xp.asarray(globals_["cell"]).astype(positions.dtype)[edge_graph]
    shifts = xp.asarray(edges["unit_shifts"]).astype(positions.dtype)
    return vectors + xp.einsum("ei,eij->ej", shifts, cells)
