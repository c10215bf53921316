"""Benchmark of the SO(3) core: equitens vs e3nn-jax, timed in the same run.

    python -m benchmarks.so3 [--quick] [--out FILE] [--repeats N]

* spherical harmonics, ``lmax`` in {2, 4, 6, 8, 12} ({2, 4, 8} with ``--quick``), 100 000 float32
  vectors, normalize=True, "component": forward, forward + backward, double backward;
* Wigner-D matrices, ``l`` in {2, 4, 6, 8} ({2, 4, 8} with ``--quick``), 10 000 float32 rotations:
  from Euler angles and from rotation matrices, forward and forward + backward.

Each equitens result is checked against e3nn-jax on a few inputs before it is timed. The table
gives median times, compile times and ``speedup`` = e3nn-jax time / equitens time; the JSON file
(default ``benchmarks/results/so3-<time>.json``) holds every measurement and the machine.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
from equitens.so3.spherical_harmonics import spherical_harmonics

CANDIDATE, BASELINE = "equitens", "e3nn-jax"


def _check(
    name: str, ours: Callable[..., Any], ref: Callable[..., Any], args: tuple[Any, ...], tol: float
) -> str:
    """Compare the two implementations on ``args`` (small); return a note ('' when they agree)."""
    a, b = jax.jit(ours)(*args), jax.jit(ref)(*args)
    err = float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-30))
    if not err <= tol:
        print(f"  WARNING {name}: equitens and e3nn-jax differ (max relative error {err:.1e})")
        return f"mismatch {err:.1e}"
    return ""


def _run_case(
    records: list[dict[str, Any]],
    benchmark: str,
    case: str,
    impls: dict[str, Callable[..., Any]],
    args: tuple[Any, ...],
    modes: list[str],
    argnums: int | tuple[int, ...],
    repeats: int,
    warmup: int,
    note: str,
) -> None:
    for mode in modes:
        for impl, f in impls.items():
            m = timing.benchmark(
                timing.MODES[mode](f, argnums), *args, repeats=repeats, warmup=warmup
            )
            record = {
                "benchmark": benchmark,
                "case": case,
                "mode": mode,
                "impl": impl,
                "note": note,
            }
            records.append({**record, **m.as_dict()})
            print(
                f"  {benchmark:18s} {case:10s} {mode:8s} {impl:9s} {m.median_s * 1e3:9.3f} ms"
                f" (min {m.min_s * 1e3:.3f}, iqr {m.iqr_s * 1e3:.3f})"
                f"  compile {m.compile_s:6.2f} s",
                flush=True,
            )


def bench_spherical_harmonics(
    records: list[dict[str, Any]], lmaxs: list[int], batch: int, repeats: int, warmup: int
) -> None:
    """Spherical harmonics of ``batch`` random float32 vectors."""
    vectors = jax.random.normal(jax.random.PRNGKey(0), (batch, 3), jnp.float32)
    for lmax in lmaxs:
        impls = {
            CANDIDATE: functools.partial(spherical_harmonics, lmax),
            BASELINE: lambda v, lmax=lmax: e3nn.sh(list(range(lmax + 1)), v, True, "component"),
        }
        note = _check(f"sh lmax={lmax}", impls[CANDIDATE], impls[BASELINE], (vectors[:64],), 1e-4)
        modes = ["fwd", "fwd+bwd", "double"]
        _run_case(
            records,
            "spherical_harmonics",
            f"lmax={lmax}",
            impls,
            (vectors,),
            modes,
            0,
            repeats,
            warmup,
            note,
        )


def bench_wigner(
    records: list[dict[str, Any]], ls: list[int], batch: int, repeats: int, warmup: int
) -> None:
    """Wigner-D matrices of ``batch`` random rotations, from angles and from matrices."""
    from equitens.so3 import wigner

    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    alpha = jax.random.uniform(k1, (batch,), jnp.float32, 0, 2 * np.pi)
    beta = jnp.arccos(jax.random.uniform(k2, (batch,), jnp.float32, -1, 1))
    gamma = jax.random.uniform(k3, (batch,), jnp.float32, 0, 2 * np.pi)
    matrices = jax.jit(e3nn.angles_to_matrix)(alpha, beta, gamma)
    for l in ls:
        ir = e3nn.Irrep(l, 1)
        from_angles = {
            CANDIDATE: functools.partial(wigner.wigner_D_from_angles, l),
            BASELINE: ir.D_from_angles,
        }
        from_matrix = {
            CANDIDATE: functools.partial(wigner.wigner_D, l),
            BASELINE: ir.D_from_matrix,
        }
        angles = (alpha, beta, gamma)
        modes = ["fwd", "fwd+bwd"]
        small = tuple(a[:64] for a in angles)
        note = _check(
            f"D_from_angles l={l}", from_angles[CANDIDATE], from_angles[BASELINE], small, 1e-3
        )
        _run_case(
            records,
            "wigner_D_from_angles",
            f"l={l}",
            from_angles,
            angles,
            modes,
            (0, 1, 2),
            repeats,
            warmup,
            note,
        )
        note = _check(
            f"D_from_matrix l={l}",
            from_matrix[CANDIDATE],
            from_matrix[BASELINE],
            (matrices[:64],),
            1e-3,
        )
        _run_case(
            records, "wigner_D", f"l={l}", from_matrix, (matrices,), modes, 0, repeats, warmup, note
        )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="lmax and l in {2, 4, 8}, 3 repeats, 1 warm-up (about 2 min on 2 CPU cores)",
    )
    parser.add_argument(
        "--out", default=None, help="JSON output file (default benchmarks/results/so3-<time>.json)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement")
    parser.add_argument(
        "--sh-batch",
        type=int,
        default=100_000,
        help="number of vectors for the spherical harmonics",
    )
    parser.add_argument(
        "--wigner-batch", type=int, default=10_000, help="number of rotations for Wigner-D"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 20)
    warmup = 1 if args.quick else 2
    lmaxs = [2, 4, 8] if args.quick else [2, 4, 6, 8, 12]
    ls = [2, 4, 8] if args.quick else [2, 4, 6, 8]

    device = jax.devices()[0].device_kind
    print(
        f"jax {jax.__version__} on {jax.default_backend()} ({device}), e3nn-jax {e3nn.__version__}"
    )
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    bench_spherical_harmonics(records, lmaxs, args.sh_batch, repeats, warmup)
    bench_wigner(records, ls, args.wigner_batch, repeats, warmup)
    elapsed = time.perf_counter() - start

    print(f"\nspeedup = {BASELINE} time / {CANDIDATE} time (median); total {elapsed:.0f} s\n")
    timing.print_table(records, baseline=BASELINE, candidate=CANDIDATE)
    meta = {
        "argv": sys.argv[1:],
        "quick": args.quick,
        "repeats": repeats,
        "warmup": warmup,
        "sh_batch": args.sh_batch,
        "wigner_batch": args.wigner_batch,
        "dtype": "float32",
        "elapsed_s": elapsed,
    }
    path = timing.write_json(records, args.out, name="so3", **meta)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
