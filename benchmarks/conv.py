"""Edge-convolution benchmark: the equitens conv methods against e3nn-jax's, same inputs, same run.

Run ``python -m benchmarks.conv [--quick]`` from the repository root. The workload is the message
of NequIP-style message passing: ``E`` edges (default 20 000), sender features with ``C`` channels
(default 64) of every degree ``0..L`` (``64x0e + 64x1o + 64x2e + ...``), the spherical harmonics of
the edge up to ``L``, output ``0..L`` of the same irreps, per-edge weights (inputs, as a radial
network would give). Float32 by default.

Implementations (``--methods``):

* ``so2``, ``cg``, ``cp``, ``cp_exact``: ``equitens.conv.edge_convolution(..., method=...)``
  (``cp_exact`` is ``method="cp", exact=True``, the exact path-weight-shared CG baseline;
  ``cp`` uses the cached factors at ``--cp-tol``);
* ``e3nn-cg``: e3nn-jax's full CG convolution, the legacy ``FunctionalTensorProduct`` with the
  ``"uvu"`` instructions of the same paths, ``vmap``-ed over edges with per-edge weights, and
  ``e3nn_jax.spherical_harmonics``;
* ``e3nn-tpwsh``: ``e3nn_jax.tensor_product_with_spherical_harmonics(x, edge, L)`` (e3nn-jax's own
  eSCN-style rotation trick, unweighted, all paths), then each output path block weighted per edge
  and channel and summed into the ``0..L`` output (what makes it a conv).

Modes: ``fwd``, ``fwd+bwd`` (gradients of ``sum(out^2)/2`` w.r.t. features, edge vectors and
weights) and ``double`` (gradient of the squared norm of those gradients), see
:mod:`benchmarks.timing`. Each (method, L, mode) runs in its own subprocess under ``--timeout``
seconds (a case past it is recorded as ``timeout``), so memory and compile caches do not leak
between cases. Results go to ``benchmarks/results/conv-<UTC time>.json`` with the machine info,
and a table of ratios ``e3nn time / so2 time`` is printed.

``--plan`` (repeatable: ``--plan default --plan chunk=none``) runs the equitens methods under each
kernel :class:`~equitens.tp.plan.Plan`; a method under a plan other than the default is a column
``method@plan`` of the table (``plan`` in the JSON records). The e3nn-jax methods run once.
For the whole message-passing layer (gather, convolution, scatter) see ``benchmarks.interaction``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmarks._workloads import (
    DEFAULT_PLAN_LABEL,
    e3nn_cg_message,
    irreps_string,
    plan_labels,
    plan_of,
    python_module_cmd,
    run_case,
    text_table,
)

METHODS = ("so2", "cg", "e3nn-cg", "e3nn-tpwsh", "cp", "cp_exact")
MODES = ("fwd", "fwd+bwd", "double")
E3NN_METHODS = ("e3nn-cg", "e3nn-tpwsh")


def _label(method: str, plan: str) -> str:
    return method if plan == DEFAULT_PLAN_LABEL or method in E3NN_METHODS else f"{method}@{plan}"


def _build(
    method: str,
    L: int,
    C: int,
    E: int,
    dtype: Any,
    cp_tol: float,
    plan: str = DEFAULT_PLAN_LABEL,
):
    """``(f(x, vectors, weights) -> messages, (x, vectors, weights))`` for one implementation."""
    import e3nn_jax as e3nn
    import jax
    import jax.numpy as jnp

    import equitens.conv.so2  # noqa: F401  (registers "so2")
    from equitens.conv import edge_convolution

    irreps = irreps_string(L, C)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)

    def inputs(numel: int):
        x = jax.random.normal(keys[0], (E, e3nn.Irreps(irreps).dim), dtype)
        v = jax.random.normal(keys[1], (E, 3), dtype)
        w = jax.random.normal(keys[2], (E, numel), dtype)
        return x, v, w

    if method in ("so2", "cg", "cp", "cp_exact"):
        if method.startswith("cp"):
            import equitens.conv.cp  # noqa: F401  (registers "cp")
        options = {}
        if method == "cp":
            options = {"tol": cp_tol}
        if method == "cp_exact":
            options = {"exact": True}
        conv = edge_convolution(
            irreps, irreps, L, method=method.split("_")[0], plan=plan_of(plan), **options
        )
        return (lambda x, v, w: conv(x, v, w)), inputs(conv.weight_numel)

    if method == "e3nn-cg":
        f, numel = e3nn_cg_message(L, C)
        return f, inputs(numel)

    if method == "e3nn-tpwsh":
        out_irreps = e3nn.Irreps(irreps)
        wanted = {ir for _, ir in out_irreps}
        probe = jax.eval_shape(
            lambda x, v: e3nn.tensor_product_with_spherical_harmonics(
                e3nn.IrrepsArray(irreps, x), e3nn.IrrepsArray("1o", v), L
            ),
            jnp.zeros((E, out_irreps.dim), dtype),
            jnp.zeros((E, 3), dtype),
        )
        kept_numel = sum(mul for mul, ir in probe.irreps if ir in wanted)

        def f(x, v, w):
            xi = e3nn.IrrepsArray(irreps, x)
            y = e3nn.tensor_product_with_spherical_harmonics(xi, e3nn.IrrepsArray("1o", v), L)
            outs, start = {ir: 0.0 for ir in wanted}, 0
            for (mul, ir), chunk in zip(y.irreps, y.chunks, strict=True):
                if ir in wanted:  # weight each path block per edge and channel, sum per irrep
                    outs[ir] = outs[ir] + chunk * w[:, start : start + mul, None]
                    start += mul
            return jnp.concatenate([outs[ir].reshape(E, -1) for _, ir in out_irreps], axis=1)

        return f, inputs(kept_numel)

    raise ValueError(f"unknown method {method!r}; use one of {METHODS}")


def _worker(args: argparse.Namespace) -> None:
    """Measure one (method, L, mode) and print its record as one JSON line."""
    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")
    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    from benchmarks import timing

    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    plan = args.plan[0] if args.plan else DEFAULT_PLAN_LABEL
    f, (x, v, w) = _build(args.method, args.L, args.channels, args.edges, dtype, args.cp_tol, plan)
    workload = timing.MODES[args.mode](f, (0, 1, 2))
    m = timing.benchmark(workload, x, v, w, repeats=args.repeats, warmup=1)
    record = {
        "method": args.method,
        "L": args.L,
        "mode": args.mode,
        "plan": plan,
        "weight_numel": int(w.shape[1]),
    }
    record.update(m.as_dict())
    print("RECORD " + json.dumps(record))


def _run_case(
    args: argparse.Namespace, method: str, L: int, mode: str, plan: str = DEFAULT_PLAN_LABEL
) -> dict[str, Any]:
    cmd = python_module_cmd(
        "benchmarks.conv", "--worker", "--method", method, "--L", str(L), "--mode", mode,
        "--edges", str(args.edges), "--channels", str(args.channels),
        "--repeats", str(args.repeats), "--dtype", args.dtype, "--cp-tol", str(args.cp_tol),
        "--plan", plan,
    )  # fmt: skip
    ident = {"method": method, "L": L, "mode": mode, "plan": plan}
    return run_case(cmd, args.timeout, ident)


def _table(records: list[dict[str, Any]], methods: list[str]) -> str:
    """One row per (L, mode), one column per method (``method@plan`` for other plans)."""
    index = {
        (_label(r["method"], r.get("plan", DEFAULT_PLAN_LABEL)), r["L"], r["mode"]): r
        for r in records
    }
    ls = sorted({r["L"] for r in records})
    modes = [m for m in MODES if any(r["mode"] == m for r in records)]
    head = ["L", "mode"] + [f"{m} ms" for m in methods]
    head += [
        f"{b}/so2" for b in ("e3nn-cg", "e3nn-tpwsh", "cg") if b in methods and "so2" in methods
    ]
    lines = [head]
    for L in ls:
        for mode in modes:
            row = [str(L), mode]
            times = {}
            for m in methods:
                r = index.get((m, L, mode), {})
                t = r.get("median_ms")
                times[m] = t
                row.append(f"{t:.2f}" if t else r.get("status", "-")[:12])
            for b in ("e3nn-cg", "e3nn-tpwsh", "cg"):
                if b in methods and "so2" in methods:
                    ok = times.get(b) and times.get("so2")
                    row.append(f"{times[b] / times['so2']:.2f}" if ok else "-")
            lines.append(row)
    return text_table(lines[0], lines[1:])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (``python -m benchmarks.conv --help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="L in {2, 4}, fwd+bwd, 3 repeats")
    parser.add_argument("--ls", default=None, help="comma-separated L (default 1..8)")
    parser.add_argument("--methods", default="so2,cg,e3nn-cg,e3nn-tpwsh")
    parser.add_argument(
        "--modes", default=None, help="comma-separated (default fwd,fwd+bwd,double)"
    )
    parser.add_argument("--edges", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument(
        "--cp-tol", type=float, default=1e-3, help="CP relative Frobenius tolerance"
    )
    parser.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/conv-*.json)"
    )
    parser.add_argument(
        "--plan",
        action="append",
        default=None,
        help="a kernel plan for the equitens methods: 'default' or 'key=value,...' (e.g. "
        "'chunk=none'; see equitens.tp.plan.Plan); repeat the flag to compare plans "
        "(default: the default plan only)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--L", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    if args.quick:
        ls, modes = [2, 4], ["fwd+bwd"]
        args.repeats = min(args.repeats, 3)
    else:
        ls, modes = list(range(1, 9)), list(MODES)
    if args.ls:
        ls = [int(s) for s in args.ls.split(",")]
    if args.modes:
        modes = args.modes.split(",")
    methods = args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            parser.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    try:
        plans = plan_labels(args.plan)
    except (ValueError, TypeError) as error:
        parser.error(f"--plan: {error}")
    cases = [
        (method, plan)
        for method in methods
        for plan in ([DEFAULT_PLAN_LABEL] if method in E3NN_METHODS else plans)
    ]
    columns = [_label(method, plan) for method, plan in cases]
    records = []
    for L in ls:
        for mode in modes:
            for method, plan in cases:
                record = _run_case(args, method, L, mode, plan)
                records.append(record)
                t = record.get("median_ms")
                print(
                    f"L={L} {mode:8s} {_label(method, plan):11s} "
                    + (
                        f"{t:9.2f} ms  compile {record['compile_s']:.1f} s"
                        if t
                        else record["status"]
                    ),
                    flush=True,
                )
    from benchmarks import timing

    path = timing.write_json(
        records, args.out, name="conv", edges=args.edges, channels=args.channels, dtype=args.dtype,
        ls=ls, modes=modes, methods=methods, plans=plans, repeats=args.repeats,
        cp_tol=args.cp_tol,
    )  # fmt: skip
    print(_table(records, columns))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
