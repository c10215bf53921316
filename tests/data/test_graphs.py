"""graph_from_configuration: the contract layout, edge vectors, periodic invariance."""

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from equitens.data import (
    Configuration,
    GraphLoader,
    SpeciesTable,
    edge_vectors,
    graph_from_configuration,
)

CELL = np.array([[3.6, 0.0, 0.0], [1.2, 3.3, 0.0], [0.5, -0.7, 3.1]])


def _periodic(seed=0, n=5):
    rng = np.random.default_rng(seed)
    return Configuration(
        rng.choice([29, 79], n),
        rng.uniform(0, 1, (n, 3)) @ CELL,
        cell=CELL,
        pbc=True,
        energy=-3.0,
        forces=rng.normal(size=(n, 3)),
        stress=np.eye(3) * 0.01,
    )


def test_layout_and_dtypes():
    config = _periodic()
    g = graph_from_configuration(config, 4.0, SpeciesTable((29, 79)))
    assert set(g.nodes) == {"positions", "species", "forces"}
    assert set(g.edges) == {"unit_shifts"}
    assert set(g.globals) == {
        "energy",
        "stress",
        "cell",
        "weight",
        "energy_weight",
        "forces_weight",
        "stress_weight",
    }
    n, e = config.num_atoms, int(g.n_edge[0])
    assert g.nodes["positions"].shape == (n, 3) and g.nodes["species"].dtype == np.int32
    assert g.edges["unit_shifts"].shape == (e, 3) and g.edges["unit_shifts"].dtype == np.float64
    assert g.senders.dtype == np.int32 and g.receivers.dtype == np.int32
    assert g.n_node.dtype == np.int32 and g.n_edge.dtype == np.int32
    assert g.globals["stress"].shape == (1, 3, 3) and g.globals["cell"].shape == (1, 3, 3)
    np.testing.assert_array_equal(g.globals["cell"][0], CELL)
    for key in ("weight", "energy_weight", "forces_weight", "stress_weight"):
        assert g.globals[key].tolist() == [1.0]
    lengths = np.linalg.norm(edge_vectors(g), axis=1)
    assert np.all((lengths > 0) & (lengths < 4.0))
    g32 = graph_from_configuration(config, 4.0, SpeciesTable((29, 79)), dtype=np.float32)
    assert g32.nodes["positions"].dtype == np.float32 and g32.globals["cell"].dtype == np.float32


def test_unknown_labels_get_zero_weight_and_molecules_zero_cell():
    config = Configuration(
        np.array([8, 1, 1]),
        [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]],
        cell=np.eye(3) * 50.0,
        pbc=False,
    )
    g = graph_from_configuration(config, 5.0, SpeciesTable((1, 8)))
    assert not g.globals["cell"].any() and not g.nodes["forces"].any()
    assert g.globals["energy_weight"].tolist() == [0.0]
    assert g.globals["forces_weight"].tolist() == [0.0]
    assert g.globals["stress_weight"].tolist() == [0.0]
    assert int(g.n_edge[0]) == 6


def test_unknown_element_raises():
    config = Configuration(np.array([8, 7]), [[0, 0, 0], [1.0, 0, 0]])
    with pytest.raises(ValueError, match="unknown element N"):
        graph_from_configuration(config, 2.0, SpeciesTable((1, 8)))


def test_edge_vectors_invariant_under_wrapping_atoms_into_other_cells():
    """Moving atoms by lattice vectors changes shifts, not the multiset of edge vectors."""
    config = _periodic(seed=1)
    table = SpeciesTable((29, 79))
    moved = Configuration(
        config.atomic_numbers,
        config.positions
        + np.array([[1, 0, -2], [0, 3, 0], [-1, -1, 1], [2, 0, 0], [0, 0, 0]]) @ CELL,
        cell=CELL,
        pbc=True,
    )

    def per_atom_sorted(g):
        v = edge_vectors(g)
        return [
            np.array(sorted(map(tuple, np.round(v[g.senders == i], 9))))
            for i in range(config.num_atoms)
        ]

    for a, b in zip(
        per_atom_sorted(graph_from_configuration(config, 5.0, table)),
        per_atom_sorted(graph_from_configuration(moved, 5.0, table)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-8)


def test_edge_vectors_with_jax_on_a_padded_batch():
    table = SpeciesTable((29, 79))
    graphs = [graph_from_configuration(_periodic(seed=s), 4.0, table) for s in range(3)]
    batch = next(iter(GraphLoader(graphs, batch_size=3, shuffle=False)))
    ours = jax.jit(lambda g, x: edge_vectors(g, x))(batch, jnp.asarray(batch.nodes["positions"]))
    reference = np.concatenate([edge_vectors(g) for g in graphs])
    real = jraph.get_edge_padding_mask(batch)
    np.testing.assert_allclose(np.asarray(ours)[np.asarray(real)], reference, atol=1e-12)
    assert not np.asarray(ours)[~np.asarray(real)].any()  # zero-length padding edges


def test_atoms_without_neighbours_and_edgeless_batches():
    table = SpeciesTable((1, 8))
    lonely = Configuration(
        np.array([8, 1, 1]), [[0, 0, 0], [0.96, 0, 0], [30.0, 0, 0]], energy=-1.0
    )
    g = graph_from_configuration(lonely, 3.0, table)
    assert int(g.n_edge[0]) == 2 and 2 not in g.senders and 2 not in g.receivers
    atoms = [
        graph_from_configuration(
            Configuration(np.array([z]), np.zeros((1, 3)), energy=-z), 5.0, table
        )
        for z in (1, 8, 1)
    ]
    batches = list(GraphLoader(atoms, batch_size=2, shuffle=False))
    assert [b.senders.shape[0] for b in batches] == [0, 0]
    assert [b.globals["energy"].tolist() for b in batches] == [[-1.0, -8.0, 0.0], [-1.0, 0.0, 0.0]]
