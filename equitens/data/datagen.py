"""Generate training data with a real physics engine: the source of the embedded dataset.

Two generators, each writing an extended-XYZ file with the keys ``energy`` (eV), ``forces``
(eV/A) and, for periodic cells, ``stress`` (eV/A^3, ASE's sign convention
``stress = (1/V) dE/dstrain``):

- :func:`generate_molecule_dataset`: Langevin molecular dynamics of a small molecule with the
  GFN2-xTB tight-binding method (``tblite``, the optional ``datagen`` extra), sampled every
  ``interval`` steps, plus one GFN2-xTB single-atom frame per element
  (``config_type=IsolatedAtom``).
- :func:`generate_metal_dataset`: randomly strained and rattled periodic fcc supercells evaluated
  with ASE's effective-medium theory (EMT), with stress, plus EMT isolated atoms.

:func:`main` is the command line ``equitens datagen`` (also ``python -m equitens.data.datagen``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from equitens.extras import require

__all__ = ["generate_molecule_dataset", "generate_metal_dataset", "main"]


def _require_tblite():
    return require("tblite.ase", extra="datagen", feature="generating molecular data").TBLite


def _tblite_calculator(method: str, accuracy: float):
    return _require_tblite()(method=method, accuracy=accuracy, verbosity=0)


@contextlib.contextmanager
def _openmp_threads(threads: int | None):
    """Limit the OpenMP threads of tblite (libgomp's ``omp_set_num_threads``) inside the block.

    ``OMP_NUM_THREADS`` is read once when the library loads; this works at any time. Without
    libgomp (another OpenMP runtime) the limit is skipped silently.
    """
    library = None
    if threads is not None:
        name = ctypes.util.find_library("gomp") or "libgomp.so.1"
        try:
            library = ctypes.CDLL(name)
            previous = library.omp_get_max_threads()
            library.omp_set_num_threads(int(threads))
        except (OSError, AttributeError):
            library = None
    try:
        yield
    finally:
        if library is not None:
            library.omp_set_num_threads(previous)


def _single_point(atoms, calculator, *, stress: bool, config_type: str):
    """A copy of ``atoms`` carrying the calculator's results as a SinglePointCalculator."""
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = atoms.copy()
    atoms.calc = calculator
    results = {
        "energy": atoms.get_potential_energy(),
        "forces": atoms.get_forces(apply_constraint=False),
    }
    if stress:
        results["stress"] = atoms.get_stress()
    frame = atoms.copy()
    frame.arrays.pop("momenta", None)  # velocities are not training data
    frame.set_constraint()
    frame.calc = SinglePointCalculator(frame, **results)
    frame.info["config_type"] = config_type
    return frame


def _isolated_atoms(symbols: Sequence[str], make_calculator, config_type: str = "IsolatedAtom"):
    from ase import Atoms

    return [
        _single_point(
            Atoms(symbol, positions=[[0.0, 0.0, 0.0]]),
            make_calculator(),
            stress=False,
            config_type=config_type,
        )
        for symbol in sorted(set(symbols), key=lambda s: Atoms(s).numbers[0])
    ]


def _write_frames(path: str | Path, frames: list, level_of_theory: str) -> Path:
    """Tag the frames with their level of theory and write them as extended XYZ to ``path``."""
    import ase.io

    for frame in frames:
        frame.info["level_of_theory"] = level_of_theory
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, frames, format="extxyz")
    return path


