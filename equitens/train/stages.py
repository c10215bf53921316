"""Stage two of a training run: the last epochs with other loss weights and a lower rate.

Force-weighted training reaches good forces early; the energies improve most when the last part of
the run weights them more and steps more gently (MACE's "SWA" stage; here the parameter EMA does
the averaging). ``loss.stage_two.start`` turns it on: an epoch number, or a fraction of
``training.epochs`` (``0.75``: the last quarter). From that epoch the loss weights are
``loss.stage_two.*_weight``, the learning rate is multiplied by
``loss.stage_two.learning_rate / optimizer.learning_rate`` (the plateau schedule goes on from
there), and the best validation loss starts afresh (losses of other weights do not compare), so
``best.ckpt`` and the test errors are those of the best epoch of stage two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from equitens.train.loss import LossWeights

__all__ = ["stage_two_factor", "stage_two_start", "stage_two_weights"]


def stage_two_start(config: Mapping) -> int | None:
    """The first epoch of stage two (1-based), or ``None`` without one.

    Args:
        config: a full training configuration.

    Returns:
        ``loss.stage_two.start`` when it is an epoch; for a fraction ``f`` in (0, 1), the epoch
        after ``floor(f * training.epochs)``; ``None`` when it is null.

    Examples:
        >>> stage = {"start": 0.75}
        >>> stage_two_start({"loss": {"stage_two": stage}, "training": {"epochs": 100}})
        76
        >>> stage_two_start({"loss": {"stage_two": {"start": 30}}, "training": {"epochs": 100}})
        30
    """
    start = config["loss"]["stage_two"]["start"]
    if start is None:
        return None
    if isinstance(start, float):
        return max(int(math.floor(start * int(config["training"]["epochs"]))) + 1, 1)
    return int(start)


def stage_two_weights(loss_config: Mapping) -> LossWeights:
    """The loss weights of stage two (``loss.stage_two.*_weight``).

    Examples:
        >>> stage_two_weights({"stage_two": {"energy_weight": 100.0, "forces_weight": 10.0,
        ...                                  "stress_weight": 0.0}})
        LossWeights(energy=100.0, forces=10.0, stress=0.0)
    """
    return LossWeights.from_config(loss_config["stage_two"])


def stage_two_factor(config: Mapping) -> float:
    """The factor on the learning rate in stage two: its rate over ``optimizer.learning_rate``.

    Examples:
        >>> stage_two_factor({"loss": {"stage_two": {"learning_rate": 0.001}},
        ...                   "optimizer": {"learning_rate": 0.01}})
        0.1
    """
    return float(config["loss"]["stage_two"]["learning_rate"]) / float(
        config["optimizer"]["learning_rate"]
    )
