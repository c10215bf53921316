"""Compile every Triton kernel of the fused interaction for a GPU, on a machine without one.

Run ``python -m benchmarks.triton_compile [--methods cg,so2] [--L 1,2,3,4]`` from the repository
root, with the ``triton`` package installed (``pip install triton``; it is not a dependency of
equitens: jaxlib carries its own Triton, which only a CUDA jaxlib runs).

The interaction of :mod:`benchmarks.interaction` (``N`` nodes, ``E`` edges, ``C`` channels of
``0..L``) under ``Plan(interaction="pallas")`` is lowered for CUDA with ``jax.export`` in each mode
(fwd, fwd+bwd, double). Every Pallas kernel of those lowerings is captured as Triton IR text, as
jax hands it to XLA, and compiled by the ``triton`` package to a cubin for ``--arch`` (default
90, the H100/H200), with the ``num_warps`` and ``num_stages`` equitens asks for. The
``cuobjdump`` that ships with ``triton`` reads the cubin's registers per thread and its stack
frame (a Triton kernel has no local arrays: its stack holds the registers it spills).

What this shows before any GPU is lent: that each kernel compiles for the GPU (a kernel that
fails here would most likely fail for a user of ``interaction="pallas"`` on a GPU too), how long
that takes, and whether it spills. What it cannot show: the speed, and whether XLA's own Triton
(another version) agrees; the GPU run of ``benchmarks/gpu_issue10.sh`` does both. Without
``triton`` the kernels are still captured and counted, and each record says why it was not
compiled.

The JSON goes to ``benchmarks/results/triton_compile-<UTC time>.json``; one record per distinct
kernel: ``method``, ``L``, ``modes`` (the modes whose lowering holds it), ``kernel`` (its name),
``dtype`` (``--dtype``: float32, or float64 as the GPU tests run), ``status``, ``compile_s``,
``registers``, ``stack_bytes``, ``shared_bytes``, ``num_warps``, ``num_stages``, ``lines`` (of
the Triton IR).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks import timing
from benchmarks._workloads import irreps_string
from benchmarks.interaction import MODES, mode_fn
from equitens.conv import edge_convolution

TRITON_CALL = "__gpu$xla.gpu.triton"


@contextlib.contextmanager
def captured_triton_ir() -> Iterator[list[str]]:
    """Inside the block, each Pallas kernel jax lowers for a GPU is appended as Triton IR text.

    It wraps jax's (private) lowering of a Pallas kernel to a Triton module, the one step where
    the module exists as MLIR before it is serialised into the custom call.
    """
    from jax._src.pallas.triton import pallas_call_registration as registration

    lowering = registration.lowering
    original = lowering.lower_jaxpr_to_triton_module
    modules: list[str] = []

    def capture(*args: Any, **kwargs: Any):
        result = original(*args, **kwargs)
        modules.append(result.module.operation.get_asm(enable_debug_info=False))
        return result

    lowering.lower_jaxpr_to_triton_module = capture
    try:
        yield modules
    finally:
        lowering.lower_jaxpr_to_triton_module = original


def launch_options(exported_text: str) -> tuple[int, int]:
    """``(num_warps, num_stages)`` of the Triton calls of one lowering (one value each)."""
    pairs = set(re.findall(r"num_stages = (\d+) : i32, num_warps = (\d+) : i32", exported_text))
    if len(pairs) != 1:
        raise ValueError(f"expected one (num_stages, num_warps) in the lowering, found {pairs}")
    ((stages, warps),) = pairs
    return int(warps), int(stages)


def interaction_kernels(
    method: str, L: int, C: int, N: int, E: int, dtype: str = "float32"
) -> dict[str, dict]:
    """The distinct Triton kernels of the fused interaction, ``{ir hash: record}``."""
    irreps = irreps_string(L, C)
    conv = edge_convolution(irreps, irreps, L, method=method, plan="interaction=pallas")
    shape = jax.ShapeDtypeStruct
    args = (
        shape((N, conv.irreps_in.dim), dtype),
        shape((E, 3), dtype),
        shape((E, conv.weight_numel), dtype),
        shape((E,), jnp.int32),
        shape((E,), jnp.int32),
    )

    def forward(x, vectors, weights, senders, receivers):
        return conv.aggregate(x, senders, receivers, vectors, weights)

    kernels: dict[str, dict] = {}
    checks = [jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)]
    for mode in MODES:
        export = jax.export.export(
            jax.jit(mode_fn(forward, mode)), platforms=["cuda"], disabled_checks=checks
        )
        with captured_triton_ir() as modules:
            text = export(*args).mlir_module()
        if TRITON_CALL not in text or not modules:
            raise RuntimeError(f"{method} L={L} {mode}: the lowering holds no Triton kernel")
        warps, stages = launch_options(text)
        for ir in modules:
            key = hashlib.sha256(ir.encode()).hexdigest()[:16]
            if key not in kernels:
                name = re.search(r"tt\.func public @(\w+)", ir).group(1)
                kernels[key] = dict(method=method, L=L, C=C, dtype=dtype, kernel=name, modes=[])
                kernels[key].update(ir=ir, lines=ir.count("\n"), num_warps=warps, num_stages=stages)
            kernels[key]["modes"].append(mode)
    return kernels


def _cuobjdump_usage(cubin: bytes, tool_dir: str) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        usage = subprocess.run(
            [os.path.join(tool_dir, "cuobjdump"), "--dump-resource-usage", file.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    fields = dict(re.findall(r"(REG|STACK):(\d+)", usage))
    return {"registers": int(fields["REG"]), "stack_bytes": int(fields["STACK"])}


def compile_kernel(record: dict, arch: int) -> dict:
    """Compile one captured kernel with the ``triton`` package; the record's compile fields."""
    try:
        import triton
        from triton.backends.compiler import GPUTarget
    except ImportError as error:
        return {"status": f"not compiled: triton does not import ({error}); pip install triton"}
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # XLA's Triton fuses multiply-adds
    target = GPUTarget("cuda", arch, 32)
    options = {"num_warps": record["num_warps"], "num_stages": record["num_stages"]}
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"{record['kernel']}.ttir")
        with open(path, "w") as file:
            file.write(record["ir"])
        start = time.perf_counter()
        try:
            kernel = triton.compile(path, target=target, options=options)
        except Exception as error:  # the point of the script: report, go on with the next
            return {"status": f"FAILED: {type(error).__name__}: {str(error)[-800:]}"}
        seconds = time.perf_counter() - start
    tool_dir = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    usage = _cuobjdump_usage(kernel.asm["cubin"], tool_dir)
    return dict(status="ok", compile_s=seconds, shared_bytes=kernel.metadata.shared, **usage)


