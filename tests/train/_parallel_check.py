"""Run in a subprocess with two CPU devices by ``test_parallel.py``; prints one JSON line.

1. One data-parallel step of a real (tiny) MACE on two batches against two single-device steps,
   in float64 with plain SGD (linear in the gradient, so the data-parallel step must land on the
   average of the two single-batch steps exactly, to rounding).
2. ``train`` end to end with ``training.devices=2``: steps, checkpoints, finite losses, and a
   run resumed from its checkpoint ends where an uninterrupted one does.
"""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from equitens.data import GraphLoader  # noqa: E402
from equitens.models import build_model, predict  # noqa: E402
from equitens.train import load_config, train  # noqa: E402
from equitens.train.checkpoint import load_checkpoint  # noqa: E402
from equitens.train.datasets import prepare_datasets, resolve_auto_model_keys  # noqa: E402
from equitens.train.evaluate import cast_batch  # noqa: E402
from equitens.train.loop import TrainState, make_train_step  # noqa: E402
from equitens.train.loss import LossWeights  # noqa: E402
from equitens.train.parallel import device_groups  # noqa: E402

TINY = [
    "model.num_channels=4",
    "model.lmax=1",
    "model.num_interactions=1",
    "model.radial_mlp=[8]",
    "model.num_radial_basis=4",
    "dtype=float64",
    "data.max_train_frames=24",
    "data.batch_size=4",
    "training.progress=false",
]


def step_check() -> dict:
    config = load_config(overrides=TINY)
    datasets = prepare_datasets(config)
    config["model"] = resolve_auto_model_keys(config, datasets)
    model = build_model(config, datasets.species, np.asarray(datasets.atomic_energies))
    loader = GraphLoader(datasets.train, 4, shuffle=False, num_buckets=1)
    b1, b2 = (cast_batch(b, np.float64) for b in list(loader)[:2])
    params = model.init(jax.random.PRNGKey(0), b1)
    opt = optax.sgd(0.05)
    state = TrainState(params, opt.init(params), None, jnp.asarray(0, jnp.int32))
    args = (model, predict, opt, LossWeights(), None, False)
    single, parallel = make_train_step(*args), make_train_step(*args, devices=2)
    s1, loss1, _ = single(state, b1, 1.0)
    s2, loss2, _ = single(state, b2, 1.0)
    (stacked,) = list(device_groups([b1, b2], 2))
    sp, loss_p, _ = parallel(state, stacked, 1.0)
    trees = (s1.params, s2.params, sp.params)
    leaves = zip(*(jax.tree.leaves(t) for t in trees), strict=True)
    param_error = max(
        float(jnp.max(jnp.abs((a + b) / 2 - p))) / max(float(jnp.max(jnp.abs(p))), 1e-30)
        for a, b, p in leaves
    )
    moved = max(
        float(jnp.max(jnp.abs(p - q)))
        for p, q in zip(jax.tree.leaves(sp.params), jax.tree.leaves(params), strict=True)
    )
    return {
        "param_error": param_error,
        "moved": moved,
        "loss_error": abs(float(loss_p) - (float(loss1) + float(loss2)) / 2),
        "step": int(sp.step),
        "param_devices": len(jax.tree.leaves(sp.params)[0].sharding.device_set),
    }


def train_check(out: str) -> dict:
    """Two epochs, then resumed to three; against three uninterrupted epochs."""
    common = [*TINY, "training.devices=2", f"output_dir={out}"]
    results = train(load_config(overrides=[*common, "training.epochs=2", "name=dp"]))
    resumed = train(load_config(overrides=[*common, "training.epochs=3", "name=dp", "resume=true"]))
    straight = train(load_config(overrides=[*common, "training.epochs=3", "name=straight"]))
    final = [
        jax.tree.leaves(load_checkpoint(r["run_dir"], "latest")["train_params"])
        for r in (resumed, straight)
    ]
    return {
        "steps": results["steps"],
        "epochs": results["epochs"],
        "resumed_steps": resumed["steps"],
        "resume_error": max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
            for a, b in zip(*final, strict=True)
        ),
        "forces_mae": results["test"]["forces_mae"],
        "run_dir": str(results["run_dir"]),
    }


if __name__ == "__main__":
    report = {"devices": len(jax.devices()), **step_check(), **train_check(sys.argv[1])}
    print(json.dumps(report))
