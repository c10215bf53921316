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

import dataclasses
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

from equitens.precision import run_dtype
from equitens.tp.plan import as_plan
from equitens.train.checkpoint import load_checkpoint, restore_tree, save_checkpoint
from equitens.train.config import default_config, dump_config, load_config
from equitens.train.datasets import Datasets, prepare_datasets, resolve_auto_model_keys
from equitens.train.evaluate import (
    cast_batch,
    evaluate_batches,
    fixed_size_batches,
    format_errors,
    make_eval_step,
    padding_size,
)
from equitens.train.finetune import (
    describe_start,
    energy_offset_warning,
    finetune_start,
    onto_checkpoint_species,
)
from equitens.train.loss import LossWeights, weighted_loss
from equitens.train.metrics import append_metrics, plot_learning_curve, truncate_metrics
from equitens.train.optimizer import (
    PlateauState,
    ema_update,
    frozen_summary,
    learning_rate_schedule,
    make_optimizer,
    plateau_update,
)
from equitens.train.parallel import data_parallel, device_groups, local_devices
from equitens.train.stages import stage_two_factor, stage_two_start, stage_two_weights

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
    devices: int = 1,
) -> Callable:
    """The jit-compiled train step ``(state, batch, lr_factor) -> (state, loss, terms)``.

    Args:
        model: the flax module.
        predict: ``predict(model, params, graph, compute_stress=...)`` returning energy,
            forces (and stress).
        optimizer: the optax optimiser.
        weights: the loss weights.
        ema_decay: decay of the parameter EMA, or None.
        compute_stress: whether the loss has a stress term (data with stress labels and
            ``weights.stress > 0``); without it the stress weight is ignored.
        devices: data-parallel over this many local devices (:mod:`equitens.train.parallel`):
            the batch then has a leading axis of that length, one padded batch per device.

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

    if not compute_stress:  # no stress predicted: no stress term, whatever its weight
        weights = dataclasses.replace(weights, stress=0.0)

    def loss_fn(params, batch):
        prediction = predict(model, params, batch, compute_stress=compute_stress)
        return weighted_loss(prediction, batch, weights)

    def gradients(params, batch):
        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        return loss, terms, grads

    def update(state: TrainState, grads, lr_factor) -> TrainState:
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        updates = jax.tree_util.tree_map(lambda u: (u * lr_factor).astype(u.dtype), updates)
        params = optax.apply_updates(state.params, updates)
        ema = state.ema_params
        if ema_decay is not None:
            ema = ema_update(ema, params, ema_decay, state.step)
        return TrainState(params, opt_state, ema, state.step + 1)

    if devices > 1:
        return data_parallel(gradients, update, local_devices(devices))

    @jax.jit
    def step(state: TrainState, batch, lr_factor):
        loss, terms, grads = gradients(state.params, batch)
        return update(state, grads, lr_factor), loss, terms

    return step


def _default_loader(num_buckets: int) -> Callable:
    def make(graphs, batch_size, shuffle, seed):
        from equitens.data import GraphLoader

        return GraphLoader(graphs, batch_size, shuffle=shuffle, seed=seed, num_buckets=num_buckets)

    return make


def _default_model_fns() -> tuple[Callable, Callable]:
    from equitens import models

    return models.build_model, models.predict


def _has_stress(graphs) -> bool:
    for g in graphs:
        if "stress_weight" in g.globals and float(np.max(g.globals["stress_weight"])) > 0:
            return True
    return False


def _host(tree: Any) -> Any:
    return jax.device_get(tree)


@dataclasses.dataclass(frozen=True)
class _Paths:
    """Where a run writes: its folder and its two checkpoints."""

    run_dir: pathlib.Path
    latest: pathlib.Path
    best: pathlib.Path

    @classmethod
    def of(cls, config: dict) -> _Paths:
        """The paths of a configuration's run; an unnamed run is named after its model and now."""
        if config["name"] is None:
            config["name"] = f"{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = pathlib.Path(config["output_dir"]) / config["name"]
        return cls(
            run_dir, run_dir / "checkpoints" / "latest.ckpt", run_dir / "checkpoints" / "best.ckpt"
        )


