"""Atomic configurations with reference labels, and reading them from extended XYZ.

Units are ASE's: positions and cells in A, energies in eV, forces in eV/A, stress in eV/A^3 with
ASE's sign convention ``stress = (1/V) dE/dstrain`` (a compressed cell has negative stress).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

__all__ = [
    "Configuration",
    "MissingLabelError",
    "configuration_from_atoms",
    "is_isolated_atom",
    "read_extxyz",
]

_ISOLATED_TYPES = {"isolatedatom", "isolated_atom", "isolated atom", "e0"}


def _frozen_array(value, dtype, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    array = np.array(value, dtype=dtype)  # a copy the caller cannot change behind our back
    mismatch = any(s is not None and s != a for s, a in zip(shape, array.shape, strict=True))
    if array.ndim != len(shape) or mismatch:
        wanted = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    array.setflags(write=False)
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class Configuration:
    """One atomic structure with optional reference energy, forces and stress.

    Arrays are stored as read-only float64 (int for atomic numbers) copies. A label that is
    unknown is ``None``.

    Args:
        atomic_numbers: ``(n,)`` integers, n >= 1.
        positions: ``(n, 3)`` Cartesian positions in A (finite).
        cell: ``(3, 3)`` lattice vectors as rows, A (zeros when not periodic).
        pbc: periodicity along each lattice vector.
        energy: total energy in eV, or None.
        forces: ``(n, 3)`` forces in eV/A, or None.
        stress: ``(3, 3)`` stress in eV/A^3, or None.
        config_type: free label (``"IsolatedAtom"`` marks isolated-atom reference frames).
        weight: weight of the configuration in a loss (1 by default).

    Raises:
        ValueError: for zero atoms, mismatched shapes or non-finite values (saying which).

    Examples:
        >>> import numpy as np
        >>> c = Configuration(np.array([8, 1, 1]), np.array([[0, 0, 0], [0.96, 0, 0],
        ...                   [-0.24, 0.93, 0]]), energy=-14.2)
        >>> c.num_atoms, c.pbc, c.forces is None
        (3, (False, False, False), True)
    """

    atomic_numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((3, 3)))
    pbc: tuple[bool, bool, bool] = (False, False, False)
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    config_type: str = "Default"
    weight: float = 1.0

    def __post_init__(self):
        numbers = _frozen_array(self.atomic_numbers, np.int64, (None,), "atomic_numbers")
        n = numbers.shape[0]
        if n == 0:
            raise ValueError(
                "a configuration needs at least one atom, got zero atoms; remove empty frames "
                "from the data"
            )
        positions = _frozen_array(self.positions, np.float64, (n, 3), "positions")
        if not np.all(np.isfinite(positions)):
            bad = sorted(set(np.nonzero(~np.isfinite(positions))[0].tolist()))
            raise ValueError(f"positions must be finite, got NaN or inf for atoms {bad[:10]}")
        cell = _frozen_array(self.cell, np.float64, (3, 3), "cell")
        if not np.all(np.isfinite(cell)):
            raise ValueError("cell must be finite")
        pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,))
        object.__setattr__(self, "atomic_numbers", numbers)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "pbc", tuple(bool(p) for p in pbc))
        if self.energy is not None:
            energy = float(self.energy)
            if not np.isfinite(energy):
                raise ValueError(f"energy must be finite, got {energy}")
            object.__setattr__(self, "energy", energy)
        if self.forces is not None:
            forces = _frozen_array(self.forces, np.float64, (n, 3), "forces")
            if not np.all(np.isfinite(forces)):
                raise ValueError("forces must be finite, got NaN or inf")
            object.__setattr__(self, "forces", forces)
        if self.stress is not None:
            stress = _stress_3x3(self.stress)
            if not np.all(np.isfinite(stress)):
                raise ValueError("stress must be finite, got NaN or inf")
            stress.setflags(write=False)
            object.__setattr__(self, "stress", stress)
        object.__setattr__(self, "config_type", str(self.config_type))
        object.__setattr__(self, "weight", float(self.weight))

    @property
    def num_atoms(self) -> int:
        """Number of atoms."""
        return int(self.atomic_numbers.shape[0])

    @property
    def periodic(self) -> bool:
        """True when the structure is periodic along at least one lattice vector."""
        return any(self.pbc)

    def to_atoms(self):
        """An ``ase.Atoms`` with these positions, cell and pbc (labels as a SinglePointCalculator).

        Examples:
            >>> import numpy as np
            >>> Configuration(np.array([1]), np.zeros((1, 3)), energy=-13.6).to_atoms()
            Atoms(symbols='H', pbc=False, calculator=SinglePointCalculator(...))
        """
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(
            numbers=self.atomic_numbers, positions=self.positions, cell=self.cell, pbc=self.pbc
        )
        results = {}
        if self.energy is not None:
            results["energy"] = self.energy
        if self.forces is not None:
            results["forces"] = np.array(self.forces)
        if self.stress is not None:
            results["stress"] = np.array(self.stress)
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        atoms.info["config_type"] = self.config_type
        return atoms


def _stress_3x3(value) -> np.ndarray:
    """A (3, 3) stress from a 3x3 matrix, 9 row-major values or 6 Voigt (xx yy zz yz xz xy)."""
    array = np.array(value, dtype=np.float64).reshape(-1)
    if array.size == 9:
        return array.reshape(3, 3).copy()
    if array.size == 6:
        xx, yy, zz, yz, xz, xy = array
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise ValueError(
        f"stress must be a 3x3 matrix, 9 values or 6 Voigt values (xx yy zz yz xz xy), got "
        f"{array.size} values"
    )


def is_isolated_atom(config: Configuration) -> bool:
    """True for an isolated-atom reference frame (its energy is the element's E0).

    A frame is isolated when its ``config_type`` is ``IsolatedAtom`` (or ``isolated_atom``), or when
    it holds a single atom and is not periodic (a one-atom periodic cell is a crystal, not an atom).

    Examples:
        >>> import numpy as np
        >>> is_isolated_atom(Configuration(np.array([6]), np.zeros((1, 3)), energy=-48.8))
        True
    """
    if config.config_type.strip().lower() in _ISOLATED_TYPES:
        return True
    return config.num_atoms == 1 and not config.periodic


class MissingLabelError(ValueError):
    """A frame lacks a required label (energy or forces) under the key that was asked for.

    The message says where, which keys the frame has, and how to fix it. The fields let a front
    end (``equitens evaluate``, a training configuration) replace the fix by its own option
    names with :meth:`with_fix`.

    Attributes:
        where: the file and frame (``"train.xyz, frame 3"``).
        label: ``"energy"`` or ``"forces"``.
        key: the key that was looked up.
        keys_present: the keys the frame has.
        note: more context (e.g. how many frames of the file have the label), or ``""``.
        fix: how to fix it, in the caller's terms.

    Examples:
        >>> error = MissingLabelError("a.xyz, frame 0", "forces", "F", ["E"], fix="Pass F=None")
        >>> print(error)
        a.xyz, frame 0 has no forces under the key 'F'; keys present: ['E']. Pass F=None
        >>> print(error.with_fix("Set F=null"))
        a.xyz, frame 0 has no forces under the key 'F'; keys present: ['E']. Set F=null
    """

    def __init__(
        self,
        where: str,
        label: str,
        key: str,
        keys_present: list[str],
        *,
        note: str = "",
        fix: str = "",
    ):
        self.where, self.label, self.key = where, label, key
        self.keys_present, self.note, self.fix = list(keys_present), note, fix
        super().__init__(self.problem() + (f". {fix}" if fix else ""))

    def __reduce__(self):  # pickles (e.g. from a worker process) with its fields
        rebuild = functools.partial(MissingLabelError, note=self.note, fix=self.fix)
        return rebuild, (self.where, self.label, self.key, self.keys_present)

    def problem(self) -> str:
        """What is missing and where (the message without the fix)."""
        text = (
            f"{self.where} has no {self.label} under the key {self.key!r}; keys present: "
            f"{self.keys_present}"
        )
        return f"{text} ({self.note})" if self.note else text

    def with_fix(self, fix: str, *, note: str | None = None) -> MissingLabelError:
        """The same error with another fix (and optionally another note)."""
        return MissingLabelError(
            self.where,
            self.label,
            self.key,
            self.keys_present,
            note=self.note if note is None else note,
            fix=fix,
        )


def _lookup(atoms, key: str):
    """The value stored under ``key`` in the frame's info, arrays or calculator results."""
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    if atoms.calc is not None and key in getattr(atoms.calc, "results", {}):
        return atoms.calc.results[key]
    return None


def _keys_present(atoms) -> list[str]:
    keys = [k for k in atoms.info] + [k for k in atoms.arrays if k not in ("numbers", "positions")]
    if atoms.calc is not None:
        keys += [k for k in getattr(atoms.calc, "results", {}) if k not in keys]
    return keys


def _atoms_isolated(atoms) -> bool:
    """:func:`is_isolated_atom` for an ``ase.Atoms``."""
    config_type = str(atoms.info.get("config_type", "Default"))
    return config_type.strip().lower() in _ISOLATED_TYPES or (
        len(atoms) == 1 and not any(atoms.pbc)
    )


def configuration_from_atoms(
    atoms,
    *,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    stress_key: str | None = "stress",
    where: str = "this frame",
) -> Configuration:
    """A :class:`Configuration` from an ``ase.Atoms`` (labels looked up in info, arrays, calc).

    Args:
        atoms: the ASE frame.
        energy_key: key of the total energy (required); None to read no energy.
        forces_key: key of the forces (required except on isolated-atom frames); None for none.
        stress_key: key of the stress (optional: read where present); None to ignore stress.
        where: how error messages name this frame.

    Returns:
        The configuration.

    Raises:
        ValueError: naming ``where``, for a missing required key (listing the keys present and
            the option to set), zero atoms or non-finite values.

    Examples:
        >>> from ase.build import molecule
        >>> atoms = molecule("H2O"); atoms.info["E"] = -14.2
        >>> configuration_from_atoms(atoms, energy_key="E", forces_key=None).energy
        -14.2
    """
    numbers = atoms.get_atomic_numbers()
    if len(numbers) == 0:
        raise ValueError(f"{where} has zero atoms; remove it from the data")
    config_type = str(atoms.info.get("config_type", "Default"))
    isolated = _atoms_isolated(atoms)

    def label(key: str | None, option: str, optional: bool = False):
        if key is None:
            return None
        value = _lookup(atoms, key)
        if value is None and not optional:
            name = option.removesuffix("_key")
            raise MissingLabelError(
                where,
                name,
                key,
                _keys_present(atoms),
                fix=f"Pass {option}=<one of those keys> (for example read_extxyz(..., "
                f"{option}='REF_{name}')) or {option}=None to read without it",
            )
        return value

    energy = label(energy_key, "energy_key")
    forces = label(forces_key, "forces_key", optional=isolated)
    stress = label(stress_key, "stress_key", optional=True)
    try:
        return Configuration(
            atomic_numbers=numbers,
            positions=atoms.get_positions(),
            cell=np.array(atoms.cell.array),
            pbc=tuple(bool(p) for p in atoms.pbc),
            energy=None if energy is None else float(np.asarray(energy).reshape(())),
            forces=forces,
            stress=stress,
            config_type=config_type,
            weight=float(atoms.info.get("config_weight", 1.0)),
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def read_extxyz(
    path: str | os.PathLike,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    stress_key: str | None = "stress",
    index: str | int | slice = ":",
    *,
    allow_energy_only: bool = False,
) -> list[Configuration]:
    """Read an extended-XYZ file (with ASE) into configurations.

    Labels are found under the given keys in each frame's info line, per-atom arrays, or the
    calculator results ASE builds from the standard keys ``energy``, ``forces``, ``stress``.
    Energy is required on every frame, forces on every frame except isolated atoms, and stress is
    read where present (periodic frames); a key set to None is not read.

    With ``allow_energy_only``, a file in which no frame has forces under ``forces_key``
    (energy-only data: dihedral scans, reaction paths) is read without forces; a file in which
    only some frames have them is still an error, which says how many do.

    Args:
        path: the file.
        energy_key: key of the total energy (eV), e.g. ``"REF_energy"``.
        forces_key: key of the forces (eV/A), e.g. ``"REF_forces"``.
        stress_key: key of the stress (eV/A^3; 3x3, 9 values or 6 Voigt values).
        index: which frames, in ASE's syntax (``":"``, ``"10:20"``, an int or a slice).
        allow_energy_only: read a file without any forces under ``forces_key`` as energy-only
            (``forces`` None on every configuration) instead of raising.

    Returns:
        The configurations, in file order.

    Raises:
        FileNotFoundError: when the file does not exist.
        MissingLabelError: (a ``ValueError``) naming the file and frame, for a missing energy or
            forces key, listing the keys present and the option to set.
        ValueError: naming the file and frame, for zero atoms or NaN positions.

    Examples:
        >>> from equitens.data import default_dataset_path
        >>> configs = read_extxyz(default_dataset_path("molecule"), index="0:5")
        >>> tuple(c.config_type for c in configs)
        ('IsolatedAtom', 'IsolatedAtom', 'IsolatedAtom', 'MD', 'MD')
        >>> configs[4].forces.shape
        (9, 3)
        >>> scan = read_extxyz(default_dataset_path("molecule"), forces_key="no_such_key",
        ...                    index="3:5", allow_energy_only=True)
        >>> [c.forces is None for c in scan]
        [True, True]
    """
    import ase.io

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such extxyz file: {path}")
    frames = ase.io.read(path, index=index, format="extxyz")
    if isinstance(index, int):
        frames = [frames]
    whole_file = isinstance(index, str) and index.strip() == ":"
    molecules = [atoms for atoms in frames if not _atoms_isolated(atoms)]
    with_forces = (
        sum(_lookup(atoms, forces_key) is not None for atoms in molecules) if forces_key else 0
    )
    if allow_energy_only and with_forces == 0:
        forces_key = None
    configs = []
    for position, atoms in enumerate(frames):
        where = f"{path}, frame {position}" + ("" if whole_file else f" of index={index!r}")
        try:
            config = configuration_from_atoms(
                atoms,
                energy_key=energy_key,
                forces_key=forces_key,
                stress_key=stress_key,
                where=where,
            )
        except MissingLabelError as error:
            if error.label != "forces":
                raise
            note = (
                "no frame of the file has forces under that key"
                if with_forces == 0
                else f"{with_forces} of the {len(molecules)} frames other than isolated atoms "
                "have them: forces are needed on all of them or on none"
            )
            raise error.with_fix(error.fix, note=note) from None
        configs.append(config)
    return configs
