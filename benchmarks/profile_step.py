"""Where the time of an equitens training step goes: milliseconds per model block and pass.

The step is the one ``benchmarks/model_step.py`` times (energies, forces by a gradient, an energy
+ force loss, its parameter gradient, an Adam update; jitted). It is run ``--steps`` times under
``jax.profiler.trace``; every executed XLA operation of the trace is attributed to the model
block it was traced in (the flax scope in its HLO ``op_name``, e.g. ``product_0`` or
``message_1/radial``) and to its pass, read from JAX's transformations around the model:

- ``forward``: the energy (no transpose);
- ``backward``: one transpose: the forces (the gradient with respect to the positions) and the
  parameter gradient of the energy term of the loss;
- ``double``: two or more: the parameter gradient of the force term, through the forces (the
  double backward of training on forces).

Operations outside the model (the loss, the optimizer update) are the block ``(step)``. Prints a
table (ms per step per block and pass, and the share of the step) and writes
``profile_step-<time>.json``:

    python benchmarks/profile_step.py --data ../shared/data/ethanol/train.xyz --batch 10

The per-operation times come from the profiler's XLA events (``hlo_op``), which the CPU and GPU
runtimes both emit; their sum is close to the step time on one CPU core, and differs from it where
operations overlap (several cores, GPU streams). A fusion of operations from several blocks is
counted in the block of its root operation. Compare blocks within a run.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._workloads import text_table
from benchmarks.model_step import _batch, train_step_fn
from benchmarks.timing import time_compiled, write_json
from equitens.models import build_model, predict

PASSES = ("forward", "backward", "double")
OUTSIDE = "(step)"
_OP_NAME = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]*)"')
_MODEL = re.compile(r"^(?:\w+\()*(?:MACE|NequIP)\)*$")
_SCOPE = re.compile(r"^[A-Za-z_]\w*$")


def op_names(hlo_text: str) -> dict[str, str]:
    """``{instruction name: op_name}`` of a compiled module's HLO text.

    Examples:
        >>> op_names('  %fusion.3 = f32[2] fusion(%a), metadata={op_name="jit(f)/mul"}')
        {'fusion.3': 'jit(f)/mul'}
    """
    out = {}
    for line in hlo_text.splitlines():
        match = _OP_NAME.match(line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def block_and_pass(op_name: str, depth: int = 2) -> tuple[str, str]:
    """The model block (``depth`` flax scopes) and the pass an operation was traced in.

    Examples:
        >>> block_and_pass("jit(step)/jvp(jvp(MACE))/product_0/jit(_one_hot)/convert")
        ('product_0', 'forward')
        >>> block_and_pass("jit(step)/transpose(jvp(MACE))/message_1/radial/dot_general")
        ('message_1/radial', 'backward')
        >>> block_and_pass("jit(step)/jvp(MACE)/product_0/product_0/nkc,nc->nk/dot_general")
        ('product_0', 'forward')
        >>> block_and_pass("jit(step)/jvp(transpose(jvp(transpose(jvp(MACE)))))/linear_a_0/mul")
        ('linear_a_0', 'double')
        >>> block_and_pass("jit(step)/mul")
        ('(step)', 'forward')
    """
    parts = op_name.split("/")
    model = next((i for i, p in enumerate(parts) if _MODEL.match(p)), None)
    if model is None:
        return OUTSIDE, PASSES[min(op_name.count("transpose("), 2)]
    transposes = parts[model].count("transpose(")
    scopes: list[str] = []
    for part in parts[model + 1 : -1]:  # flax scopes are identifiers; einsum specs are not
        if _SCOPE.match(part) and not part.startswith("jit") and scopes[-1:] != [part]:
            scopes.append(part)
    return "/".join(scopes[:depth]) or "(model)", PASSES[min(transposes, 2)]


def _trace_events(directory: str) -> list[dict]:
    paths = sorted(Path(directory).rglob("*perfetto_trace.json.gz"))
    if not paths:
        raise RuntimeError(
            f"jax.profiler wrote no perfetto trace under {directory}; this jax "
            f"({jax.__version__}) may not support create_perfetto_trace=True"
        )
    with gzip.open(paths[-1]) as f:
        events = json.load(f)
    return events["traceEvents"] if isinstance(events, dict) else events


def profile(step, args: tuple, steps: int, depth: int = 2) -> dict:
    """Milliseconds per step of each (block, pass) of a jitted ``step(*args)``.

    Returns:
        ``{"times": {(block, pass): ms}, "step_ms": the median wall time of a step (untraced),
        "unattributed_ms": XLA operations whose op_name was not found}``.
    """
    compiled = step.lower(*args).compile()
    names = op_names(compiled.as_text())
    wall, _ = time_compiled(compiled, *args, repeats=steps, warmup=3)
    times: collections.Counter = collections.Counter()
    unattributed = 0.0
    with tempfile.TemporaryDirectory() as directory:
        with jax.profiler.trace(directory, create_perfetto_trace=True):
            for _ in range(steps):
                jax.block_until_ready(compiled(*args))
        events = [e for e in _trace_events(directory) if e.get("ph") == "X"]
    for event in events:
        op = event.get("args", {}).get("hlo_op")
        if op is None:
            continue
        if op in names:
            times[block_and_pass(names[op], depth)] += event["dur"]
        else:
            unattributed += event["dur"]
    per_step = 1e-3 / steps  # trace durations are in microseconds
    return {
        "times": {key: t * per_step for key, t in times.items()},
        "step_ms": 1e3 * float(np.median(wall)),
        "unattributed_ms": unattributed * per_step,
    }


def format_profile(result: dict) -> str:
    """The table: one row per block, one column per pass, largest total first."""
    blocks: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for (block, kind), ms in result["times"].items():
        blocks[block][kind] = ms
    total = sum(result["times"].values()) or 1.0
    rows = []
    for block, by in sorted(blocks.items(), key=lambda kv: -sum(kv[1].values())):
        ms = sum(by.values())
        rows.append(
            [block, *(f"{by.get(k, 0.0):.2f}" for k in PASSES), f"{ms:.2f}", f"{ms / total:.0%}"]
        )
    rows.append(["all", *("" for _ in PASSES), f"{total:.2f}", "100%"])
    return text_table(["block", *PASSES, "ms", "share"], rows, left=1)


def main(argv=None) -> dict:
    """Profile the step, print the table, write the JSON.

    Returns:
        ``{"result": profile(...), "json": path}``.
    """
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/ethanol/train.xyz")
    )
    parser.add_argument("--model", choices=("mace", "nequip"), default="mace")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--lmax", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=20, help="profiled steps")
    parser.add_argument("--depth", type=int, default=2, help="flax scopes per block name")
    parser.add_argument(
        "--plan", default="default", help="kernel plan: 'default' or 'key=value,...'"
    )
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = parser.parse_args(argv)

    from equitens.data import SpeciesTable, read_extxyz

    configs = read_extxyz(args.data, index=f":{args.batch}")
    table = SpeciesTable.from_configurations(configs)
    batch, n, e = _batch(configs, table, args.cutoff, np.float32)
    config = {
        "name": args.model,
        "num_channels": args.channels,
        "lmax": args.lmax,
        "avg_num_neighbors": e / n,
        "cutoff": args.cutoff,
        "plan": {} if args.plan == "default" else args.plan,
    }
    model = build_model({"model": config}, table, np.zeros(len(table)))
    params = model.init(jax.random.PRNGKey(0), batch)
    optimizer = optax.adam(1e-3)
    step = jax.jit(train_step_fn(model, predict, optimizer))
    result = profile(step, (params, optimizer.init(params), batch), args.steps, args.depth)
    print(
        f"{args.model}: {len(configs)} frames, {n} nodes, {e} edges; C={args.channels} "
        f"lmax={args.lmax}; {args.steps} steps on {jax.default_backend()}",
        flush=True,
    )
    print(format_profile(result))
    print(
        f"step (median wall time, untraced): {result['step_ms']:.2f} ms; XLA operations not "
        f"attributed: {result['unattributed_ms']:.2f} ms"
    )
    records = [
        {"block": block, "pass": kind, "ms": ms} for (block, kind), ms in result["times"].items()
    ]
    path = write_json(
        records,
        args.out,
        name="profile_step",
        step_ms=result["step_ms"],
        unattributed_ms=result["unattributed_ms"],
        nodes=n,
        edges=e,
        **{k: v for k, v in vars(args).items() if k != "out"},
    )
    print(f"wrote {path}")
    return {"result": result, "json": str(path)}


if __name__ == "__main__":
    main()
