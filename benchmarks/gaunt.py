"""Microbenchmark of the Gaunt tensor products against Clebsch-Gordan (e3nn-jax and equitens).

Run ``python -m benchmarks.gaunt [--quick]``. The workload is the "Price of Freedom" one: the
single-channel full product ``0..L (x) 0..L -> 0..2L`` of natural-parity inputs, batch 10 000,
float32, timed forward, forward + backward (gradients w.r.t. both inputs) and double backward,
under ``jax.jit`` with the utilities of :mod:`benchmarks.timing`. Implementations:

- ``gaunt_grid``, ``gaunt_fourier``: the Gaunt methods on :func:`equitens.tp.gaunt.gaunt_spec`
  (one output block per irrep: the product function's coefficients);
- ``cg-even``: equitens' CG kernel on the *same* paths with the Gaunt path weights
  (:func:`equitens.tp.gaunt.gaunt_cg_spec`): equal expressivity, as the paper insists;
- ``cg``: equitens' CG kernel, the full product with every path (``TensorProductSpec.full``);
- ``e3nn``: ``e3nn_jax.tensor_product`` (every path, the reference CG);
- ``e3nn-even``: ``e3nn_jax.tensor_product`` restricted to the even paths (natural-parity outputs).

Before timing, the Gaunt methods are checked against ``cg-even`` (float32 tolerance). Results go
to ``benchmarks/results/gaunt-<time>.json`` and a table of ratios is printed (``x e3nn``: e3nn's
time / this one's, above 1 is faster; ``x grid``: this one's time / gaunt_grid's).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np

import equitens.tp.gaunt  # noqa: F401  (registers the Gaunt methods)
from benchmarks import timing
from equitens.tp.gaunt import gaunt_cg_spec, gaunt_spec
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

IMPLS = ("gaunt_grid", "gaunt_fourier", "cg-even", "cg", "e3nn", "e3nn-even")
BASELINES = ("cg-even", "cg", "e3nn", "e3nn-even")


def natural(L: int) -> str:
    """``0e + 1o + 2e + ...`` up to ``L``.

    Example:
        >>> natural(2)
        '0e + 1o + 2e'
    """
    return " + ".join(f"{l}{'eo'[l % 2]}" for l in range(L + 1))


def build(impl: str, L: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``f(x, y) -> out`` for an implementation at degree ``L``.

    Example:
        >>> f = build("gaunt_grid", 1)
        >>> f(jnp.ones((2, 4)), jnp.ones((2, 4))).shape
        (2, 9)
    """
    if impl in ("gaunt_grid", "gaunt_fourier"):
        return tensor_product_kernel(gaunt_spec(natural(L), natural(L), method=impl))
    if impl == "cg-even":
        return tensor_product_kernel(gaunt_cg_spec(gaunt_spec(natural(L), natural(L))))
    if impl == "cg":
        return tensor_product_kernel(TensorProductSpec.full(natural(L), natural(L)))
    irreps = e3nn.Irreps(natural(L))
    keep = None if impl == "e3nn" else e3nn.Irreps(natural(2 * L))
    if impl in ("e3nn", "e3nn-even"):
        return lambda x, y: (
            e3nn.tensor_product(
                e3nn.IrrepsArray(irreps, x), e3nn.IrrepsArray(irreps, y), filter_ir_out=keep
            ).array
        )
    raise ValueError(f"unknown implementation {impl!r}; use one of {IMPLS}")


def _verify(fns: dict, x, y) -> dict[str, float]:
    """Relative max error of each Gaunt method against CG on the same paths (float32)."""
    ref = np.asarray(jax.jit(fns["cg-even"])(x, y))
    out = {}
    for impl in ("gaunt_grid", "gaunt_fourier"):
        if impl in fns:
            got = np.asarray(jax.jit(fns[impl])(x, y))
            out[impl] = float(np.abs(got - ref).max() / np.abs(ref).max())
    return out


