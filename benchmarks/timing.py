"""Small, reusable timing utilities for the equitens benchmarks.

What is measured, for a function ``fn`` and its arguments:

* **compile time**: ``jax.jit(fn).lower(*args).compile()``, timed once (tracing + XLA);
* **run time**: the compiled executable after ``warmup`` calls, ``repeats`` times, each call
  waited for with ``jax.block_until_ready``; reported as median, min and inter-quartile range.
  Very fast functions are called ``number`` times per repeat (chosen automatically) and the
  per-call time is reported;
* **memory**: from the compiled executable's ``memory_analysis()`` (argument, output, temporary
  and generated-code bytes; ``peak_bytes`` estimates argument + output + temp - aliased). ``None``
  where the backend does not report it.

``fwd``, ``fwd_bwd`` and ``double_bwd`` turn a function into the three workloads that matter for
interatomic potentials (energy, forces, training on forces); ``forces_double_bwd`` is the
training-on-forces workload of a message-passing layer (forces w.r.t. positions, gradients w.r.t.
features and weights). ``copy_bandwidth`` measures the device's memory bandwidth (the roofline of
memory-bound kernels), ``compare`` checks a result against a reference before anything is timed.
``write_json`` stores records with the machine's description under ``benchmarks/results/`` and
``print_table`` prints them with ratios against a baseline.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"

__all__ = [
    "Measurement",
    "compile_timed",
    "memory_analysis",
    "time_compiled",
    "benchmark",
    "measure_compiled",
    "fwd",
    "fwd_bwd",
    "double_bwd",
    "forces_double_bwd",
    "MODES",
    "copy_bandwidth",
    "compare",
    "machine_info",
    "write_json",
    "print_table",
]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Timing of one compiled function (all times in seconds).

    Attributes:
        median_s: median run time of one call.
        min_s: fastest call.
        iqr_s: inter-quartile range of the run times.
        repeats: number of timed repeats.
        number: calls per repeat (times are per call).
        compile_s: lower + compile time.
        memory: byte counts from ``memory_analysis`` or None.
    """

    median_s: float
    min_s: float
    iqr_s: float
    repeats: int
    number: int
    compile_s: float
    memory: dict[str, int] | None = None

    @property
    def peak_bytes(self) -> int | None:
        """Estimated peak device memory of one call: arguments + outputs + temporaries - aliased."""
        if self.memory is None:
            return None
        m = self.memory
        return m.get("argument", 0) + m.get("output", 0) + m.get("temp", 0) - m.get("alias", 0)

    def as_dict(self) -> dict[str, Any]:
        """The measurement as a JSON-ready dict (times in ms, compile in s)."""
        return {
            "median_ms": self.median_s * 1e3,
            "min_ms": self.min_s * 1e3,
            "iqr_ms": self.iqr_s * 1e3,
            "repeats": self.repeats,
            "number": self.number,
            "compile_s": self.compile_s,
            "peak_bytes": self.peak_bytes,
            "memory": self.memory,
        }


def compile_timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """Jit, lower and compile ``fn`` for ``args``; return the executable and the seconds it took."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def memory_analysis(compiled: Any) -> dict[str, int] | None:
    """Byte counts of a compiled executable, or None where the backend does not report them."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not implemented on every backend/version
        return None
    if stats is None:
        return None
    fields = {
        "argument": "argument_size_in_bytes",
        "output": "output_size_in_bytes",
        "temp": "temp_size_in_bytes",
        "alias": "alias_size_in_bytes",
        "generated_code": "generated_code_size_in_bytes",
    }
    out = {
        k: int(getattr(stats, a)) for k, a in fields.items() if getattr(stats, a, None) is not None
    }
    return out or None


