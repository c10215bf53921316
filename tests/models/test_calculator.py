"""EquitensCalculator: ASE's numerical forces and stress, checkpoints, bad input."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError

from equitens.calculator import EquitensCalculator, _bucket
from equitens.models import build_model
from tests.models._graphs import (
    ATOMIC_ENERGIES,
    ATOMIC_NUMBERS,
    CUTOFF,
    SMALL_MACE,
    SPECIES,
    batch,
    bulk_cell,
    ethanol,
    graph_from_atoms,
)

CONFIG = SMALL_MACE
E0 = ATOMIC_ENERGIES


@functools.cache
def calculator():
    model = build_model(CONFIG, ATOMIC_NUMBERS, E0)
    params = EquitensCalculator.init_params(
        model, bulk_cell(), ATOMIC_NUMBERS, 3.0, jax.random.PRNGKey(0)
    )
    params = jax.tree_util.tree_map(
        lambda p: p + 0.2 * np.sign(np.sin(np.arange(p.size).reshape(p.shape))), params
    )
    return model, params, EquitensCalculator(model, params, ATOMIC_NUMBERS, cutoff=3.0)


def test_forces_and_stress_match_ase_finite_differences():
    """ASE's own numerical derivatives are the oracle for the sign and unit conventions."""
    _, _, calc = calculator()
    atoms = bulk_cell(seed=2)
    atoms.calc = calc
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert stress.shape == (6,) and np.abs(stress).max() > 1e-4
    with pytest.warns(FutureWarning):  # ASE prefers FiniteDifferenceCalculator; same numbers
        numerical_forces = calc.calculate_numerical_forces(atoms, d=1e-5)
        numerical_stress = calc.calculate_numerical_stress(atoms, d=1e-5)
    np.testing.assert_allclose(forces, numerical_forces, atol=1e-7)
    np.testing.assert_allclose(stress, numerical_stress, atol=1e-8)
    assert atoms.get_potential_energy() == atoms.get_potential_energy(force_consistent=True)


def _periodic():
    return bulk_cell(seed=2)  # the cell of the finite-difference test: the same compiled bucket


@functools.cache
def _direct() -> dict[str, tuple[float, np.ndarray]]:
    """The oracle: the model applied directly to an unpadded batch of ethanol and a periodic
    cell built with ASE's neighbour list (tests/models/_graphs.py), forces by jax.grad of its
    energy; no calculator code. One batch so that it compiles once."""
    model, params, _ = calculator()
    graph = batch(*(graph_from_atoms(a, CUTOFF, SPECIES) for a in (ethanol(), _periodic())))

    def energy(positions):
        energies = model.apply(
            params, graph._replace(nodes={**graph.nodes, "positions": positions})
        )
        return jnp.sum(energies), energies

    gradient, energies = jax.jit(jax.grad(energy, has_aux=True))(graph.nodes["positions"])
    forces = np.split(-np.asarray(gradient), np.cumsum(graph.n_node)[:-1])
    return {
        "molecule": (float(energies[0]), forces[0]),
        "periodic": (float(energies[1]), forces[1]),
    }


def test_periodic_energy_and_forces_match_the_model_applied_directly():
    _, _, calc = calculator()
    atoms = _periodic()
    atoms.calc = calc
    energy, forces = _direct()["periodic"]
    np.testing.assert_allclose(atoms.get_potential_energy(), energy, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-10)


def test_molecule_energy_forces_and_no_stress():
    _, _, calc = calculator()
    atoms = ethanol()
    atoms.calc = calc
    energy, forces = _direct()["molecule"]
    # the model's energy is far from the sum of E0s: the comparison sees the interactions
    assert abs(energy - (6 * E0[0] + 2 * E0[1] + E0[2])) > 0.1 and np.abs(forces).max() > 0.1
    np.testing.assert_allclose(atoms.get_potential_energy(), energy, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-10)
    np.testing.assert_allclose(atoms.get_forces().sum(axis=0), 0.0, atol=1e-10)  # no external field
    with pytest.raises(PropertyNotImplementedError, match="periodic in all three directions"):
        atoms.get_stress()


def test_from_checkpoint_reproduces_the_calculator(tmp_path):
    from equitens.train.checkpoint import save_checkpoint
    from equitens.train.config import dump_config

    model, params, calc = calculator()
    path = save_checkpoint(
        tmp_path / "best.ckpt",
        {  # as `equitens train` writes it
            "config": dump_config(CONFIG),
            "params": jax.tree_util.tree_map(np.asarray, params),
            "species": np.array(ATOMIC_NUMBERS),
            "atomic_energies": E0,
        },
    )
    restored = EquitensCalculator.from_checkpoint(path)
    atoms = bulk_cell(seed=3)
    atoms.calc = calc
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = restored
    np.testing.assert_allclose(atoms.get_potential_energy(), e, rtol=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), f, atol=1e-12)


def test_from_checkpoint_without_model_state_is_a_clear_error(tmp_path):
    from equitens.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "x.ckpt", {"params": {"w": np.ones(2)}})
    with pytest.raises(ValueError, match="lacks config, species, atomic_energies"):
        EquitensCalculator.from_checkpoint(path)


def test_unknown_element_is_a_clear_error():
    _, _, calc = calculator()
    atoms = Atoms("CN", positions=[[0, 0, 0], [1.2, 0, 0]])
    atoms.calc = calc
    with pytest.raises(ValueError, match="N"):
        atoms.get_potential_energy()


def test_edge_buckets_are_few_and_tight():
    sizes = [_bucket(e) for e in range(1, 5000)]
    assert all(b >= e for e, b in zip(range(1, 5000), sizes, strict=True))
    assert all(b <= max(1.25 * e, e + 16) for e, b in zip(range(1, 5000), sizes, strict=True))
    assert len(set(sizes)) < 60


def test_short_nve_run_conserves_energy():
    """Velocity Verlet with the calculator: conservative forces keep the total energy."""
    from ase import units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    _, _, calc = calculator()
    atoms = ethanol()
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    totals, potentials = [], []

    def record():
        totals.append(atoms.get_total_energy())
        potentials.append(atoms.get_potential_energy())

    dynamics = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    dynamics.attach(record, interval=1)
    dynamics.run(40)
    drift = np.abs(np.asarray(totals) - totals[0]).max()
    # energy flows between kinetic and potential (the run does something) and the total keeps
    exchanged = np.ptp(potentials)
    assert exchanged > 1e-3
    assert drift < 0.05 * exchanged, (drift, exchanged)
