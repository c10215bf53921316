"""CommitteeCalculator: each member's predictions, their means and spreads, equivariance of the
spread, mixed models, checkpoints, bad input."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from ase import Atoms

from equitens.calculator import EquitensCalculator
from equitens.committee import CommitteeCalculator
from equitens.models import build_model
from equitens.so3 import random_rotation
from tests.models._graphs import (
    ATOMIC_ENERGIES,
    ATOMIC_NUMBERS,
    SMALL_MACE,
    bulk_cell,
    ethanol,
)

E0 = ATOMIC_ENERGIES
MACE = SMALL_MACE["model"]
NEQUIP = {"name": "nequip", "cutoff": 2.5, "num_channels": 4, "lmax": 1, "num_interactions": 1}


def _member(section: dict, seed: int) -> EquitensCalculator:
    model = build_model({"model": section, "dtype": "float64"}, ATOMIC_NUMBERS, E0)
    params = EquitensCalculator.init_params(
        model, bulk_cell(), ATOMIC_NUMBERS, section["cutoff"], jax.random.PRNGKey(seed)
    )
    # larger parameters than the initialisation: the members disagree clearly
    params = jax.tree_util.tree_map(
        lambda p: p + 0.2 * np.sign(np.sin((seed + 1) * np.arange(p.size).reshape(p.shape))),
        params,
    )
    return EquitensCalculator(model, params, ATOMIC_NUMBERS, cutoff=section["cutoff"])


@functools.cache
def _members() -> tuple[EquitensCalculator, ...]:
    """Three MACE members (one shared model, three parameter sets) and a NequIP one."""
    return (*(_member(MACE, seed) for seed in range(3)), _member(NEQUIP, 7))


def _each(members, atoms: Atoms, stress: bool) -> tuple:
    energies, forces, stresses = [], [], []
    for member in members:
        atoms.calc = member
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        if stress:
            stresses.append(atoms.get_stress())
    return np.array(energies), np.array(forces), np.array(stresses)


@pytest.mark.parametrize(
    ("count", "together", "groups"),
    [(3, True, 1), (4, True, 2), (3, False, 3)],  # one shared model; MACE and NequIP; one by one
)
def test_members_means_and_spreads(count, together, groups):
    members = _members()[:count]
    committee = CommitteeCalculator(members, together=together)
    assert len(committee._groups) == groups
    atoms = bulk_cell(seed=2)
    energies, forces, stresses = _each(members, atoms, stress=True)
    atoms.calc = committee
    get = functools.partial(committee.get_property, atoms=atoms)
    np.testing.assert_allclose(get("committee_energies"), energies, rtol=1e-13)
    np.testing.assert_allclose(get("committee_forces"), forces, atol=1e-11)
    np.testing.assert_allclose(get("committee_stress"), stresses, atol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energy(), energies.mean(), rtol=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(axis=0), atol=1e-11)
    np.testing.assert_allclose(atoms.get_stress(), stresses.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(get("energy_std"), energies.std(), rtol=1e-10)
    np.testing.assert_allclose(get("stress_std"), stresses.std(axis=0), atol=1e-12)
    deviation = forces - forces.mean(axis=0)
    rms = np.sqrt(np.mean(np.sum(deviation**2, axis=-1), axis=0))
    np.testing.assert_allclose(get("forces_std"), rms, atol=1e-11)
    assert get("energy_std") > 1e-3 and get("forces_std").min() > 1e-3  # they disagree


def test_mean_forces_are_the_gradient_of_the_mean_energy():
    atoms = ethanol(seed=1)
    atoms.calc = CommitteeCalculator(_members()[:3])
    with pytest.warns(FutureWarning):  # ASE prefers FiniteDifferenceCalculator; same numbers
        numerical = atoms.calc.calculate_numerical_forces(atoms, d=1e-5)
    np.testing.assert_allclose(atoms.get_forces(), numerical, atol=1e-7)


def test_the_spread_is_invariant_and_the_forces_equivariant_under_rotation_and_inversion():
    atoms = ethanol(seed=2)
    atoms.calc = CommitteeCalculator(_members())
    forces = atoms.get_forces()
    get = functools.partial(atoms.calc.get_property, atoms=atoms)
    energy_std, forces_std, members = get("energy_std"), get("forces_std"), get("committee_forces")
    rotation = np.asarray(random_rotation(jax.random.PRNGKey(3), dtype=np.float64))
    for matrix in (rotation, -rotation):  # a rotation, and a rotation with inversion
        moved = atoms.copy()
        moved.positions = atoms.positions @ matrix.T
        moved.calc = CommitteeCalculator(_members())
        moved_get = functools.partial(moved.calc.get_property, atoms=moved)
        np.testing.assert_allclose(moved.get_forces(), forces @ matrix.T, atol=1e-10)
        np.testing.assert_allclose(moved_get("committee_forces"), members @ matrix.T, atol=1e-10)
        np.testing.assert_allclose(moved_get("energy_std"), energy_std, rtol=1e-9)
        np.testing.assert_allclose(moved_get("forces_std"), forces_std, rtol=1e-9)


def _checkpoints(folder, count: int) -> list:
    """The first ``count`` MACE members saved as `equitens train` writes a run's best.ckpt."""
    from equitens.train.checkpoint import save_checkpoint
    from equitens.train.config import dump_config

    runs = []
    for i, member in enumerate(_members()[:count]):
        save_checkpoint(
            folder / f"m{i}" / "checkpoints" / "best.ckpt",
            {
                "config": dump_config(SMALL_MACE),
                "params": jax.tree_util.tree_map(np.asarray, member.params),
                "species": np.array(ATOMIC_NUMBERS),
                "atomic_energies": E0,
            },
        )
        runs.append(folder / f"m{i}")
    return runs


def test_from_checkpoints(tmp_path):
    committee = CommitteeCalculator.from_checkpoints(_checkpoints(tmp_path, 2))
    atoms = ethanol()
    energies, _, _ = _each(_members()[:2], atoms, stress=False)
    atoms.calc = committee
    np.testing.assert_allclose(
        committee.get_property("committee_energies", atoms), energies, rtol=1e-13
    )


def test_the_benchmark_runs(tmp_path):
    """``benchmarks/committee.py`` on the small members: timings and the spread at two
    temperatures, written to its JSON."""
    import json

    import ase.io

    from benchmarks import committee

    ase.io.write(tmp_path / "ethanol.xyz", ethanol())
    runs = [str(run) for run in _checkpoints(tmp_path, 3)]
    argv = ["--checkpoint", *runs, "--structure", str(tmp_path / "ethanol.xyz"), "--repeats"]
    argv += ["3", "--hot", "900", "--md-steps", "20", "--out", str(tmp_path / "c.json")]
    result = committee.main(argv)
    saved = json.loads((tmp_path / "c.json").read_text())
    assert [r["method"] for r in result["records"]] == ["single", "committee", "one_by_one"]
    methods = [r["method"] for r in saved["records"]]
    assert methods == ["single", "committee", "one_by_one", "langevin_300K", "langevin_900K"]
    assert all(row["forces_std_max_mean"] > 0 for row in result["spread"])


def test_fewer_than_two_members_is_a_clear_error():
    with pytest.raises(ValueError, match="a committee needs at least 2 members, got 1"):
        CommitteeCalculator(_members()[:1])
