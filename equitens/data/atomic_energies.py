"""Isolated-atom energies E0: the per-element reference a potential adds to its learned energy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from equitens.data.configuration import Configuration, is_isolated_atom
from equitens.data.species import SpeciesTable

__all__ = ["atomic_energies"]


def atomic_energies(
    configs: Sequence[Configuration],
    table: SpeciesTable,
    isolated: Sequence[Configuration] | Mapping[int, float] | None = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """Per-species reference energies E0 (eV), in table order.

    Elements with an isolated-atom energy take it: from ``isolated`` when given (frames or a
    ``{Z: E0}`` mapping), else from the isolated-atom frames among ``configs``
    (``config_type=IsolatedAtom``, or single non-periodic atoms). The E0s of the other elements are
    fitted by least squares, ``energy ~ sum_species count * E0``, over the other configurations
    with an energy (with the known E0s held fixed). When the compositions do not determine every
    E0 (one molecule only, say), the minimum-norm solution is returned: the fitted E0s then
    reproduce the mean energy but their split among elements is arbitrary. Elements that occur
    nowhere get 0.

    Args:
        configs: training configurations (may include isolated-atom frames).
        table: the species table (output order).
        isolated: isolated-atom frames or a ``{atomic number: E0}`` mapping, overriding those in
            ``configs``.
        method: ``"auto"`` (as above), ``"isolated"`` (every element needs an isolated-atom
            energy) or ``"least_squares"`` (ignore isolated atoms, fit all E0s).

    Returns:
        ``(len(table),)`` float64 array.

    Raises:
        ValueError: for an unknown ``method``, a missing isolated-atom energy with
            ``method="isolated"``, or no configuration with an energy to fit.

    Examples:
        >>> import numpy as np
        >>> from equitens.data import Configuration, SpeciesTable
        >>> def c(z, e): return Configuration(np.array(z), np.arange(3 * len(z)).reshape(-1, 3),
        ...                                   energy=e)
        >>> configs = [c([1, 1], -2.0), c([1, 8], -7.0), c([8, 8], -12.0)]
        >>> table = SpeciesTable((1, 8))
        >>> bool(np.allclose(atomic_energies(configs, table), [-1.0, -6.0]))
        True
        >>> bool(np.allclose(atomic_energies(configs, table, isolated={1: -0.5}), [-0.5, -6.1]))
        True
    """
    if method not in ("auto", "isolated", "least_squares"):
        raise ValueError(f"method must be 'auto', 'isolated' or 'least_squares', got {method!r}")
    known = np.full(len(table), np.nan)
    if method != "least_squares":
        for z, e0 in _isolated_energies(configs, isolated).items():
            if z in table.atomic_numbers:
                known[table.atomic_numbers.index(z)] = e0
    if method == "isolated" and np.any(np.isnan(known)):
        missing = [s for s, k in zip(table.symbols, known, strict=True) if np.isnan(k)]
        raise ValueError(
            f"no isolated-atom energy for {missing}; add IsolatedAtom frames (single atoms, "
            f"config_type=IsolatedAtom) or use method='auto' to fit the missing E0s by least "
            f"squares"
        )
    if not np.any(np.isnan(known)):
        return known
    fitted = [c for c in configs if c.energy is not None and not is_isolated_atom(c)]
    if not fitted:
        raise ValueError(
            "cannot fit atomic energies by least squares: no configuration with an energy "
            "(other than isolated atoms); pass isolated-atom energies instead"
        )
    counts = np.stack(
        [np.bincount(table.index(c.atomic_numbers), minlength=len(table)) for c in fitted]
    )
    energies = np.array([c.energy for c in fitted])
    free = np.isnan(known)
    target = energies - counts[:, ~free] @ known[~free]
    design = counts[:, free].astype(np.float64)
    present = design.sum(axis=0) > 0
    solution = np.zeros(free.sum())
    if np.any(present):
        solution[present] = np.linalg.lstsq(design[:, present], target, rcond=None)[0]
    result = known.copy()
    result[free] = solution
    return result


def _isolated_energies(
    configs: Sequence[Configuration], isolated: Sequence[Configuration] | Mapping[int, float] | None
) -> dict[int, float]:
    if isinstance(isolated, Mapping):
        return {int(z): float(e) for z, e in isolated.items()}
    frames = configs if isolated is None else isolated
    energies: dict[int, float] = {}
    for config in frames:
        if not is_isolated_atom(config) or config.energy is None:
            continue
        if config.num_atoms != 1:
            raise ValueError(
                f"an IsolatedAtom frame must hold exactly one atom, got {config.num_atoms}"
            )
        z = int(config.atomic_numbers[0])
        if z in energies and not np.isclose(energies[z], config.energy, rtol=0, atol=1e-8):
            raise ValueError(
                f"two different isolated-atom energies for Z={z}: {energies[z]} and "
                f"{config.energy}; keep one IsolatedAtom frame per element"
            )
        energies[z] = float(config.energy)
    return energies
