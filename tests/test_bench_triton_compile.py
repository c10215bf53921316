"""The Triton compile check of the fused interaction (benchmarks/triton_compile.py): the kernels
are captured from a CUDA lowering on this CPU machine, and compile to a cubin where the
``triton`` package is installed."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import triton_compile as bench

TINY = dict(C=4, N=5, E=13)  # channels are padded to 16 in the kernels: one warp


def test_every_pass_kernel_is_captured_once_with_its_launch_options():
    from jax._src.pallas.triton import pallas_call_registration as registration

    original = registration.lowering.lower_jaxpr_to_triton_module
    kernels = list(bench.interaction_kernels("cg", 1, **TINY).values())
    assert registration.lowering.lower_jaxpr_to_triton_module is original  # the hook is undone
    # one kernel per slot of the CG form: the output g (the forward) and x, y, w (derivatives);
    # the double backward reuses the first-derivative kernels
    assert sorted(k["kernel"][-1] for k in kernels) == ["0", "1", "2", "3"]
    by_modes = sorted(tuple(k["modes"]) for k in kernels)
    assert by_modes == [("fwd", "fwd+bwd", "double")] + [("fwd+bwd", "double")] * 3
    for k in kernels:
        assert k["ir"].startswith("module @") and "tt.func public" in k["ir"]
        assert (k["num_warps"], k["num_stages"]) == (1, 1)


def test_without_triton_the_records_say_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # import triton raises ImportError
    out = tmp_path / "triton.json"
    argv = ["--methods", "so2", "--L", "1", "--channels", "4", "--nodes", "5", "--edges", "13"]
    result = bench.main([*argv, "--out", str(out)])
    records = json.loads(out.read_text())["records"]
    assert records == result["records"] and len(records) == 5  # the five slots of the so2 form
    assert all(r["status"].startswith("not compiled: triton does not import") for r in records)
    assert all("ir" not in r and r["lines"] > 10 for r in records)


def test_each_kernel_compiles_to_a_cubin_for_sm90():
    pytest.importorskip("triton", reason="the Triton compiler is an optional developer tool")
    for record in bench.interaction_kernels("so2", 1, **TINY).values():
        result = bench.compile_kernel(record, arch=90)
        assert result["status"] == "ok", result["status"]
        assert 0 < result["registers"] <= 255 and result["stack_bytes"] == 0
