"""Optimiser pieces: optax AMSGrad/Adam with warm-up, cosine or plateau schedule, clipping, EMA.

- :func:`make_optimizer` chains global-norm clipping, Adam or AMSGrad, optional decoupled weight
  decay and the learning-rate schedule of :func:`learning_rate_schedule` (linear warm-up, then
  constant or cosine decay).
- The plateau schedule is a factor on top of that, changed once per epoch from the validation
  loss by :func:`plateau_update`; the train step multiplies the optimiser's updates by it (exact:
  the updates are linear in the learning rate). Keeping it outside the optax state makes it a
  small piece of checkpointed state.
- :func:`ema_update` keeps an exponential moving average of the parameters, used for
  validation, test and the saved model.
- ``optimizer.freeze`` names parameters that stay as they are (:func:`frozen_labels`): their
  updates are zero and the optimiser keeps no state for them (fine-tuning part of a model).
"""

from __future__ import annotations

import fnmatch
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "PlateauState",
    "ema_update",
    "frozen_labels",
    "frozen_summary",
    "learning_rate_schedule",
    "make_optimizer",
    "parameter_names",
    "plateau_update",
]


def learning_rate_schedule(optimizer_config: Mapping, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 to ``learning_rate``, then constant or cosine decay.

    Args:
        optimizer_config: the ``optimizer`` section (``learning_rate``, ``warmup_steps``,
            ``schedule``, ``min_lr_factor``).
        total_steps: the number of optimisation steps of the whole run (cosine decays to
            ``learning_rate * min_lr_factor`` at that step).

    Returns:
        A function from the step count to the learning rate. ``"plateau"`` gives the
        warm-up and a constant rate here; :func:`plateau_update` reduces it.

    Examples:
        >>> config = {"learning_rate": 0.01, "warmup_steps": 10, "schedule": "cosine",
        ...           "min_lr_factor": 0.1}
        >>> schedule = learning_rate_schedule(config, total_steps=110)
        >>> import numpy as np
        >>> bool(np.allclose([schedule(s) for s in (0, 5, 10, 110)], [0.0, 0.005, 0.01, 0.001]))
        True
    """
    lr = float(optimizer_config["learning_rate"])
    warmup = int(optimizer_config["warmup_steps"])
    if optimizer_config["schedule"] == "cosine":
        decay_steps = max(int(total_steps) - warmup, 1)
        after = optax.cosine_decay_schedule(
            lr, decay_steps, alpha=optimizer_config["min_lr_factor"]
        )
    else:
        after = optax.constant_schedule(lr)
    if warmup == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), after], [warmup])


def parameter_names(params) -> list[str]:
    """The names of a parameter tree's leaves, ``"message_0/radial/w0"`` (flax's top-level
    ``params`` collection left out), in leaf order.

    Examples:
        >>> parameter_names({"params": {"embedding": 0, "message_0": {"radial": {"w0": 0}}}})
        ['embedding', 'message_0/radial/w0']
    """
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        keys = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
        names.append("/".join(keys[1:] if len(keys) > 1 and keys[0] == "params" else keys))
    return names


def frozen_labels(params, patterns: Sequence[str]):
    """``"frozen"`` or ``"train"`` for each parameter: frozen where a pattern matches its name or
    a leading part of it (shell-style: ``message_*`` freezes every parameter of every message
    block, ``embedding`` the embedding).

    Args:
        params: the parameter tree.
        patterns: ``fnmatch`` patterns over the names of :func:`parameter_names`.

    Returns:
        A tree of the structure of ``params`` with string labels (``optax.multi_transform``).

    Raises:
        ValueError: when a pattern matches no parameter (the message lists the names), or
            when every parameter is frozen.

    Examples:
        >>> params = {"params": {"embedding": 0.0, "readout": {"w": 0.0}}}
        >>> frozen_labels(params, ["embed*"])
        {'params': {'embedding': 'frozen', 'readout': {'w': 'train'}}}
        >>> frozen_labels(params, ["embeding"])
        Traceback (most recent call last):
        ...
        ValueError: optimizer.freeze: 'embeding' matches no parameter of the model; its
        parameters are: embedding, readout/w
    """
    names = parameter_names(params)
    prefixes = [
        ["/".join(name.split("/")[: i + 1]) for i in range(name.count("/") + 1)] for name in names
    ]

    def matches(pattern: str, index: int) -> bool:
        return any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes[index])

    for pattern in patterns:
        if not any(matches(pattern, i) for i in range(len(names))):
            raise ValueError(
                f"optimizer.freeze: {pattern!r} matches no parameter of the model; its "
                f"parameters are: {', '.join(names)}"
            )
    labels = [
        "frozen" if any(matches(p, i) for p in patterns) else "train" for i in range(len(names))
    ]
    if labels and all(label == "frozen" for label in labels):
        raise ValueError(
            f"optimizer.freeze={list(patterns)} freezes every parameter: nothing would train"
        )
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), labels)


def frozen_summary(params, patterns: Sequence[str]) -> str:
    """What ``optimizer.freeze`` keeps fixed, for the run log.

    Examples:
        >>> import numpy as np
        >>> params = {"params": {"embedding": np.zeros((3, 4)), "readout": {"w": np.zeros(4)}}}
        >>> frozen_summary(params, ["embedding"])
        'frozen (optimizer.freeze=[embedding]): 12 of 16 parameters, in embedding'
    """
    labels = jax.tree_util.tree_leaves(frozen_labels(params, patterns))
    leaves = jax.tree_util.tree_leaves(params)
    names = parameter_names(params)
    frozen = [i for i, label in enumerate(labels) if label == "frozen"]
    count = sum(int(np.size(leaves[i])) for i in frozen)
    total = sum(int(np.size(leaf)) for leaf in leaves)
    return (
        f"frozen (optimizer.freeze=[{', '.join(patterns)}]): {count} of {total} parameters, in "
        + ", ".join(names[i] for i in frozen)
    )


def make_optimizer(optimizer_config: Mapping, total_steps: int) -> optax.GradientTransformation:
    """The optax optimiser of a training configuration.

    Args:
        optimizer_config: the ``optimizer`` section (``name`` "adam" or "amsgrad", ``beta1``,
            ``beta2``, ``eps``, ``weight_decay``, ``clip_norm`` (None disables), ``freeze``
            (patterns of parameters to keep fixed, :func:`frozen_labels`; optional) and the
            schedule keys of :func:`learning_rate_schedule`).
        total_steps: optimisation steps of the whole run.

    Returns:
        An ``optax.GradientTransformation``.

    Examples:
        >>> import jax.numpy as jnp
        >>> config = {"name": "amsgrad", "learning_rate": 0.1, "beta1": 0.9, "beta2": 0.999,
        ...           "eps": 1e-8, "weight_decay": 0.0, "clip_norm": 1.0, "warmup_steps": 0,
        ...           "schedule": "constant", "min_lr_factor": 0.01}
        >>> opt = make_optimizer(config, total_steps=10)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> updates, state = opt.update({"w": jnp.array([3.0, -4.0])}, opt.init(params), params)
        >>> bool(jnp.allclose(updates["w"], jnp.array([-0.1, 0.1])))  # -learning_rate * sign
        True
    """
    parts = []
    if optimizer_config["clip_norm"] is not None:
        parts.append(optax.clip_by_global_norm(float(optimizer_config["clip_norm"])))
    kwargs = {
        "b1": float(optimizer_config["beta1"]),
        "b2": float(optimizer_config["beta2"]),
        "eps": float(optimizer_config["eps"]),
    }
    if optimizer_config["name"] == "amsgrad":
        parts.append(optax.scale_by_amsgrad(**kwargs))
    elif optimizer_config["name"] == "adam":
        parts.append(optax.scale_by_adam(**kwargs))
    else:
        raise ValueError(
            f"optimizer.name must be 'adam' or 'amsgrad', got {optimizer_config['name']!r}"
        )
    if optimizer_config["weight_decay"]:
        parts.append(optax.add_decayed_weights(float(optimizer_config["weight_decay"])))
    schedule = learning_rate_schedule(optimizer_config, total_steps)
    parts.append(optax.scale_by_learning_rate(schedule))
    optimizer = optax.chain(*parts)
    freeze = tuple(optimizer_config.get("freeze") or ())
    if not freeze:
        return optimizer
    labels = functools.partial(frozen_labels, patterns=freeze)
    return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)


@dataclass(frozen=True)
class PlateauState:
    """State of the reduce-on-plateau factor (changed once per epoch).

    Attributes:
        factor: the current multiplier of the learning rate (starts at 1).
        best: the best validation loss seen so far.
        bad_epochs: epochs since the last improvement.

    Examples:
        >>> PlateauState()
        PlateauState(factor=1.0, best=inf, bad_epochs=0)
    """

    factor: float = 1.0
    best: float = math.inf
    bad_epochs: int = 0


def plateau_update(
    state: PlateauState,
    value: float,
    *,
    patience: int,
    reduce_factor: float,
    min_factor: float,
    threshold: float = 1e-4,
) -> PlateauState:
    """Reduce the learning-rate factor when the validation loss stops improving.

    An improvement is ``value < best * (1 - threshold)``. After more than ``patience`` epochs
    without one, the factor is multiplied by ``reduce_factor`` (not below ``min_factor``) and
    the count restarts.

    Args:
        state: the current state.
        value: this epoch's validation loss.
        patience: epochs without improvement tolerated.
        reduce_factor: multiplier applied on a plateau (below 1).
        min_factor: the lowest factor.
        threshold: relative improvement that counts.

    Returns:
        The new state.

    Examples:
        >>> s = PlateauState()
        >>> for loss in (1.0, 1.0, 1.0):
        ...     s = plateau_update(s, loss, patience=1, reduce_factor=0.5, min_factor=0.1)
        >>> s
        PlateauState(factor=0.5, best=1.0, bad_epochs=0)
    """
    if value < state.best * (1 - threshold) or math.isinf(state.best):
        return replace(state, best=float(value), bad_epochs=0)
    bad = state.bad_epochs + 1
    if bad > patience:
        return PlateauState(max(state.factor * reduce_factor, min_factor), state.best, 0)
    return replace(state, bad_epochs=bad)


def ema_update(ema_params, params, decay: float, step: jax.Array):
    """One step of the exponential moving average of the parameters.

    The decay is ramped up as ``min(decay, (1 + step) / (10 + step))`` so early averages are
    not dominated by the initial parameters.

    Args:
        ema_params: the current average (a pytree like ``params``).
        params: the new parameters.
        decay: the target decay (e.g. 0.99).
        step: the number of updates done so far (0 for the first).

    Returns:
        The new average.

    Examples:
        >>> import jax.numpy as jnp
        >>> ema = ema_update({"w": jnp.array(0.0)}, {"w": jnp.array(1.0)}, 0.99, jnp.array(0))
        >>> bool(jnp.isclose(ema["w"], 0.9))  # decay min(0.99, 1 / 10) at step 0
        True
    """
    step = jnp.asarray(step)
    d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
    return jax.tree_util.tree_map(
        lambda e, p: (d * e + (1 - d) * p).astype(p.dtype), ema_params, params
    )
