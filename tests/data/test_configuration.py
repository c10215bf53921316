"""Configuration and read_extxyz: keys, stress layouts, and the errors on bad input."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import voigt_6_to_full_3x3_stress

from equitens.data import Configuration, is_isolated_atom, read_extxyz

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _frames(n=3, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = Atoms(
            "CuAu2", positions=rng.uniform(0, 4, (3, 3)), cell=np.diag([4.0, 5, 6]), pbc=True
        )
        atoms.info["REF_energy"] = -1.5 * k - 0.25
        atoms.arrays["REF_forces"] = rng.normal(size=(3, 3))
        atoms.info["REF_stress"] = rng.normal(size=(3, 3)) * 0.01
        atoms.info["config_type"] = "bulk"
        frames.append(atoms)
    return frames


def test_reads_custom_keys(tmp_path):
    frames = _frames()
    path = tmp_path / "ref.xyz"
    ase.io.write(path, frames, format="extxyz")
    configs = read_extxyz(
        path, energy_key="REF_energy", forces_key="REF_forces", stress_key="REF_stress"
    )
    assert len(configs) == 3
    for config, atoms in zip(configs, frames, strict=True):
        assert config.energy == pytest.approx(atoms.info["REF_energy"], abs=1e-12)
        np.testing.assert_allclose(config.forces, atoms.arrays["REF_forces"], atol=1e-7)
        np.testing.assert_allclose(config.stress, atoms.info["REF_stress"], atol=1e-12)
        np.testing.assert_allclose(config.positions, atoms.positions, atol=1e-7)
        np.testing.assert_allclose(config.cell, atoms.cell.array)
        assert config.pbc == (True, True, True)
        assert config.config_type == "bulk"
        np.testing.assert_array_equal(config.atomic_numbers, [29, 79, 79])


def test_reads_standard_keys_from_the_calculator_with_voigt_stress(tmp_path):
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]], cell=np.eye(3) * 3, pbc=True)
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * 1e-3
    forces = np.array([[0.5, 0, 0], [-0.5, 0, 0]])
    atoms.calc = SinglePointCalculator(atoms, energy=-31.5, forces=forces, stress=voigt)
    path = tmp_path / "std.xyz"
    ase.io.write(path, atoms, format="extxyz")
    (config,) = read_extxyz(path)
    assert config.energy == -31.5
    np.testing.assert_allclose(config.forces, forces)
    np.testing.assert_allclose(config.stress, voigt_6_to_full_3x3_stress(voigt), atol=1e-15)


def test_stress_as_six_or_nine_values():
    voigt = np.arange(1.0, 7.0)
    c6 = Configuration(np.array([1]), np.zeros((1, 3)), stress=voigt)
    c9 = Configuration(np.array([1]), np.zeros((1, 3)), stress=c6.stress.reshape(-1))
    np.testing.assert_array_equal(c6.stress, voigt_6_to_full_3x3_stress(voigt))
    np.testing.assert_array_equal(c9.stress, c6.stress)
    with pytest.raises(ValueError, match="6 Voigt values"):
        Configuration(np.array([1]), np.zeros((1, 3)), stress=np.zeros(4))


def test_key_none_reads_without_the_label(tmp_path):
    path = tmp_path / "ref.xyz"
    ase.io.write(path, _frames(), format="extxyz")
    configs = read_extxyz(path, energy_key=None, forces_key=None, stress_key=None)
    assert all(c.energy is None and c.forces is None and c.stress is None for c in configs)


def test_index_option(tmp_path):
    path = tmp_path / "ref.xyz"
    ase.io.write(path, _frames(5), format="extxyz")
    kw = dict(energy_key="REF_energy", forces_key="REF_forces")
    energies = [c.energy for c in read_extxyz(path, index="1:4", **kw)]
    np.testing.assert_allclose(energies, [-1.75, -3.25, -4.75])
    assert read_extxyz(path, index=-1, **kw)[0].energy == pytest.approx(-6.25)


def test_missing_forces_key_names_file_frame_keys_and_option(tmp_path):
    path = tmp_path / "ref.xyz"
    ase.io.write(path, _frames(), format="extxyz")
    with pytest.raises(ValueError) as info:
        read_extxyz(path, energy_key="REF_energy")  # forces are under REF_forces
    message = str(info.value)
    assert str(path) in message and "frame 0" in message
    assert "'forces'" in message and "REF_forces" in message and "forces_key=" in message


def test_missing_energy_key(tmp_path):
    path = tmp_path / "ref.xyz"
    ase.io.write(path, _frames(), format="extxyz")
    with pytest.raises(
        ValueError,
        match=r"frame 0 has no energy under the key 'energy'.*"
        r"REF_energy.*energy_key=",
    ):
        read_extxyz(path, forces_key="REF_forces")


def test_missing_key_in_a_later_frame_names_that_frame(tmp_path):
    frames = _frames(4)
    del frames[2].arrays["REF_forces"]
    path = tmp_path / "ref.xyz"
    ase.io.write(path, frames, format="extxyz")
    with pytest.raises(ValueError, match="frame 2 has no forces"):
        read_extxyz(path, energy_key="REF_energy", forces_key="REF_forces")


def test_isolated_atoms_need_no_forces(tmp_path):
    atom = Atoms("O", positions=[[0, 0, 0]])
    atom.info["energy_ref"] = -2035.5
    path = tmp_path / "iso.xyz"
    ase.io.write(path, atom, format="extxyz")
    (config,) = read_extxyz(path, energy_key="energy_ref")
    assert config.forces is None and config.energy == -2035.5 and is_isolated_atom(config)


def test_nan_positions_name_the_frame(tmp_path):
    path = tmp_path / "nan.xyz"
    path.write_text(
        '2\nProperties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"\n'
        "H 0.0 0.0 0.0\nH 0.7 0.0 0.0\n"
        '2\nProperties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"\n'
        "H 0.0 nan 0.0\nH 0.7 0.0 0.0\n"
    )
    with pytest.raises(ValueError, match=r"frame 1: positions must be finite.*atoms \[0\]"):
        read_extxyz(path, forces_key=None)


def test_nan_forces_name_the_frame(tmp_path):
    path = tmp_path / "nanf.xyz"
    path.write_text(
        '1\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"\n'
        "H 0.0 0.0 0.0 0.0 0.0 0.0\n"
        '2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="F F F"\n'
        "H 0.0 0.0 0.0 0.1 nan 0.0\nH 0.7 0.0 0.0 0.0 0.0 0.0\n"
    )
    with pytest.raises(ValueError, match=r"frame 1: forces must be finite"):
        read_extxyz(path)


def test_zero_atom_frame_names_the_frame(tmp_path):
    path = tmp_path / "empty.xyz"
    path.write_text(
        '1\nProperties=species:S:1:pos:R:3 energy=-1.0 pbc="F F F"\nH 0.0 0.0 0.0\n'
        '0\nProperties=species:S:1:pos:R:3 energy=0.0 pbc="F F F"\n'
    )
    with pytest.raises(ValueError, match="frame 1 has zero atoms"):
        read_extxyz(path, forces_key=None)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such extxyz file"):
        read_extxyz("/nonexistent/file.xyz")


def test_configuration_validates():
    with pytest.raises(ValueError, match="at least one atom"):
        Configuration(np.zeros(0, int), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"positions must have shape \(2, 3\)"):
        Configuration(np.array([1, 1]), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"forces must have shape \(2, 3\)"):
        Configuration(np.array([1, 1]), np.zeros((2, 3)), forces=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="energy must be finite"):
        Configuration(np.array([1]), np.zeros((1, 3)), energy=float("nan"))
    with pytest.raises(ValueError, match="forces must be finite"):
        Configuration(np.array([1]), np.zeros((1, 3)), forces=np.full((1, 3), np.inf))


def test_configuration_arrays_are_read_only_copies():
    positions = np.zeros((1, 3))
    config = Configuration(np.array([1]), positions)
    positions[0, 0] = 5.0
    assert config.positions[0, 0] == 0.0
    with pytest.raises(ValueError):
        config.positions[0, 0] = 1.0


def test_to_atoms_round_trip(tmp_path):
    config = Configuration(
        np.array([29, 29]),
        np.array([[0, 0, 0], [1.8, 1.8, 0.0]]),
        cell=np.eye(3) * 3.6,
        pbc=True,
        energy=-0.5,
        forces=np.array([[0.1, 0, 0], [-0.1, 0, 0]]),
        stress=np.eye(3) * 1e-3,
        config_type="fcc",
    )
    path = tmp_path / "rt.xyz"
    ase.io.write(path, config.to_atoms(), format="extxyz")
    (back,) = read_extxyz(path)
    for name in ("atomic_numbers", "positions", "cell", "forces", "stress"):
        np.testing.assert_allclose(getattr(back, name), getattr(config, name), atol=1e-8)
    assert (back.energy, back.pbc, back.config_type) == (-0.5, config.pbc, "fcc")


@pytest.mark.skipif(not (SHARED / "ethanol" / "train.xyz").exists(), reason="no shared data")
def test_reads_rmd17_ethanol_header_keys():
    configs = read_extxyz(SHARED / "ethanol" / "train.xyz", index="0:20")
    assert len(configs) == 20
    first = configs[0]
    assert first.energy == pytest.approx(-4209.4657843064815)
    np.testing.assert_allclose(first.forces[0], [-4.15950961, 0.10729389, 3.61777644])
    assert first.pbc == (False, False, False) and first.config_type == "Training_set"
    isolated = read_extxyz(SHARED / "ethanol" / "isolated_atoms.xyz")
    assert all(is_isolated_atom(c) and c.forces is None for c in isolated)
    assert [int(c.atomic_numbers[0]) for c in isolated] == [1, 6, 8, 7]
