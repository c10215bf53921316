"""Random train/validation/test splits of a list of configurations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equitens.data.configuration import Configuration, is_isolated_atom

__all__ = ["split"]


def split(
    configs: Sequence[Configuration], fractions: Sequence[float], seed: int = 0
) -> tuple[list[Configuration], ...]:
    """Split configurations at random into ``len(fractions)`` disjoint lists.

    Isolated-atom frames (reference data for E0, see
    :func:`~equitens.data.is_isolated_atom`) always go to the first list (the training set) and
    do not count towards the fractions. The sizes are ``round(cumulative fraction * n)``
    differences, so they add up to ``n`` when the fractions sum to 1; a smaller sum leaves the
    remaining configurations out.

    Args:
        configs: the configurations.
        fractions: non-negative fractions summing to at most 1, e.g. ``(0.8, 0.1, 0.1)``.
        seed: seed of the permutation.

    Returns:
        A tuple of lists, one per fraction; each keeps the file order of its configurations.

    Raises:
        ValueError: for negative fractions or fractions summing to more than 1.

    Examples:
        >>> import numpy as np
        >>> from equitens.data import Configuration
        >>> configs = [Configuration(np.array([1, 1]), np.eye(2, 3) * k) for k in range(1, 11)]
        >>> train, valid, test = split(configs, (0.8, 0.1, 0.1), seed=0)
        >>> len(train), len(valid), len(test)
        (8, 1, 1)
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size == 0 or np.any(fractions < 0):
        raise ValueError(f"fractions must be a non-empty list of numbers >= 0, got {fractions}")
    if fractions.sum() > 1.0 + 1e-9:
        raise ValueError(
            f"fractions must sum to at most 1, got {fractions.tolist()} (sum {fractions.sum():g})"
        )
    isolated = [c for c in configs if is_isolated_atom(c)]
    rest = [c for c in configs if not is_isolated_atom(c)]
    order = np.random.default_rng(seed).permutation(len(rest))
    bounds = np.round(np.concatenate([[0.0], np.cumsum(fractions)]) * len(rest)).astype(int)
    bounds = np.minimum(bounds, len(rest))
    parts = [sorted(order[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    out = tuple([rest[i] for i in part] for part in parts)
    return (isolated + out[0],) + out[1:]
