"""NPT molecular dynamics with the calculator: ASE's Martyna-Tobias-Klein integrators keep their
conserved energy only when the stress is the exact strain derivative of the energy (the barostat
moves the cell with it), and ``equitens md --ensemble npt`` runs them."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from ase import units
from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT

from equitens.calculator import EquitensCalculator
from equitens.momenta import thermal_momenta
from tests.models._graphs import ATOMIC_ENERGIES, ATOMIC_NUMBERS, SMALL_MACE, bulk_cell
from tests.models.test_calculator import calculator


def _supercell():
    atoms = bulk_cell(seed=2).repeat((2, 2, 2))  # 32 atoms, about 240 A^3
    atoms.set_momenta(thermal_momenta(atoms, 300.0, np.random.default_rng(0)))
    return atoms


@pytest.mark.parametrize("integrator", [IsotropicMTKNPT, MTKNPT])
def test_mtk_npt_conserves_its_energy(integrator):
    atoms = _supercell()
    atoms.calc = calculator()[2]
    dynamics = integrator(
        atoms,
        0.25 * units.fs,
        temperature_K=300.0,
        pressure_au=1.0 * units.GPa,
        tdamp=10 * units.fs,
        pdamp=20 * units.fs,
    )
    conserved, potential, volume = [], [], []

    def record():
        conserved.append(dynamics.get_conserved_energy())
        potential.append(atoms.get_potential_energy())
        volume.append(atoms.get_volume())

    dynamics.attach(record, interval=1)
    dynamics.run(40)
    # the cell moves and energy flows, and the integrator's conserved quantity keeps (with the
    # stress negated or halved it drifts by 60% or 15% of the potential energy's range)
    assert np.ptp(volume) > 0.01 * volume[0], np.ptp(volume)
    drift = np.abs(np.asarray(conserved) - conserved[0]).max()
    assert drift < 0.02 * np.ptp(potential), (drift, np.ptp(potential))


def test_equitens_md_npt(tmp_path, capsys):
    import ase.io

    from equitens.cli import main
    from equitens.train.checkpoint import save_checkpoint
    from equitens.train.config import dump_config

    _, params, _ = calculator()
    save_checkpoint(
        tmp_path / "run" / "checkpoints" / "best.ckpt",
        {
            "config": dump_config(SMALL_MACE),
            "params": jax.tree_util.tree_map(np.asarray, params),
            "species": np.array(ATOMIC_NUMBERS),
            "atomic_energies": ATOMIC_ENERGIES,
        },
    )
    ase.io.write(tmp_path / "cell.xyz", _supercell())
    out = tmp_path / "npt.xyz"
    argv = ["md", "--checkpoint", str(tmp_path / "run"), "--structure", str(tmp_path / "cell.xyz")]
    argv += ["--ensemble", "npt", "--pressure", "1.0", "--timestep", "0.25", "--steps", "20"]
    argv += ["--interval", "10", "--barostat-time", "20", "--out", str(out)]
    assert main(argv) == 0
    assert "volume" in capsys.readouterr().out
    frames = ase.io.read(out, index=":")
    assert len(frames) == 3
    assert abs(frames[-1].get_volume() - frames[0].get_volume()) > 1e-3
    for frame in frames:  # each frame holds its cell, energy, forces and stress
        frame_calc = EquitensCalculator.from_checkpoint(tmp_path / "run")
        atoms = frame.copy()
        atoms.calc = frame_calc
        np.testing.assert_allclose(frame.get_stress(), atoms.get_stress(), atol=1e-6)
        np.testing.assert_allclose(frame.get_forces(), atoms.get_forces(), atol=1e-5)
    assert main([*argv[:-2], "--cell-fluctuations", "full", "--out", str(tmp_path / "f.xyz")]) == 0
    full_on_jax_md = [*argv, "--engine", "jax-md", "--cell-fluctuations", "full"]
    assert main(full_on_jax_md) == 2
    assert "--engine jax-md scales the cell isotropically" in capsys.readouterr().err


def test_npt_of_a_molecule_is_a_clear_error(tmp_path, capsys):
    import ase.io

    from equitens.cli import main
    from tests.models._graphs import ethanol

    ase.io.write(tmp_path / "m.xyz", ethanol())
    argv = ["md", "--checkpoint", str(tmp_path), "--structure", str(tmp_path / "m.xyz")]
    assert main([*argv, "--ensemble", "npt", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    assert "--ensemble npt needs a cell periodic in all three directions" in capsys.readouterr().err
