"""Atomistic data: extxyz reading, species, E0s, neighbour lists, padded graph batches, datasets.

The pipeline from a file to batches a jitted model consumes::

    configs = read_extxyz("train.xyz", energy_key="REF_energy", forces_key="REF_forces")
    table = SpeciesTable.from_configurations(configs)
    e0 = atomic_energies(configs, table)
    graphs = [graph_from_configuration(c, cutoff=5.0, table=table) for c in configs]
    for batch in GraphLoader(graphs, batch_size=8, shuffle=True, seed=0): ...

Example:
    >>> from equitens.data import load_default_dataset, SpeciesTable
    >>> configs = load_default_dataset()
    >>> SpeciesTable.from_configurations(configs)
    SpeciesTable(H+C+O)
"""

from equitens.data.atomic_energies import atomic_energies
from equitens.data.configuration import (
    Configuration,
    MissingLabelError,
    configuration_from_atoms,
    is_isolated_atom,
    read_extxyz,
)
from equitens.data.embedded import DEFAULT_DATASETS, default_dataset_path, load_default_dataset
from equitens.data.graphs import edge_vectors, graph_from_configuration
from equitens.data.loader import GraphLoader
from equitens.data.neighbours import neighbour_list
from equitens.data.species import SpeciesTable
from equitens.data.split import split

__all__ = [
    "Configuration",
    "DEFAULT_DATASETS",
    "GraphLoader",
    "MissingLabelError",
    "SpeciesTable",
    "atomic_energies",
    "configuration_from_atoms",
    "default_dataset_path",
    "edge_vectors",
    "graph_from_configuration",
    "is_isolated_atom",
    "load_default_dataset",
    "neighbour_list",
    "read_extxyz",
    "split",
]
