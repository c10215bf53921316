"""E0s from isolated atoms and by least squares."""

from pathlib import Path

import numpy as np
import pytest

from equitens.data import Configuration, SpeciesTable, atomic_energies, read_extxyz

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _synthetic(e0: dict[int, float], n=40, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    elements = np.array(sorted(e0))
    configs = []
    for _ in range(n):
        numbers = rng.choice(elements, size=rng.integers(2, 12))
        energy = sum(e0[int(z)] for z in numbers) + noise * rng.normal()
        configs.append(Configuration(numbers, rng.normal(size=(len(numbers), 3)), energy=energy))
    return configs


def test_least_squares_recovers_known_e0s():
    e0 = {1: -13.6, 6: -1025.3, 8: -2035.6, 29: -1.2}
    table = SpeciesTable(tuple(e0))
    fitted = atomic_energies(_synthetic(e0), table)
    np.testing.assert_allclose(fitted, [e0[z] for z in table.atomic_numbers], atol=1e-8)


def test_least_squares_with_noise_is_close():
    e0 = {1: -13.6, 8: -2035.6}
    fitted = atomic_energies(_synthetic(e0, n=400, noise=1e-3), SpeciesTable((1, 8)))
    np.testing.assert_allclose(fitted, [-13.6, -2035.6], atol=1e-3)


def test_isolated_frames_in_the_data_take_precedence():
    e0 = {1: -13.6, 8: -2035.6}
    configs = _synthetic(e0)
    configs.append(
        Configuration(np.array([1]), np.zeros((1, 3)), energy=-10.0, config_type="IsolatedAtom")
    )
    configs.append(Configuration(np.array([8]), np.zeros((1, 3)), energy=-2000.0))
    np.testing.assert_allclose(atomic_energies(configs, SpeciesTable((1, 8))), [-10.0, -2000.0])
    # least_squares ignores them (and the single-atom frames are not fitted)
    np.testing.assert_allclose(
        atomic_energies(configs, SpeciesTable((1, 8)), method="least_squares"),
        [-13.6, -2035.6],
        atol=1e-8,
    )


def test_partial_isolated_energies_fit_the_rest():
    e0 = {1: -13.6, 6: -1025.3, 8: -2035.6}
    table = SpeciesTable((1, 6, 8))
    fitted = atomic_energies(_synthetic(e0), table, isolated={6: -1025.3})
    np.testing.assert_allclose(fitted, [-13.6, -1025.3, -2035.6], atol=1e-8)
    with pytest.raises(ValueError, match=r"no isolated-atom energy for \['H', 'O'\]"):
        atomic_energies(_synthetic(e0), table, isolated={6: -1025.3}, method="isolated")


def test_fixed_composition_gives_min_norm_e0s_that_fit_the_mean():
    rng = np.random.default_rng(1)
    numbers = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])
    configs = [
        Configuration(numbers, rng.normal(size=(9, 3)), energy=-300.0 + rng.normal())
        for _ in range(20)
    ]
    table = SpeciesTable((1, 6, 8))
    fitted = atomic_energies(configs, table)
    counts = np.array([6, 2, 1])
    assert counts @ fitted == pytest.approx(np.mean([c.energy for c in configs]), abs=1e-9)
    np.testing.assert_allclose(fitted, counts * (counts @ fitted) / (counts @ counts), atol=1e-9)


def test_absent_elements_get_zero_and_errors():
    configs = _synthetic({1: -1.0})
    np.testing.assert_allclose(
        atomic_energies(configs, SpeciesTable((1, 3))), [-1.0, 0.0], atol=1e-10
    )
    with pytest.raises(ValueError, match="method must be"):
        atomic_energies(configs, SpeciesTable((1,)), method="mean")
    no_energy = [Configuration(np.array([1, 1]), np.eye(2, 3))]
    with pytest.raises(ValueError, match="no configuration with an energy"):
        atomic_energies(no_energy, SpeciesTable((1,)))
    clash = [Configuration(np.array([1]), np.zeros((1, 3)), energy=e) for e in (-1.0, -2.0)]
    with pytest.raises(ValueError, match="two different isolated-atom energies"):
        atomic_energies(clash, SpeciesTable((1,)))


@pytest.mark.skipif(not (SHARED / "ethanol").exists(), reason="no shared data")
def test_isolated_atoms_from_a_separate_file():
    isolated = read_extxyz(SHARED / "ethanol" / "isolated_atoms.xyz")
    train = read_extxyz(SHARED / "ethanol" / "train.xyz", index="0:10")
    fitted = atomic_energies(train, SpeciesTable((1, 6, 8)), isolated=isolated)
    np.testing.assert_allclose(
        fitted, [-13.568422383046626, -1025.2770951782686, -2035.5709809589698]
    )
