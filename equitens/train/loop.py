"""The training loop: ``train(config) -> final metrics``.

One call builds the data (:func:`equitens.train.datasets.prepare_datasets`), the model
(``equitens.models.build_model``) and the optimiser, then for each epoch runs the jit-compiled
train step over shuffled padded batches (tqdm bar with live losses), validates (with the EMA
parameters), logs a CSV row, updates the plateau schedule and writes ``latest.ckpt`` (and
``best.ckpt`` when the validation loss improved). At the end it plots the learning curve and
evaluates the best checkpoint on the test set.

Output folder ``<output_dir>/<name>/``::

    config.yaml          the full configuration of the run
    metrics.csv          one row per epoch
    learning_curve.png   losses and validation errors against the epoch
    checkpoints/         latest.ckpt, best.ckpt
    test_metrics.json    final errors on the test (and validation) set

``resume=true`` continues a run from ``latest.ckpt`` to exactly the parameters an
uninterrupted run reaches: the split, the shuffling of each epoch (seeded by seed and epoch),
the optimiser, EMA and plateau states are all restored.
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from equitens.train.checkpoint import load_checkpoint, restore_tree, save_checkpoint
from equitens.train.config import default_config, dump_config, load_config, validate_config
from equitens.train.datasets import Datasets, prepare_datasets, resolve_auto_model_keys
from equitens.train.evaluate import (
    cast_batch,
    evaluate_batches,
    fixed_size_batches,
    format_errors,
    make_eval_step,
    padding_size,
)
from equitens.train.loss import LossWeights, weighted_loss
from equitens.train.metrics import append_metrics, plot_learning_curve, truncate_metrics
from equitens.train.optimizer import (
    PlateauState,
    ema_update,
    learning_rate_schedule,
    make_optimizer,
    plateau_update,
)

__all__ = ["TrainState", "TrainingDivergedError", "epoch_seed", "make_train_step", "train"]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept.

    Examples:
        >>> issubclass(TrainingDivergedError, RuntimeError)
        True
    """


