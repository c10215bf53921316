"""Checkpoints: exact round trip, atomic writes, corruption detected, old checkpoint kept."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from equitens.train import checkpoint as ckpt
from equitens.train.checkpoint import (
    load_checkpoint,
    resolve_checkpoint,
    restore_tree,
    save_checkpoint,
)


def _state(seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "params": {
            "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)},
            "e": jnp.asarray(rng.normal(size=()), jnp.float64),
        }
    }
    opt = optax.chain(
        optax.clip_by_global_norm(1.0), optax.scale_by_amsgrad(), optax.scale_by_learning_rate(0.1)
    )
    opt_state = opt.init(params)
    grads = jax.tree_util.tree_map(lambda p: jnp.ones_like(p), params)
    _, opt_state = opt.update(grads, opt_state, params)
    return params, opt, opt_state


def test_round_trip_is_bit_exact(tmp_path):
    params, opt, opt_state = _state()
    path = save_checkpoint(
        tmp_path / "c.ckpt",
        {
            "params": params,
            "opt_state": opt_state,
            "step": 7,
            "epoch": 2,
            "config": "seed: 3\n",
            "species": np.array([1, 8]),
            "atomic_energies": np.array([-1.5, -2.5]),
            "plateau": {"factor": 0.5, "best": float("inf"), "bad_epochs": 1},
            "ema_params": None,
        },
    )
    state = load_checkpoint(path)
    assert state["step"] == 7 and state["epoch"] == 2
    assert state["config"] == {"seed": 3}
    assert state["atomic_numbers"] == (1, 8)
    np.testing.assert_array_equal(state["atomic_energies"], [-1.5, -2.5])
    assert state["plateau"]["best"] == float("inf") and state["ema_params"] is None
    for a, b in zip(
        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(state["params"]), strict=True
    ):
        assert np.asarray(a).dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), b)
    restored = restore_tree(opt_state, state["opt_state"])
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(opt_state)
    for a, b in zip(
        jax.tree_util.tree_leaves(opt_state), jax.tree_util.tree_leaves(restored), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_species_table_is_returned_when_the_data_module_exists(tmp_path):
    from equitens import data

    path = save_checkpoint(tmp_path / "c.ckpt", {"species": np.array([1, 6, 8])})
    table = load_checkpoint(path)["species"]
    assert isinstance(table, data.SpeciesTable)
    assert tuple(table.atomic_numbers) == (1, 6, 8)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], "checksum mismatch"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
        (lambda b: b"garbage" + b, "does not start with the equitens checkpoint header"),
        (lambda b: b[:25], "truncated header"),
        (lambda b: b"", "does not start"),
    ],
)
def test_corruption_is_detected_and_names_the_other_checkpoint(tmp_path, damage, reason):
    params, _, _ = _state()
    save_checkpoint(tmp_path / "best.ckpt", {"params": params})
    latest = save_checkpoint(tmp_path / "latest.ckpt", {"params": params})
    latest.write_bytes(damage(latest.read_bytes()))
    with pytest.raises(ValueError) as info:
        load_checkpoint(latest)
    message = str(info.value)
    assert "is corrupted" in message and reason in message and "best.ckpt" in message
    assert load_checkpoint(tmp_path / "best.ckpt")["params"] is not None


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "latest.ckpt", {"step": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["latest.ckpt"]  # no temporary file left behind


def test_a_write_that_does_not_read_back_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "latest.ckpt", {"step": 1})
    real_read = type(path).read_bytes
    monkeypatch.setattr(type(path), "read_bytes", lambda self: real_read(self)[:-3])
    with pytest.raises(OSError, match="did not read back"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1


def test_resolve_prefers_the_requested_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "checkpoints" / "best.ckpt", {"step": 1})
    save_checkpoint(tmp_path / "checkpoints" / "latest.ckpt", {"step": 2})
    assert load_checkpoint(tmp_path)["step"] == 1
    assert load_checkpoint(tmp_path, "latest")["step"] == 2
    assert load_checkpoint(tmp_path / "checkpoints", "latest")["step"] == 2
    with pytest.raises(ValueError, match="no checkpoint found at"):
        resolve_checkpoint(tmp_path / "nothing")


def test_restore_tree_rejects_another_structure(tmp_path):
    params, _, _ = _state()
    saved = load_checkpoint(save_checkpoint(tmp_path / "c.ckpt", {"params": params}))["params"]
    wrong_shape = {"params": {"dense": {"kernel": jnp.zeros((3, 5))}, "e": jnp.zeros(())}}
    with pytest.raises(ValueError, match="does not match the current model"):
        restore_tree(wrong_shape, saved)
    with pytest.raises(ValueError, match="does not match the current model"):
        restore_tree({"params": {"other": jnp.zeros(2)}}, saved)
