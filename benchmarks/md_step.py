"""Molecular-dynamics step time of a trained potential: the ASE calculator against JAX MD.

Both run NVE (velocity Verlet, 0.5 fs) of the same checkpoint from the same structure:

* ``ase``: ``ase.md.verlet.VelocityVerlet`` with :class:`equitens.calculator.EquitensCalculator`
  (what ``equitens md`` runs: Python between steps, a neighbour list per step);
* ``jax_md``: ``jax_md.simulate.nve`` with :func:`equitens.jax_md.energy_fn_from_checkpoint`
  and a JAX MD ``Sparse`` neighbour list updated every step, ``--steps`` steps in one
  ``lax.fori_loop`` under ``jax.jit`` (:func:`equitens.jax_md.run_steps`: nothing leaves the
  device).

Free space (a molecule; the structure's cell is ignored). Each is timed over ``--steps`` steps
after a warm-up that compiles it; the JAX MD row also reports its compile time and the drift of
its total energy.

    python benchmarks/md_step.py --checkpoint runs/NAME --structure start.xyz --steps 1000

Needs jax-md (``pip install 'equitens[jax-md]'``). Writes
``benchmarks/results/md_step-<time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import write_json
from equitens.extras import require


def ase_row(checkpoint: str, atoms, steps: int) -> dict:
    """Per-step time of ASE velocity Verlet with the equitens calculator."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from equitens.calculator import EquitensCalculator
    from equitens.momenta import thermal_momenta

    atoms = atoms.copy()
    atoms.calc = EquitensCalculator.from_checkpoint(checkpoint)
    atoms.set_momenta(thermal_momenta(atoms, 300.0, np.random.default_rng(0)))
    dynamics = VelocityVerlet(atoms, 0.5 * units.fs)
    dynamics.run(10)  # compiles
    start = time.perf_counter()
    dynamics.run(steps)
    return {"method": "ase", "step_ms": 1e3 * (time.perf_counter() - start) / steps}


def jax_md_row(checkpoint: str, atoms, steps: int) -> dict:
    """Per-step time of JAX MD's NVE, ``steps`` steps in one jitted loop."""
    import jax
    import jax.numpy as jnp
    from ase import units

    jax_md = require("jax_md", extra="jax-md", feature="benchmarks/md_step.py")
    from jax_md import partition, quantity, simulate, space

    from equitens.jax_md import energy_fn_from_checkpoint, run_steps

    displacement, shift = space.free()
    energy, cutoff = energy_fn_from_checkpoint(checkpoint, atoms.numbers, displacement)
    neighbor_fn = partition.neighbor_list(
        displacement, 100.0, cutoff, 0.5, format=partition.Sparse, disable_cell_list=True
    )
    positions = jnp.asarray(atoms.positions, jnp.float32)
    neighbors = neighbor_fn.allocate(positions)
    init, apply = simulate.nve(energy, shift, 0.5 * units.fs)
    masses = jnp.asarray(atoms.get_masses(), jnp.float32)[:, None]
    state = init(
        jax.random.PRNGKey(0), positions, mass=masses, kT=300 * units.kB, neighbor=neighbors
    )

    run = run_steps(apply, steps)

    def total(state, neighbors):
        kinetic = quantity.kinetic_energy(momentum=state.momentum, mass=state.mass)
        return float(energy(state.position, neighbors) + kinetic)

    start = time.perf_counter()
    warm, warm_neighbors = jax.block_until_ready(run(state, neighbors))
    compile_s = time.perf_counter() - start
    begin = total(warm, warm_neighbors)
    start = time.perf_counter()
    end_state, end_neighbors = jax.block_until_ready(run(warm, warm_neighbors))
    seconds = time.perf_counter() - start
    if bool(end_neighbors.did_buffer_overflow):
        raise RuntimeError("the JAX MD neighbour list overflowed: raise its capacity")
    return {
        "method": "jax_md",
        "jax_md_version": getattr(jax_md, "__version__", "?"),
        "step_ms": 1e3 * seconds / steps,
        "compile_and_first_run_s": compile_s,
        "energy_drift_eV": total(end_state, end_neighbors) - begin,
    }


def main(argv=None) -> dict:
    """Time both, print the table, write the JSON; returns ``{"records", "json"}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="run folder or .ckpt file")
    parser.add_argument("--structure", required=True, help="a molecule (any ASE format)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    import ase.io

    atoms = ase.io.read(args.structure)
    records = [
        ase_row(args.checkpoint, atoms, args.steps),
        jax_md_row(args.checkpoint, atoms, args.steps),
    ]
    ratio = records[0]["step_ms"] / records[1]["step_ms"]
    for record in records:
        print(f"{record['method']:<7} {record['step_ms']:8.3f} ms/step")
    print(
        f"JAX MD is {ratio:.1f}x faster per step ({len(atoms)} atoms); its compile and first "
        f"run {records[1]['compile_and_first_run_s']:.1f} s, energy drift over {args.steps} "
        f"steps {records[1]['energy_drift_eV']:.2e} eV"
    )
    path = write_json(records, args.out, name="md_step", **vars(args), atoms=len(atoms))
    print(f"wrote {path}")
    return {"records": records, "json": path}


if __name__ == "__main__":
    main()
