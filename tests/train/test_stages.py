"""Stage two (``loss.stage_two``) with stand-in data and model: weights, rate, best checkpoint,
exact resume on both sides of the switch."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from equitens.train import load_checkpoint, read_metrics, train

from . import _standins as S
from .test_loop import _Interrupt, _interrupting_loader

STAGE = {"energy_weight": 100.0, "forces_weight": 10.0, "learning_rate": 0.005}


@pytest.fixture(scope="module")
def data():
    return S.datasets()


def _config(tmp_path, start, **sections):
    return S.tiny_config(
        tmp_path,
        training={"epochs": 4},
        loss={"stage_two": {**STAGE, "start": start}},
        **sections,
    )


@pytest.mark.parametrize("start", [3, 0.5])  # an epoch; half of 4 epochs: from epoch 3
def test_weights_rate_and_best_checkpoint_switch_at_the_start(tmp_path, data, start, capsys):
    results = train(_config(tmp_path, start), **S.factories(data))
    out = capsys.readouterr().out
    assert (
        "stage two from epoch 3: loss weights energy 100, forces 10, stress 1000; learning" in out
    )
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    for row in rows:  # the validation loss is the weighted sum of the two squared RMSEs
        energy, forces = (1.0, 10.0) if row["epoch"] < 3 else (100.0, 10.0)
        expected = (
            energy * row["valid_energy_per_atom_rmse"] ** 2 + forces * row["valid_forces_rmse"] ** 2
        )
        assert row["valid_loss"] == pytest.approx(expected, rel=1e-6)
    assert [row["lr"] for row in rows[2:]] == pytest.approx([0.005, 0.005])
    assert rows[1]["lr"] == pytest.approx(0.05)
    assert results["best_epoch"] >= 3  # the best of stage two, whatever stage one reached


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("killed_in", [3, 4])  # the first epoch of stage two; one inside it
def test_resume_reaches_the_uninterrupted_parameters(tmp_path, data, killed_in):
    train(_config(tmp_path, 3, name="straight"), **S.factories(data))
    factories = {**S.factories(data), "make_loader": _interrupting_loader(killed_in)}
    with pytest.raises(_Interrupt):
        train(_config(tmp_path, 3, name="resumed"), **factories)
    train(_config(tmp_path, 3, name="resumed", resume=True), **S.factories(data))
    a = load_checkpoint(tmp_path / "straight", "latest")
    b = load_checkpoint(tmp_path / "resumed", "latest")
    for key in ("train_params", "ema_params", "opt_state"):
        for x, y in zip(_leaves(a[key]), _leaves(b[key]), strict=True):
            np.testing.assert_array_equal(x, y)
    assert a["plateau"] == b["plateau"] and a["best_epoch"] == b["best_epoch"]
    rows_a = read_metrics(tmp_path / "straight" / "metrics.csv")
    rows_b = read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [r["valid_loss"] for r in rows_a] == [r["valid_loss"] for r in rows_b]
