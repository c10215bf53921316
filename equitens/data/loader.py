"""Batches of graphs padded to a few fixed sizes, so a jitted step compiles once per size.

Every batch holds ``batch_size`` real graphs (fewer in the last batch of an epoch) plus padding,
added with ``jraph.pad_with_graphs``: one padding graph that owns the padding nodes and edges
(padding edges join the first padding node to itself, with zero shift: zero-length vectors),
then empty graphs up to ``batch_size + 1`` graphs. The node and edge totals are padded up to the
smallest of ``num_buckets`` size buckets that fits. The buckets are fixed when the loader is built
(quantiles of the node and edge totals of shuffled batches, the largest bucket holds the worst
case), so the number of distinct batch shapes, and of compilations, is at most ``num_buckets``.
Padding never changes a sum over real nodes, edges or graphs; masks come from
``jraph.get_node_padding_mask`` / ``get_edge_padding_mask`` / ``get_graph_padding_mask`` or from
``globals["weight"]`` (0 for padding graphs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import jraph
import numpy as np

__all__ = ["GraphLoader"]


class GraphLoader:
    """Iterable of padded batches of graphs; one pass is one epoch.

    Args:
        graphs: single-structure graphs from :func:`~equitens.data.graph_from_configuration`.
        batch_size: real graphs per batch (the batch has ``batch_size + 1`` graph slots).
        shuffle: shuffle the order every epoch.
        seed: seed of the shuffles; epoch ``k`` always has the same order for the same seed.
        num_buckets: number of fixed (nodes, edges) sizes the batches are padded to.
        drop_last: drop the last, smaller batch of an epoch.

    Raises:
        ValueError: for no graphs, ``batch_size < 1``, ``num_buckets < 1`` or an input that is
            not a single graph.

    Examples:
        >>> import numpy as np
        >>> from equitens.data import Configuration, SpeciesTable, graph_from_configuration
        >>> rng = np.random.default_rng(0)
        >>> table = SpeciesTable((1,))
        >>> graphs = [graph_from_configuration(Configuration(np.ones(n, int),
        ...           rng.uniform(0, 3, (n, 3)), energy=0.0), 2.0, table) for n in range(2, 12)]
        >>> loader = GraphLoader(graphs, batch_size=3, shuffle=True, seed=0, num_buckets=2)
        >>> len(loader), len(loader.buckets)
        (4, 2)
        >>> batch = next(iter(loader))
        >>> batch.n_node.shape, int(batch.globals["weight"].sum())
        ((4,), 3)
    """

    def __init__(
        self,
        graphs: Sequence[jraph.GraphsTuple],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        *,
        num_buckets: int = 4,
        drop_last: bool = False,
    ):
        graphs = list(graphs)
        if not graphs:
            raise ValueError("GraphLoader needs at least one graph, got none")
        if int(batch_size) < 1 or int(num_buckets) < 1:
            raise ValueError(
                f"batch_size and num_buckets must be >= 1, got {batch_size} and {num_buckets}"
            )
        for position, graph in enumerate(graphs):
            if np.shape(graph.n_node) != (1,):
                raise ValueError(
                    f"graph {position} holds {np.shape(graph.n_node)[0]} graphs; GraphLoader "
                    f"takes single-structure graphs (from graph_from_configuration)"
                )
        self.graphs = graphs
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        if self.drop_last and len(graphs) < self.batch_size:
            raise ValueError(
                f"drop_last=True with {len(graphs)} graphs < batch_size={batch_size} gives no "
                f"batch; lower the batch size"
            )
        self._nodes = np.array([int(g.n_node[0]) for g in graphs])
        self._edges = np.array([int(g.n_edge[0]) for g in graphs])
        self._epoch = 0
        self._cache: list[jraph.GraphsTuple] | None = None
        self.buckets = self._make_buckets(int(num_buckets))

    @property
    def n_graph(self) -> int:
        """Graph slots of every batch: ``batch_size`` real graphs and one padding graph."""
        return self.batch_size + 1

    def __len__(self) -> int:
        count = len(self.graphs) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def _order(self, epoch: int, stream: int = 0) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.graphs))
        rng = np.random.default_rng([self.seed, epoch, stream])
        return rng.permutation(len(self.graphs))

    def _chunks(self, order: np.ndarray) -> list[np.ndarray]:
        stop = len(self) * self.batch_size
        return [order[i : i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _make_buckets(self, num_buckets: int) -> tuple[tuple[int, int, int], ...]:
        """(n_node, n_edge, n_graph): quantiles of sampled batch totals, then the worst case."""
        if self.shuffle:
            epochs = max(1, math.ceil(512 / len(self)))
            orders = [self._order(k, stream=1) for k in range(epochs)]  # samples, not epochs
        else:
            orders = [self._order(0)]
        chunks = [chunk for order in orders for chunk in self._chunks(order)]
        nodes = np.array([self._nodes[c].sum() for c in chunks])
        edges = np.array([self._edges[c].sum() for c in chunks])
        if self.shuffle:
            top = min(self.batch_size, len(self.graphs))
            max_nodes = int(np.sort(self._nodes)[-top:].sum())
            max_edges = int(np.sort(self._edges)[-top:].sum())
        else:
            max_nodes, max_edges = int(nodes.max()), int(edges.max())
        sizes = []
        for k in range(1, num_buckets):
            q = k / num_buckets
            sizes.append((int(np.ceil(np.quantile(nodes, q))), int(np.ceil(np.quantile(edges, q)))))
        sizes.append((max_nodes, max_edges))
        buckets: list[tuple[int, int, int]] = []
        for n_node, n_edge in sizes:
            bucket = (n_node + 1, n_edge, self.n_graph)  # >= 1 padding node for the padding graph
            if buckets and bucket[0] <= buckets[-1][0] and bucket[1] <= buckets[-1][1]:
                continue
            if buckets:  # keep both sizes non-decreasing
                bucket = (max(bucket[0], buckets[-1][0]), max(bucket[1], buckets[-1][1]), bucket[2])
            buckets.append(bucket)
        return tuple(buckets)

    def bucket_of(self, n_node: int, n_edge: int) -> tuple[int, int, int]:
        """The smallest bucket that holds a batch of ``n_node`` real nodes and ``n_edge`` edges.

        Examples:
            >>> import numpy as np
            >>> from equitens.data import Configuration, SpeciesTable, graph_from_configuration
            >>> g = graph_from_configuration(Configuration(np.array([1, 1]),
            ...     np.array([[0.0, 0, 0], [0.7, 0, 0]])), 2.0, SpeciesTable((1,)))
            >>> GraphLoader([g] * 4, batch_size=2).bucket_of(4, 4)
            (5, 4, 3)
        """
        for bucket in self.buckets:
            if n_node < bucket[0] and n_edge <= bucket[1]:
                return bucket
        raise ValueError(  # cannot happen for batches of this loader's graphs
            f"a batch of {n_node} nodes and {n_edge} edges exceeds the largest bucket "
            f"{self.buckets[-1]}"
        )

    def _batch(self, indices: np.ndarray) -> jraph.GraphsTuple:
        batch = jraph.batch_np([self.graphs[i] for i in indices])
        n_node, n_edge, n_graph = self.bucket_of(
            int(self._nodes[indices].sum()), int(self._edges[indices].sum())
        )
        return jraph.pad_with_graphs(batch, n_node=n_node, n_edge=n_edge, n_graph=n_graph)

    def epoch(self, epoch: int) -> Iterator[jraph.GraphsTuple]:
        """The padded batches of epoch number ``epoch`` (deterministic for a given seed).

        Examples:
            >>> import numpy as np
            >>> from equitens.data import Configuration, SpeciesTable, graph_from_configuration
            >>> g = graph_from_configuration(Configuration(np.array([1]), np.zeros((1, 3))),
            ...                              2.0, SpeciesTable((1,)))
            >>> for batch in GraphLoader([g] * 3, batch_size=2).epoch(0):
            ...     print(batch.n_node.tolist(), "real graphs:", int(batch.globals["weight"].sum()))
            [1, 1, 1] real graphs: 2
            [1, 1, 0] real graphs: 1
        """
        if not self.shuffle:
            if self._cache is None:
                self._cache = [self._batch(c) for c in self._chunks(self._order(0))]
            yield from self._cache
            return
        for chunk in self._chunks(self._order(epoch)):
            yield self._batch(chunk)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch`` (to resume a run exactly)."""
        self._epoch = int(epoch)

    def __iter__(self) -> Iterator[jraph.GraphsTuple]:
        epoch = self._epoch
        self._epoch += 1
        return self.epoch(epoch)

    def __repr__(self) -> str:
        return (
            f"GraphLoader({len(self.graphs)} graphs, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, {len(self)} batches per epoch, buckets={list(self.buckets)})"
        )
