"""The equitens command line, end to end on a tiny dataset with a tiny MACE (real modules).

The fixtures ``tiny_xyz`` and ``trained_run`` are in ``conftest.py`` (shared with
``test_energy_only.py``: the run is trained once per session).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from equitens.cli import build_parser, main

from .conftest import TRAINED_EPOCHS


def test_train_writes_a_complete_run(trained_run):
    for name in (
        "config.yaml",
        "metrics.csv",
        "learning_curve.png",
        "test_metrics.json",
        "checkpoints/best.ckpt",
        "checkpoints/latest.ckpt",
    ):
        assert (trained_run / name).is_file(), name
    results = json.loads((trained_run / "test_metrics.json").read_text())
    assert results["epochs"] == TRAINED_EPOCHS


def test_training_lowers_the_loss_and_beats_trivial_predictors(trained_run):
    """The real MACE learns: the losses fall, and on the held-out test frames its errors are well
    below those of predicting the mean training energy per atom and zero forces (computed here
    from the run's data files with ASE and numpy)."""
    import csv

    import ase.io
    import yaml

    with open(trained_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TRAINED_EPOCHS
    train_loss = [float(r["train_loss"]) for r in rows]
    valid_loss = [float(r["valid_loss"]) for r in rows]
    assert train_loss[-1] < 0.3 * train_loss[0], train_loss
    assert min(valid_loss) < 0.3 * valid_loss[0], valid_loss

    config = yaml.safe_load((trained_run / "config.yaml").read_text())["data"]
    train = [a for a in ase.io.read(config["train_file"], index=":") if len(a) > 1]
    test = ase.io.read(config["test_file"], index=":")
    mean_per_atom = np.mean([a.get_potential_energy() / len(a) for a in train])
    trivial_energy = np.mean([abs(a.get_potential_energy() / len(a) - mean_per_atom) for a in test])
    zero_forces = np.mean(np.abs(np.concatenate([a.get_forces() for a in test])))
    results = json.loads((trained_run / "test_metrics.json").read_text())
    assert results["test"]["energy_per_atom_mae"] < 0.8 * trivial_energy, trivial_energy
    assert results["test"]["forces_mae"] < 0.5 * zero_forces, zero_forces


def test_evaluate_reproduces_the_test_errors_format(trained_run, tiny_xyz, capsys, tmp_path):
    out = tmp_path / "errors.json"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(trained_run),
                "--data",
                str(tiny_xyz),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "forces (meV/A)" in printed and "energy/atom (meV)" in printed
    errors = json.loads(out.read_text())
    assert errors["n_configs"] == 11 and np.isfinite(errors["forces_mae"])


def test_evaluate_rejects_an_unknown_element(trained_run, tmp_path, capsys):
    import ase

    path = tmp_path / "fe.xyz"
    atoms = ase.Atoms("Fe2", positions=[[0, 0, 0], [0, 0, 2.0]])
    atoms.info["energy"] = -1.0
    atoms.arrays["forces"] = np.zeros((2, 3))
    import ase.io

    ase.io.write(path, atoms, format="extxyz")
    assert main(["evaluate", "--checkpoint", str(trained_run), "--data", str(path)]) == 2
    assert "Fe" in capsys.readouterr().err


def test_evaluate_reports_a_corrupted_checkpoint(trained_run, tmp_path, capsys, tiny_xyz):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes((trained_run / "checkpoints" / "best.ckpt").read_bytes()[:-5])
    assert main(["evaluate", "--checkpoint", str(bad), "--data", str(tiny_xyz)]) == 2
    assert "is corrupted" in capsys.readouterr().err


def test_md_writes_a_trajectory(trained_run, tiny_xyz, tmp_path):
    import ase.io

    out = tmp_path / "traj.xyz"
    assert (
        main(
            [
                "md",
                "--checkpoint",
                str(trained_run),
                "--structure",
                f"{tiny_xyz}@-1",
                "--steps",
                "4",
                "--temperature",
                "300",
                "--ensemble",
                "nve",
                "--interval",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    frames = ase.io.read(out, index=":")
    assert len(frames) == 3  # the start and every 2 steps
    assert all(np.all(np.isfinite(f.positions)) for f in frames)


def test_langevin_md_holds_the_centre_of_mass_with_a_constraint(trained_run, tiny_xyz, tmp_path):
    """Langevin runs with ASE's ``FixCom`` constraint, not its deprecated ``fixcm=True``
    (a FutureWarning since ASE 3.28, which also divided by ``natoms - 1``)."""
    import warnings

    import ase.io

    out = tmp_path / "langevin.xyz"
    argv = ["md", "--checkpoint", str(trained_run), "--structure", f"{tiny_xyz}@-1"]
    argv += ["--steps", "6", "--temperature", "600", "--interval", "2", "--out", str(out)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 0
    assert not [w for w in caught if "fixcm" in str(w.message)]
    frames = ase.io.read(out, index=":")
    centres = np.array([f.get_center_of_mass() for f in frames])
    assert len(frames) == 4
    assert np.ptp(np.linalg.norm(frames[-1].positions - frames[0].positions, axis=1)) > 0
    np.testing.assert_allclose(centres - centres[0], 0.0, atol=1e-8)


def test_md_on_the_device_with_jax_md(trained_run, tiny_xyz, tmp_path, capsys):
    """``--engine jax-md``: the trajectory file as with ASE, the energy conserved in NVE."""
    pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    import ase.io

    out = tmp_path / "jax.xyz"
    argv = ["md", "--checkpoint", str(trained_run), "--structure", f"{tiny_xyz}@-1", "--engine"]
    argv += ["jax-md", "--steps", "40", "--ensemble", "nve", "--interval", "10", "--out", str(out)]
    assert main(argv) == 0
    assert "(jax-md)" in capsys.readouterr().out
    frames = ase.io.read(out, index=":")
    assert len(frames) == 5
    totals = [f.get_total_energy() for f in frames]
    assert max(totals) - min(totals) < 5e-3
    assert np.abs(frames[-1].positions - frames[0].positions).max() > 1e-3
    assert main([*argv[:-6], "--steps", "20", "--out", str(tmp_path / "langevin.xyz")]) == 0


def test_fine_tuning_starts_from_the_trained_model(trained_run, tmp_path, capsys):
    """``training.init_from``: the run takes the checkpoint's model (the tiny MACE) without the
    hyper-parameters being repeated, and starts from its parameters: evaluated before any step,
    its validation errors are those of the trained run's best epoch."""
    import yaml

    from equitens.data import GraphLoader
    from equitens.train import read_metrics, train

    class NoTrainingSteps(GraphLoader):  # the training pass yields no batch
        def __iter__(self):
            return iter(()) if self.shuffle else super().__iter__()

    saved = yaml.safe_load((trained_run / "config.yaml").read_text())
    config = {
        "data": saved["data"],
        "output_dir": str(tmp_path),
        "name": "start",
        "training": {"epochs": 1, "progress": False, "init_from": str(trained_run)},
    }
    train(config, make_loader=lambda *args: NoTrainingSteps(*args[:2], shuffle=args[2]))
    tuned = yaml.safe_load((tmp_path / "start" / "config.yaml").read_text())
    assert tuned["model"] == saved["model"]
    best_epoch = json.loads((trained_run / "test_metrics.json").read_text())["best_epoch"]
    best = read_metrics(trained_run / "metrics.csv")[best_epoch - 1]
    start = read_metrics(tmp_path / "start" / "metrics.csv")[0]
    for key in ("valid_energy_per_atom_mae", "valid_forces_mae", "valid_energy_rmse"):
        assert start[key] == pytest.approx(best[key], rel=1e-5), key

    data = [f"data.{key}={saved['data'][key]}" for key in ("train_file", "valid_file")]
    argv = ["train", f"training.init_from={trained_run}", *data, f"output_dir={tmp_path}"]
    argv += ["training.epochs=1", "training.progress=false", "data.test_fraction=0.2"]
    assert main([*argv, "name=tuned"]) == 0
    started = f"fine-tuning from {trained_run / 'checkpoints' / 'best.ckpt'}"
    assert started in capsys.readouterr().out
    assert main([*argv, "name=other", "model.lmax=3"]) == 2
    assert "model.lmax=3 differs from the checkpoint's model.lmax=1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def second_member(trained_run, tiny_xyz, tmp_path_factory):
    """A second member for committees: the trained model fine-tuned for an epoch on the tiny
    file (the same compiled model)."""
    out = tmp_path_factory.mktemp("second")
    argv = ["train", f"training.init_from={trained_run}", f"data.train_file={tiny_xyz}"]
    argv += [f"output_dir={out}", "name=second", "training.epochs=1", "data.batch_size=2"]
    assert main([*argv, "training.progress=false", "optimizer.warmup_steps=0"]) == 0
    return out / "second"


def test_md_with_a_committee_records_the_spread(
    trained_run, second_member, tiny_xyz, tmp_path, capsys
):
    """Several ``--checkpoint``: MD on the committee's mean forces, each frame with the spread
    of its members (the quantities of ``CommitteeCalculator`` at the frame's positions)."""
    import ase.io

    from equitens.committee import CommitteeCalculator

    members = [str(trained_run), str(second_member)]
    out = tmp_path / "committee.xyz"
    argv = ["md", "--checkpoint", *members, "--structure", f"{tiny_xyz}@-1", "--steps", "20"]
    assert main([*argv, "--interval", "10", "--out", str(out)]) == 0
    assert "committee of 2: force spread up to" in capsys.readouterr().out
    frames = ase.io.read(out, index=":")
    assert len(frames) == 3
    committee = CommitteeCalculator.from_checkpoints(members)
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = committee
        spread = committee.get_property("forces_std", atoms)
        assert spread.max() > 1e-4  # the members differ
        np.testing.assert_allclose(frame.arrays["forces_std"], spread, rtol=1e-5, atol=1e-7)
        assert frame.info["forces_std_max"] == pytest.approx(spread.max(), rel=1e-5)
        energy_std = committee.get_property("energy_std", atoms)
        assert frame.info["energy_std"] == pytest.approx(energy_std, rel=1e-4, abs=1e-7)
        np.testing.assert_allclose(frame.get_forces(), atoms.get_forces(), atol=1e-5)

    assert main([*argv, "--engine", "jax-md", "--out", str(tmp_path / "j.xyz")]) == 2
    assert "a committee (2 checkpoints) runs with --engine ase" in capsys.readouterr().err


def test_evaluate_a_committee(trained_run, second_member, tmp_path, capsys):
    """Several ``--checkpoint``: the errors of each member are those ``evaluate`` gives it alone,
    the mean's are no worse than the members' average (the triangle inequality), and the
    spread's rank correlation with the error is reported."""
    import yaml

    from equitens.train.evaluate import evaluate_checkpoint

    test_file = yaml.safe_load((trained_run / "config.yaml").read_text())["data"]["test_file"]
    members = [str(trained_run), str(second_member)]
    out = tmp_path / "committee.json"
    argv = ["evaluate", "--checkpoint", *members, "--data", test_file]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "errors of the mean of 2 models" in printed and "rank correlation" in printed
    errors = json.loads(out.read_text())
    assert errors["n_configs"] == 20
    for member, path in zip(errors["members"], members, strict=True):
        alone = evaluate_checkpoint(path, test_file)
        for key in ("energy_mae", "energy_per_atom_rmse", "forces_mae", "forces_rmse"):
            assert member[key] == pytest.approx(alone[key], rel=1e-4), key
    for key in ("energy_mae", "forces_mae"):
        assert errors[key] <= np.mean([m[key] for m in errors["members"]]) + 1e-12
    assert -1 <= errors["forces_spread_spearman"] <= 1 and errors["forces_std_mean"] > 0
    assert main([*argv, "--batch-size", "4"]) == 2
    assert "--batch-size and --stress-key apply to one checkpoint" in capsys.readouterr().err


def test_md_with_jax_md_missing_says_how_to_install_it(
    trained_run, tiny_xyz, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "jax_md", None)  # an import of jax_md now fails
    argv = ["md", "--checkpoint", str(trained_run), "--structure", f"{tiny_xyz}@-1"]
    argv += ["--engine", "jax-md", "--steps", "2", "--out", str(tmp_path / "t.xyz")]
    assert main(argv) == 2
    assert "pip install 'equitens[jax-md]'" in capsys.readouterr().err


def test_md_of_a_single_atom_is_a_clear_error(trained_run, tiny_xyz, tmp_path, capsys):
    import ase.io

    one = tmp_path / "one.xyz"
    ase.io.write(one, ase.io.read(f"{tiny_xyz}@-1")[:1])
    argv = ["md", "--checkpoint", str(trained_run), "--structure", str(one), "--steps", "2"]
    assert main([*argv, "--temperature", "300", "--out", str(tmp_path / "t.xyz")]) == 2
    assert "needs at least 2" in capsys.readouterr().err


def test_bad_arguments(capsys):
    assert main(["train", "training.epochs=0"]) == 2
    assert "training.epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["md", "--checkpoint", "x"])  # missing required options


def test_datagen_is_delegated(tmp_path, capsys):
    out = tmp_path / "cu.xyz"
    assert (
        main(
            [
                "datagen",
                "--kind",
                "metal",
                "--frames",
                "1",
                "--supercell",
                "1",
                "1",
                "1",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert out.is_file()


@pytest.mark.slow
def test_default_training_finishes_within_ten_minutes(tmp_path):
    """`equitens train` with the default configuration (5 minutes on an idle 2-core CPU)."""
    import time

    start = time.perf_counter()
    assert main(["train", f"output_dir={tmp_path}", "name=default", "training.progress=false"]) == 0
    assert time.perf_counter() - start < 600
    results = json.loads((tmp_path / "default" / "test_metrics.json").read_text())
    assert results["test"]["forces_mae"] < 0.05  # eV/A
    assert results["test"]["energy_per_atom_mae"] < 0.005  # eV/atom
