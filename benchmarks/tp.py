"""Microbenchmark of the tensor-product families against e3nn-jax.

Run ``python -m benchmarks.tp --help``. For every (method, workload, L) the harness

1. builds the inputs (float32) and the e3nn-jax reference,
2. **verifies** that each candidate gives non-empty, finite output equal to e3nn-jax's (forward,
   first gradients and second gradients, float32 tolerance; ``--check64`` adds a float64 check on a
   small batch), and skips the timing of anything that does not match,
3. times forward, forward+backward and double backward under ``jax.jit`` (median of repeats after
   warm-up), with compile time and peak memory, through :mod:`benchmarks.timing`,
4. prints a table of ratios (e3nn-jax time / candidate time) and GFLOP/s, and writes
   ``tp.json`` and ``tp.png`` into ``--out``.

Candidates are every method of :func:`equitens.tp.registry.available_methods` (a new family that
registers its kernel there is benchmarked with no change here) plus the baselines of
:data:`BASELINES` (e3nn-jax, and cuequivariance-jax's pure-JAX path when it is installed).
Workloads are the entries of :data:`WORKLOADS`. ``--plan`` (repeatable: ``--plan default --plan
chunk=none``) runs every equitens method under each :class:`~equitens.tp.plan.Plan`; a method under
a plan other than the default is named ``method@plan`` in the tables and the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
from benchmarks._workloads import DEFAULT_PLAN_LABEL, plan_labels, plan_of
from equitens.tp.registry import available_methods, tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

MODES = tuple(timing.MODES)
"""What is timed: the forward pass, forward + gradients w.r.t. all inputs, and the gradient of a
scalar function of those gradients (as in training on forces); see :mod:`benchmarks.timing`."""

Fn = Callable[[jax.Array, jax.Array, jax.Array | None], jax.Array]


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


def natural_irreps(lmax: int, mul: int = 1) -> e3nn.Irreps:
    """``mul x 0e + mul x 1o + mul x 2e + ...`` up to ``lmax`` (the parity of spherical harmonics).

    Args:
        lmax: the largest degree.
        mul: the multiplicity of every degree.

    Returns:
        The irreps.

    Example:
        >>> natural_irreps(2, 4)
        4x0e+4x1o+4x2e
    """
    return e3nn.Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark configuration: inputs, the spec of each method, the useful work.

    Attributes:
        workload: the workload's name.
        L: the degree parameter.
        spec: ``spec(method) -> TensorProductSpec`` for an equitens method (may raise ValueError
            when a family cannot serve the workload).
        inputs: ``(x, y, w)`` float32 arrays; ``w`` is None for unweighted workloads.
        flops: useful FLOPs of one forward pass over the whole batch (from the CG spec).
    """

    workload: str
    L: int
    spec: Callable[[str], TensorProductSpec]
    inputs: tuple[jax.Array, jax.Array, jax.Array | None]
    flops: int


def _uvu_spec(L: int, method: str, channels: int) -> TensorProductSpec:
    irreps_x = natural_irreps(L, channels)
    return TensorProductSpec.channelwise(irreps_x, natural_irreps(L), irreps_x, method=method)


def _full_spec(L: int, method: str) -> TensorProductSpec:
    return TensorProductSpec.full(natural_irreps(L), natural_irreps(L), method=method)


def _random(key: int, shape: tuple[int, ...], dtype) -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(key), shape, dtype)


def uvu_problem(L: int, batch: int = 4096, channels: int = 32, dtype=jnp.float32) -> Problem:
    """NequIP/MACE message: ``channels x (0e + 1o + ... + L)`` (x) SH to ``L``, per-edge weights.

    Args:
        L: the largest degree of the features and of the spherical harmonics.
        batch: the number of edges.
        channels: the multiplicity of every degree of the features.
        dtype: the dtype of the inputs.

    Returns:
        The problem; the output irreps are the features' irreps (channelwise "uvu" paths).

    Example:
        >>> p = uvu_problem(1, batch=8, channels=2)
        >>> [None if a is None else a.shape for a in p.inputs]
        [(8, 8), (8, 4), (8, 8)]
    """
    spec = _uvu_spec(L, "cg", channels)
    x = _random(0, (batch, spec.irreps_in1.dim), dtype)
    # unit vectors' spherical harmonics, as in a real message
    vectors = _random(1, (batch, 3), dtype)
    y = e3nn.spherical_harmonics(
        natural_irreps(L), vectors, normalize=True, normalization="component"
    ).array
    w = _random(2, (batch, spec.weight_numel), dtype)
    return Problem("uvu", L, lambda m: _uvu_spec(L, m, channels), (x, y, w), spec.flops * batch)


