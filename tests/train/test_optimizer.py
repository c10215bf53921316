"""Optimiser: schedules, plateau, AMSGrad/Adam against hand-written updates, clipping, EMA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equitens.train.config import default_config
from equitens.train.optimizer import (
    PlateauState,
    ema_update,
    frozen_labels,
    learning_rate_schedule,
    make_optimizer,
    parameter_names,
    plateau_update,
)


def _config(**changes):
    config = dict(default_config()["optimizer"])
    config.update(changes)
    return config


def test_warmup_then_cosine():
    schedule = learning_rate_schedule(
        _config(learning_rate=0.1, warmup_steps=4, schedule="cosine", min_lr_factor=0.0), 14
    )
    values = [float(schedule(s)) for s in range(15)]
    np.testing.assert_allclose(values[:5], [0.0, 0.025, 0.05, 0.075, 0.1], atol=1e-7)
    expected = [0.05 * (1 + np.cos(np.pi * k / 10)) for k in range(11)]
    np.testing.assert_allclose(values[4:], expected, atol=1e-7)


@pytest.mark.parametrize("schedule", ["constant", "plateau"])
def test_constant_after_warmup(schedule):
    s = learning_rate_schedule(_config(learning_rate=0.2, warmup_steps=0, schedule=schedule), 10)
    assert [float(s(k)) for k in (0, 5, 100)] == pytest.approx([0.2, 0.2, 0.2])


def _adam_reference(grads, lr, b1, b2, eps, amsgrad):
    m = v = vmax = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        if amsgrad:
            vmax = np.maximum(vmax, v_hat)
            v_hat = vmax
        out.append(-lr * m_hat / (np.sqrt(v_hat) + eps))
    return np.array(out)


@pytest.mark.parametrize("name", ["adam", "amsgrad"])
def test_updates_match_a_hand_written_reference(name):
    config = _config(
        name=name,
        learning_rate=0.01,
        warmup_steps=0,
        schedule="constant",
        clip_norm=None,
        beta1=0.9,
        beta2=0.99,
        eps=1e-8,
    )
    opt = make_optimizer(config, 10)
    grads = np.array([[1.0, -2.0], [0.1, 3.0], [0.5, 0.2], [-4.0, 0.01]])
    params = {"w": jnp.zeros(2)}
    state = opt.init(params)
    got = []
    for g in grads:
        updates, state = opt.update({"w": jnp.asarray(g)}, state, params)
        got.append(np.asarray(updates["w"]))
    expected = _adam_reference(grads, 0.01, 0.9, 0.99, 1e-8, name == "amsgrad")
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-9)


def test_amsgrad_differs_from_adam_when_gradients_shrink():
    grads = np.array([[10.0], [0.1], [0.1]])
    a = _adam_reference(grads, 1.0, 0.9, 0.99, 1e-8, False)
    b = _adam_reference(grads, 1.0, 0.9, 0.99, 1e-8, True)
    assert not np.allclose(a[-1], b[-1])


def test_clipping_bounds_the_global_norm_of_what_reaches_adam():
    # Gradients over two leaves, some with a global norm far above clip_norm and some below:
    # only those above are rescaled (jointly over both leaves) before Adam's moments see them.
    # Adam's update is invariant to a common scale of all gradients, not to rescaling some
    # steps, so several steps against a hand-written clip-then-Adam reference detect whether
    # (and how) the chain clips.
    clip = 1.0
    config = _config(
        name="adam",
        learning_rate=0.01,
        warmup_steps=0,
        schedule="constant",
        clip_norm=clip,
        beta1=0.9,
        beta2=0.99,
        eps=1e-8,
        weight_decay=0.0,
    )
    grads = np.array([[30.0, 40.0, 0.0], [0.3, -0.4, 0.1], [-3.0, 0.5, 12.0], [0.02, 0.05, -0.01]])
    assert [np.linalg.norm(g) > clip for g in grads] == [True, False, True, False]
    clipped = np.array([g * min(1.0, clip / np.linalg.norm(g)) for g in grads])
    expected = _adam_reference(clipped, 0.01, 0.9, 0.99, 1e-8, False)
    # The reference with unclipped gradients differs: the test cannot pass without clipping.
    assert not np.allclose(_adam_reference(grads, 0.01, 0.9, 0.99, 1e-8, False), expected)
    opt = make_optimizer(config, 10)
    params = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
    state = opt.init(params)
    got = []
    for g in grads:
        updates, state = opt.update({"a": jnp.asarray(g[:2]), "b": jnp.asarray(g[2:])}, state)
        got.append(np.concatenate([np.asarray(updates["a"]), np.asarray(updates["b"])]))
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-5, atol=1e-9)


def test_weight_decay_pulls_parameters_to_zero():
    config = _config(
        name="adam",
        weight_decay=0.5,
        warmup_steps=0,
        schedule="constant",
        learning_rate=0.1,
        clip_norm=None,
    )
    opt = make_optimizer(config, 10)
    params = {"w": jnp.array([2.0])}
    updates, _ = opt.update({"w": jnp.array([0.0])}, opt.init(params), params)
    assert float(updates["w"][0]) == pytest.approx(-0.1 * 0.5 * 2.0)


def test_plateau_reduces_after_patience_and_respects_the_floor():
    state = PlateauState()
    history = []
    for loss in [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]:
        state = plateau_update(state, loss, patience=2, reduce_factor=0.5, min_factor=0.2)
        history.append(state.factor)
    assert history == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    for _ in range(10):
        state = plateau_update(state, 0.6, patience=0, reduce_factor=0.5, min_factor=0.2)
    assert state.factor == 0.2


def test_ema_warms_up_then_uses_the_decay():
    ema = {"w": jnp.array(0.0)}
    ema = ema_update(ema, {"w": jnp.array(1.0)}, 0.5, jnp.array(0))
    assert float(ema["w"]) == pytest.approx(1 - 0.1)  # decay min(0.5, 1/10)
    ema = ema_update({"w": jnp.array(0.0)}, {"w": jnp.array(1.0)}, 0.5, jnp.array(1000))
    assert float(ema["w"]) == pytest.approx(0.5)


def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match="'adam' or 'amsgrad'"):
        make_optimizer(_config(name="sgd"), 10)


def test_frozen_parameters_get_zero_updates_and_the_rest_trains_as_without_them():
    # clipping by the global norm sees the trainable gradients only: with a frozen leaf whose
    # gradient is huge, the others are clipped as if it were absent
    config = _config(learning_rate=0.1, warmup_steps=0, schedule="constant", clip_norm=1.0)
    params = {"params": {"embedding": jnp.ones(3), "readout": {"w": jnp.ones(2)}}}
    grads = {"params": {"embedding": jnp.full(3, 1e3), "readout": {"w": jnp.array([3.0, -4.0])}}}
    frozen = make_optimizer({**config, "freeze": ["embed*"]}, 10)
    alone = make_optimizer(config, 10)
    state, reference_state = frozen.init(params), alone.init(params["params"]["readout"])
    for _ in range(3):
        updates, state = frozen.update(grads, state, params)
        expected, reference_state = alone.update(grads["params"]["readout"], reference_state)
        np.testing.assert_array_equal(updates["params"]["embedding"], np.zeros(3))
        np.testing.assert_allclose(updates["params"]["readout"]["w"], expected["w"], rtol=1e-6)
    assert np.any(np.asarray(expected["w"]) != 0)


def test_freeze_patterns_match_names_and_their_leading_parts():
    params = {
        "params": {
            "embedding": np.zeros(2),
            "message_0": {"radial": {"w0": np.zeros(2), "w1": np.zeros(2)}},
            "message_1": {"radial": {"w0": np.zeros(2)}},
            "readout_0": {"w": np.zeros(2)},
        }
    }
    assert parameter_names(params) == [
        "embedding",
        "message_0/radial/w0",
        "message_0/radial/w1",
        "message_1/radial/w0",
        "readout_0/w",
    ]

    def frozen(patterns):
        labels = jax.tree_util.tree_leaves(frozen_labels(params, patterns))
        return [
            n for n, label in zip(parameter_names(params), labels, strict=True) if label == "frozen"
        ]

    assert frozen(["message_0"]) == ["message_0/radial/w0", "message_0/radial/w1"]
    assert frozen(["message_*"]) == [
        "message_0/radial/w0",
        "message_0/radial/w1",
        "message_1/radial/w0",
    ]
    assert frozen(["*/w0", "embedding"]) == [
        "embedding",
        "message_0/radial/w0",
        "message_1/radial/w0",
    ]
    assert frozen(["message_0/radial/w1"]) == ["message_0/radial/w1"]
    with pytest.raises(ValueError, match="'message' matches no parameter"):
        frozen(["message"])  # a leading part is a whole name component, not a string prefix
    with pytest.raises(ValueError, match="freezes every parameter"):
        frozen(["*"])
