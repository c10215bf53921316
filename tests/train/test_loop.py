"""The training loop with stand-in data and model: outputs, exact resume, NaN handling."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from equitens.train import TrainingDivergedError, load_checkpoint, load_config, read_metrics, train
from equitens.train.evaluate import evaluate_batches, fixed_size_batches, make_eval_step
from equitens.train.loop import epoch_seed
from equitens.train.loss import LossWeights

from . import _standins as S


@pytest.fixture(scope="module")
def data():
    return S.datasets()


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_training_writes_the_run_folder_and_learns(tmp_path, data):
    config = S.tiny_config(tmp_path, training={"epochs": 4})
    results = train(config, **S.factories(data))
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "metrics.csv",
        "learning_curve.png",
        "test_metrics.json",
        "checkpoints/latest.ckpt",
        "checkpoints/best.ckpt",
    ):
        assert (run / name).is_file(), name
    rows = read_metrics(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    assert rows[-1]["step"] == 4 * 3  # 12 graphs, batch 4
    saved = json.loads((run / "test_metrics.json").read_text())
    assert saved["test"] == pytest.approx(results["test"])
    assert set(results["test"]) >= {
        "energy_mae",
        "energy_rmse",
        "energy_per_atom_mae",
        "forces_mae",
        "forces_rmse",
    }
    # the saved configuration reloads, and the best checkpoint reproduces the reported errors
    assert load_config(run / "config.yaml")["training"]["epochs"] == 4
    best = load_checkpoint(run)
    assert best["epoch"] == results["best_epoch"]
    model = S.build_model(best["config"], best["species"], best["atomic_energies"])
    errors = evaluate_batches(
        make_eval_step(model, S.predict, False),
        best["params"],
        fixed_size_batches(data.test, 4),
        np.float32,
        LossWeights(),
    )
    assert errors["forces_mae"] == pytest.approx(results["test"]["forces_mae"], rel=1e-5)
    assert {x.dtype for x in _leaves(best["params"])} == {np.dtype(np.float32)}  # the default


class _Interrupt(Exception):
    pass


def _interrupting_loader(at_epoch, seed=0):
    def make(graphs, batch_size, shuffle, loader_seed):
        if shuffle and loader_seed == epoch_seed(seed, at_epoch):
            raise _Interrupt
        return S.Loader(graphs, batch_size, shuffle, loader_seed)

    return make


def test_resume_continues_to_exactly_the_uninterrupted_parameters(tmp_path, data):
    # cosine: the schedule depends on the total number of steps, which resume must keep
    sections = {"optimizer": {"schedule": "cosine"}}
    straight = train(S.tiny_config(tmp_path, name="straight", **sections), **S.factories(data))

    factories = {**S.factories(data), "make_loader": _interrupting_loader(2)}
    with pytest.raises(_Interrupt):  # killed during epoch 2: latest.ckpt holds epoch 1
        train(S.tiny_config(tmp_path, name="resumed", **sections), **factories)
    assert load_checkpoint(tmp_path / "resumed", "latest")["epoch"] == 1
    resumed = train(
        S.tiny_config(tmp_path, name="resumed", resume=True, **sections), **S.factories(data)
    )

    a = load_checkpoint(tmp_path / "straight", "latest")
    b = load_checkpoint(tmp_path / "resumed", "latest")
    for key in ("train_params", "ema_params", "params", "opt_state"):
        for x, y in zip(_leaves(a[key]), _leaves(b[key]), strict=True):
            np.testing.assert_array_equal(x, y)
    assert a["step"] == b["step"] == 6
    assert straight["test"] == resumed["test"]
    rows_a = read_metrics(tmp_path / "straight" / "metrics.csv")
    rows_b = read_metrics(tmp_path / "resumed" / "metrics.csv")
    assert [r["valid_loss"] for r in rows_a] == [r["valid_loss"] for r in rows_b]


def test_resume_can_extend_a_finished_run_exactly(tmp_path, data):
    # plateau (the default): a run of 1 epoch extended to 3 equals a run of 3 epochs; the rate
    # is high enough for epoch 2 to be worse than epoch 1, which only a restored plateau state sees
    sections = {"optimizer": {"schedule": "plateau", "plateau_patience": 0, "learning_rate": 0.5}}
    train(
        S.tiny_config(tmp_path, name="a", training={"epochs": 1, "max_time": 1000}, **sections),
        **S.factories(data),
    )
    results = train(
        S.tiny_config(tmp_path, name="a", resume=True, training={"epochs": 3}, **sections),
        **S.factories(data),
    )
    straight = train(
        S.tiny_config(tmp_path, name="b", training={"epochs": 3}, **sections), **S.factories(data)
    )
    assert results["epochs"] == 3
    saved = load_config(tmp_path / "a" / "config.yaml")["training"]
    assert (saved["epochs"], saved["max_time"]) == (3, 1000)  # new length, saved time limit
    rows_a = read_metrics(tmp_path / "a" / "metrics.csv")
    rows_b = read_metrics(tmp_path / "b" / "metrics.csv")
    assert [r["epoch"] for r in rows_a] == [1, 2, 3]
    assert [r["lr"] for r in rows_a] == [r["lr"] for r in rows_b]
    assert rows_a[-1]["lr"] < rows_a[0]["lr"]  # the plateau schedule did reduce the rate
    a = load_checkpoint(tmp_path / "a", "latest")
    b = load_checkpoint(tmp_path / "b", "latest")
    for x, y in zip(_leaves(a["train_params"]), _leaves(b["train_params"]), strict=True):
        np.testing.assert_array_equal(x, y)
    assert results["test"] == straight["test"]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, data):
    def poisoned(graphs, batch_size, shuffle, seed):
        loader = S.Loader(graphs, batch_size, shuffle, seed)
        if shuffle and seed == epoch_seed(0, 2):
            batches = list(loader)
            b = batches[1]
            positions = b.nodes["positions"].copy()
            positions[0] = np.nan
            batches[1] = b._replace(nodes={**b.nodes, "positions": positions})
            return batches
        return loader

    factories = {**S.factories(data), "make_loader": poisoned}
    with pytest.raises(
        TrainingDivergedError,
        match=r"loss became nan at epoch 2, step 5.*last "
        r"good checkpoint is kept",
    ):
        train(S.tiny_config(tmp_path, training={"epochs": 3}), **factories)
    latest = load_checkpoint(tmp_path / "run", "latest")
    assert latest["epoch"] == 1
    assert all(np.all(np.isfinite(x)) for x in _leaves(latest["params"]))


def test_an_existing_run_is_not_overwritten(tmp_path, data):
    train(S.tiny_config(tmp_path, training={"epochs": 1}), **S.factories(data))
    before = (tmp_path / "run" / "checkpoints" / "latest.ckpt").read_bytes()
    with pytest.raises(ValueError, match="already has checkpoints: set resume=true"):
        train(S.tiny_config(tmp_path, training={"epochs": 1}), **S.factories(data))
    assert (tmp_path / "run" / "checkpoints" / "latest.ckpt").read_bytes() == before
    with pytest.raises(ValueError, match="resume=true but .* does not exist"):
        train(S.tiny_config(tmp_path, name="other", resume=True), **S.factories(data))


def test_resume_of_a_run_saved_before_a_key_existed(tmp_path, data):
    """A checkpoint written by an earlier version lacks the keys added since (here
    ``training.devices``): resume fills them with their defaults instead of failing."""
    from equitens.train.checkpoint import save_checkpoint

    train(S.tiny_config(tmp_path, name="old", training={"epochs": 1}), **S.factories(data))
    latest = tmp_path / "old" / "checkpoints" / "latest.ckpt"
    state = load_checkpoint(latest)
    del state["config"]["training"]["devices"]
    state["species"] = np.asarray(state["species"].atomic_numbers)  # as the loop saves it
    save_checkpoint(latest, state)
    resumed = train(
        S.tiny_config(tmp_path, name="old", resume=True, training={"epochs": 2}),
        **S.factories(data),
    )
    assert resumed["epochs"] == 2
    assert load_config(tmp_path / "old" / "config.yaml")["training"]["devices"] == 1


def test_a_corrupted_latest_checkpoint_stops_resume_and_is_kept(tmp_path, data):
    train(S.tiny_config(tmp_path, training={"epochs": 1}), **S.factories(data))
    latest = tmp_path / "run" / "checkpoints" / "latest.ckpt"
    damaged = latest.read_bytes()[:-10]
    latest.write_bytes(damaged)
    with pytest.raises(ValueError, match="is corrupted .*best.ckpt"):
        train(S.tiny_config(tmp_path, resume=True), **S.factories(data))
    assert latest.read_bytes() == damaged


def test_float64_option(tmp_path, data):
    train(S.tiny_config(tmp_path, dtype="float64", training={"epochs": 1}), **S.factories(data))
    params = load_checkpoint(tmp_path / "run")["params"]
    assert {x.dtype for x in _leaves(params)} == {np.dtype(np.float64)}
    # a resumed run keeps the saved dtype (the configuration given on resume has the default)
    train(S.tiny_config(tmp_path, resume=True, training={"epochs": 2}), **S.factories(data))
    params = load_checkpoint(tmp_path / "run")["params"]
    assert {x.dtype for x in _leaves(params)} == {np.dtype(np.float64)}


def test_float64_without_x64_is_refused_before_anything_is_written(tmp_path, data):
    config = S.tiny_config(tmp_path, dtype="float64", training={"epochs": 1})
    with jax.enable_x64(False), pytest.raises(ValueError, match="jax_enable_x64"):
        train(config, **S.factories(data))
    assert not (tmp_path / "run").exists()


def test_without_validation_data_the_training_loss_selects_the_best(tmp_path):
    data = S.datasets(n_valid=0, n_test=0)
    results = train(S.tiny_config(tmp_path, training={"epochs": 2}), **S.factories(data))
    assert "test" not in results and results["best_epoch"] >= 1


def test_a_stress_only_loss_without_stress_labels_is_refused(tmp_path, data):
    config = S.tiny_config(tmp_path, loss={"energy_weight": 0.0, "forces_weight": 0.0})
    with pytest.raises(ValueError, match="no training frame has a stress label"):
        train(config, **S.factories(data))
    assert not (tmp_path / "run").exists()