def format_table(records: list[dict]) -> str:
    header = "method  L  kernel                                   modes               status"
    header += "  compile s  regs  stack B"
    lines = [header]
    for r in records:
        ok = r["status"] == "ok"
        lines.append(
            f"{r['method']:<6} {r['L']:>2}  {r['kernel']:<40} {','.join(r['modes']):<19} "
            f"{'ok' if ok else r['status'][:40]:<6} "
            + (f"{r['compile_s']:>9.1f} {r['registers']:>5} {r['stack_bytes']:>8}" if ok else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="cg,so2", help="comma-separated (default cg,so2)")
    parser.add_argument("--L", default="1,2,3,4", help="comma-separated degrees (default 1..4)")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--arch", type=int, default=90, help="compute capability (default 90)")
    parser.add_argument("--out", default=None, help="JSON path")
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    with _fresh_triton_cache():
        records = _compile_all(args)
    print(format_table(records))
    compiled = sum(r["status"] == "ok" for r in records)
    failed = sum(r["status"].startswith("FAILED") for r in records)
    print(
        f"{len(records)} kernels: {compiled} compiled, {failed} failed to compile, "
        f"{len(records) - compiled - failed} not compiled"
    )
    saved = [{k: v for k, v in r.items() if k != "ir"} for r in records]
    path = timing.write_json(saved, args.out, name="triton_compile", **vars(args))
    print(f"wrote {path}")
    return {"records": saved, "json": str(path)}


@contextlib.contextmanager
def _fresh_triton_cache() -> Iterator[None]:
    """An empty Triton cache for the block (so compile times are real), then the user's again."""
    before = os.environ.get("TRITON_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRITON_CACHE_DIR"] = cache
        try:
            yield
        finally:
            if before is None:
                del os.environ["TRITON_CACHE_DIR"]
            else:
                os.environ["TRITON_CACHE_DIR"] = before


def _compile_all(args: argparse.Namespace) -> list[dict]:
    records = []
    for method in args.methods.split(","):
        for L in map(int, args.L.split(",")):
            found = interaction_kernels(
                method, L, args.channels, args.nodes, args.edges, args.dtype
            )
            for record in found.values():
                record.update(compile_kernel(record, args.arch))
                print(format_table([record]).splitlines()[1], flush=True)
                records.append(record)
    return records


if __name__ == "__main__":
    main()