@dataclasses.dataclass
class _Run:
    """A run in progress: its settings, data and compiled steps, and the state they update."""

    config: dict
    paths: _Paths
    datasets: Datasets
    dtype: Any
    weights: LossWeights
    make_loader: Callable
    train_loader: Any
    schedule: Callable
    make_step: Callable
    train_step: Callable
    eval_step: Callable
    eval_size: tuple[int, int]
    valid_batches: list | None
    state: TrainState
    plateau: PlateauState = dataclasses.field(default_factory=PlateauState)
    start_epoch: int = 0
    best_valid: float = math.inf
    best_epoch: int = 0
    elapsed_before: float = 0.0

    def eval_params(self) -> Any:
        """The parameters to evaluate: the EMA ones when the run keeps an EMA."""
        state = self.state
        return state.ema_params if state.ema_params is not None else state.params

    def eval_batches(self, graphs) -> list:
        """In-order batches of ``graphs``, all of one padded size (one compilation)."""
        return fixed_size_batches(
            graphs, int(self.config["data"]["eval_batch_size"]), *self.eval_size
        )


def train(
    config: Mapping | None = None,
    *,
    prepare_data: Callable[[dict], Datasets] = prepare_datasets,
    build_model: Callable | None = None,
    predict: Callable | None = None,
    make_loader: Callable | None = None,
) -> dict:
    """Train a model as described by a configuration; returns the final metrics.

    The steps, one private function each: resume (the run's configuration, and its latest
    checkpoint with ``resume=true``), initialise (model, optimiser, state, compiled steps), per
    epoch one pass over the training batches and the end of the epoch (validation, schedule,
    metrics row, checkpoints), then the final evaluation (the best checkpoint on the validation
    and test sets).

    A ``dtype`` of float64 needs jax's x64 mode switched on beforehand
    (:mod:`equitens.precision`; ``equitens train`` does it).

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
        ValueError: for a bad configuration or data (the message says what to fix), a run
            folder that already has checkpoints while ``resume`` is false, or float64 without
            jax's x64 mode.
        TrainingDivergedError: when the loss becomes NaN or infinite; the last checkpoint
            written before that is left untouched.

    Examples:
        >>> train({"training": {"epochs": 0}})
        Traceback (most recent call last):
        ...
        ValueError: configuration key 'training.epochs' must be a positive number, got 0
    """
    config = load_config(base=config or {})
    paths = _Paths.of(config)
    config, resumed = _resume(config, paths)
    start = finetune_start(config) if resumed is None else None
    dtype = run_dtype(config["dtype"])
    if build_model is None or predict is None:
        default_build, default_predict = _default_model_fns()
        build_model = build_model or default_build
        predict = predict or default_predict
    make_loader = make_loader or _default_loader(int(config["data"]["num_buckets"]))
    datasets = prepare_data(config)
    if not datasets.train:
        raise ValueError("the training set is empty")
    if start is not None:
        datasets = onto_checkpoint_species(
            datasets,
            start["species"],
            start["atomic_energies"],
            config["training"]["init_atomic_energies"],
        )
    config["model"] = resolve_auto_model_keys(config, datasets)
    run = _initialise(config, paths, datasets, dtype, build_model, predict, make_loader, start)
    second = stage_two_start(config)
    if resumed is not None:
        _restore(run, resumed)
        if second is not None and run.start_epoch >= second:
            _enter_stage_two(run, second, reset=False)
    (paths.run_dir / "config.yaml").write_text(dump_config(config))
    if start is not None:
        print(describe_start(start, config["training"]["init_atomic_energies"]))
        warning = energy_offset_warning(datasets, config)
        if warning:
            print(warning)
    print(_model_line(config["model"]))
    if config["optimizer"]["freeze"]:
        print(frozen_summary(run.state.params, config["optimizer"]["freeze"]))
    if config["training"]["devices"] > 1:
        print(_devices_line(config))

    training = config["training"]
    t_start = time.perf_counter()
    epoch = run.start_epoch
    for epoch in range(run.start_epoch + 1, int(training["epochs"]) + 1):
        if epoch == second:
            _enter_stage_two(run, second, reset=True)
        losses = _train_epoch(run, epoch)
        row, improved = _end_epoch(run, epoch, losses, t_start)
        _print_epoch(row, improved, bool(training["progress"]))
        if training["max_time"] is not None and row["time_s"] >= float(training["max_time"]):
            print(
                f"stopping after epoch {epoch}: training.max_time={training['max_time']} s reached"
            )
            break
    return _final_evaluation(run, epoch, t_start)


