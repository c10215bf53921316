"""Cost of a committee of potentials per force call, and how its spread grows off the data.

Times ``atoms.get_forces()`` on one structure (positions jittered each call, so that every call
computes) for:

* ``single``: the first member alone (:class:`equitens.calculator.EquitensCalculator`);
* ``committee``: :class:`equitens.committee.CommitteeCalculator` of all members, those that share
  a model evaluated together (stacked parameters, one vmapped call);
* ``one_by_one``: the same committee with every member evaluated on its own (what a loop over
  calculators costs), for comparison.

Then, with ``--hot K`` (default 1500), it runs ``--md-steps`` of Langevin dynamics at 300 K and
at K with the committee (ASE, 0.5 fs) and reports the mean and largest ``forces_std_max`` (the
committee's largest per-atom force spread) of each: the spread is an uncertainty only if it grows
on geometries the training data did not cover.

    python benchmarks/committee.py --checkpoint runs/member0 runs/member1 runs/member2 \\
        --structure start.xyz

Writes ``benchmarks/results/committee-<time>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import write_json


def _time_forces(calc, atoms, repeats: int) -> dict:
    """Median and spread of the time of one force call (after two warm-up calls that compile)."""
    atoms = atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(0)
    start = atoms.positions.copy()
    times = []
    for index in range(repeats + 2):
        atoms.positions = start + 1e-3 * rng.standard_normal(start.shape)
        t0 = time.perf_counter()
        atoms.get_forces()
        if index >= 2:
            times.append(time.perf_counter() - t0)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times)}


def _spread_along_md(committee, atoms, temperature: float, steps: int) -> dict:
    """``forces_std_max`` along a Langevin run with the committee's mean forces."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin

    from equitens.momenta import thermal_momenta

    atoms = atoms.copy()
    atoms.calc = committee
    rng = np.random.default_rng(1)
    atoms.set_momenta(thermal_momenta(atoms, temperature, rng))
    atoms.set_constraint(FixCom())  # as equitens md: the centre of mass held still
    dynamics = Langevin(
        atoms,
        0.5 * units.fs,
        temperature_K=temperature,
        friction=0.01 / units.fs,
        fixcm=False,
        rng=rng,
    )
    spreads = []
    dynamics.attach(
        lambda: spreads.append(float(committee.get_property("forces_std", atoms).max())),
        interval=10,
    )
    dynamics.run(steps)
    return {
        "method": f"langevin_{temperature:.0f}K",
        "temperature_K": temperature,
        "forces_std_max_mean": float(np.mean(spreads)),
        "forces_std_max_largest": float(np.max(spreads)),
        "frames": len(spreads),
    }


def main(argv=None) -> dict:
    """Time the three, sample the spread, print, write the JSON; returns ``{"records", "json"}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, nargs="+", help="two or more members")
    parser.add_argument("--structure", required=True, help="a structure (any ASE format)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--hot", type=float, default=1500.0, help="K; 0 skips the MD part")
    parser.add_argument("--md-steps", type=int, default=1000)
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    import ase.io

    from equitens.calculator import EquitensCalculator
    from equitens.committee import CommitteeCalculator

    atoms = ase.io.read(args.structure)
    members = [EquitensCalculator.from_checkpoint(path) for path in args.checkpoint]
    committee = CommitteeCalculator(members)
    one_by_one = CommitteeCalculator(members, together=False)
    records = []
    for name, calc in (
        ("single", members[0]),
        ("committee", committee),
        ("one_by_one", one_by_one),
    ):
        records.append({"method": name, **_time_forces(calc, atoms, args.repeats)})
    groups = len(committee._groups)
    print(f"{len(members)} members in {groups} group(s) of a shared model, {len(atoms)} atoms:")
    for record in records:
        print(f"  {record['method']:<11} {record['median_ms']:8.3f} ms per force call (median)")
    single, together = records[0]["median_ms"], records[1]["median_ms"]
    print(
        f"  the committee costs {together / single:.2f}x one member; one by one "
        f"{records[2]['median_ms'] / single:.2f}x"
    )
    spread = []
    if args.hot > 0:
        for temperature in (300.0, args.hot):
            row = _spread_along_md(committee, atoms, temperature, args.md_steps)
            spread.append(row)
            print(
                f"  Langevin at {temperature:.0f} K, {args.md_steps} steps: forces_std_max mean "
                f"{row['forces_std_max_mean']:.3f}, largest {row['forces_std_max_largest']:.3f} "
                "eV/A"
            )
    path = write_json(
        records + spread,
        args.out,
        name="committee",
        **vars(args),
        atoms=len(atoms),
        groups=groups,
    )
    print(f"wrote {path}")
    return {"records": records, "spread": spread, "json": path}


if __name__ == "__main__":
    main()
