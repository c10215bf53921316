"""Test batches in the contract's format, built independently of equitens.data."""

from __future__ import annotations

import jraph
import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list


def graph_from_atoms(
    atoms: Atoms, cutoff: float, species_of: dict[int, int], energy: float = 0.0
) -> jraph.GraphsTuple:
    """One unpadded graph: edges within ``cutoff`` (periodic images where ``atoms.pbc``)."""
    i, j, shifts = neighbor_list("ijS", atoms, cutoff)
    periodic = bool(np.any(atoms.pbc))
    cell = np.asarray(atoms.cell.array if periodic else np.zeros((3, 3)), np.float64)
    n, e = len(atoms), len(i)
    return jraph.GraphsTuple(
        nodes={
            "positions": np.asarray(atoms.positions, np.float64),
            "species": np.array([species_of[int(z)] for z in atoms.numbers], np.int32),
            "forces": np.zeros((n, 3)),
        },
        # ASE: D = positions[j] - positions[i] + S @ cell;
        # the contract: receivers - senders + shifts @ cell
        edges={"unit_shifts": np.asarray(shifts, np.float64)},
        globals={
            "energy": np.array([energy]),
            "stress": np.zeros((1, 3, 3)),
            "cell": cell[None],
            "weight": np.ones(1),
            "energy_weight": np.ones(1),
            "forces_weight": np.ones(1),
            "stress_weight": np.ones(1) if periodic else np.zeros(1),
        },
        senders=np.asarray(i, np.int32),
        receivers=np.asarray(j, np.int32),
        n_node=np.array([n], np.int32),
        n_edge=np.array([e], np.int32),
    )


def ethanol(seed: int = 0) -> Atoms:
    """An ethanol-like molecule with jittered positions (C2H6O)."""
    rng = np.random.default_rng(seed)
    positions = np.array(
        [
            [0.0, 0.0, 0.0],
            [1.52, 0.0, 0.0],
            [2.0, 1.35, 0.0],  # C C O
            [-0.4, 1.0, 0.1],
            [-0.4, -0.5, 0.9],
            [-0.4, -0.5, -0.9],
            [1.9, -0.5, 0.9],
            [1.9, -0.5, -0.9],
            [2.95, 1.3, 0.1],
        ]
    )
    return Atoms("CCOHHHHHH", positions=positions + 0.05 * rng.normal(size=positions.shape))


def bulk_cell(seed: int = 0) -> Atoms:
    """A small triclinic periodic cell of C and H (edges to periodic images included)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.0, 0.0], [0.4, 2.9, 0.0], [0.2, 0.3, 3.3]])
    frac = rng.uniform(size=(4, 3))
    return Atoms("CCHO", scaled_positions=frac, cell=cell, pbc=True)


SPECIES = {1: 0, 6: 1, 8: 2}  # H, C, O
CUTOFF = 3.0


def batch(*graphs: jraph.GraphsTuple, pad: tuple[int, int, int] | None = None) -> jraph.GraphsTuple:
    """Batch graphs, optionally padded to ``(nodes, edges, graphs)`` with jraph.pad_with_graphs."""
    out = jraph.batch_np(list(graphs))
    if pad is not None:
        out = jraph.pad_with_graphs(out, *pad)
    return out


def transform(
    graph: jraph.GraphsTuple, matrix: np.ndarray, translation: np.ndarray | None = None
) -> jraph.GraphsTuple:
    """Apply ``r -> Q r + t`` to positions (rows) and ``Q`` to the lattice vectors."""
    positions = graph.nodes["positions"] @ matrix.T
    if translation is not None:
        positions = positions + translation
    cell = graph.globals["cell"] @ matrix.T
    return graph._replace(
        nodes={**graph.nodes, "positions": positions}, globals={**graph.globals, "cell": cell}
    )


# A small float64 MACE over H, C, O with its E0s: the calculator and committee tests' model.
ATOMIC_NUMBERS = (1, 6, 8)
ATOMIC_ENERGIES = np.array([-13.6, -1029.0, -2041.0])
SMALL_MACE = {
    "model": {
        "name": "mace",
        "cutoff": 3.0,
        "num_channels": 4,
        "lmax": 1,
        "correlation": 2,
        "num_interactions": 2,
        "radial_mlp": [8],
        "avg_num_neighbors": 6.0,
    },
    "dtype": "float64",
}