def _enter_stage_two(run: _Run, epoch: int, reset: bool) -> None:
    """Switch to the loss weights and rate of ``loss.stage_two`` (:mod:`equitens.train.stages`).

    ``reset`` (at the stage's first epoch; not when a run resumes inside the stage, whose
    checkpoint holds the stage's state): the learning-rate factor becomes the stage's rate over
    ``optimizer.learning_rate`` and the best validation loss is forgotten, since losses of other
    weights do not compare: ``best.ckpt`` is then the best epoch of stage two.
    """
    config = run.config
    run.weights = stage_two_weights(config["loss"])
    run.train_step = run.make_step(run.weights)
    if reset:
        factor = stage_two_factor(config)
        run.plateau = PlateauState(factor=factor)
        run.best_valid = math.inf
        stage = config["loss"]["stage_two"]
        print(
            f"stage two from epoch {epoch}: loss weights energy {stage['energy_weight']:g}, "
            f"forces {stage['forces_weight']:g}, stress {stage['stress_weight']:g}; learning "
            f"rate x{factor:g}"
        )


def _model_line(model: Mapping[str, Any]) -> str:
    """The model, its tensor-product families and its kernel plan, for the run log."""
    families = ", ".join(
        f"{key} {model[key]}" for key in ("conv_method", "product_method") if key in model
    )
    line = f"model {model['name']} ({families})"
    if "plan" in model:
        line += f", {as_plan(model['plan']).describe(jax.default_backend())}"
    return line


def _devices_line(config: Mapping[str, Any]) -> str:
    """The data-parallel set-up, for the run log."""
    devices = local_devices(config["training"]["devices"])
    batch = config["data"]["batch_size"]
    return (
        f"data parallel over {len(devices)} {devices[0].platform} devices: {batch} graphs per "
        f"device, {len(devices) * batch} per step (gradients averaged)"
    )


def _resume(config: dict, paths: _Paths) -> tuple[dict, dict | None]:
    """The configuration of the run and, with ``resume=true``, its latest checkpoint.

    A resumed run keeps its saved configuration but for the training section (length, time
    limit, progress bar): keys set there now to non-default values replace the saved ones.
    Without ``resume`` a run folder that has checkpoints is an error (nothing is overwritten).
    """
    if not config["resume"]:
        if paths.latest.exists() or paths.best.exists():
            raise ValueError(
                f"the run folder {str(paths.run_dir)!r} already has checkpoints: set resume=true "
                "to continue it, or choose another name=..."
            )
        return config, None
    if not paths.latest.is_file():
        raise ValueError(
            f"resume=true but {str(paths.latest)!r} does not exist: start the run without "
            "resume, or check name= and output_dir="
        )
    resumed = load_checkpoint(paths.latest)
    saved = dict(resumed["config"])
    defaults = default_config()["training"]
    saved["training"] = {
        **saved["training"],
        **{k: v for k, v in config["training"].items() if v != defaults.get(k)},
    }
    saved["resume"] = True
    saved["name"], saved["output_dir"] = config["name"], config["output_dir"]
    # over the defaults: a run saved before a key existed gets its default (validated there)
    return load_config(base=saved), resumed


