"""Fixtures shared by the command-line tests: a tiny extxyz file and a tiny trained run.

The run is trained once per test session (about 10 s on 2 cores) and read by every test that
evaluates or runs MD with it; tests must not write into it.
"""

from __future__ import annotations

import pytest

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

    data = pytest.importorskip("equitens.data")
    frames = ase.io.read(data.default_dataset_path("molecule"), index=":11")
    path = tmp_path_factory.mktemp("data") / "tiny.xyz"
    ase.io.write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_xyz):
    """The folder of a one-epoch `equitens train` run of the tiny model on ``tiny_xyz``."""
    pytest.importorskip("equitens.models")
    from equitens.cli import main

    out = tmp_path_factory.mktemp("runs")
    status = main(
        [
            "train",
            f"data.train_file={tiny_xyz}",
            f"output_dir={out}",
            "name=tiny",
            "training.epochs=1",
            "training.progress=false",
            "data.batch_size=2",
            "data.eval_batch_size=2",
            "data.valid_fraction=0.25",
            "data.test_fraction=0.25",
            *TINY_MODEL,
        ]
    )
    assert status == 0
    return out / "tiny"
