"""Data parallelism: one training step over several local devices (GPUs, TPU cores, CPU devices).

With ``training.devices: D`` (``D > 1``) each step takes ``D`` padded batches of the same size,
one per device. Every device computes the loss and gradient of its own batch with the same
program as a single-device run; the gradients, losses and loss terms are averaged across the
devices (one all-reduce), and every device applies the same optimiser update to its copy of the
parameters, so the copies stay identical. A step is then the average of ``D`` single-batch
steps' gradients: with ``data.batch_size: B`` it sees ``D * B`` graphs, and an epoch has
``D`` times fewer steps.

Batches are grouped in the loader's order, ``D`` consecutive batches of one padded size (with
``data.num_buckets > 1`` each bucket forms its own groups); what is left of an epoch when fewer
than ``D`` batches of a size remain is not used in that epoch (a different part of the data each
epoch, as the order is shuffled).

Built on :func:`jax.shard_map` over a one-axis mesh ``("data",)``: the parameters and the
optimiser state are replicated, the stacked batches split along their leading axis. On one
device nothing of this runs.

Examples:
    >>> import numpy as np
    >>> batches = [{"x": np.full(2, k)} for k in range(5)]
    >>> [group["x"].tolist() for group in device_groups(batches, 2)]
    [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = ["AXIS", "data_parallel", "device_groups", "local_devices"]

AXIS = "data"
"""The name of the mesh axis the batches are split along."""


def local_devices(count: int) -> tuple[jax.Device, ...]:
    """The first ``count`` devices of this process's default backend.

    Args:
        count: how many (``training.devices``).

    Returns:
        A tuple of ``count`` devices.

    Raises:
        ValueError: when the backend has fewer; the message lists what it has.

    Examples:
        >>> len(local_devices(1))
        1
    """
    available = jax.local_devices()
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"training.devices must be a positive integer, got {count!r}")
    if count > len(available):
        platform = available[0].platform
        hint = (
            " (on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices, "
            "for testing)"
            if platform == "cpu"
            else ""
        )
        raise ValueError(
            f"training.devices={count} but this process has {len(available)} {platform} "
            f"device(s): {', '.join(str(d) for d in available)}; set training.devices to at most "
            f"{len(available)}{hint}"
        )
    return tuple(available[:count])


def _shapes(batch: Any) -> tuple:
    return tuple((np.shape(leaf), np.asarray(leaf).dtype.str) for leaf in jax.tree.leaves(batch))


def device_groups(batches: Iterable[Any], count: int) -> Iterator[Any]:
    """Stack ``count`` consecutive batches of one shape into one batch with a leading device axis.

    Args:
        batches: padded batches (pytrees of arrays), e.g. one epoch of a loader.
        count: batches per group (devices).

    Yields:
        Pytrees whose leaves have a new leading axis of length ``count``, in the order in
        which each group filled up; the batches left over at the end are dropped.

    Examples:
        >>> import numpy as np
        >>> mixed = [np.zeros(3), np.zeros(4), np.ones(3), np.ones(4), np.zeros(3)]
        >>> [g.shape for g in device_groups(mixed, 2)]  # grouped by shape
        [(2, 3), (2, 4)]
    """
    pending: dict[tuple, list] = {}
    for batch in batches:
        shapes = _shapes(batch)
        group = pending.setdefault(shapes, [])
        group.append(batch)
        if len(group) == count:
            del pending[shapes]
            yield jax.tree.map(lambda *leaves: np.stack(leaves), *group)


def data_parallel(
    gradients: Callable, update: Callable, devices: tuple[jax.Device, ...]
) -> Callable:
    """The jitted step ``(state, stacked batch, lr_factor) -> (state, loss, terms)`` over
    ``devices``: each computes ``gradients(params, batch)`` on its batch, the results are
    averaged across devices, and each applies ``update(state, grads, lr_factor)``.

    Args:
        gradients: ``(params, batch) -> (loss, terms, grads)`` for one batch.
        update: ``(state, grads, lr_factor) -> state`` (the optimiser step).
        devices: the devices, from :func:`local_devices`.

    Returns:
        The jitted step; its batch has a leading axis of ``len(devices)`` (:func:`device_groups`).
    """
    mesh = Mesh(np.array(devices), (AXIS,))
    replicated, split = PartitionSpec(), PartitionSpec(AXIS)

    def local(state, batch, lr_factor):
        batch = jax.tree.map(lambda leaf: leaf[0], batch)
        loss, terms, grads = gradients(state.params, batch)
        loss, terms, grads = jax.lax.pmean((loss, terms, grads), AXIS)
        return update(state, grads, lr_factor), loss, terms

    return jax.jit(
        jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(replicated, split, replicated),
            out_specs=replicated,
            # the gradient is taken inside, per device, then averaged explicitly; jax's
            # replication types would reject the custom derivative rules of the kernels (their
            # cotangents for replicated weights vary across devices until the mean)
            check_vma=False,
        )
    )
