"""An ASE calculator for a trained equitens potential: energy, forces and stress.

:class:`EquitensCalculator` turns ``ase.Atoms`` into a graph (the same neighbour list and layout
as training, :func:`equitens.data.graph_from_configuration`), pads it to a size bucket so that
molecular dynamics compiles once per bucket rather than once per step, and evaluates
:func:`equitens.models.predict` under ``jax.jit``. Stress follows ASE's convention
(``(1/V) dE/d strain``, eV/A^3, Voigt order ``xx yy zz yz xz xy``) and is given for cells periodic
in all three directions only.

Each bucket's compilation is paid again by every new process unless jax's persistent compilation
cache is on: ``equitens md`` switches it on; in your own script call
:func:`equitens.compilation_cache.enable_compilation_cache` once before the first step.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from equitens.precision import run_dtype

__all__ = ["EquitensCalculator"]


def _bucket(count: int) -> int:
    """Round up to a quarter-octave step (at most ~25% padding, few distinct sizes)."""
    count = max(count, 1)
    step = max(16, 2 ** max(int(math.log2(count)) - 2, 0))
    return int(math.ceil(count / step) * step)


def _species_table(species: Any):
    from equitens.data import SpeciesTable

    if isinstance(species, SpeciesTable):
        return species
    return SpeciesTable(tuple(int(z) for z in species))


class EquitensCalculator(Calculator):
    """ASE calculator of an equitens potential.

    Args:
        model: the potential (from :func:`equitens.models.build_model`).
        params: its parameters.
        species: the ``equitens.data.SpeciesTable`` of training, or its atomic numbers.
        cutoff: the neighbour cutoff (Angstrom), the model's.
        dtype: float dtype of the inputs (default: the dtype of the parameters).
        **kwargs: passed to ``ase.calculators.calculator.Calculator``.

    Examples:
        >>> import jax, numpy as np
        >>> from ase import Atoms
        >>> from equitens.models import build_model
        >>> model = build_model({"model": {"name": "mace", "cutoff": 3.0, "num_channels": 4,
        ...     "lmax": 1, "correlation": 1, "num_interactions": 1, "radial_mlp": [8]}},
        ...     (1, 8), [-13.6, -2041.0])
        >>> atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        >>> params = EquitensCalculator.init_params(
        ...     model, atoms, (1, 8), 3.0, jax.random.PRNGKey(0))
        >>> atoms.calc = EquitensCalculator(model, params, (1, 8), cutoff=3.0)
        >>> atoms.get_forces().shape
        (3, 3)
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, params, species, cutoff: float, *, dtype=None, **kwargs):
        super().__init__(**kwargs)
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise ValueError(f"cutoff must be a positive length in Angstrom, got {cutoff!r}")
        self.model = model
        leaves = jax.tree_util.tree_leaves(params)
        if dtype is None:
            dtype = leaves[0].dtype if leaves else np.float32
        self.dtype = np.dtype(dtype)
        self.params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, self.dtype), params)
        self.table = _species_table(species)
        self.cutoff = float(cutoff)

    def _predict(self, params, graph, compute_stress):
        return _jitted_predict(self.model, params, graph, compute_stress)

    @classmethod
    def from_checkpoint(cls, path, which: str = "best", **kwargs) -> EquitensCalculator:
        """The calculator of a training checkpoint (``equitens.train.checkpoint.load_checkpoint``).

        A checkpoint of a float64 run needs jax's x64 mode switched on beforehand
        (:mod:`equitens.precision`; ``equitens md`` does it).

        Args:
            path: a checkpoint file, or the folder of a training run.
            which: ``"best"`` or ``"latest"`` when ``path`` is a folder.
            **kwargs: passed to the constructor.

        Returns:
            The calculator, with the checkpoint's configuration, parameters, species and E0s.

        Raises:
            ValueError: for a checkpoint without a model, or of a float64 run while jax's x64
                mode is off.
        """
        from equitens.models.build import build_model
        from equitens.train.checkpoint import load_checkpoint

        state = load_checkpoint(path, which)
        missing = [k for k in ("config", "params", "species", "atomic_energies") if k not in state]
        if missing:
            raise ValueError(
                f"the checkpoint {str(path)!r} lacks {', '.join(missing)}; pass a checkpoint "
                "written by `equitens train`"
            )
        config = state["config"]
        kwargs.setdefault("dtype", run_dtype(config.get("dtype", "float32")))
        model = build_model(config, state["species"], state["atomic_energies"])
        section = config["model"] if "model" in config else config
        return cls(model, state["params"], state["species"], float(section["cutoff"]), **kwargs)

    @staticmethod
    def init_params(model, atoms, species, cutoff: float, key: jax.Array):
        """Fresh parameters of ``model``, initialised on the graph of ``atoms`` (tests, examples).

        Examples:
            >>> import jax
            >>> from ase import Atoms
            >>> from equitens.models import build_model
            >>> model = build_model({"model": {"name": "nequip", "num_channels": 4, "lmax": 1,
            ...     "num_interactions": 1, "radial_mlp": [8]}}, (1,), [0.0])
            >>> p = EquitensCalculator.init_params(
            ...     model, Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]]), (1,), 5.0,
            ...     jax.random.PRNGKey(0))
            >>> sorted(p["params"])[:2]
            ['embedding', 'linear_0']
        """
        graph = _graph(atoms, _species_table(species), cutoff, np.float64)
        return jax.jit(model.init)(key, graph)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Compute energy, forces and (for 3-d periodic cells) stress of ``atoms``."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = stress_available(atoms, properties)
        padded, n = padded_graph(atoms, self.table, self.cutoff, self.dtype)
        out = self._predict(self.params, padded, compute_stress=periodic)
        energy = float(out["energy"][0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": np.asarray(out["forces"][:n], dtype=np.float64),
        }
        if periodic:
            self.results["stress"] = full_3x3_to_voigt_6_stress(
                np.asarray(out["stress"][0], dtype=np.float64)
            )


@functools.partial(jax.jit, static_argnames=("model", "compute_stress"))
def _jitted_predict(model, params, graph, compute_stress):
    """One compiled function per (model configuration, bucket), shared by equal models."""
    from equitens.models.predict import predict

    return predict(model, params, graph, compute_stress=compute_stress)


def stress_available(atoms, properties) -> bool:
    """Whether ``atoms`` has a stress (a cell periodic in all three directions); asking for it
    otherwise raises ASE's ``PropertyNotImplementedError``."""
    periodic = bool(np.all(atoms.pbc)) and atoms.cell.rank == 3
    if "stress" in properties and not periodic:
        from ase.calculators.calculator import PropertyNotImplementedError

        raise PropertyNotImplementedError(
            "stress needs a cell periodic in all three directions (atoms.pbc all True)"
        )
    return periodic


def padded_graph(atoms, table, cutoff: float, dtype) -> tuple[jraph.GraphsTuple, int]:
    """The graph of ``atoms`` padded to a size bucket (one padding node and graph), and the
    number of atoms: molecular dynamics compiles once per bucket, not once per step."""
    graph = _graph(atoms, table, cutoff, dtype)
    n, e = int(graph.n_node[0]), int(graph.n_edge[0])
    return jraph.pad_with_graphs(graph, n + 1, _bucket(e + 1), 2), n


def _graph(atoms, table, cutoff: float, dtype) -> jraph.GraphsTuple:
    from equitens.data import Configuration, graph_from_configuration

    config = Configuration(
        np.asarray(atoms.numbers),
        np.asarray(atoms.positions),
        cell=np.asarray(atoms.cell.array),
        pbc=tuple(bool(p) for p in atoms.pbc),
    )
    return graph_from_configuration(config, cutoff, table, dtype=dtype)