def full_problem(L: int, batch: int = 10_000, dtype=jnp.float32) -> Problem:
    """The "Price of Freedom" workload: single-channel ``0..L (x) 0..L -> 0..2L``, all paths.

    Args:
        L: the largest input degree.
        batch: the number of samples.
        dtype: the dtype of the inputs.

    Returns:
        The problem (no weights).

    Example:
        >>> full_problem(1, batch=4).inputs[0].shape
        (4, 4)
    """
    spec = _full_spec(L, "cg")
    x = _random(0, (batch, spec.irreps_in1.dim), dtype)
    y = _random(1, (batch, spec.irreps_in2.dim), dtype)
    return Problem("full", L, lambda m: _full_spec(L, m), (x, y, None), spec.flops * batch)


@dataclasses.dataclass(frozen=True)
class Workload:
    """A family of problems indexed by ``L``.

    Attributes:
        name: the ``--workloads`` name.
        description: one line for the table and the JSON.
        make: ``make(L, batch) -> Problem``.
        batch: the default batch size.
    """

    name: str
    description: str
    make: Callable[[int, int], Problem]
    batch: int


WORKLOADS: dict[str, Workload] = {
    "uvu": Workload(
        "uvu",
        "channelwise 32x(0..L) (x) SH(0..L) -> 32x(0..L), per-edge weights, 4096 edges",
        lambda L, batch: uvu_problem(L, batch),
        4096,
    ),
    "full": Workload(
        "full",
        "full TP 1x(0..L) (x) 1x(0..L) -> 0..2L, batch 10000",
        lambda L, batch: full_problem(L, batch),
        10_000,
    ),
}


# --------------------------------------------------------------------------------------------
# Candidates: equitens methods (from the registry) and baselines
# --------------------------------------------------------------------------------------------


def equitens_fn(problem: Problem, method: str, plan: str = DEFAULT_PLAN_LABEL) -> Fn:
    """The kernel of an equitens method for a problem.

    Args:
        problem: the configuration.
        method: a registered tensor-product method.
        plan: a ``--plan`` label: ``"default"`` or ``"key=value,..."`` (a
            :class:`~equitens.tp.plan.Plan`).

    Returns:
        ``f(x, y, w) -> out`` (raises ValueError if the family cannot serve the problem).
    """
    kernel = tensor_product_kernel(problem.spec(method), plan_of(plan))
    return lambda x, y, w: kernel(x, y, w)


def _e3nn_legacy_uvu(problem: Problem) -> Fn:
    from e3nn_jax.legacy import FunctionalTensorProduct

    spec = problem.spec("cg")
    irreps = [i.to_e3nn() for i in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)]
    instructions = [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in spec.paths]
    tp = FunctionalTensorProduct(*irreps, instructions)

    def one(x, y, w):
        return tp.left_right(
            w, e3nn.IrrepsArray(irreps[0], x), e3nn.IrrepsArray(irreps[1], y)
        ).array

    return jax.vmap(one)