def _initialise(
    config: dict,
    paths: _Paths,
    datasets: Datasets,
    dtype: Any,
    build_model: Callable,
    predict: Callable,
    make_loader: Callable,
    start: Mapping[str, Any] | None = None,
) -> _Run:
    """The model, the optimiser, the initial state and the compiled train and eval steps.

    The parameters are initialised by the model, or taken from the checkpoint ``start``
    (fine-tuning). Compiled functions are reused by later ``train()`` calls with the same model
    and settings.
    """
    opt_config = config["optimizer"]
    weights = LossWeights.from_config(config["loss"])
    train_loader = make_loader(
        datasets.train, int(config["data"]["batch_size"]), True, int(config["seed"])
    )
    devices = config["training"]["devices"]
    local_devices(devices)  # enough of them, before anything compiles
    if len(train_loader) < devices:
        raise ValueError(
            f"training.devices={devices} needs at least {devices} training batches per step, but "
            f"the training set makes {len(train_loader)} of data.batch_size="
            f"{config['data']['batch_size']}: lower data.batch_size or training.devices"
        )
    steps_per_epoch = len(train_loader) // devices
    total_steps = max(steps_per_epoch * int(config["training"]["epochs"]), 1)
    optimizer = make_optimizer(opt_config, total_steps=total_steps)
    model = build_model(config, datasets.species, np.asarray(datasets.atomic_energies))

    first = next(iter(make_loader(datasets.train[:1], 1, False, 0)))
    init_key = jax.random.PRNGKey(int(config["seed"]))
    # the cache key of the compiled steps: the total number of steps matters only to cosine
    opt_key = (
        tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in opt_config.items())),
        total_steps if opt_config["schedule"] == "cosine" else None,
    )
    init = _cached(("init", model), lambda: jax.jit(model.init))
    params = cast_batch(init(init_key, cast_batch(first, dtype)), dtype)
    if start is not None:
        params = cast_batch(restore_tree(params, start["params"]), dtype)
    opt_state = _cached(("opt_init", opt_key), lambda: jax.jit(optimizer.init))(params)
    ema_decay = opt_config["ema_decay"]
    ema = params if ema_decay is not None else None
    state = TrainState(params, opt_state, ema, jnp.asarray(0, jnp.int32))

    has_stress = _has_stress(datasets.train)
    if weights.energy + weights.forces <= 0 and not has_stress:
        raise ValueError(
            "the loss has only a stress term (loss.energy_weight and loss.forces_weight are 0) "
            "but no training frame has a stress label: set loss.energy_weight or "
            "loss.forces_weight"
        )

    def make_step(weights: LossWeights) -> Callable:
        """The compiled train step of these loss weights (stage two has its own)."""
        stress = weights.stress > 0 and has_stress
        return _cached(
            ("train", model, predict, opt_key, weights, ema_decay, stress, devices),
            lambda: make_train_step(model, predict, optimizer, weights, ema_decay, stress, devices),
        )

    compute_stress_eval = _has_stress(datasets.valid) or _has_stress(datasets.test)
    eval_step = _cached(
        ("eval", model, predict, compute_stress_eval),
        lambda: make_eval_step(model, predict, compute_stress_eval),
    )
    eval_batch_size = int(config["data"]["eval_batch_size"])
    eval_size = padding_size([datasets.valid, datasets.test], eval_batch_size)
    valid_batches = (
        fixed_size_batches(datasets.valid, eval_batch_size, *eval_size) if datasets.valid else None
    )
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    return _Run(
        config,
        paths,
        datasets,
        dtype,
        weights,
        make_loader,
        train_loader,
        learning_rate_schedule(opt_config, total_steps),
        make_step,
        make_step(weights),
        eval_step,
        eval_size,
        valid_batches,
        state,
    )


def _restore(run: _Run, resumed: dict) -> None:
    """Continue from a checkpoint: parameters, optimiser and EMA states, step, plateau state,
    best validation loss and time so far; ``metrics.csv`` drops the rows of later epochs."""
    template = run.state
    params = restore_tree(template.params, resumed["train_params"])
    ema = None
    if template.ema_params is not None:
        ema = cast_batch(restore_tree(params, resumed["ema_params"]), run.dtype)
    run.state = TrainState(
        cast_batch(params, run.dtype),
        restore_tree(template.opt_state, resumed["opt_state"]),
        ema,
        jnp.asarray(int(resumed["step"]), jnp.int32),
    )
    run.plateau = PlateauState(**resumed["plateau"])
    run.start_epoch = int(resumed["epoch"])
    run.best_valid = float(resumed["best_valid_loss"])
    run.best_epoch = int(resumed["best_epoch"])
    run.elapsed_before = float(resumed["train_time_s"])
    truncate_metrics(run.paths.run_dir / "metrics.csv", run.start_epoch)


def _train_epoch(run: _Run, epoch: int) -> list[float]:
    """One pass over the training batches, shuffled as a function of (seed, epoch) only, with a
    progress bar of the live losses; returns the batch losses."""
    config = run.config
    batch_size = int(config["data"]["batch_size"])
    loader = _epoch_loader(
        run.train_loader,
        epoch,
        lambda seed: run.make_loader(run.datasets.train, batch_size, True, seed),
        int(config["seed"]),
    )
    devices = config["training"]["devices"]
    if devices > 1:  # one padded batch per device and step (equitens.train.parallel)
        steps, loader = len(loader) // devices, device_groups(loader, devices)
    else:
        steps = len(loader)
    lr_factor = jnp.asarray(run.plateau.factor, run.dtype)
    losses = []
    description = f"epoch {epoch}/{int(config['training']['epochs'])}"
    bar = _progress_bar(steps, description, bool(config["training"]["progress"]))
    for batch in loader:
        state, loss, terms = run.train_step(run.state, cast_batch(batch, run.dtype), lr_factor)
        loss = float(loss)
        if not math.isfinite(loss):
            bar.close()
            raise TrainingDivergedError(
                f"the training loss became {loss} at epoch {epoch}, step "
                f"{int(run.state.step) + 1}; training stopped. The last good checkpoint is kept "
                f"in {str(run.paths.latest.parent)!r}. Lower optimizer.learning_rate, set "
                "optimizer.clip_norm, or check the data for NaN positions or labels."
            )
        run.state = state
        losses.append(loss)
        bar.set_postfix(
            loss=f"{loss:.4g}",
            e=f"{float(terms['energy']):.3g}",
            f=f"{float(terms['forces']):.3g}",
            refresh=False,
        )
        bar.update(1)
    bar.close()
    return losses


