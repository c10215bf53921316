"""The shipped datasets, split, and the datagen command."""

import sys

import numpy as np
import pytest

from equitens.data import (
    SpeciesTable,
    atomic_energies,
    default_dataset_path,
    is_isolated_atom,
    load_default_dataset,
    read_extxyz,
    split,
)
from equitens.data.datagen import generate_molecule_dataset, main


def test_molecule_dataset_loads_with_sane_labels():
    configs = load_default_dataset()
    assert len(configs) == 400
    assert SpeciesTable.from_configurations(configs).symbols == ("H", "C", "O")
    assert all(c.num_atoms == 9 and not c.periodic and c.config_type == "MD" for c in configs)
    energies = np.array([c.energy for c in configs])
    forces = np.stack([c.forces for c in configs])
    assert np.all((energies > -312) & (energies < -306))  # GFN2-xTB ethanol, eV
    assert 0.02 < energies.std() < 0.5  # thermal fluctuations at 500 K, not a frozen structure
    assert np.all(np.isfinite(forces)) and np.abs(forces).max() < 20.0
    np.testing.assert_allclose(forces.sum(axis=1), 0.0, atol=1e-6)  # no net force
    assert default_dataset_path().stat().st_size < 1_500_000


def test_isolated_atoms_are_shipped_and_give_e0s():
    configs = load_default_dataset(isolated_atoms=True)
    isolated = [c for c in configs if is_isolated_atom(c)]
    assert [int(c.atomic_numbers[0]) for c in isolated] == [1, 6, 8]
    table = SpeciesTable((1, 6, 8))
    e0 = atomic_energies(configs, table, method="isolated")
    np.testing.assert_allclose(e0, [c.energy for c in isolated])
    assert np.all(e0 < 0)
    # the molecule's energy is below its separated atoms (bound): 2 C + 6 H + O
    assert max(c.energy for c in configs[3:]) < np.array([6, 2, 1]) @ e0


def test_molecule_frames_are_gfn2_single_points():
    tblite = pytest.importorskip("tblite.ase")
    from equitens.data.datagen import _openmp_threads

    for config in load_default_dataset()[::199]:
        atoms = config.to_atoms()
        atoms.calc = tblite.TBLite(method="GFN2-xTB", accuracy=0.01, verbosity=0)
        with _openmp_threads(1):  # 9 atoms: threads only add contention
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        # the MD reused the previous wavefunction as SCF guess: agreement to SCF convergence
        assert energy == pytest.approx(config.energy, abs=1e-6)
        np.testing.assert_allclose(forces, config.forces, atol=2e-5)


def test_metal_dataset_has_stress_and_matches_emt():
    from ase.calculators.emt import EMT

    configs = load_default_dataset("metal")
    assert len(configs) == 100
    assert all(c.periodic and c.num_atoms == 27 and c.stress is not None for c in configs)
    for config in configs[::33]:
        atoms = config.to_atoms()
        atoms.calc = EMT()
        # positions are stored to 1e-8 A
        assert atoms.get_potential_energy() == pytest.approx(config.energy, abs=1e-6)
        np.testing.assert_allclose(atoms.get_forces(), config.forces, atol=1e-6)
        np.testing.assert_allclose(atoms.get_stress(voigt=False), config.stress, atol=1e-8)
        np.testing.assert_allclose(config.stress, config.stress.T)
    assert len(load_default_dataset("metal", isolated_atoms=True)) == 101


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        load_default_dataset("protein")


def test_split_is_disjoint_sized_and_keeps_isolated_atoms_in_train():
    configs = load_default_dataset(isolated_atoms=True)
    train, valid, test = split(configs, (0.8, 0.1, 0.1), seed=1)
    assert (len(train), len(valid), len(test)) == (323, 40, 40)
    assert sum(map(is_isolated_atom, train)) == 3
    ids = [{id(c) for c in part} for part in (train, valid, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    again = split(configs, (0.8, 0.1, 0.1), seed=1)
    assert [id(c) for c in again[1]] == [id(c) for c in valid]
    assert [id(c) for c in split(configs, (0.8, 0.1, 0.1), seed=2)[1]] != [id(c) for c in valid]
    assert len(split(configs, (0.5,), seed=0)[0]) == 203
    with pytest.raises(ValueError, match="sum to at most 1"):
        split(configs, (0.8, 0.3))
    with pytest.raises(ValueError, match=">= 0"):
        split(configs, (-0.1, 0.5))


def _datagen_metal(out) -> int:
    """``equitens datagen`` of 3 strained Al cells (seed 4) into ``out``."""
    args = "--kind metal --element Al --frames 3 --supercell 1 1 2 --seed 4 --quiet".split()
    return main([*args, "--out", str(out)])


def test_datagen_cli_metal(tmp_path, capsys):
    out = tmp_path / "al.xyz"
    assert _datagen_metal(out) == 0
    assert "wrote 4 frames" in capsys.readouterr().out
    configs = read_extxyz(out)
    assert [c.config_type for c in configs] == ["IsolatedAtom"] + ["strained"] * 3
    assert all(c.stress is not None for c in configs[1:])
    cells = np.stack([c.cell for c in configs[1:]])
    assert not np.allclose(cells[0], cells[1])  # random strains
    again = tmp_path / "again.xyz"
    _datagen_metal(again)
    assert out.read_text() == again.read_text()  # reproducible for a seed


def test_datagen_molecule_is_reproducible(tmp_path):
    pytest.importorskip("tblite")
    kw = dict(molecule="H2O", frames=2, interval=3, equilibration=5, seed=3, threads=1)
    a = read_extxyz(generate_molecule_dataset(tmp_path / "a.xyz", **kw))
    b = read_extxyz(generate_molecule_dataset(tmp_path / "b.xyz", **kw))
    assert len(a) == 4 and [c.config_type for c in a[2:]] == ["MD", "MD"]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.positions, y.positions, atol=1e-10)
        assert x.energy == pytest.approx(y.energy, abs=1e-10)
    assert not np.allclose(a[2].positions, a[3].positions)


def test_datagen_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="frames >= 1"):
        generate_molecule_dataset(tmp_path / "x.xyz", frames=0)
    with pytest.raises(SystemExit):
        main(["--kind", "protein", "--out", str(tmp_path / "x.xyz")])


def test_metal_stress_is_the_strain_derivative_over_volume():
    """The shipped stress follows ASE's convention: sigma = (1/V) dE/d(strain), symmetric strain."""
    from ase.calculators.emt import EMT

    config = load_default_dataset("metal")[7]
    volume = abs(np.linalg.det(config.cell))
    h = 1e-5
    numeric = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):  # symmetric strain: eps_ab = eps_ba = sign * h / 2
                strain = np.eye(3)
                strain[a, b] += sign * h / 2
                strain[b, a] += sign * h / 2
                atoms = config.to_atoms()
                atoms.set_cell(config.cell @ strain, scale_atoms=True)
                atoms.calc = EMT()
                energies.append(atoms.get_potential_energy())
            numeric[a, b] = (energies[0] - energies[1]) / (2 * h) / volume
    np.testing.assert_allclose(config.stress, numeric, atol=1e-7)


def test_datagen_without_tblite_names_the_extra(tmp_path, monkeypatch):
    from equitens.extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "tblite", None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "tblite.ase", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'equitens\[datagen\]'"):
        generate_molecule_dataset(tmp_path / "x.xyz", molecule="H2O", frames=1)