def generate_molecule_dataset(
    path: str | Path,
    *,
    molecule: str = "CH3CH2OH",
    frames: int = 400,
    temperature: float = 500.0,
    timestep: float = 0.5,
    interval: int = 40,
    equilibration: int = 2000,
    friction: float = 0.01,
    method: str = "GFN2-xTB",
    accuracy: float = 0.01,
    seed: int = 0,
    isolated_atoms: bool = True,
    threads: int | None = None,
    progress: bool = False,
) -> Path:
    """Langevin MD of a small molecule with GFN2-xTB (tblite), written as extended XYZ.

    The molecule is built with ``ase.build.molecule``, given Maxwell-Boltzmann velocities at
    ``temperature``, equilibrated for ``equilibration`` steps, then sampled every ``interval``
    steps until ``frames`` frames are stored (``config_type=MD``, no cell, ``pbc=F F F``).

    Args:
        path: output file (``.xyz``); parent folders are created.
        molecule: a name known to ``ase.build.molecule`` (default ethanol, ``"CH3CH2OH"``).
        frames: number of MD frames to store.
        temperature: Langevin thermostat temperature in K.
        timestep: MD time step in fs.
        interval: MD steps between stored frames.
        equilibration: MD steps before the first stored frame.
        friction: Langevin friction in 1/fs.
        method: tblite method, ``"GFN2-xTB"`` or ``"GFN1-xTB"``.
        accuracy: tblite's accuracy factor (smaller is tighter SCF convergence; 0.01 makes
            the forces reproducible to ~1e-5 eV/A whatever the SCF starting guess).
        seed: seed of the velocities and of the Langevin noise (the run is reproducible for a
            fixed seed, tblite version and thread count).
        isolated_atoms: also write one single-atom frame per element (``config_type=IsolatedAtom``,
            first in the file), for the isolated-atom energies E0.
        threads: OpenMP threads of tblite (None: the runtime's default, ``OMP_NUM_THREADS``).
        progress: show a tqdm progress bar.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pathlib
        >>> from equitens.data import read_extxyz
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "h2o.xyz"
        >>> _ = generate_molecule_dataset(out, molecule="H2O", frames=3, interval=2,
        ...                               equilibration=2, threads=1)
        >>> configs = read_extxyz(out)
        >>> tuple(c.config_type for c in configs)
        ('IsolatedAtom', 'IsolatedAtom', 'MD', 'MD', 'MD')
        >>> configs[-1].forces.shape
        (3, 3)
    """
    if frames < 1 or interval < 1 or equilibration < 0:
        raise ValueError(
            f"need frames >= 1, interval >= 1 and equilibration >= 0, got frames={frames}, "
            f"interval={interval}, equilibration={equilibration}"
        )
    _require_tblite()  # loads tblite and its OpenMP runtime before the thread limit
    with _openmp_threads(threads):
        atoms, dynamics = _langevin(
            molecule, _tblite_calculator(method, accuracy), temperature, timestep, friction, seed
        )
        out = []
        if isolated_atoms:
            out += _isolated_atoms(
                atoms.get_chemical_symbols(), lambda: _tblite_calculator(method, accuracy)
            )
        dynamics.run(equilibration)
        bar = _progress(frames, progress, f"{method} MD of {molecule}")
        for _ in range(frames):
            dynamics.run(interval)
            out.append(_single_point(atoms, atoms.calc, stress=False, config_type="MD"))
            bar.update(1)
        bar.close()
    return _write_frames(path, out, f"{method} (tblite, accuracy {accuracy:g})")


def _langevin(molecule: str, calculator, temperature, timestep, friction, seed):
    """The molecule with its calculator, thermalised at ``temperature`` (no drift, no rotation,
    fixed centre of mass), and its Langevin dynamics; both draw from one generator of ``seed``."""
    from ase import units
    from ase.build import molecule as build_molecule
    from ase.constraints import FixCom
    from ase.md import velocitydistribution
    from ase.md.langevin import Langevin

    rng = np.random.default_rng(seed)
    atoms = build_molecule(molecule)
    atoms.calc = calculator
    thermalize = getattr(velocitydistribution, "thermalize_momenta", None)
    if thermalize is None:  # ASE < 3.28
        thermalize = velocitydistribution.MaxwellBoltzmannDistribution
    thermalize(atoms, temperature_K=temperature, rng=rng)
    velocitydistribution.Stationary(atoms)
    velocitydistribution.ZeroRotation(atoms)
    atoms.set_constraint(FixCom())  # no drift of the centre of mass
    dynamics = Langevin(
        atoms,
        timestep=timestep * units.fs,
        temperature_K=temperature,
        friction=friction / units.fs,
        fixcm=False,
        rng=rng,
    )
    return atoms, dynamics


def generate_metal_dataset(
    path: str | Path,
    *,
    element: str = "Cu",
    frames: int = 100,
    supercell: tuple[int, int, int] = (3, 3, 3),
    strain: float = 0.03,
    rattle: float = 0.1,
    seed: int = 0,
    isolated_atoms: bool = True,
    progress: bool = False,
) -> Path:
    """Strained and rattled periodic fcc supercells with EMT energies, forces and stress.

    Each frame is the primitive (triclinic) fcc cell of ``element`` at its EMT-relaxed lattice
    constant, repeated ``supercell`` times, deformed by a random symmetric strain with entries
    uniform in ``[-strain, strain]``, with every atom displaced by a Gaussian of standard deviation
    ``rattle`` (A) (``config_type=strained``).

    Args:
        path: output file (``.xyz``); parent folders are created.
        element: an element EMT knows (Al, Cu, Ag, Au, Ni, Pd, Pt).
        frames: number of frames.
        supercell: repetitions of the primitive cell.
        strain: largest entry of the random strain.
        rattle: standard deviation of the atomic displacements in A.
        seed: seed of the strains and displacements.
        isolated_atoms: also write the EMT single-atom frame (``config_type=IsolatedAtom``).
        progress: show a tqdm progress bar.

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pathlib
        >>> from equitens.data import read_extxyz
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "cu.xyz"
        >>> configs = read_extxyz(generate_metal_dataset(out, frames=2, supercell=(1, 1, 2)))
        >>> configs[-1].stress.shape, configs[-1].pbc
        ((3, 3), (True, True, True))
    """
    from ase.build import bulk
    from ase.calculators.emt import EMT

    if frames < 1 or strain < 0 or rattle < 0:
        raise ValueError(
            f"need frames >= 1, strain >= 0 and rattle >= 0, got {frames}, {strain}, {rattle}"
        )
    rng = np.random.default_rng(seed)
    lattice = _emt_lattice_constant(element)
    base = bulk(element, "fcc", a=lattice) * tuple(supercell)
    out = _isolated_atoms([element], EMT) if isolated_atoms else []
    bar = _progress(frames, progress, f"EMT {element}")
    for _ in range(frames):
        atoms = base.copy()
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
        out.append(_single_point(atoms, EMT(), stress=True, config_type="strained"))
        bar.update(1)
    bar.close()
    return _write_frames(path, out, "EMT (ASE)")


