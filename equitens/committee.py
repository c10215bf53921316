"""A committee of potentials as one ASE calculator: the mean prediction and its spread.

Several models trained on the same data from different seeds (or splits) agree where the data
taught them and disagree elsewhere: the spread of their predictions is the usual uncertainty of
machine-learned potentials, and what active learning selects new structures by.
:class:`CommitteeCalculator` gives the members' mean energy, forces and stress as the
calculator's results (what MD integrates) and, beside them, each member's predictions and their
standard deviation over the members.

Members that share a model (the same architecture, cutoff, species and dtype: a committee trained
with different seeds) are evaluated together: their parameters are stacked and one compiled
function maps the prediction over them (``jax.vmap``), on one neighbour list.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from equitens.calculator import EquitensCalculator, padded_graph, stress_available

__all__ = ["CommitteeCalculator"]


class CommitteeCalculator(Calculator):
    """ASE calculator of a committee of equitens potentials.

    Results: ``energy``, ``free_energy``, ``forces`` and (3-d periodic cells) ``stress`` are
    the members' means; ``committee_energies`` ``(M,)``, ``committee_forces`` ``(M, N, 3)`` and
    ``committee_stress`` ``(M, 6)`` each member's; ``energy_std`` (eV), ``forces_std``
    ``(N,)`` (eV/A: per atom, the root mean square over the members of the distance of their
    force vector from the mean one) and ``stress_std`` ``(6,)`` their spread (standard
    deviations over the members, ``ddof=0``). Read them with
    ``atoms.calc.get_property("forces_std", atoms)``; ASE's names ``energies`` and ``stresses``
    are per-atom quantities, hence the ``committee_`` prefix.

    Args:
        members: two or more :class:`~equitens.calculator.EquitensCalculator` (any mix of
            models; those with equal models, cutoffs, species and dtypes run together).
        together: evaluate the members that share a model in one vmapped call (default); False
            evaluates each on its own (less memory: one member's intermediates at a time).
        **kwargs: passed to ``ase.calculators.calculator.Calculator``.

    Raises:
        ValueError: for fewer than two members.

    Examples:
        >>> import jax
        >>> from ase import Atoms
        >>> from equitens.models import build_model
        >>> model = build_model({"model": {"name": "mace", "cutoff": 3.0, "num_channels": 4,
        ...     "lmax": 1, "correlation": 1, "num_interactions": 1, "radial_mlp": [8]}},
        ...     (1, 8), [-13.6, -2041.0])
        >>> atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        >>> members = [EquitensCalculator(model, EquitensCalculator.init_params(
        ...     model, atoms, (1, 8), 3.0, jax.random.PRNGKey(seed)), (1, 8), cutoff=3.0)
        ...     for seed in range(3)]
        >>> atoms.calc = CommitteeCalculator(members)
        >>> atoms.get_forces().shape, atoms.calc.get_property("forces_std", atoms).shape
        ((3, 3), (3,))
        >>> atoms.calc.get_property("committee_energies", atoms).shape
        (3,)
    """

    implemented_properties = [
        "energy",
        "free_energy",
        "forces",
        "stress",
        "committee_energies",
        "committee_forces",
        "committee_stress",
        "energy_std",
        "forces_std",
        "stress_std",
    ]

    def __init__(self, members: Sequence[EquitensCalculator], *, together: bool = True, **kwargs):
        super().__init__(**kwargs)
        members = tuple(members)
        if len(members) < 2:
            raise ValueError(
                f"a committee needs at least 2 members, got {len(members)}: pass several "
                "calculators (e.g. models trained with different seeds)"
            )
        self.members = members
        self._groups = _shared_model_groups(members, together)

    @classmethod
    def from_checkpoints(
        cls, paths: Sequence, which: str = "best", **kwargs
    ) -> CommitteeCalculator:
        """The committee of several training checkpoints (run folders or ``.ckpt`` files).

        Args:
            paths: two or more checkpoints (see
                :meth:`equitens.calculator.EquitensCalculator.from_checkpoint`).
            which: ``"best"`` or ``"latest"`` for run folders.
            **kwargs: passed to the constructor.

        Returns:
            The committee calculator.
        """
        return cls([EquitensCalculator.from_checkpoint(p, which) for p in paths], **kwargs)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Compute every member's energy, forces and (3-d periodic cells) stress of ``atoms``,
        and their means and spreads."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = stress_available(atoms, properties)
        outputs: list = [None] * len(self.members)
        for first, indices, params in self._groups:
            graph, n = padded_graph(atoms, first.table, first.cutoff, first.dtype)
            out = jax.device_get(_committee_predict(first.model, params, graph, periodic))
            for k, index in enumerate(indices):
                outputs[index] = {key: value[k] for key, value in out.items()}
        energies = np.array([float(o["energy"][0]) for o in outputs])
        forces = np.stack([np.asarray(o["forces"][:n], np.float64) for o in outputs])
        mean_forces = forces.mean(axis=0)
        self.results = {
            "energy": float(energies.mean()),
            "free_energy": float(energies.mean()),
            "forces": mean_forces,
            "committee_energies": energies,
            "committee_forces": forces,
            "energy_std": float(energies.std()),
            "forces_std": np.sqrt(np.mean(np.sum((forces - mean_forces) ** 2, axis=-1), axis=0)),
        }
        if periodic:
            stress = np.stack(
                [
                    full_3x3_to_voigt_6_stress(np.asarray(o["stress"][0], np.float64))
                    for o in outputs
                ]
            )
            self.results.update(
                stress=stress.mean(axis=0), committee_stress=stress, stress_std=stress.std(axis=0)
            )


def _shared_model_groups(members: Sequence[EquitensCalculator], together: bool) -> list[tuple]:
    """``(first member, member indices, stacked parameters)`` per set of members with equal
    models, cutoffs, species tables and dtypes (each member alone unless ``together``), in order
    of first appearance."""
    groups: dict = {}
    for index, member in enumerate(members):
        key = (member.model, member.cutoff, member.table, member.dtype) if together else index
        groups.setdefault(key, []).append(index)
    out = []
    for indices in groups.values():
        params = [members[i].params for i in indices]
        stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *params)
        out.append((members[indices[0]], tuple(indices), stacked))
    return out


@functools.partial(jax.jit, static_argnames=("model", "compute_stress"))
def _committee_predict(model, stacked_params, graph, compute_stress):
    """The predictions of every parameter set of ``stacked_params`` (leading axis) on one
    graph: one compiled function per (model, bucket, committee size)."""
    from equitens.models.predict import predict

    return jax.vmap(lambda params: predict(model, params, graph, compute_stress=compute_stress))(
        stacked_params
    )
