"""GraphLoader: padding never changes sums over real nodes/edges/graphs; few fixed shapes."""

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from equitens.data import Configuration, GraphLoader, SpeciesTable, graph_from_configuration

TABLE = SpeciesTable((1, 6, 8))


def _graphs(count=23, seed=0):
    rng = np.random.default_rng(seed)
    graphs = []
    for k in range(count):
        n = int(rng.integers(1, 10))
        config = Configuration(
            rng.choice([1, 6, 8], n),
            rng.uniform(0, 3.5, (n, 3)),
            energy=float(k),
            forces=rng.normal(size=(n, 3)),
        )
        graphs.append(graph_from_configuration(config, 2.5, TABLE))
    return graphs


def _toy_energy(graph):
    """Per-graph sum over edges and nodes of species- and distance-dependent terms (jax)."""
    x = graph.nodes["positions"]
    s = graph.nodes["species"]
    v = x[graph.receivers] - x[graph.senders]
    r2 = jnp.sum(v**2, axis=1)
    edge_term = jnp.exp(-r2) * (s[graph.senders] + 1.0) * (s[graph.receivers] + 2.0)
    n_graph = graph.n_node.shape[0]
    node_graph = jnp.repeat(jnp.arange(n_graph), graph.n_node, total_repeat_length=x.shape[0])
    edge_graph = jnp.repeat(
        jnp.arange(n_graph), graph.n_edge, total_repeat_length=graph.senders.shape[0]
    )
    node_term = jnp.sum(graph.nodes["forces"] ** 2, axis=1) + s
    return jax.ops.segment_sum(edge_term, edge_graph, n_graph) + jax.ops.segment_sum(
        node_term, node_graph, n_graph
    )


def _toy_energy_numpy(graph):
    """The same quantity for one unpadded graph, by plain loops (independent oracle)."""
    x, s = graph.nodes["positions"], graph.nodes["species"]
    total = 0.0
    for i, j in zip(graph.senders, graph.receivers, strict=True):
        total += np.exp(-np.sum((x[j] - x[i]) ** 2)) * (s[i] + 1.0) * (s[j] + 2.0)
    return total + np.sum(graph.nodes["forces"] ** 2) + s.sum()


def test_padding_never_changes_per_graph_sums_and_masks_are_right():
    graphs = _graphs()
    loader = GraphLoader(graphs, batch_size=4, shuffle=True, seed=3, num_buckets=3)
    energy = jax.jit(_toy_energy)
    seen = []
    for batch in loader:
        graph_mask = np.asarray(jraph.get_graph_padding_mask(batch))
        node_mask = np.asarray(jraph.get_node_padding_mask(batch))
        edge_mask = np.asarray(jraph.get_edge_padding_mask(batch))
        real = int(graph_mask.sum())
        assert batch.n_node.shape == (5,) and graph_mask[:real].all()
        assert not graph_mask[real:].any()
        np.testing.assert_array_equal(batch.globals["weight"] > 0, graph_mask)
        assert node_mask.sum() == batch.n_node[:real].sum()
        assert edge_mask.sum() == batch.n_edge[:real].sum()
        assert not batch.nodes["species"][~node_mask].any()
        assert not batch.edges["unit_shifts"][~edge_mask].any()
        pad_node = batch.n_node[:real].sum()  # padding edges join the first padding node to itself
        assert np.all(batch.senders[~edge_mask] == pad_node)
        assert np.all(batch.receivers[~edge_mask] == pad_node)
        energies = np.asarray(energy(batch))
        for slot, label in enumerate(batch.globals["energy"][:real]):
            single = graphs[int(label)]
            np.testing.assert_allclose(energies[slot], _toy_energy_numpy(single), rtol=1e-12)
            seen.append(int(label))
    assert sorted(seen) == list(range(len(graphs)))  # every graph exactly once per epoch


def test_at_most_num_buckets_shapes_and_compilations():
    graphs = _graphs(count=60, seed=1)
    loader = GraphLoader(graphs, batch_size=5, shuffle=True, seed=0, num_buckets=3)
    assert 1 <= len(loader.buckets) <= 3
    traces = []

    @jax.jit
    def step(batch):
        traces.append(batch.n_node.shape)
        return _toy_energy(batch).sum()

    shapes = set()
    for _ in range(6):
        for batch in loader:
            shapes.add(
                (batch.nodes["positions"].shape[0], batch.senders.shape[0], batch.n_node.shape[0])
            )
            step(batch)
    assert shapes <= set(loader.buckets)
    assert len(traces) == len(shapes) <= 3
    # the buckets are sorted and the largest holds the worst case
    nodes = sorted(int(g.n_node[0]) for g in graphs)[-5:]
    edges = sorted(int(g.n_edge[0]) for g in graphs)[-5:]
    assert loader.buckets[-1][:2] == (sum(nodes) + 1, sum(edges))
    assert list(loader.buckets) == sorted(loader.buckets)


def test_length_order_and_determinism():
    graphs = _graphs(count=23)
    assert len(GraphLoader(graphs, batch_size=4)) == 6
    assert len(GraphLoader(graphs, batch_size=4, drop_last=True)) == 5

    def labels(loader, epoch):
        return [
            b.globals["energy"][: int(jraph.get_graph_padding_mask(b).sum())].tolist()
            for b in loader.epoch(epoch)
        ]

    a, b = GraphLoader(graphs, 4, seed=7), GraphLoader(graphs, 4, seed=7)
    assert labels(a, 0) == labels(b, 0) and labels(a, 0) != labels(a, 1)
    a.set_epoch(1)
    assert [x.globals["energy"].tolist() for x in a] == [
        x.globals["energy"].tolist() for x in b.epoch(1)
    ]
    unshuffled = GraphLoader(graphs, 4, shuffle=False)
    assert sum(labels(unshuffled, 0), []) == [float(k) for k in range(23)]
    dropped = GraphLoader(graphs, 4, shuffle=True, drop_last=True)
    assert all(len(x) == 4 for x in labels(dropped, 0))


def test_bad_input():
    graphs = _graphs(count=3)
    with pytest.raises(ValueError, match="at least one graph"):
        GraphLoader([], 2)
    with pytest.raises(ValueError, match="batch_size and num_buckets must be >= 1"):
        GraphLoader(graphs, 0)
    with pytest.raises(ValueError, match="single-structure graphs"):
        GraphLoader([jraph.batch_np(graphs)], 2)
    with pytest.raises(ValueError, match="drop_last=True"):
        GraphLoader(graphs, 5, drop_last=True)
