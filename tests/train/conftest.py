"""Fixtures shared by the command-line tests: a tiny extxyz file and a tiny trained run.

The run is trained once per test session (about 15 s on 2 cores, mostly compilation) and read by
every test that evaluates or runs MD with it; tests must not write into it.
"""

from __future__ import annotations

import pytest

from equitens import data

TINY_MODEL = [
    "model.num_channels=4",
    "model.lmax=1",
    "model.num_interactions=1",
    "model.radial_mlp=[8]",
    "model.num_radial_basis=4",
]


@pytest.fixture(scope="session")
def tiny_model() -> list[str]:
    """``key=value`` overrides of a tiny MACE (quick to compile)."""
    return list(TINY_MODEL)


@pytest.fixture(scope="session")
def tiny_xyz(tmp_path_factory):
    """The first 11 frames of the embedded ethanol set: 3 isolated atoms and 8 molecules."""
    import ase.io

    frames = ase.io.read(data.default_dataset_path("molecule"), index=":11")
    path = tmp_path_factory.mktemp("data") / "tiny.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


TRAINED_EPOCHS = 20


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The folder of a short `equitens train` run of the tiny model (TRAINED_EPOCHS epochs).

    Data: the first 100 molecules of the embedded ethanol set, interleaved into test (every 5th,
    20 frames), validation (10) and training (70, with the set's 3 isolated atoms) files, named
    in the run's ``config.yaml``. Enough data and steps (no warm-up, a larger learning rate, a
    large energy weight) for the errors to beat trivial predictors clearly (``test_cli.py``).
    """
    import ase.io

    from equitens.cli import main

    frames = ase.io.read(data.default_dataset_path("molecule"), index=":103")
    isolated, molecules = frames[:3], frames[3:]
    assert all(len(a) == 1 for a in isolated) and all(len(a) == 9 for a in molecules)
    folder = tmp_path_factory.mktemp("train_data")
    files = {
        "train": isolated + [m for i, m in enumerate(molecules) if i % 5 and i % 10 != 2],
        "valid": molecules[2::10],
        "test": molecules[0::5],
    }
    for key, configs in files.items():
        ase.io.write(folder / f"{key}.xyz", configs, format="extxyz")
    out = tmp_path_factory.mktemp("runs")
    status = main(
        [
            "train",
            f"data.train_file={folder / 'train.xyz'}",
            f"data.valid_file={folder / 'valid.xyz'}",
            f"data.test_file={folder / 'test.xyz'}",
            f"output_dir={out}",
            "name=tiny",
            f"training.epochs={TRAINED_EPOCHS}",
            "training.progress=false",
            "data.batch_size=4",
            "data.eval_batch_size=4",
            "optimizer.warmup_steps=0",
            "optimizer.learning_rate=0.05",
            "loss.energy_weight=1000",
            *TINY_MODEL,
        ]
    )
    assert status == 0
    return out / "tiny"