class TrainState(NamedTuple):
    """What the train step updates (a pytree).

    Attributes:
        params: the model parameters being optimised.
        opt_state: the optax state.
        ema_params: the moving average of the parameters (``None`` without EMA).
        step: the number of optimisation steps done (int32 scalar).

    Examples:
        >>> import jax.numpy as jnp
        >>> state = TrainState({"w": jnp.zeros(2)}, (), None, jnp.array(0))
        >>> int(state._replace(step=state.step + 1).step)
        1
    """

    params: Any
    opt_state: Any
    ema_params: Any
    step: jax.Array


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of an epoch: a fixed function of the run's seed and the epoch.

    Args:
        seed: the run's seed.
        epoch: the epoch number (1-based).

    Returns:
        A seed in ``[0, 2**31)``; a resumed run shuffles each epoch as the uninterrupted one.

    Examples:
        >>> epoch_seed(0, 1) == epoch_seed(0, 1), epoch_seed(0, 1) == epoch_seed(0, 2)
        (True, False)
    """
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0] % 2**31)


def make_train_step(
    model: Any,
    predict: Callable,
    optimizer: optax.GradientTransformation,
    weights: LossWeights,
    ema_decay: float | None,
    compute_stress: bool,
) -> Callable:
    """The jit-compiled train step ``(state, batch, lr_factor) -> (state, loss, terms)``.

    Args:
        model: the flax module.
        predict: ``predict(model, params, graph, compute_stress=...)`` returning energy,
            forces (and stress).
        optimizer: the optax optimiser.
        weights: the loss weights.
        ema_decay: decay of the parameter EMA, or None.
        compute_stress: whether the loss needs the stress.

    Returns:
        The compiled step; ``lr_factor`` (a scalar) multiplies the updates (plateau schedule).

    Examples:
        >>> import jax.numpy as jnp, jraph, numpy as np, optax
        >>> def predict(model, params, graph, compute_stress=True):
        ...     return {"energy": params["e"] * graph.n_node,
        ...             "forces": jnp.zeros_like(graph.nodes["positions"])}
        >>> batch = jraph.GraphsTuple(
        ...     nodes={"positions": np.zeros((2, 3)), "forces": np.zeros((2, 3))}, edges=None,
        ...     senders=None, receivers=None, n_node=np.array([2]), n_edge=np.array([0]),
        ...     globals={"energy": np.array([2.0]), "weight": np.ones(1),
        ...              "energy_weight": np.ones(1), "forces_weight": np.ones(1)})
        >>> opt = optax.sgd(0.25)
        >>> params = {"e": jnp.array(0.0)}
        >>> step = make_train_step(None, predict, opt, LossWeights(), None, False)
        >>> state = TrainState(params, opt.init(params), None, jnp.array(0))
        >>> state, loss, terms = step(state, batch, 1.0)
        >>> float(loss), float(state.params["e"])
        (1.0, 0.5)
    """

    def loss_fn(params, batch):
        prediction = predict(model, params, batch, compute_stress=compute_stress)
        return weighted_loss(prediction, batch, weights)

    @jax.jit
    def step(state: TrainState, batch, lr_factor):
        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        updates = jax.tree_util.tree_map(lambda u: (u * lr_factor).astype(u.dtype), updates)
        params = optax.apply_updates(state.params, updates)
        ema = state.ema_params
        if ema_decay is not None:
            ema = ema_update(ema, params, ema_decay, state.step)
        return TrainState(params, opt_state, ema, state.step + 1), loss, terms

    return step


def _default_loader(num_buckets: int) -> Callable:
    def make(graphs, batch_size, shuffle, seed):
        from equitens.data import GraphLoader

        return GraphLoader(graphs, batch_size, shuffle=shuffle, seed=seed, num_buckets=num_buckets)

    return make


def _default_model_fns() -> tuple[Callable, Callable]:
    from equitens import models

    return models.build_model, models.predict


def _dtype(name: str) -> Any:
    if name == "float64":
        jax.config.update("jax_enable_x64", True)
        return np.float64
    return np.float32


def _cast_tree(tree: Any, dtype: Any) -> Any:
    """Floating leaves to ``dtype`` on the host (numpy: no per-leaf compilation)."""

    def cast(x):
        x = np.asarray(x)
        return x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x

    return jax.tree_util.tree_map(cast, tree)


def _has_stress(graphs) -> bool:
    for g in graphs:
        if "stress_weight" in g.globals and float(np.max(g.globals["stress_weight"])) > 0:
            return True
    return False


def _run_dir(config: dict) -> pathlib.Path:
    if config["name"] is None:
        config["name"] = f"{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    return pathlib.Path(config["output_dir"]) / config["name"]


def _host(tree: Any) -> Any:
    return jax.device_get(tree)


def train(
    config: Mapping | None = None,
    *,
    prepare_data: Callable[[dict], Datasets] = prepare_datasets,
    build_model: Callable | None = None,
    predict: Callable | None = None,
    make_loader: Callable | None = None,
) -> dict:
    """Train a model as described by a configuration; returns the final metrics.

    Args:
        config: a (partial) configuration dict, merged over the defaults and validated
            (``None``: the default configuration: MACE on the embedded dataset).
        prepare_data: data factory ``config -> Datasets`` (default: read the ``data`` section).
        build_model: model factory ``(config, species, atomic_energies) -> flax module``
            (default ``equitens.models.build_model``).
        predict: ``(model, params, graph, compute_stress) -> {"energy", "forces", "stress"}``
            (default ``equitens.models.predict``).
        make_loader: ``(graphs, batch_size, shuffle, seed) -> iterable of padded batches``
            with ``len()`` (default ``equitens.data.GraphLoader``).

    Returns:
        ``{"run_dir", "epochs", "steps", "best_epoch", "best_valid_loss", "train_time_s",
        "valid": errors, "test": errors}`` where errors hold energy, energy-per-atom and force
        (and stress) MAE/RMSE of the best checkpoint (eV, eV/atom, eV/A).

    Raises:
        ValueError: for a bad configuration or data (the message says what to fix), or a run
            folder that already has checkpoints while ``resume`` is false.
        TrainingDivergedError: when the loss becomes NaN or infinite; the last checkpoint
            written before that is left untouched.

    Examples:
        >>> train({"training": {"epochs": 0}})
        Traceback (most recent call last):
        ...
        ValueError: configuration key 'training.epochs' must be a positive number, got 0
    """
    config = load_config(base=config or {})
    dtype = _dtype(config["dtype"])
    if build_model is None or predict is None:
        default_build, default_predict = _default_model_fns()
        build_model = build_model or default_build
        predict = predict or default_predict
    make_loader = make_loader or _default_loader(int(config["data"]["num_buckets"]))

    run_dir = _run_dir(config)
    ckpt_dir = run_dir / "checkpoints"
    latest_path, best_path = ckpt_dir / "latest.ckpt", ckpt_dir / "best.ckpt"
    resumed = None
    if config["resume"]:
        if not latest_path.is_file():
            raise ValueError(
                f"resume=true but {str(latest_path)!r} does not exist: start the run without "
                "resume, or check name= and output_dir="
            )
        resumed = load_checkpoint(latest_path)
        saved = dict(resumed["config"])
        # the saved run defines everything but the training section (length, time limit,
        # progress bar): its keys set now to non-default values replace the saved ones
        defaults = default_config()["training"]
        saved["training"] = {
            **saved["training"],
            **{k: v for k, v in config["training"].items() if v != defaults.get(k)},
        }
        saved["resume"] = True
        saved["name"], saved["output_dir"] = config["name"], config["output_dir"]
        validate_config(saved)
        config = saved
    elif latest_path.exists() or best_path.exists():
        raise ValueError(
            f"the run folder {str(run_dir)!r} already has checkpoints: set resume=true to "
            "continue it, or choose another name=..."
        )

    datasets = prepare_data(config)
    if not datasets.train:
        raise ValueError("the training set is empty")
    config["model"] = resolve_auto_model_keys(config, datasets)
    training, opt_config, data_config = config["training"], config["optimizer"], config["data"]
    batch_size = int(data_config["batch_size"])
    weights = LossWeights.from_config(config["loss"])
    epochs = int(training["epochs"])
    train_loader = make_loader(datasets.train, batch_size, True, int(config["seed"]))
    steps_per_epoch = len(train_loader)
    total_steps = max(steps_per_epoch * epochs, 1)
    optimizer = make_optimizer(opt_config, total_steps=total_steps)
    schedule = learning_rate_schedule(opt_config, total_steps)
    model = build_model(config, datasets.species, np.asarray(datasets.atomic_energies))

    first = next(iter(make_loader(datasets.train[:1], 1, False, 0)))
    init_key = jax.random.PRNGKey(int(config["seed"]))
    # the cache key of the compiled steps: the total number of steps matters only to cosine
    opt_key = (tuple(sorted(opt_config.items())),
               total_steps if opt_config["schedule"] == "cosine" else None)
    init = _cached(("init", model), lambda: jax.jit(model.init))
    params = _cast_tree(init(init_key, cast_batch(first, dtype)), dtype)
    opt_state = _cached(("opt_init", opt_key), lambda: jax.jit(optimizer.init))(params)
    ema_decay = opt_config["ema_decay"]
    ema = params if ema_decay is not None else None
    state = TrainState(params, opt_state, ema, jnp.asarray(0, jnp.int32))
    plateau = PlateauState()
    start_epoch, best_valid, best_epoch, elapsed_before = 0, math.inf, 0, 0.0

    run_dir.mkdir(parents=True, exist_ok=True)
    if resumed is not None:
        params = restore_tree(params, resumed["train_params"])
        state = TrainState(
            _cast_tree(params, dtype),
            restore_tree(opt_state, resumed["opt_state"]),
            _cast_tree(restore_tree(params, resumed["ema_params"]), dtype)
            if ema_decay is not None else None,
            jnp.asarray(int(resumed["step"]), jnp.int32),
        )
        plateau = PlateauState(**resumed["plateau"])
        start_epoch = int(resumed["epoch"])
        best_valid = float(resumed["best_valid_loss"])
        best_epoch = int(resumed["best_epoch"])
        elapsed_before = float(resumed["train_time_s"])
        truncate_metrics(run_dir / "metrics.csv", start_epoch)
    (run_dir / "config.yaml").write_text(dump_config(config))

    compute_stress_train = weights.stress > 0 and _has_stress(datasets.train)
    compute_stress_eval = _has_stress(datasets.valid) or _has_stress(datasets.test)
    # compiled steps are reused by later train() calls with the same model and settings
    train_step = _cached(
        ("train", model, predict, opt_key, weights,
         ema_decay, compute_stress_train),
        lambda: make_train_step(model, predict, optimizer, weights, ema_decay,
                                compute_stress_train),
    )
    eval_step = _cached(
        ("eval", model, predict, compute_stress_eval),
        lambda: make_eval_step(model, predict, compute_stress_eval),
    )
    eval_batch_size = int(data_config["eval_batch_size"])
    eval_size = padding_size([datasets.valid, datasets.test], eval_batch_size)
    valid_loader = (
        fixed_size_batches(datasets.valid, eval_batch_size, *eval_size) if datasets.valid else None
    )

    def eval_params(s: TrainState):
        return s.ema_params if s.ema_params is not None else s.params

    def checkpoint_state(s: TrainState, epoch: int, elapsed: float) -> dict:
        return {
            "config": dump_config(config),
            "species": np.asarray(datasets.species.atomic_numbers, dtype=np.int64),
            "atomic_energies": np.asarray(datasets.atomic_energies),
            "params": _host(eval_params(s)),
            "train_params": _host(s.params),
            "ema_params": _host(s.ema_params),
            "opt_state": _host(s.opt_state),
            "step": int(s.step),
            "epoch": epoch,
            "plateau": {"factor": plateau.factor, "best": plateau.best,
                        "bad_epochs": plateau.bad_epochs},
            "best_valid_loss": best_valid,
            "best_epoch": best_epoch,
            "train_time_s": elapsed,
        }

    progress = bool(training["progress"])
    t_start = time.perf_counter()
    epoch = start_epoch
    for epoch in range(start_epoch + 1, epochs + 1):
        loader = _epoch_loader(train_loader, epoch, lambda seed: make_loader(
            datasets.train, batch_size, True, seed), int(config["seed"]))
        lr_factor = jnp.asarray(plateau.factor, dtype)
        losses = []
        bar = _progress_bar(len(loader), f"epoch {epoch}/{epochs}", progress)
        for batch in loader:
            new_state, loss, terms = train_step(state, cast_batch(batch, dtype), lr_factor)
            loss = float(loss)
            if not math.isfinite(loss):
                bar.close()
                raise TrainingDivergedError(
                    f"the training loss became {loss} at epoch {epoch}, step "
                    f"{int(state.step) + 1}; "
                    f"training stopped. The last good checkpoint is kept in {str(ckpt_dir)!r}. "
                    "Lower optimizer.learning_rate, set optimizer.clip_norm, or check the data "
                    "for NaN positions or labels."
                )
            state = new_state
            losses.append(loss)
            bar.set_postfix(
                loss=f"{loss:.4g}", e=f"{float(terms['energy']):.3g}",
                f=f"{float(terms['forces']):.3g}", refresh=False,
            )
            bar.update(1)
        bar.close()

        row: dict[str, float] = {
            "epoch": epoch,
            "step": int(state.step),
            "lr": float(schedule(int(state.step) - 1)) * plateau.factor,
            "train_loss": float(np.mean(losses)) if losses else math.nan,
        }
        if valid_loader is not None:
            errors = evaluate_batches(
                eval_step, eval_params(state), valid_loader, dtype, weights
            )
            row.update({f"valid_{k}": v for k, v in errors.items()})
            valid_loss = errors["loss"]
        else:
            valid_loss = row["train_loss"]
        if not math.isfinite(valid_loss):
            raise TrainingDivergedError(
                f"the validation loss became {valid_loss} at epoch {epoch}; the last good "
                f"checkpoint is kept in {str(ckpt_dir)!r}"
            )
        if opt_config["schedule"] == "plateau":
            plateau = plateau_update(
                plateau, valid_loss, patience=int(opt_config["plateau_patience"]),
                reduce_factor=float(opt_config["plateau_factor"]),
                min_factor=float(opt_config["min_lr_factor"]),
            )
        elapsed = elapsed_before + time.perf_counter() - t_start
        row["time_s"] = elapsed
        improved = valid_loss < best_valid
        if improved:
            best_valid, best_epoch = valid_loss, epoch
        append_metrics(run_dir / "metrics.csv", row)
        snapshot = checkpoint_state(state, epoch, elapsed)
        if improved:
            save_checkpoint(best_path, snapshot)
        save_checkpoint(latest_path, snapshot)
        _print_epoch(row, improved, progress)
        if training["max_time"] is not None and elapsed >= float(training["max_time"]):
            print(f"stopping after epoch {epoch}: training.max_time={training['max_time']} s "
                  "reached")
            break

    plot_learning_curve(run_dir / "metrics.csv", run_dir / "learning_curve.png")
    best = load_checkpoint(best_path if best_path.is_file() else latest_path)
    best_params = _cast_tree(best["params"], dtype)
    best_params = restore_tree(eval_params(state), best_params)
    results: dict[str, Any] = {
        "run_dir": str(run_dir),
        "epochs": int(epoch),
        "steps": int(state.step),
        "best_epoch": best_epoch,
        "best_valid_loss": best_valid,
        "train_time_s": elapsed_before + time.perf_counter() - t_start,
    }
    for split, graphs in (("valid", datasets.valid), ("test", datasets.test)):
        if not graphs:
            continue
        loader = fixed_size_batches(graphs, eval_batch_size, *eval_size)
        errors = evaluate_batches(
            eval_step, best_params, loader, dtype, weights
        )
        results[split] = errors
        print(format_errors(errors, f"{split} errors of the best checkpoint "
                                    f"(epoch {best_epoch}, {len(graphs)} configurations):"))
    (run_dir / "test_metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


_COMPILED: dict = {}
_COMPILED_MAX = 16


def _cached(key: tuple, factory: Callable) -> Callable:
    """``factory()``, memoised on ``key`` (a few entries; unhashable keys are not cached)."""
    try:
        hash(key)
    except TypeError:
        return factory()
    if key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = factory()
    return _COMPILED[key]


def _epoch_loader(loader, epoch: int, remake: Callable, seed: int):
    """The batches of an epoch: ``set_epoch`` when the loader has it, else a loader seeded by
    (seed, epoch); both make each epoch's order a function of the seed and the epoch only."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
        return loader
    return remake(epoch_seed(seed, epoch))


class _NoBar:
    def set_postfix(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def _print_epoch(row: Mapping[str, float], improved: bool, progress: bool) -> None:
    parts = [f"epoch {int(row['epoch'])}", f"train loss {row['train_loss']:.4g}"]
    if "valid_loss" in row:
        parts.append(f"valid loss {row['valid_loss']:.4g}")
    if "valid_energy_per_atom_mae" in row:
        parts.append(f"E MAE {1000 * row['valid_energy_per_atom_mae']:.2f} meV/atom")
    if "valid_forces_mae" in row:
        parts.append(f"F MAE {1000 * row['valid_forces_mae']:.1f} meV/A")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['time_s']:.0f} s")
    line = " | ".join(parts) + (" *" if improved else "")
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(line)
    else:
        print(line)
