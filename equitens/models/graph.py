"""What a model reads from a batch: graph indices, edge vectors, padding masks.

The batch format is the one of :mod:`equitens.data` (a ``jraph.GraphsTuple`` padded with
``jraph.pad_with_graphs``): ``nodes["positions"]`` ``(N, 3)``, ``nodes["species"]`` ``(N,)``,
``edges["unit_shifts"]`` ``(E, 3)``, ``globals["cell"]`` ``(G, 3, 3)`` and ``globals["weight"]``
``(G,)``, 0 for padding graphs.

Two conventions make padding exact:

- an edge of zero length carries no message (:func:`edge_mask`). Padding edges join a padding
  node to itself with no periodic shift; a real edge never has zero length (two atoms never
  coincide, and an atom meets its own periodic image at a nonzero lattice vector);
- a graph whose ``globals["weight"]`` is 0 gets zero energy (:func:`graph_mask`); graphs
  without a ``"weight"`` global are all real. This holds for padded and unpadded graphs alike
  (``jraph.get_graph_padding_mask`` would treat the last graph of an unpadded batch as padding).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph

from equitens.data.graphs import edge_vectors  # the one definition, re-exported here

__all__ = ["edge_graph_index", "edge_mask", "edge_vectors", "graph_mask", "node_graph_index"]


def _repeat_index(counts: jax.Array, total: int) -> jax.Array:
    counts = jnp.asarray(counts)
    return jnp.repeat(jnp.arange(counts.shape[0]), counts, total_repeat_length=total)


def node_graph_index(graph: jraph.GraphsTuple) -> jax.Array:
    """The graph of each node, ``(N,)`` int.

    Examples:
        >>> import numpy as np, jraph
        >>> g = jraph.GraphsTuple(nodes={"positions": np.zeros((3, 3))}, edges={}, globals={},
        ...     senders=np.zeros(0, int), receivers=np.zeros(0, int),
        ...     n_node=np.array([1, 2]), n_edge=np.array([0, 0]))
        >>> node_graph_index(g).tolist()
        [0, 1, 1]
    """
    return _repeat_index(graph.n_node, graph.nodes["positions"].shape[0])


def edge_graph_index(graph: jraph.GraphsTuple) -> jax.Array:
    """The graph of each edge, ``(E,)`` int.

    Examples:
        >>> import numpy as np, jraph
        >>> g = jraph.GraphsTuple(nodes={}, edges={}, globals={}, senders=np.zeros(3, int),
        ...     receivers=np.zeros(3, int), n_node=np.array([1, 1]), n_edge=np.array([2, 1]))
        >>> edge_graph_index(g).tolist()
        [0, 0, 1]
    """
    return _repeat_index(graph.n_edge, graph.senders.shape[0])


def edge_mask(vectors: jax.Array) -> jax.Array:
    """1 for edges of nonzero length, 0 for zero-length (padding) edges; ``(E,)`` in their dtype.

    Examples:
        >>> import jax.numpy as jnp
        >>> edge_mask(jnp.array([[1.0, 0, 0], [0.0, 0, 0]])).tolist()
        [1.0, 0.0]
    """
    return (jnp.sum(vectors * vectors, axis=-1) > 0).astype(vectors.dtype)


def graph_mask(graph: jraph.GraphsTuple, dtype=jnp.float32) -> jax.Array:
    """1 for real graphs, 0 for padding graphs (``globals["weight"] == 0``); ``(G,)``.

    Examples:
        >>> import numpy as np, jraph
        >>> g = jraph.GraphsTuple(nodes={}, edges={}, globals={"weight": np.array([1.0, 0.0])},
        ...     senders=None, receivers=None, n_node=np.array([2, 1]), n_edge=np.array([0, 0]))
        >>> graph_mask(g).tolist()
        [1.0, 0.0]
    """
    globals_ = graph.globals if isinstance(graph.globals, dict) else {}
    if "weight" not in globals_:
        return jnp.ones(jnp.shape(graph.n_node)[0], dtype)
    return (jnp.asarray(globals_["weight"]) != 0).astype(dtype)
