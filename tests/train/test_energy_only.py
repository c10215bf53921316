"""Energy-only reference data (dihedral scans, reaction paths): ``equitens evaluate`` on a file
without forces, relative energies, energy-only validation/test files in training, and command-line
errors that name command-line flags (not Python keyword arguments).

``tiny_xyz`` and ``trained_run`` come from ``conftest.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from equitens import data
from equitens.cli import build_parser, main
from equitens.train import load_config, read_metrics, train
from equitens.train.datasets import prepare_datasets

from . import _standins as S


def _speaks_python(message: str) -> bool:
    """Whether an error message gives Python advice (keyword arguments, functions, classes)
    instead of command-line flags or configuration keys (``data.forces_key=null`` is fine)."""
    keyword = re.search(r"(?<!data\.)\b(energy|forces|stress)_key=", message)
    return bool(keyword) or any(
        word in message for word in ("read_extxyz", "=None", "read_forces", "SpeciesTable")
    )


def _write(path, configs):
    import ase.io

    ase.io.write(path, [c.to_atoms() for c in configs], format="extxyz")
    return path


@pytest.fixture(scope="module")
def reference():
    """The frames of ``tiny_xyz`` (3 isolated atoms, 8 ethanol molecules) with their labels."""
    return data.read_extxyz(data.default_dataset_path("molecule"), index=":11")


@pytest.fixture(scope="module")
def scan_xyz(tmp_path_factory, reference):
    """``tiny_xyz`` without forces: energies only, as a scan or a reaction path comes."""
    folder = tmp_path_factory.mktemp("scan")
    return _write(folder / "scan.xyz", [dataclasses.replace(c, forces=None) for c in reference])


def _predicted_energies(run, configs):
    """The model's energies of ``configs``, all in one padded batch (not evaluate's batches)."""
    import jax
    import jax.numpy as jnp
    import jraph

    from equitens.models import build_model, predict
    from equitens.train import load_checkpoint

    state = load_checkpoint(run)
    config = state["config"]
    assert config["dtype"] == "float32"
    model = build_model(config, state["species"], state["atomic_energies"])
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), state["params"])
    graphs = [
        data.graph_from_configuration(c, config["model"]["cutoff"], state["species"])
        for c in configs
    ]
    batch = jraph.batch_np(graphs)
    batch = jraph.pad_with_graphs(
        batch, int(batch.n_node.sum()) + 1, int(batch.n_edge.sum()), len(graphs) + 1
    )
    batch = jax.tree_util.tree_map(
        lambda x: x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x, batch
    )
    out = jax.jit(lambda p, g: predict(model, p, g, compute_stress=False))(params, batch)
    return np.asarray(out["energy"], dtype=np.float64)[: len(graphs)]


def _evaluate(args, capsys):
    status = main(["evaluate", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ---------------------------------------------------------------- equitens evaluate


def test_evaluate_energy_only_file(trained_run, scan_xyz, reference, capsys, tmp_path):
    out = tmp_path / "errors.json"
    args = ["--checkpoint", str(trained_run), "--data", str(scan_xyz), "--out", str(out)]
    status, printed, err = _evaluate(args, capsys)
    assert status == 0, err

    # the report: energy rows and relative energies, no force row, no NaN, and it says why
    assert "energy (meV)" in printed and "energy/atom (meV)" in printed
    assert "rel. energy (meV)" in printed
    assert "forces (meV/A)" not in printed and "nan" not in printed.lower()
    assert "energies only: no frame has forces under the key 'forces'" in printed
    assert "--forces-key" in printed
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    errors = json.loads(text)
    assert set(errors) == {
        "loss",
        "energy_mae",
        "energy_rmse",
        "energy_per_atom_mae",
        "energy_per_atom_rmse",
        "n_configs",
        "forces_key",
        "relative_energy_mae",
        "relative_energy_rmse",
        "relative_energies",
    }
    assert errors["n_configs"] == 11

    # the errors against an independent computation: one batch, numpy means
    ref = np.array([c.energy for c in reference])
    atoms = np.array([c.num_atoms for c in reference])
    pred = _predicted_energies(trained_run, reference)
    tol = 5e-4  # eV; float32 model, different padding and summation order
    assert errors["energy_mae"] == pytest.approx(np.mean(np.abs(pred - ref)), abs=tol)
    assert errors["energy_rmse"] == pytest.approx(np.sqrt(np.mean((pred - ref) ** 2)), abs=tol)
    per_atom = (pred - ref) / atoms
    assert errors["energy_per_atom_mae"] == pytest.approx(np.mean(np.abs(per_atom)), abs=tol / 9)
    assert errors["energy_mae"] > 10 * tol  # a one-epoch model: the check above means something

    # relative energies: the 8 molecules (isolated atoms left out), relative to the lowest
    # reference energy, compared on the 7 other frames
    relative = errors["relative_energies"]
    molecules = np.arange(3, 11)
    assert relative["frames"] == molecules.tolist()
    k = int(molecules[np.argmin(ref[molecules])])
    assert relative["reference_frame"] == k
    np.testing.assert_allclose(relative["energy_ref"], ref[molecules], atol=1e-9)
    np.testing.assert_allclose(relative["energy_pred"], pred[molecules], atol=tol)
    rel_ref, rel_pred = ref[molecules] - ref[k], pred[molecules] - pred[k]
    np.testing.assert_allclose(relative["relative_energy_ref"], rel_ref, atol=1e-9)
    np.testing.assert_allclose(relative["relative_energy_pred"], rel_pred, atol=tol)
    difference = np.delete(rel_pred - rel_ref, list(molecules).index(k))
    assert errors["relative_energy_mae"] == pytest.approx(np.mean(np.abs(difference)), abs=tol)
    assert errors["relative_energy_rmse"] == pytest.approx(np.sqrt(np.mean(difference**2)), abs=tol)
    assert f"relative to frame {k} (lowest reference energy), 8 frames" in printed


def test_no_forces_flag_ignores_the_forces_of_a_file(trained_run, tiny_xyz, capsys, tmp_path):
    out = tmp_path / "errors.json"
    args = ["--checkpoint", str(trained_run), "--data", str(tiny_xyz), "--no-forces"]
    status, printed, err = _evaluate([*args, "--out", str(out)], capsys)
    assert status == 0, err
    assert "forces (meV/A)" not in printed and "energies only (--no-forces)" in printed
    errors = json.loads(out.read_text())
    assert errors["forces_key"] is None and "forces_mae" not in errors
    assert np.isfinite(errors["energy_mae"]) and "relative_energy_mae" in errors
    with pytest.raises(SystemExit):  # one or the other
        build_parser().parse_args([*args, "--forces-key", "REF_forces"])


def test_evaluate_errors_name_the_flags(trained_run, reference, scan_xyz, tmp_path, capsys):
    run = ["--checkpoint", str(trained_run)]

    def error_of(*args):
        status, _, err = _evaluate([*run, *args], capsys)
        assert status == 2
        assert not _speaks_python(err), err
        return err

    err = error_of("--data", str(scan_xyz), "--energy-key", "REF_energy")
    assert "no energy under the key 'REF_energy'" in err and "--energy-key" in err
    # a key given on the command line must be there (a typo does not turn into energies only)
    err = error_of("--data", str(scan_xyz), "--forces-key", "REF_forces")
    assert "no forces under the key 'REF_forces'" in err
    assert "--forces-key <one of those keys>, or --no-forces" in err
    assert "no frame of the file has forces under that key" in err

    # some frames with forces, some without: an error that says how many, and the flags
    partial = list(reference)
    partial[5] = dataclasses.replace(partial[5], forces=None)
    path = _write(tmp_path / "partial.xyz", partial)
    err = error_of("--data", str(path))
    assert "frame 5 has no forces" in err and "7 of the 8 frames" in err
    assert "--no-forces" in err and "--forces-key" in err

    assert "--no-forces" in error_of("--data", str(scan_xyz), "--forces-key", "")
    assert "--batch-size" in error_of("--data", str(scan_xyz), "--batch-size", "0")
    assert "--data" in error_of("--data", str(tmp_path / "missing.xyz"))
    status, _, err = _evaluate(["--checkpoint", str(tmp_path / "nope"), "--data", "x"], capsys)
    assert status == 2 and "--checkpoint" in err

    fe = dataclasses.replace(reference[4], atomic_numbers=[26] + [1] * 8)
    err = error_of("--data", str(_write(tmp_path / "fe.xyz", [reference[3], fe])))
    assert "Fe (Z=26, first in frame 1)" in err and "knows H, C, O" in err


# ---------------------------------------------------------------- training


def _config(tmp_path, tiny_xyz, *overrides):
    return load_config(
        overrides=[f"data.train_file={tiny_xyz}", f"output_dir={tmp_path}", *overrides]
    )


def test_energy_only_validation_and_test_files_are_read(tiny_xyz, scan_xyz, tmp_path, capsys):
    config = _config(
        tmp_path, tiny_xyz, f"data.valid_file={scan_xyz}", f"data.test_file={scan_xyz}"
    )
    datasets = prepare_datasets(config)
    printed = capsys.readouterr().out
    assert f"data.valid_file {str(scan_xyz)!r} has no forces" in printed
    assert "energies only" in printed
    assert all(float(g.globals["forces_weight"][0]) == 0 for g in datasets.valid + datasets.test)
    assert all(float(g.globals["forces_weight"][0]) == 1 for g in datasets.train)
    assert len(datasets.valid) == 11 and len(datasets.train) == 8


def test_training_data_errors_name_the_configuration_keys(
    tiny_xyz, scan_xyz, reference, tmp_path, capsys
):
    def error_of(*overrides):
        args = ["train", f"output_dir={tmp_path}", "training.progress=false", *overrides]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert not _speaks_python(err), err
        return err

    # the training file needs forces unless data.forces_key=null says otherwise
    err = error_of(f"data.train_file={scan_xyz}")
    assert f"data.train_file={scan_xyz}, frame 3 has no forces" in err
    assert "data.forces_key=null to train on energies only" in err
    err = error_of(f"data.train_file={tiny_xyz}", "data.energy_key=REF_energy")
    assert "Set data.energy_key=<one of those keys>" in err
    assert "set data.energy_key=<" in error_of(
        f"data.train_file={tiny_xyz}", "data.energy_key=null"
    )

    partial = list(reference[3:])
    partial[1] = dataclasses.replace(partial[1], forces=None)
    path = _write(tmp_path / "partial.xyz", partial)
    err = error_of(f"data.train_file={tiny_xyz}", f"data.valid_file={path}")
    assert "data.valid_file=" in err and "frame 1 has no forces" in err
    assert "7 of the 8 frames" in err and "data.forces_key" in err

    fe = dataclasses.replace(reference[4], atomic_numbers=[26] + [1] * 8)
    path = _write(tmp_path / "fe.xyz", [reference[3], fe])
    err = error_of(f"data.train_file={tiny_xyz}", f"data.test_file={path}")
    assert "test frames" in err and "Fe (Z=26)" in err and "data.train_file" in err


def test_training_with_energy_only_validation_data(tmp_path):
    """The loop with stand-ins: validation and test without forces (forces_weight 0)."""
    base = S.datasets()

    def energy_only(graphs):
        return [g._replace(globals={**g.globals, "forces_weight": np.zeros(1)}) for g in graphs]

    datasets = dataclasses.replace(base, valid=energy_only(base.valid), test=energy_only(base.test))
    config = S.tiny_config(tmp_path, loss={"energy_weight": 2.0})
    results = train(config, **S.factories(datasets))
    for split in ("valid", "test"):
        assert set(results[split]) == {
            "loss",
            "energy_mae",
            "energy_rmse",
            "energy_per_atom_mae",
            "energy_per_atom_rmse",
        }
        errors = results[split]
        assert all(np.isfinite(v) for v in errors.values())
        # the loss of an energy-only set is its energy term only
        assert errors["loss"] == pytest.approx(2.0 * errors["energy_per_atom_rmse"] ** 2)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 2 and all(np.isfinite(r["valid_loss"]) for r in rows)
    assert not any(key.startswith("valid_forces") for key in rows[0])


def test_read_extxyz_allow_energy_only(scan_xyz, tiny_xyz, tmp_path, reference):
    configs = data.read_extxyz(scan_xyz, allow_energy_only=True)
    assert len(configs) == 11 and all(c.forces is None for c in configs)
    with_forces = data.read_extxyz(tiny_xyz, allow_energy_only=True)
    assert all(c.forces is not None for c in with_forces[3:])
    with pytest.raises(data.MissingLabelError, match="no frame of the file has forces") as info:
        data.read_extxyz(scan_xyz)  # energy-only needs asking for
    assert info.value.label == "forces" and info.value.where.endswith("frame 3")
    partial = list(reference)
    partial[6] = dataclasses.replace(partial[6], forces=None)
    path = _write(tmp_path / "partial.xyz", partial)
    with pytest.raises(ValueError, match="frame 6 has no forces.*7 of the 8 frames"):
        data.read_extxyz(path, allow_energy_only=True)


def test_md_names_an_unknown_element_in_flags(trained_run, tmp_path, capsys):
    import ase
    import ase.io

    path = tmp_path / "fe.xyz"
    ase.io.write(path, ase.Atoms("FeH", positions=[[0, 0, 0], [0, 0, 1.6]]), format="extxyz")
    args = ["md", "--checkpoint", str(trained_run), "--structure", str(path), "--steps", "1"]
    assert main([*args, "--out", str(tmp_path / "traj.xyz")]) == 2
    err = capsys.readouterr().err
    assert "--structure" in err and "Fe" in err and "knows H, C, O" in err
    assert not _speaks_python(err), err
