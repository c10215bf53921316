"""The ``equitens`` command line: ``train``, ``evaluate``, ``md``, ``datagen``, ``bench``.

::

    equitens train [--config run.yaml] [key=value ...]   # default: MACE on the embedded dataset
    equitens evaluate --checkpoint runs/NAME --data test.xyz   # energy-only files too (scans)
    equitens md --checkpoint runs/NAME --structure start.xyz --steps 1000 --temperature 300 \\
        --ensemble langevin --out traj.xyz
    equitens datagen --kind molecule --out ethanol.xyz ...   # see equitens datagen --help
    equitens bench ...                                      # python -m benchmarks.tp (repository)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``equitens`` command.

    Returns:
        An ``argparse.ArgumentParser`` with one sub-parser per command.

    Examples:
        >>> args = build_parser().parse_args(["train", "training.epochs=2"])
        >>> args.command, args.overrides
        ('train', ['training.epochs=2'])
    """
    parser = argparse.ArgumentParser(
        prog="equitens", description="E(3)-equivariant interatomic potentials in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train a potential (no arguments: MACE on the embedded dataset)",
        description="Train a potential. Options come from equitens/train/default.yaml, then "
        "--config, then key=value overrides with dotted keys (e.g. training.epochs=5 "
        "model.conv_method=cg data.train_file=train.xyz).",
    )
    p.add_argument("--config", help="YAML file with a (partial) configuration")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="configuration overrides")

    p = sub.add_parser(
        "evaluate",
        help="errors of a checkpoint on an extxyz file",
        description="Errors of a checkpoint on an extxyz file. A file without forces under the "
        "run's forces key (a dihedral scan, a reaction path) is evaluated on its energies only. "
        "When the frames (isolated atoms aside) share one composition, the energies relative to "
        "the lowest reference energy are compared too.",
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="run folder or .ckpt file; several: a committee (errors of the mean, of each "
        "member, and how the spread ranks them; energies and forces)",
    )
    p.add_argument("--data", required=True, help="extxyz file with reference energies (forces)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the run's")
    p.add_argument("--energy-key", default=None, help="default: the run's data.energy_key")
    forces = p.add_mutually_exclusive_group()
    forces.add_argument(
        "--forces-key",
        default=None,
        help="default: the run's data.forces_key, where present (a key given here must be on "
        "every frame)",
    )
    forces.add_argument(
        "--no-forces", action="store_true", help="compare energies (and stress) only"
    )
    p.add_argument("--stress-key", default=None, help="default: the run's data.stress_key")
    p.add_argument(
        "--out", default=None, help="write the errors (and per-frame energies) to this JSON file"
    )

    p = sub.add_parser("md", help="molecular dynamics with a trained potential (ASE or JAX MD)")
    p.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="run folder or .ckpt file; several: a committee (ASE engine), driven by the mean "
        "forces, each frame with the spread (energy_std, forces_std, forces_std_max)",
    )
    p.add_argument("--structure", required=True, help="starting structure (any ASE format)")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument(
        "--temperature",
        type=float,
        default=300.0,
        help="K (initial velocities, and the Langevin thermostat)",
    )
    p.add_argument(
        "--ensemble",
        choices=("langevin", "nve", "npt"),
        default="langevin",
        help="npt: constant pressure, Nose-Hoover chains (ASE: Martyna-Tobias-Klein; jax-md: "
        "npt_nose_hoover, isotropic), for a cell periodic in all three directions",
    )
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs")
    p.add_argument("--pressure", type=float, default=0.0, help="npt: external pressure, GPa")
    p.add_argument(
        "--cell-fluctuations",
        choices=("isotropic", "full"),
        default="isotropic",
        help="npt: the volume only (shape kept), or the whole cell",
    )
    p.add_argument(
        "--thermostat-time", type=float, default=None, help="npt: fs (default 100 timesteps)"
    )
    p.add_argument(
        "--barostat-time", type=float, default=None, help="npt: fs (default 1000 timesteps)"
    )
    p.add_argument("--interval", type=int, default=10, help="write a frame every N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="trajectory file (extxyz)")
    p.add_argument(
        "--engine",
        choices=("ase", "jax-md"),
        default="ase",
        help="ase: ASE's integrators with the calculator; jax-md: JAX MD on the device, "
        "--interval steps per jitted loop (pip install 'equitens[jax-md]')",
    )

    sub.add_parser(
        "datagen", help="generate training data (see: equitens datagen --help)", add_help=False
    )
    sub.add_parser(
        "bench", help="tensor-product microbenchmarks (python -m benchmarks.tp)", add_help=False
    )
    return parser


def _checkpoint_dtype(path, which: str = "best") -> str | None:
    """The ``dtype`` of a checkpoint's run (None when it cannot be read: the command reports it)."""
    from equitens.train.checkpoint import load_checkpoint

    try:
        return str(load_checkpoint(path, which)["config"].get("dtype", "float32"))
    except (ValueError, FileNotFoundError, KeyError, AttributeError):
        return None


def _start(dtype: str | None) -> None:
    """The command line owns its process, so at start-up it does what the library never does by
    itself: it switches jax's x64 mode on for a float64 run (:mod:`equitens.precision`) and the
    persistent compilation cache on (:mod:`equitens.compilation_cache`; a rerun, ``evaluate``
    and ``md`` of a trained model then load its compiled programs instead of compiling them)."""
    from equitens.compilation_cache import enable_compilation_cache
    from equitens.precision import enable_x64_for

    enable_x64_for(dtype or "float32")
    directory = enable_compilation_cache()
    print(f"compilation cache: {directory or 'off'}")


def _start_for(checkpoints) -> None:
    """:func:`_start` for the runs of ``checkpoints``: float64 when any of them is."""
    dtypes = {_checkpoint_dtype(path) for path in checkpoints}
    _start("float64" if "float64" in dtypes else dtypes.pop())


def _train(args: argparse.Namespace) -> int:
    from equitens.train import load_config, train

    config = load_config(args.config, args.overrides)
    resumed = None
    if config["resume"] and config["name"]:
        resumed = _checkpoint_dtype(pathlib.Path(config["output_dir"]) / config["name"], "latest")
    _start(resumed or config["dtype"])
    results = train(config)
    print(f"run folder: {results['run_dir']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from equitens.data import MissingLabelError
    from equitens.train.evaluate import evaluate_checkpoint, format_errors

    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    for flag, key in (("--energy-key", args.energy_key), ("--forces-key", args.forces_key)):
        if key is not None and not key.strip():
            hint = " (to compare energies only, use --no-forces)" if flag == "--forces-key" else ""
            raise ValueError(f"{flag} needs a key name, got {key!r}{hint}")
    for path in args.checkpoint:
        if not pathlib.Path(path).exists():
            raise ValueError(
                f"--checkpoint {path!r} does not exist: give the folder of a training run "
                "(runs/<name>) or a .ckpt file"
            )
    if not pathlib.Path(args.data).is_file():
        raise ValueError(f"--data {args.data!r} is not a file: give an extxyz file")
    _start_for(args.checkpoint)
    if len(args.checkpoint) > 1:
        return _evaluate_committee(args)
    try:
        errors = evaluate_checkpoint(
            args.checkpoint[0],
            args.data,
            batch_size=args.batch_size,
            energy_key=args.energy_key,
            forces_key=args.forces_key,
            stress_key=args.stress_key,
            read_forces=not args.no_forces,
        )
    except MissingLabelError as error:
        fix = f"Pass --{error.label}-key <one of those keys>"
        if error.label == "forces":
            fix += ", or --no-forces to compare the energies only"
        raise error.with_fix(fix) from None
    print(format_errors(errors, f"errors on {args.data} ({errors['n_configs']} configurations):"))
    if "forces_mae" not in errors:
        print(_energy_only_note(args, errors))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(errors, indent=2) + "\n")
    return 0


def _evaluate_committee(args: argparse.Namespace) -> int:
    """``equitens evaluate`` with several checkpoints (:mod:`equitens.train.committee_errors`)."""
    from equitens.train.committee_errors import evaluate_committee, format_committee_errors

    if args.batch_size is not None or args.stress_key is not None:
        raise ValueError(
            "a committee (several --checkpoint) is evaluated frame by frame on energies and "
            "forces: --batch-size and --stress-key apply to one checkpoint"
        )
    errors = evaluate_committee(
        args.checkpoint,
        args.data,
        energy_key=args.energy_key,
        forces_key=args.forces_key,
        read_forces=not args.no_forces,
    )
    title = (
        f"errors of the mean of {len(args.checkpoint)} models on {args.data} "
        f"({errors['n_configs']} configurations):"
    )
    print(format_committee_errors(errors, title))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(errors, indent=2) + "\n")
    return 0