def _emt_lattice_constant(element: str) -> float:
    """The fcc lattice constant minimising the EMT energy (golden-section search, 1e-6 A)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.data import atomic_numbers, reference_states

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    guess = reference_states[atomic_numbers[element]].get("a", 4.0)
    lo, hi = 0.9 * guess, 1.1 * guess
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    while hi - lo > 1e-6:
        a1, a2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if energy(a1) < energy(a2):
            hi = a2
        else:
            lo = a1
    return 0.5 * (lo + hi)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, description: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="frame")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``equitens datagen``."""
    parser = argparse.ArgumentParser(
        prog="equitens datagen",
        description="Generate an extended-XYZ training set: GFN2-xTB molecular dynamics of a "
        "molecule (tblite) or EMT strained/rattled fcc metal cells with stress.",
    )
    parser.add_argument("--out", required=True, help="output .xyz file")
    parser.add_argument("--kind", choices=("molecule", "metal"), default="molecule")
    parser.add_argument("--frames", type=int, default=None, help="frames (400 / 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--molecule", default="CH3CH2OH", help="ase.build.molecule name")
    parser.add_argument("--method", default="GFN2-xTB", help="tblite method")
    parser.add_argument("--accuracy", type=float, default=0.01, help="tblite accuracy factor")
    parser.add_argument("--temperature", type=float, default=500.0, help="K (molecule)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs (molecule)")
    parser.add_argument("--interval", type=int, default=40, help="MD steps between frames")
    parser.add_argument("--equilibration", type=int, default=2000, help="MD steps before")
    parser.add_argument("--element", default="Cu", help="fcc metal known to EMT (metal)")
    parser.add_argument(
        "--supercell", type=int, nargs=3, default=(3, 3, 3), help="primitive-cell repeats"
    )
    parser.add_argument("--strain", type=float, default=0.03, help="max strain entry (metal)")
    parser.add_argument("--rattle", type=float, default=0.1, help="displacement std, A (metal)")
    parser.add_argument("--threads", type=int, default=None, help="tblite OpenMP threads")
    parser.add_argument("--no-isolated-atoms", action="store_true", help="skip E0 frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line ``equitens datagen``; returns the exit status.

    Args:
        argv: the arguments after ``datagen`` (``sys.argv[1:]`` when None).

    Returns:
        0 on success.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "cu.xyz"
        >>> main(["--kind", "metal", "--frames", "2", "--supercell", "1", "1", "1",
        ...       "--out", str(out), "--quiet"])  # doctest: +ELLIPSIS
        wrote 3 frames to ...
        0
    """
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    isolated = not args.no_isolated_atoms
    if args.kind == "molecule":
        path = generate_molecule_dataset(
            args.out,
            molecule=args.molecule,
            frames=400 if args.frames is None else args.frames,
            temperature=args.temperature,
            timestep=args.timestep,
            interval=args.interval,
            equilibration=args.equilibration,
            method=args.method,
            accuracy=args.accuracy,
            seed=args.seed,
            isolated_atoms=isolated,
            threads=args.threads,
            progress=not args.quiet,
        )
    else:
        path = generate_metal_dataset(
            args.out,
            element=args.element,
            frames=100 if args.frames is None else args.frames,
            supercell=tuple(args.supercell),
            strain=args.strain,
            rattle=args.rattle,
            seed=args.seed,
            isolated_atoms=isolated,
            progress=not args.quiet,
        )
    import ase.io

    count = len(ase.io.read(path, ":"))
    print(f"wrote {count} frames to {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
