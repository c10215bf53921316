"""Training of interatomic potentials: configuration, loss, optimiser, checkpoints, loop.

The entry point is :func:`train` (``equitens train`` on the command line)::

    from equitens.train import train
    results = train({"training": {"epochs": 5}})  # the default MACE on the embedded dataset

The pieces are small and usable on their own: :func:`load_config` (YAML + ``key=value``
overrides), :func:`weighted_loss`, :func:`make_optimizer` (AMSGrad/Adam, warm-up, cosine or
plateau, clipping) with :func:`ema_update`, :func:`save_checkpoint` / :func:`load_checkpoint`
(atomic, checksummed), :func:`evaluate_checkpoint`.
:mod:`equitens.data` and :mod:`equitens.models` are imported only when training starts.
"""

from equitens.train.checkpoint import (
    load_checkpoint,
    resolve_checkpoint,
    restore_tree,
    save_checkpoint,
)
from equitens.train.config import (
    default_config,
    dump_config,
    load_config,
    parse_override,
    validate_config,
)
from equitens.train.datasets import Datasets, prepare_datasets
from equitens.train.evaluate import evaluate_batches, evaluate_checkpoint, make_eval_step
from equitens.train.loop import TrainingDivergedError, TrainState, make_train_step, train
from equitens.train.loss import LossWeights, error_sums, errors_from_sums, weighted_loss
from equitens.train.metrics import append_metrics, plot_learning_curve, read_metrics
from equitens.train.optimizer import (
    PlateauState,
    ema_update,
    learning_rate_schedule,
    make_optimizer,
    plateau_update,
)

__all__ = [
    "Datasets",
    "LossWeights",
    "PlateauState",
    "TrainState",
    "TrainingDivergedError",
    "append_metrics",
    "default_config",
    "dump_config",
    "ema_update",
    "error_sums",
    "errors_from_sums",
    "evaluate_batches",
    "evaluate_checkpoint",
    "learning_rate_schedule",
    "load_checkpoint",
    "load_config",
    "make_eval_step",
    "make_optimizer",
    "make_train_step",
    "parse_override",
    "plateau_update",
    "plot_learning_curve",
    "prepare_datasets",
    "read_metrics",
    "resolve_checkpoint",
    "restore_tree",
    "save_checkpoint",
    "train",
    "validate_config",
    "weighted_loss",
]