def _e3nn_tp_uvu(problem: Problem) -> Fn:
    """MACE-jax's way: ``e3nn.tensor_product`` (all channel pairs), per-edge weights, summed."""
    spec = problem.spec("cg")
    irreps_x, irreps_y, irreps_out = (
        i.to_e3nn() for i in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
    )
    # e3nn's output blocks, in its order: loops (i1, i2, ir3), then a stable sort by irrep
    blocks = [
        (i1, i2, ir3)
        for i1, (_, ir1) in enumerate(irreps_x)
        for i2, (_, ir2) in enumerate(irreps_y)
        for ir3 in ir1 * ir2
        if ir3 in [ir for _, ir in irreps_out]
    ]
    blocks = [blocks[i] for i in sorted(range(len(blocks)), key=lambda i: blocks[i][2])]
    path_of = {}
    for n, p in enumerate(spec.paths):
        ir = spec.irreps_out[p.i_out].ir
        path_of[(p.i_in1, p.i_in2, ir.l, ir.p)] = (n, p)
    slices = spec.weight_slices()
    plan = []  # (weight slice, factor, output index) per e3nn block
    for i1, i2, ir3 in blocks:
        n, path = path_of[(i1, i2, ir3.l, ir3.p)]
        # e3nn's blocks carry sqrt(2 l3 + 1) ("component"); the spec's coefficient replaces it
        plan.append((slices[n], path.coefficient / math.sqrt(ir3.dim), path.i_out))

    def f(x, y, w):
        t = e3nn.tensor_product(
            e3nn.IrrepsArray(irreps_x, x),
            e3nn.IrrepsArray(irreps_y, y),
            filter_ir_out=irreps_out,
            regroup_output=False,
        )
        outputs: list[Any] = [0.0] * len(irreps_out)
        for (sl, factor, k), chunk in zip(plan, t.chunks, strict=True):
            outputs[k] = outputs[k] + chunk * (factor * w[:, sl])[:, :, None]
        return jnp.concatenate([o.reshape(o.shape[0], -1) for o in outputs], axis=-1)

    return f


def _e3nn_full(problem: Problem) -> Fn:
    spec = problem.spec("cg")
    irreps_x, irreps_y = spec.irreps_in1.to_e3nn(), spec.irreps_in2.to_e3nn()

    def f(x, y, w):
        del w
        return e3nn.tensor_product(
            e3nn.IrrepsArray(irreps_x, x), e3nn.IrrepsArray(irreps_y, y)
        ).array

    return f