def _energy_only_note(args: argparse.Namespace, errors: dict) -> str:
    if args.no_forces:
        return "energies only (--no-forces)"
    if errors.get("forces_key") is None:
        return "energies only: the run was trained without forces (data.forces_key=null)"
    return (
        f"energies only: no frame has forces under the key {errors['forces_key']!r} (the "
        "run's data.forces_key); if they are under another key, pass --forces-key <key>"
    )


def _md(args: argparse.Namespace) -> int:
    import ase.io
    import numpy as np

    if args.steps < 0 or args.interval < 1 or args.timestep <= 0:
        raise ValueError("--steps must be >= 0, --interval >= 1 and --timestep > 0")
    atoms = ase.io.read(args.structure)
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError(f"the structure {args.structure!r} has non-finite positions")
    if args.ensemble == "npt" and not (np.all(atoms.pbc) and atoms.cell.rank == 3):
        raise ValueError(
            f"--ensemble npt needs a cell periodic in all three directions, and the structure "
            f"{args.structure!r} has pbc={atoms.pbc.tolist()}: give a periodic structure, or use "
            "--ensemble langevin or nve"
        )
    if args.ensemble == "npt" and args.engine != "ase" and args.cell_fluctuations == "full":
        raise ValueError(
            "--engine jax-md scales the cell isotropically at constant pressure: use "
            "--cell-fluctuations isotropic, or --engine ase for full-cell fluctuations"
        )
    if len(atoms) < 2:
        raise ValueError(
            f"the structure {args.structure!r} has {len(atoms)} atom(s): MD holds the centre of "
            "mass still, so it needs at least 2 (for an isolated atom's energy, use "
            "equitens evaluate)"
        )
    if len(args.checkpoint) > 1 and args.engine != "ase":
        raise ValueError(
            f"a committee ({len(args.checkpoint)} checkpoints) runs with --engine ase; "
            f"--engine {args.engine} takes one --checkpoint"
        )
    _start_for(args.checkpoint)
    out = pathlib.Path(args.out)
    if out.exists():
        out.unlink()
    spreads = []  # a committee's (energy_std, forces_std_max) of each frame written

    def write_frame(frame) -> None:
        ase.io.write(out, frame, format="extxyz", append=True)
        if "forces_std_max" in frame.info:
            spreads.append((frame.info["energy_std"], frame.info["forces_std_max"]))

    run = _md_jax if args.engine == "jax-md" else _md_ase
    start, end = run(args, atoms, write_frame)
    volume = (
        f", volume {start.get_volume():.2f} -> {end.get_volume():.2f} A^3"
        if args.ensemble == "npt"
        else ""
    )
    print(
        f"{args.steps} {args.ensemble} steps of {args.timestep} fs ({args.engine}): total energy "
        f"{start.get_total_energy():.4f} -> {end.get_total_energy():.4f} eV, temperature "
        f"{end.get_temperature():.1f} K{volume}; trajectory: {out}"
    )
    if spreads:
        print(_spread_summary(len(args.checkpoint), spreads))
    return 0