def run(
    Ls: list[int],
    impls: list[str],
    modes: list[str],
    batch: int,
    repeats: int,
    baseline_max_L: int,
) -> list[dict]:
    records = []
    for L in Ls:
        dim = (L + 1) ** 2
        x = jax.random.normal(jax.random.PRNGKey(0), (batch, dim), jnp.float32)
        y = jax.random.normal(jax.random.PRNGKey(1), (batch, dim), jnp.float32)
        todo = [i for i in impls if i not in BASELINES or L <= baseline_max_L]
        fns = {i: build(i, L) for i in set(todo) | ({"cg-even"} if L <= baseline_max_L else set())}
        errors = _verify(fns, x[:256], y[:256]) if "cg-even" in fns else {}
        for impl, err in errors.items():
            if err > 1e-4:
                print(
                    f"L={L} {impl}: relative error {err:.2e} against cg-even, not timed",
                    file=sys.stderr,
                )
                todo.remove(impl)
        for mode in modes:
            for impl in todo:
                f = timing.MODES[mode](fns[impl], (0, 1))
                m = timing.benchmark(f, x, y, repeats=repeats, warmup=1)
                record = {"L": L, "mode": mode, "impl": impl, **m.as_dict()}
                if impl in errors:
                    record["rel_err_vs_cg_even_f32"] = errors[impl]
                records.append(record)
                print(
                    f"L={L:2d} {mode:8s} {impl:14s} {m.median_s * 1e3:10.3f} ms  "
                    f"compile {m.compile_s:6.2f} s",
                    flush=True,
                )
    return records


def accuracy(Ls: list[int], batch: int = 1000) -> list[dict]:
    """float32 error of each Gaunt method against its own float64 result, per L.

    Inputs are standard normal; the error is ``max |out32 - out64| / max |out64|`` over the batch.
    """
    rows = []
    for L in Ls:
        dim = (L + 1) ** 2
        x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (batch, dim), jnp.float64))
        y = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (batch, dim), jnp.float64))
        ref = None
        for impl in ("gaunt_grid", "gaunt_fourier"):
            f = jax.jit(build(impl, L))
            exact = np.asarray(f(jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)))
            ref = exact if ref is None else ref
            single = np.asarray(
                f(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)), np.float64
            )
            rows.append(
                {
                    "L": L,
                    "impl": impl,
                    "rel_err_f32": float(np.abs(single - exact).max() / np.abs(exact).max()),
                    "rel_diff_f64_vs_grid": float(np.abs(exact - ref).max() / np.abs(ref).max()),
                }
            )
            print(rows[-1], flush=True)
    return rows


def table(records: list[dict]) -> str:
    """Markdown: median ms per (L, mode, impl), with ratios against e3nn and gaunt_grid."""
    by = {(r["L"], r["mode"], r["impl"]): r["median_ms"] for r in records}
    lines = [
        "| L | mode | impl | ms | x e3nn (speedup) | time / gaunt_grid |",
        "|---|---|---|---|---|---|",
    ]
    for (L, mode, impl), ms in sorted(
        by.items(), key=lambda kv: (kv[0][0], kv[0][1], IMPLS.index(kv[0][2]))
    ):
        e3 = by.get((L, mode, "e3nn"))
        grid = by.get((L, mode, "gaunt_grid"))
        lines.append(
            f"| {L} | {mode} | {impl} | {ms:.3f} | {e3 / ms if e3 else float('nan'):.2f} | "
            f"{ms / grid if grid else float('nan'):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Gaunt tensor products vs Clebsch-Gordan.")
    parser.add_argument("--quick", action="store_true", help="L = 2, 4 only, 3 repeats")
    parser.add_argument("--L", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    parser.add_argument(
        "--modes", nargs="+", default=list(timing.MODES), choices=list(timing.MODES)
    )
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--baseline-max-L", type=int, default=8, help="skip the CG baselines above this L"
    )
    parser.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/gaunt-<time>.json)"
    )
    parser.add_argument(
        "--accuracy", action="store_true", help="float32 error vs L instead of timings (x64)"
    )
    args = parser.parse_args(argv)
    if args.accuracy:
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")
        rows = accuracy(args.L)
        path = timing.write_json(rows, args.out, name="gaunt-accuracy", L=args.L)
        print(f"wrote {path}")
        return
    Ls, repeats = ([2, 4], 3) if args.quick else (args.L, args.repeats)
    jax.config.update("jax_default_matmul_precision", "highest")
    records = run(Ls, args.impls, args.modes, args.batch, repeats, args.baseline_max_L)
    path = timing.write_json(
        records, args.out, name="gaunt", L=Ls, batch=args.batch, impls=args.impls
    )
    print(table(records))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