def _end_epoch(
    run: _Run, epoch: int, losses: list[float], t_start: float
) -> tuple[dict[str, float], bool]:
    """Validate, update the plateau schedule, append the metrics row and write the checkpoints
    (``best.ckpt`` too when the validation loss improved); returns ``(row, improved)``."""
    opt_config = run.config["optimizer"]
    step = int(run.state.step)
    row: dict[str, float] = {
        "epoch": epoch,
        "step": step,
        "lr": float(run.schedule(step - 1)) * run.plateau.factor,
        "train_loss": float(np.mean(losses)) if losses else math.nan,
    }
    if run.valid_batches is not None:
        errors = evaluate_batches(
            run.eval_step, run.eval_params(), run.valid_batches, run.dtype, run.weights
        )
        row.update({f"valid_{k}": v for k, v in errors.items()})
        valid_loss = errors["loss"]
    else:
        valid_loss = row["train_loss"]
    if not math.isfinite(valid_loss):
        raise TrainingDivergedError(
            f"the validation loss became {valid_loss} at epoch {epoch}; the last good "
            f"checkpoint is kept in {str(run.paths.latest.parent)!r}"
        )
    if opt_config["schedule"] == "plateau":
        run.plateau = plateau_update(
            run.plateau,
            valid_loss,
            patience=int(opt_config["plateau_patience"]),
            reduce_factor=float(opt_config["plateau_factor"]),
            min_factor=float(opt_config["min_lr_factor"]),
        )
    elapsed = run.elapsed_before + time.perf_counter() - t_start
    row["time_s"] = elapsed
    improved = valid_loss < run.best_valid
    if improved:
        run.best_valid, run.best_epoch = valid_loss, epoch
    append_metrics(run.paths.run_dir / "metrics.csv", row)
    snapshot = _snapshot(run, epoch, elapsed)
    if improved:
        save_checkpoint(run.paths.best, snapshot)
    save_checkpoint(run.paths.latest, snapshot)
    return row, improved


def _snapshot(run: _Run, epoch: int, elapsed: float) -> dict:
    """What a checkpoint holds: everything an exact resume, evaluation and MD need."""
    state, plateau = run.state, run.plateau
    return {
        "config": dump_config(run.config),
        "species": np.asarray(run.datasets.species.atomic_numbers, dtype=np.int64),
        "atomic_energies": np.asarray(run.datasets.atomic_energies),
        "params": _host(run.eval_params()),
        "train_params": _host(state.params),
        "ema_params": _host(state.ema_params),
        "opt_state": _host(state.opt_state),
        "step": int(state.step),
        "epoch": epoch,
        "plateau": {
            "factor": plateau.factor,
            "best": plateau.best,
            "bad_epochs": plateau.bad_epochs,
        },
        "best_valid_loss": run.best_valid,
        "best_epoch": run.best_epoch,
        "train_time_s": elapsed,
    }


def _final_evaluation(run: _Run, epoch: int, t_start: float) -> dict:
    """Plot the learning curve, evaluate the best checkpoint on the validation and test sets,
    write ``test_metrics.json``; returns the results of :func:`train`."""
    paths = run.paths
    plot_learning_curve(paths.run_dir / "metrics.csv", paths.run_dir / "learning_curve.png")
    best = load_checkpoint(paths.best if paths.best.is_file() else paths.latest)
    best_params = restore_tree(run.eval_params(), cast_batch(best["params"], run.dtype))
    results: dict[str, Any] = {
        "run_dir": str(paths.run_dir),
        "epochs": int(epoch),
        "steps": int(run.state.step),
        "best_epoch": run.best_epoch,
        "best_valid_loss": run.best_valid,
        "train_time_s": run.elapsed_before + time.perf_counter() - t_start,
    }
    for split, graphs in (("valid", run.datasets.valid), ("test", run.datasets.test)):
        if not graphs:
            continue
        errors = evaluate_batches(
            run.eval_step, best_params, run.eval_batches(graphs), run.dtype, run.weights
        )
        results[split] = errors
        print(
            format_errors(
                errors,
                f"{split} errors of the best checkpoint "
                f"(epoch {run.best_epoch}, {len(graphs)} configurations):",
            )
        )
    (paths.run_dir / "test_metrics.json").write_text(json.dumps(results, indent=2) + "\n")
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