def _record_spread(atoms) -> None:
    """Put a committee's spread on the frame about to be written (extxyz keeps ``info`` and
    ``arrays``, not the calculator's extra results)."""
    forces_std = atoms.calc.get_property("forces_std", atoms)
    atoms.info["energy_std"] = float(atoms.calc.get_property("energy_std", atoms))
    atoms.info["forces_std_max"] = float(forces_std.max())
    atoms.arrays["forces_std"] = forces_std


def _spread_summary(members: int, spreads: list[tuple[float, float]]) -> str:
    """The largest spreads of a committee trajectory, from each frame's ``(energy_std,
    forces_std_max)``, for the end of ``equitens md``."""
    energy = max(range(len(spreads)), key=lambda i: spreads[i][0])
    force = max(range(len(spreads)), key=lambda i: spreads[i][1])
    return (
        f"committee of {members}: force spread up to {spreads[force][1]:.3g} eV/A (frame "
        f"{force}), energy spread up to {spreads[energy][0]:.3g} eV (frame {energy}); select "
        "frames by forces_std_max for labelling"
    )


def _md_ase(args: argparse.Namespace, atoms, write_frame) -> tuple:
    """ASE's integrators with the calculator; returns the first and the last frame."""
    import numpy as np
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.verlet import VelocityVerlet

    from equitens.calculator import EquitensCalculator
    from equitens.committee import CommitteeCalculator
    from equitens.momenta import thermal_momenta

    members = [EquitensCalculator.from_checkpoint(path) for path in args.checkpoint]
    for path, member in zip(args.checkpoint, members, strict=True):
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(member.table.symbols))
        if unknown:
            raise ValueError(
                f"--structure {args.structure!r} has {', '.join(unknown)}, which the model of "
                f"--checkpoint {path!r} was not trained on (it knows "
                f"{', '.join(member.table.symbols)}): run MD with a model trained on them"
            )
    atoms.calc = members[0] if len(members) == 1 else CommitteeCalculator(members)
    rng = np.random.default_rng(args.seed)
    atoms.set_momenta(thermal_momenta(atoms, args.temperature, rng))
    if args.ensemble == "langevin":  # the centre of mass held by a constraint (ASE >= 3.28)
        atoms.set_constraint([*atoms.constraints, FixCom()])
        dyn = Langevin(
            atoms,
            args.timestep * units.fs,
            temperature_K=args.temperature,
            friction=args.friction / units.fs,
            fixcm=False,
            rng=rng,
        )
    elif args.ensemble == "npt":
        dyn = _mtk_npt(args, atoms)
    else:
        dyn = VelocityVerlet(atoms, args.timestep * units.fs)
    start = atoms.copy()
    start.calc = SinglePointCalculator(start, energy=atoms.get_potential_energy())

    def frame() -> None:
        if len(members) > 1:
            _record_spread(atoms)
        write_frame(atoms)

    dyn.attach(frame, interval=args.interval)  # also before the first step
    dyn.run(args.steps)
    return start, atoms