def time_compiled(
    compiled: Callable[..., Any],
    *args: Any,
    repeats: int = 10,
    warmup: int = 2,
    min_repeat_s: float = 2e-3,
) -> tuple[list[float], int]:
    """Run times of ``compiled(*args)`` in seconds per call, after ``warmup`` calls.

    Calls shorter than ``min_repeat_s`` are grouped ``number`` at a time so that the Python
    dispatch overhead does not dominate; the returned times are per call.

    Returns:
        ``(times, number)``.
    """
    for _ in range(max(warmup, 1)):
        jax.block_until_ready(compiled(*args))
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    once = time.perf_counter() - start
    number = 1 if once >= min_repeat_s else min(1000, math.ceil(min_repeat_s / max(once, 1e-7)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            out = compiled(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - start) / number)
    return times, number


def _iqr(times: Sequence[float]) -> float:
    if len(times) < 2:
        return 0.0
    q = statistics.quantiles(times, n=4, method="inclusive")
    return q[2] - q[0]


def benchmark(
    fn: Callable[..., Any], *args: Any, repeats: int = 10, warmup: int = 2
) -> Measurement:
    """Compile ``jax.jit(fn)`` for ``args`` and time it.

    Args:
        fn: the function (jitted here; an already-jitted function is fine).
        *args: its arguments (arrays already on the device).
        repeats: timed repeats.
        warmup: untimed calls before timing.

    Returns:
        A ``Measurement``.
    """
    compiled, compile_s = compile_timed(fn, *args)
    return measure_compiled(compiled, compile_s, *args, repeats=repeats, warmup=warmup)


def measure_compiled(
    compiled: Any, compile_s: float, *args: Any, repeats: int = 10, warmup: int = 2
) -> Measurement:
    """Time an executable from :func:`compile_timed` (already run once, e.g. to verify it).

    Args:
        compiled: the executable.
        compile_s: the seconds its compilation took.
        *args: its arguments.
        repeats: timed repeats.
        warmup: untimed calls before timing.

    Returns:
        A ``Measurement``, with the executable's ``memory_analysis``.
    """
    times, number = time_compiled(compiled, *args, repeats=repeats, warmup=warmup)
    return Measurement(
        median_s=statistics.median(times),
        min_s=min(times),
        iqr_s=_iqr(times),
        repeats=repeats,
        number=number,
        compile_s=compile_s,
        memory=memory_analysis(compiled),
    )


def _sum_squares(tree: Any) -> jax.Array:
    return sum(0.5 * jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


def fwd(f: Callable[..., Any]) -> Callable[..., Any]:
    """The forward pass itself (for symmetry with ``fwd_bwd`` and ``double_bwd``)."""
    return f


def fwd_bwd(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Forward + backward: the gradient of ``sum(f(*args) ** 2) / 2`` w.r.t. ``argnums``."""
    return jax.grad(lambda *a: _sum_squares(f(*a)), argnums=argnums)


def double_bwd(f: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """Double backward, as when training on forces: the gradient of ``|grad|^2 / 2``.

    ``grad`` is ``fwd_bwd(f, argnums)``; the result is its gradient w.r.t. ``argnums``.
    """
    first = fwd_bwd(f, argnums)
    return jax.grad(lambda *a: _sum_squares(first(*a)), argnums=argnums)


def forces_double_bwd(
    f: Callable[..., Any], wrt: int = 1, argnums: int | tuple[int, ...] = (0, 2)
) -> Callable[..., Any]:
    """Training on forces: the gradient w.r.t. ``argnums`` of ``sum(F ** 2)``.

    ``F = d(sum(f(*args) ** 2) / 2) / d args[wrt]``: the "forces" of a toy energy w.r.t. the
    positions (edge vectors), differentiated w.r.t. the features and the weights, as a training
    step on forces does (second derivatives, once through the positions).
    """
    force = fwd_bwd(f, wrt)
    return jax.grad(lambda *a: jnp.sum(jnp.square(force(*a))), argnums=argnums)


MODES: dict[str, Callable[..., Callable[..., Any]]] = {
    "fwd": lambda f, argnums=0: fwd(f),
    "fwd+bwd": fwd_bwd,
    "double": double_bwd,
}
"""Workload name -> ``make(f, argnums)``."""


def copy_bandwidth(
    nbytes: int = 256 * 2**20, repeats: int = 10, dtype: Any = jnp.float32
) -> dict[str, float]:
    """The measured memory bandwidth of the default device: a jitted copy of a large array.

    Args:
        nbytes: size of the array copied (large enough to leave every cache).
        repeats: timed repeats (median reported).
        dtype: its dtype.

    Returns:
        ``{"bytes": bytes read + written per copy, "median_ms", "gbps": (read + written) / time
        in GB/s (1e9 bytes)}``.
    """
    size = max(1, nbytes // jnp.dtype(dtype).itemsize)
    a = jnp.ones((size,), dtype)
    m = benchmark(jnp.copy, a, repeats=repeats, warmup=1)
    moved = 2 * a.nbytes
    return {"bytes": moved, "median_ms": m.median_s * 1e3, "gbps": moved / m.median_s / 1e9}


def compare(result: Any, reference: Any, rtol: float) -> tuple[bool, float, str]:
    """Compare a candidate's result pytree with the reference's.

    Args:
        result: the candidate's output (array or tuple of arrays).
        reference: the reference's output, same structure.
        rtol: tolerance on ``max|a - b| / max|b|`` per leaf.

    Returns:
        ``(ok, worst relative error, reason if not ok)``.

    Example:
        >>> compare(jnp.ones(3), jnp.ones(3), 1e-6)
        (True, 0.0, '')
    """
    a_leaves, b_leaves = jax.tree.leaves(result), jax.tree.leaves(reference)
    if len(a_leaves) != len(b_leaves):
        return False, math.inf, f"{len(a_leaves)} outputs, expected {len(b_leaves)}"
    worst = 0.0
    for a, b in zip(a_leaves, b_leaves, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return False, math.inf, f"shape {a.shape}, expected {b.shape}"
        if a.size == 0:
            return False, math.inf, "empty output"
        if not np.all(np.isfinite(a)):
            return False, math.inf, "non-finite output"
        scale = np.max(np.abs(b))
        if scale == 0:
            return False, math.inf, "the reference is identically zero"
        worst = max(worst, float(np.max(np.abs(a - b)) / scale))
    if worst > rtol:
        return False, worst, f"max relative error {worst:.2e} > {rtol:.0e}"
    return True, worst, ""


def machine_info() -> dict[str, Any]:
    """Versions and hardware of this run (jax, jaxlib, e3nn-jax, device, CPU count, ...)."""
    info: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "x64": bool(jax.config.read("jax_enable_x64")),
        "backend": jax.default_backend(),
        "devices": [getattr(d, "device_kind", str(d)) for d in jax.devices()],
    }
    for name in ("jaxlib", "e3nn_jax", "numpy"):
        try:
            info[name] = __import__(name).__version__
        except Exception:  # optional
            pass
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = os.getloadavg()[0]
    return info


def write_json(
    records: Iterable[dict[str, Any]],
    path: str | os.PathLike[str] | None = None,
    name: str = "bench",
    **meta: Any,
) -> Path:
    """Write ``{"machine": ..., "meta": ..., "records": [...]}`` as JSON.

    Args:
        records: one dict per measurement.
        path: output file; default ``benchmarks/results/<name>-<UTC time>.json``.
        name: prefix of the default file name.
        **meta: anything else to store (arguments of the run, ...).

    Returns:
        The path written.
    """
    if path is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{name}-{stamp}.json"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine_info(), "meta": meta, "records": list(records)}
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return path


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def print_table(
    records: Sequence[dict[str, Any]],
    baseline: str,
    candidate: str,
    keys: Sequence[str] = ("benchmark", "case", "mode"),
    impl_key: str = "impl",
    file: Any = None,
) -> None:
    """Print one row per case: both implementations' median times and compile times, and ratios.

    ``speedup`` is baseline time / candidate time (above 1: the candidate is faster); ``compile x``
    is the same ratio for compile times.

    Args:
        records: dicts with the ``keys``, ``impl_key``, ``median_ms`` and ``compile_s`` fields.
        baseline: the implementation the ratios are taken against (e.g. ``"e3nn-jax"``).
        candidate: the implementation being measured (e.g. ``"equitens"``).
        keys: the fields that identify a case.
        impl_key: the field that names the implementation.
        file: where to print (default stdout).
    """
    rows: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in records:
        rows.setdefault(tuple(r.get(k) for k in keys), {})[r[impl_key]] = r
    header = [*keys, f"{candidate} ms", f"{baseline} ms", "speedup"]
    header += [f"{candidate} compile s", f"{baseline} compile s", "compile x"]
    lines = [header]
    for key, impls in rows.items():
        c, b = impls.get(candidate, {}), impls.get(baseline, {})
        ct, bt = c.get("median_ms"), b.get("median_ms")
        cc, bc = c.get("compile_s"), b.get("compile_s")
        lines.append(
            [
                *(str(k) for k in key),
                _fmt(ct, ".3f"),
                _fmt(bt, ".3f"),
                _fmt(bt / ct if ct and bt else None, ".2f"),
                _fmt(cc, ".2f"),
                _fmt(bc, ".2f"),
                _fmt(bc / cc if cc and bc else None, ".2f"),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        cells = (
            c.ljust(w) if j < len(keys) else c.rjust(w)
            for j, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        print("  ".join(cells), file=file)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=file)