def _cueq_uvu(problem: Problem) -> Fn:  # pragma: no cover - cuequivariance is not installed here
    """cuequivariance-jax's pure-JAX ("naive") path for the channelwise product.

    Its channelwise descriptor writes one output block per path (not summed) in its own
    normalization, so the result is summed into e3nn's blocks here; the verification step checks
    it like every other candidate and skips it if it does not match.
    """
    import cuequivariance as cue
    import cuequivariance_jax as cuex

    spec = problem.spec("cg")
    irreps_x, irreps_y = (cue.Irreps("O3", str(i)) for i in (spec.irreps_in1, spec.irreps_in2))
    poly = cue.descriptors.channelwise_tensor_product(
        irreps_x, irreps_y, cue.Irreps("O3", str(spec.irreps_out))
    )
    poly = poly.squeeze_modes().flatten_coefficient_modes()

    def f(x, y, w):
        w = w.reshape(w.shape[0], -1)
        (out,) = cuex.segmented_polynomial(
            poly.polynomial,
            [w, x, y],
            [jax.ShapeDtypeStruct((x.shape[0], poly.outputs[0].dim), x.dtype)],
            method="naive",
        )
        return out

    return f


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A reference implementation from another library.

    Attributes:
        name: the name in tables (``e3nn...`` names are the e3nn-jax references).
        build: ``{workload: build(problem) -> f(x, y, w)}``.
        available: whether its library can be imported.
        exact: whether its output is expected to match e3nn-jax exactly (else it is only
            checked for non-empty finite output, and marked so in the JSON).
    """

    name: str
    build: dict[str, Callable[[Problem], Fn]]
    available: Callable[[], bool] = lambda: True
    exact: bool = True


def _importable(name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            __import__(name)
        except ImportError:
            return False
        return True

    return check


BASELINES: dict[str, Baseline] = {
    "e3nn": Baseline("e3nn", {"uvu": _e3nn_legacy_uvu, "full": _e3nn_full}),
    "e3nn-tp": Baseline("e3nn-tp", {"uvu": _e3nn_tp_uvu}),
    "cueq": Baseline("cueq", {"uvu": _cueq_uvu}, _importable("cuequivariance_jax"), exact=False),
}
"""Baselines by name. ``"e3nn"`` is the reference every candidate is verified against: e3nn-jax's
legacy ``FunctionalTensorProduct`` (vmapped) for "uvu" and ``e3nn_jax.tensor_product`` for "full".
``"e3nn-tp"`` is the MACE-jax formulation of "uvu" (``e3nn_jax.tensor_product`` then weights)."""


# --------------------------------------------------------------------------------------------
# Modes: forward, forward + backward, double backward
# --------------------------------------------------------------------------------------------


def make_mode(f: Fn, mode: str, weighted: bool) -> Callable:
    """Wrap ``f`` for a mode with :data:`benchmarks.timing.MODES`.

    Args:
        f: ``f(x, y, w) -> out``.
        mode: one of :data:`MODES`.
        weighted: whether ``w`` is an input (then gradients include it).

    Returns:
        A function of ``(x, y, w)`` (or ``(x, y)`` if unweighted): the output for ``"fwd"``, the
        gradients of ``|out|^2 / 2`` w.r.t. every input for ``"fwd+bwd"``, and the gradients of
        ``|first gradients|^2 / 2`` for ``"double"`` (as when training on forces).
    """
    g = f if weighted else (lambda x, y: f(x, y, None))
    return timing.MODES[mode](g, (0, 1, 2) if weighted else (0, 1))


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


compare = timing.compare
"""``compare(result, reference, rtol) -> (ok, worst relative error, reason)``: see
:func:`benchmarks.timing.compare` (shared with the other benchmarks)."""


def _smoke(result) -> tuple[bool, float, str]:
    leaves = jax.tree.leaves(result)
    if not leaves or any(np.asarray(a).size == 0 for a in leaves):
        return False, math.inf, "empty output"
    if not all(np.all(np.isfinite(np.asarray(a))) for a in leaves):
        return False, math.inf, "non-finite output"
    return True, math.nan, "smoke check only (layout/normalization differ from e3nn)"


def check64(f: Fn, reference: Fn, problem: Problem, size: int = 64) -> tuple[bool, float, str]:
    """Float64 comparison of a candidate with the reference on the first ``size`` samples.

    Args:
        f: the candidate.
        reference: e3nn-jax's function.
        problem: the configuration (its float32 inputs are cast to float64).
        size: how many samples to compare.

    Returns:
        ``(ok, worst relative error, reason)`` with tolerance 1e-10 on the forward output.
    """
    inputs = [None if a is None else jnp.asarray(a[:size], jnp.float64) for a in problem.inputs]
    if inputs[0].dtype != jnp.float64:
        return False, math.inf, "float64 is disabled: run with JAX_ENABLE_X64=1 (--check64 sets it)"
    out, ref = jax.jit(f)(*inputs), jax.jit(reference)(*inputs)
    if out.dtype != jnp.float64:
        return False, math.inf, f"float64 inputs gave a {out.dtype} output"
    return compare(out, ref, 1e-10)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Record:
    """One timed (or skipped) configuration, as written to JSON."""

    workload: str
    L: int
    candidate: str
    mode: str
    time_s: float | None = None
    compile_s: float | None = None
    peak_bytes: int | None = None
    gflops: float | None = None
    verified: bool = False
    max_rel_err: float | None = None
    note: str = ""


def _tolerance(mode: str) -> float:
    # float32: the forward sums O(100) products; gradients of gradients accumulate more
    return {"fwd": 1e-4, "fwd+bwd": 2e-4, "double": 5e-4}[mode]


def run_config(
    problem: Problem,
    candidates: dict[str, tuple[Fn | None, bool, str]],
    modes: tuple[str, ...],
    repeats: int,
    x64_check: bool,
    log: Callable[[str], None],
) -> list[Record]:
    """Verify and time every candidate on one problem.

    Each candidate is compiled once (:func:`benchmarks.timing.compile_timed`), run once and
    compared with e3nn-jax's result of the same mode, and only then timed
    (:func:`benchmarks.timing.time_compiled`).

    Args:
        problem: the configuration.
        candidates: ``name -> (f or None, exact, note)``; ``"e3nn"`` comes first (the reference).
        modes: subset of :data:`MODES`.
        repeats: timed repetitions (median reported).
        x64_check: also compare forward outputs in float64.
        log: where progress lines go.

    Returns:
        The records.
    """
    reference_f = candidates["e3nn"][0]
    weighted = problem.inputs[2] is not None
    args = problem.inputs if weighted else problem.inputs[:2]
    records: list[Record] = []
    for mode in modes:
        reference_value = None
        for name, (f, exact, note) in candidates.items():
            record = Record(problem.workload, problem.L, name, mode, note=note)
            records.append(record)
            if f is None:
                continue
            try:
                compiled, record.compile_s = timing.compile_timed(
                    make_mode(f, mode, weighted), *args
                )
                value = jax.block_until_ready(compiled(*args))
            except Exception as error:  # reported, the run goes on
                record.note = f"failed: {type(error).__name__}: {error}"[:300]
                log(f"  {name:>10s} {mode:8s} {record.note}")
                continue
            if name == "e3nn":
                reference_value = value
                ok, err, why = _smoke(value)
                err, why = 0.0, "" if ok else why
            elif reference_value is None:
                ok, err, why = False, math.inf, "no reference (e3nn failed)"
            elif exact:
                ok, err, why = compare(value, reference_value, _tolerance(mode))
            else:
                ok, err, why = _smoke(value)
            if ok and x64_check and mode == "fwd" and name != "e3nn" and exact:
                ok, err64, why = check64(f, reference_f, problem)
                why = why if not ok else f"float64 max relative error {err64:.1e}"
            record.verified = ok
            record.max_rel_err = err if math.isfinite(err) else None
            record.note = "; ".join(s for s in (note, why) if s)
            if not ok:
                record.compile_s = None
                log(f"  {name:>10s} {mode:8s} NOT VERIFIED: {why}; not timed")
                continue
            times, _ = timing.time_compiled(compiled, *args, repeats=repeats)
            record.time_s = statistics.median(times)
            memory = timing.memory_analysis(compiled)
            record.peak_bytes = timing.Measurement(0, 0, 0, 0, 0, 0, memory).peak_bytes
            if mode == "fwd":
                record.gflops = problem.flops / record.time_s / 1e9
            log(
                f"  {name:>10s} {mode:8s} {record.time_s * 1e3:9.3f} ms  "
                f"compile {record.compile_s:6.2f} s"
                + (f"  {record.gflops:6.1f} GFLOP/s" if record.gflops else "")
                + (
                    f"  err {record.max_rel_err:.1e}"
                    if name != "e3nn" and record.max_rel_err is not None
                    else ""
                )
            )
    return records


def candidate_name(method: str, plan: str) -> str:
    """``method`` under the default plan, ``method@plan`` under another.

    Example:
        >>> candidate_name("cg", "default"), candidate_name("cg", "chunk=none")
        ('cg', 'cg@chunk=none')
    """
    return method if plan == DEFAULT_PLAN_LABEL else f"{method}@{plan}"


def candidates_for(
    problem: Problem,
    methods: list[str],
    baselines: list[str],
    plans: list[str] | None = None,
) -> dict[str, tuple[Fn | None, bool, str]]:
    """Build the candidate functions of one problem.

    Args:
        problem: the configuration.
        methods: equitens methods.
        baselines: baseline names (``"e3nn"`` is always added, first: it is the reference).
        plans: ``--plan`` labels; every method runs under each (default: the default plan).

    Returns:
        ``name -> (f or None when unavailable, exact, note)``.
    """
    out: dict[str, tuple[Fn | None, bool, str]] = {}
    for name in ["e3nn"] + [b for b in baselines if b != "e3nn"]:
        baseline = BASELINES[name]
        if problem.workload not in baseline.build:
            continue
        if not baseline.available():
            out[name] = (None, baseline.exact, "not installed")
            continue
        try:
            out[name] = (baseline.build[problem.workload](problem), baseline.exact, "")
        except Exception as error:  # reported in the table
            out[name] = (None, baseline.exact, f"failed to build: {error}"[:300])
    for method in methods:
        for plan in plans or [DEFAULT_PLAN_LABEL]:
            name = candidate_name(method, plan)
            try:
                out[name] = (equitens_fn(problem, method, plan), True, "")
            except ValueError as error:
                out[name] = (None, True, f"unsupported: {error}"[:300])
    return out


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def ratio_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per (workload, L, mode, candidate != e3nn*) with the ratio to the fastest e3nn-jax.

    Args:
        records: the run's records.

    Returns:
        Rows with keys ``workload, L, mode, candidate, time_ms, e3nn_ms, e3nn_variant, ratio,
        gflops, compile_s, e3nn_compile_s``.
    """
    rows = []
    keys = sorted(
        {(r.workload, r.L, r.mode) for r in records}, key=lambda k: (k[0], k[1], MODES.index(k[2]))
    )
    for key in keys:
        group = [r for r in records if (r.workload, r.L, r.mode) == key]
        refs = [r for r in group if r.candidate.startswith("e3nn") and r.time_s is not None]
        best = min(refs, key=lambda r: r.time_s) if refs else None
        for r in group:
            if r.candidate.startswith("e3nn"):
                continue
            rows.append(
                {
                    "workload": key[0],
                    "L": key[1],
                    "mode": key[2],
                    "candidate": r.candidate,
                    "time_ms": None if r.time_s is None else r.time_s * 1e3,
                    "e3nn_ms": None if best is None else best.time_s * 1e3,
                    "e3nn_variant": None if best is None else best.candidate,
                    "ratio": None if (best is None or r.time_s is None) else best.time_s / r.time_s,
                    "gflops": r.gflops,
                    "compile_s": r.compile_s,
                    "e3nn_compile_s": None if best is None else best.compile_s,
                    "note": r.note,
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Render the ratio rows as a fixed-width text table.

    Args:
        rows: from :func:`ratio_rows`.

    Returns:
        The table.
    """

    def num(value, width: int, digits: int) -> str:
        return "-".rjust(width) if value is None else f"{value:{width}.{digits}f}"

    width = max([10, *(len(r["candidate"]) for r in rows)])
    head = (
        f"{'workload':8s} {'L':>2s} {'mode':8s} {'method':{width}s} {'time ms':>10s} "
        f"{'e3nn ms':>10s} "
        f"{'e3nn/x':>7s} {'GFLOP/s':>8s} {'compile s':>9s} {'e3nn c s':>9s}  {'vs':8s} note"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['workload']:8s} {r['L']:2d} {r['mode']:8s} {r['candidate']:{width}s} "
            f"{num(r['time_ms'], 10, 3)} "
            f"{num(r['e3nn_ms'], 10, 3)} {num(r['ratio'], 7, 2)} {num(r['gflops'], 8, 1)} "
            f"{num(r['compile_s'], 9, 2)} {num(r['e3nn_compile_s'], 9, 2)}  "
            f"{(r['e3nn_variant'] or '-'):8s} {r['note'][:70]}"
        )
    return "\n".join(lines)


def plot(records: list[Record], path: str) -> None:
    """Time vs L per candidate (log scale), one panel per (workload, mode).

    Args:
        records: the run's records.
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r.workload for r in records})
    modes = [m for m in MODES if any(r.mode == m for r in records)]
    fig, axes = plt.subplots(
        len(workloads), len(modes), figsize=(4.2 * len(modes), 3.4 * len(workloads)), squeeze=False
    )
    for i, workload in enumerate(workloads):
        for j, mode in enumerate(modes):
            ax = axes[i][j]
            for name in sorted({r.candidate for r in records}):
                pts = sorted(
                    (r.L, r.time_s * 1e3)
                    for r in records
                    if (r.workload, r.mode, r.candidate) == (workload, mode, name)
                    and r.time_s is not None
                )
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        marker="o",
                        label=name,
                        linestyle="--" if name.startswith("e3nn") else "-",
                    )
            ax.set_yscale("log")
            ax.set_xticks(sorted({r.L for r in records}))
            ax.set_xlabel("L")
            ax.set_ylabel("time [ms]")
            ax.set_title(f"{workload}: {mode}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"tensor products on {jax.devices()[0].platform} ({jax.devices()[0].device_kind})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: arguments (None: ``sys.argv[1:]``).

    Returns:
        The options.
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tp", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="L = 1, 2, 5 repeats, e3nn baseline only: under 2 minutes on 2 CPU cores",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help=f"equitens methods (default: all registered, {','.join(available_methods())})",
    )
    parser.add_argument(
        "--baselines",
        default=None,
        help=f"baselines among {','.join(BASELINES)} (default all; quick: e3nn only); "
        "e3nn is always run",
    )
    parser.add_argument(
        "--plan",
        action="append",
        default=None,
        help="a kernel plan for the equitens methods: 'default' or 'key=value,...' (e.g. "
        "'chunk=none,cg_algorithm=dense'; see equitens.tp.plan.Plan); repeat the flag to compare "
        "plans (default: the default plan only)",
    )
    parser.add_argument("--workloads", default="uvu,full", help=f"among {','.join(WORKLOADS)}")
    parser.add_argument("--L", default=None, help="degrees, e.g. 1,2,3 (default 1..6, quick 1,2)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"among {','.join(MODES)}")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repetitions (default 10, quick 5)"
    )
    parser.add_argument(
        "--batch", type=int, default=None, help="override every workload's batch size"
    )
    parser.add_argument(
        "--check64",
        action="store_true",
        help="also verify forward outputs in float64 (enables x64)",
    )
    parser.add_argument(
        "--out", default="benchmarks/results", help="directory for tp.json and tp.png"
    )
    args = parser.parse_args(argv)
    args.methods = _csv(args.methods) if args.methods else list(available_methods())
    args.baselines = (
        _csv(args.baselines) if args.baselines else (["e3nn"] if args.quick else list(BASELINES))
    )
    args.workloads = _csv(args.workloads)
    try:
        args.plans = plan_labels(args.plan)
    except (ValueError, TypeError) as error:
        parser.error(f"--plan: {error}")
    args.modes = tuple(_csv(args.modes))
    args.L = (
        [int(v) for v in _csv(args.L)] if args.L else ([1, 2] if args.quick else [1, 2, 3, 4, 5, 6])
    )
    args.repeats = args.repeats or (5 if args.quick else 10)
    for name, given, known in (
        ("method", args.methods, available_methods()),
        ("baseline", args.baselines, BASELINES),
        ("workload", args.workloads, WORKLOADS),
        ("mode", args.modes, MODES),
    ):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; choose among {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``tp.json`` and ``tp.png``.

    Args:
        argv: command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        ``{"records", "ratios", "json", "png"}``: the records, the ratio rows and the paths written.
    """
    args = parse_args(argv)
    if args.check64:
        jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")  # no silent TF32 on GPUs
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    def log(line: str) -> None:
        print(line, flush=True)

    machine = timing.machine_info()
    log(
        f"tensor-product benchmark on {machine['backend']} "
        f"({', '.join(sorted(set(machine['devices'])))}), "
        f"jax {machine['jax']}, e3nn-jax {machine.get('e3nn_jax')}"
    )
    records: list[Record] = []
    for workload_name in args.workloads:
        workload = WORKLOADS[workload_name]
        for L in args.L:
            problem = workload.make(L, args.batch or workload.batch)
            log(
                f"{workload_name} L={L}: {problem.spec('cg')!r}".split(" | ")[0]
                + f" | {problem.flops / 1e9:.3f} GFLOP per forward"
            )
            candidates = candidates_for(problem, args.methods, args.baselines, args.plans)
            records += run_config(problem, candidates, args.modes, args.repeats, args.check64, log)

    rows = ratio_rows(records)
    table = format_table(rows)
    log("\n" + table)
    meta = {
        "arguments": dict(vars(args)),
        "workloads": {name: WORKLOADS[name].description for name in args.workloads},
        "ratios": rows,
        "wall_s": time.perf_counter() - start,
    }
    json_path = timing.write_json(
        [dataclasses.asdict(r) for r in records],
        os.path.join(args.out, "tp.json"),
        name="tp",
        **meta,
    )
    png_path = os.path.join(args.out, "tp.png")
    try:
        plot(records, png_path)
    except ImportError:
        log("matplotlib is not installed (pip install 'equitens[bench]'): no plot")
        png_path = None
    log(
        f"wrote {json_path}"
        + (f" and {png_path}" if png_path else "")
        + f" in {time.perf_counter() - start:.0f} s"
    )
    return {"records": records, "ratios": rows, "json": str(json_path), "png": png_path}


if __name__ == "__main__":
    main(sys.argv[1:])