def _mtk_npt(args: argparse.Namespace, atoms):
    """ASE's Martyna-Tobias-Klein NPT integrator of the command's options (isotropic volume or
    full-cell fluctuations; thermostat and barostat times default to 100 and 1000 timesteps)."""
    from ase import units
    from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT

    integrator = IsotropicMTKNPT if args.cell_fluctuations == "isotropic" else MTKNPT
    thermostat = args.thermostat_time or 100 * args.timestep
    barostat = args.barostat_time or 1000 * args.timestep
    if thermostat <= 0 or barostat <= 0:
        raise ValueError("--thermostat-time and --barostat-time must be positive (fs)")
    return integrator(
        atoms,
        args.timestep * units.fs,
        temperature_K=args.temperature,
        pressure_au=args.pressure * units.GPa,
        tdamp=thermostat * units.fs,
        pdamp=barostat * units.fs,
    )


def _md_jax(args: argparse.Namespace, atoms, write_frame) -> tuple:
    """JAX MD on the device (:func:`equitens.jax_md.run_md`); returns the first and the last
    frame."""
    from equitens.jax_md import run_md

    frames = []

    def keep(frame) -> None:
        if not frames:
            frames.append(frame)
        write_frame(frame)

    end = run_md(
        args.checkpoint[0],
        atoms,
        steps=args.steps,
        ensemble=args.ensemble,
        timestep_fs=args.timestep,
        temperature_K=args.temperature,
        friction_per_fs=args.friction,
        pressure_GPa=args.pressure,
        thermostat_fs=args.thermostat_time,
        barostat_fs=args.barostat_time,
        interval=args.interval,
        seed=args.seed,
        write_frame=keep,
    )
    return frames[0], end


def _datagen(argv: Sequence[str]) -> int:
    from equitens.data.datagen import main as datagen_main

    return int(datagen_main(list(argv)) or 0)


def _bench(argv: Sequence[str]) -> int:
    try:
        import benchmarks.tp  # noqa: F401 - only to check that it is reachable
    except ImportError:
        print(
            "equitens bench runs benchmarks/tp.py, which is part of the repository, not of "
            "the installed package: run it from a checkout of equitens",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([sys.executable, "-m", "benchmarks.tp", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``equitens`` command line; returns the exit status.

    Args:
        argv: the arguments (``sys.argv[1:]`` when None).

    Returns:
        0 on success, 2 for a usage or input error (the message is printed to stderr).

    Examples:
        >>> main(["train", "optimizer.lr=0.1"])  # the error message goes to stderr
        2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "datagen":
        return _datagen(argv[1:])
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    commands = {"train": _train, "evaluate": _evaluate, "md": _md}
    from equitens.extras import MissingExtraError
    from equitens.train.loop import TrainingDivergedError

    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, MissingExtraError) as error:
        print(f"equitens: error: {error}", file=sys.stderr)
        return 2
    except TrainingDivergedError as error:
        print(f"equitens: training diverged: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = (
            " (continue a training run with: equitens train name=<run name> resume=true)"
            if args.command == "train"
            else ""
        )
        print(f"equitens: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
