"""The species table: which chemical elements a model knows, and their indices."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

__all__ = ["SpeciesTable", "element_names"]


def element_names(atomic_numbers: Iterable[int]) -> str:
    """``"H (Z=1), N (Z=7)"``: elements named for an error message.

    Examples:
        >>> element_names([1, 7])
        'H (Z=1), N (Z=7)'
    """
    return ", ".join(f"{_symbol(int(z))} (Z={int(z)})" for z in atomic_numbers)


def _symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"


@dataclasses.dataclass(frozen=True)
class SpeciesTable:
    """The elements a model knows, sorted by atomic number; species index = position in the table.

    Args:
        atomic_numbers: the atomic numbers (any order, duplicates allowed); stored sorted and
            unique.

    Examples:
        >>> table = SpeciesTable((8, 1, 6, 1))
        >>> table.atomic_numbers, len(table), table.symbols
        ((1, 6, 8), 3, ('H', 'C', 'O'))
        >>> table.index([6, 6, 8, 1, 1])
        array([1, 1, 2, 0, 0], dtype=int32)
    """

    atomic_numbers: tuple[int, ...]

    def __post_init__(self):
        numbers = np.asarray(tuple(self.atomic_numbers))
        if numbers.ndim != 1 or numbers.size == 0:
            raise ValueError(
                f"SpeciesTable needs a non-empty sequence of atomic numbers, got "
                f"{self.atomic_numbers!r}"
            )
        if (
            not np.issubdtype(numbers.dtype, np.integer)
            or np.any(numbers < 1)
            or np.any(numbers > 118)
        ):
            raise ValueError(
                f"atomic numbers must be integers in 1..118, got {self.atomic_numbers!r}"
            )
        object.__setattr__(self, "atomic_numbers", tuple(int(z) for z in np.unique(numbers)))

    @classmethod
    def from_configurations(cls, configs: Iterable) -> SpeciesTable:
        """The table of every element that occurs in ``configs`` (objects with ``atomic_numbers``).

        Examples:
            >>> import numpy as np
            >>> from equitens.data import Configuration
            >>> c = Configuration(np.array([8, 1, 1]), np.eye(3))
            >>> SpeciesTable.from_configurations([c]).atomic_numbers
            (1, 8)
        """
        numbers = [np.asarray(c.atomic_numbers) for c in configs]
        if not numbers:
            raise ValueError("cannot build a SpeciesTable from an empty list of configurations")
        return cls(tuple(np.unique(np.concatenate(numbers)).tolist()))

    @property
    def symbols(self) -> tuple[str, ...]:
        """Chemical symbols, in table order."""
        return tuple(_symbol(z) for z in self.atomic_numbers)

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def index(self, atomic_numbers) -> np.ndarray:
        """Species indices (int32) of an array of atomic numbers.

        Args:
            atomic_numbers: integer array of any shape.

        Returns:
            An int32 array of the same shape with values in ``range(len(self))``.

        Raises:
            ValueError: for an element that is not in the table, naming it and the known ones.

        Examples:
            >>> SpeciesTable((1, 8)).index([[8, 1]])
            array([[1, 0]], dtype=int32)
        """
        z = np.asarray(atomic_numbers)
        known = np.asarray(self.atomic_numbers)
        position = np.searchsorted(known, z)
        found = (position < len(known)) & (known[np.minimum(position, len(known) - 1)] == z)
        if not np.all(found):
            unknown = sorted({int(v) for v in z[~found]})
            names = ", ".join(f"{_symbol(v)} (Z={v})" for v in unknown)
            raise ValueError(
                f"unknown element {names}: this species table knows only "
                f"{', '.join(self.symbols)} (Z={list(self.atomic_numbers)}); build the table "
                f"from data that contains every element (SpeciesTable.from_configurations) or "
                f"use a model trained on them"
            )
        return position.astype(np.int32)

    def __repr__(self) -> str:
        return f"SpeciesTable({'+'.join(self.symbols)})"
