"""Smoke tests of the interaction benchmark (benchmarks/interaction.py) and of the ``--plan`` flag
of the conv and tp benchmarks: tiny sizes, every case in this process where possible."""

from __future__ import annotations

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import interaction as bench

TINY = ["--isolate", "none", "--nodes", "6", "--edges", "24", "--channels", "2", "--L", "1"]
TINY += ["--repeats", "1", "--copy-mib", "1"]


def _run(tmp_path, *extra: str) -> tuple[dict, dict]:
    out = tmp_path / "interaction.json"
    result = bench.main([*TINY, *extra, "--out", str(out)])
    document = json.loads(out.read_text())
    assert result["json"] == str(out)
    return result, document


def test_a_tiny_run_checks_times_and_writes_every_case(tmp_path):
    x64 = jax.config.read("jax_enable_x64")
    _, document = _run(tmp_path, "--methods", "cg,so2,e3nn", "--modes", "fwd,double")
    assert jax.config.read("jax_enable_x64") == x64  # the in-process run restores the settings
    records = document["records"]
    assert {(r["impl"], r["mode"]) for r in records} == {
        (impl, mode) for impl in ("cg", "so2", "e3nn") for mode in ("fwd", "double")
    }
    for r in records:
        assert r["status"] == "ok", r
        assert r["check_ok"] and r["plan"] == "default" and r["L"] == 1
        assert r["median_ms"] > 0 and r["compile_s"] > 0 and r["iqr_ms"] >= 0
        assert r["bytes_min"] > 0 and r["gbps"] > 0
        assert (r["nodes"], r["edges"], r["channels"], r["dtype"]) == (6, 24, 2, "float32")
    by = {(r["impl"], r["mode"]): r for r in records}
    assert "vs cg (weights mapped)" in by[("so2", "fwd")]["check"]
    assert "vs cg" in by[("e3nn", "fwd")]["check"] and by[("e3nn", "fwd")]["check_err"] < 1e-4
    assert document["meta"]["copy_bandwidth"]["gbps"] > 0
    assert document["meta"]["plans"] == ["default"]
    assert document["machine"]["backend"] == jax.default_backend()


def _perturbed(scale_value: float, scale_gradient: float):
    """The cg interaction with its output (or only its gradients) off by a relative 1e-2."""

    def build(L, C, N, plan, options):
        cg = bench.IMPLEMENTATIONS["cg"](L, C, N, plan, options)

        def fn(x, v, w, s, r):
            # value x * scale_value, gradient w.r.t. x scaled by scale_gradient
            x = scale_gradient * x + (scale_value - scale_gradient) * jax.lax.stop_gradient(x)
            return cg.fn(x, v, w, s, r)

        return bench.Built(fn, cg.weight_numel, "cg", note="deliberately wrong")

    return build


def test_the_check_rejects_a_wrong_implementation_and_does_not_time_it(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.IMPLEMENTATIONS, "wrong", _perturbed(1.01, 1.01))
    monkeypatch.setitem(bench.IMPLEMENTATIONS, "wrong_grad", _perturbed(1.0, 1.01))
    _, document = _run(tmp_path, "--methods", "cg,wrong,wrong_grad", "--modes", "fwd,fwd+bwd")
    by = {(r["impl"], r["mode"]): r for r in document["records"]}
    assert by[("cg", "fwd")]["status"] == "ok"
    for key in (("wrong", "fwd"), ("wrong", "fwd+bwd"), ("wrong_grad", "fwd+bwd")):
        r = by[key]
        assert r["status"].startswith("check failed") and "relative error" in r["status"], r
        assert not r["check_ok"] and r["check_err"] > 1e-3 and "median_ms" not in r
    # a wrong gradient with an exact value passes the forward check: the check runs per mode
    assert by[("wrong_grad", "fwd")]["status"] == "ok"
    table = bench.format_table(document["records"], copy_gbps=10.0)
    assert "check failed" in table and "e3nn/x" in table


def test_plans_are_separate_rows(tmp_path):
    _, document = _run(
        tmp_path,
        *("--methods", "cg,cp,e3nn", "--modes", "fwd", "--plan", "default", "--plan", "chunk=none"),
    )
    rows = [(r["impl"], r["plan"]) for r in document["records"]]
    assert rows == [
        ("cg", "default"),
        ("cg", "chunk=none"),
        ("cp", "default"),
        ("cp", "chunk=none"),
        ("e3nn", "default"),  # e3nn-jax has no plan: once
    ]
    assert all(r["status"] == "ok" for r in document["records"])
    by = {row: r for row, r in zip(rows, document["records"], strict=True)}
    assert "vs cg" in by[("cg", "chunk=none")]["check"]  # the other plan against the default
    assert "vs cp_exact" in by[("cp", "chunk=none")]["check"]


@pytest.mark.skipif(
    importlib.util.find_spec("cuequivariance_jax") is None,
    reason="cuequivariance-jax not installed",
)
def test_cuequivariance_matches_cg_after_its_weights_are_mapped(tmp_path):
    _, document = _run(tmp_path, "--methods", "cue", "--modes", "fwd")
    (r,) = document["records"]
    assert r["status"] == "ok" and r["cue_method"] == "naive", r
    assert "vs cg (weights mapped)" in r["check"]


def test_minimal_bytes_and_bad_flags():
    a = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    idx = np.zeros(20, np.int32)
    inputs = (a(10, 4), a(20, 3), a(20, 8), idx, idx)
    read = 160 + 240 + 640 + 80 + 80
    assert bench.minimal_bytes("fwd", inputs, 160) == read + 160
    assert bench.minimal_bytes("fwd+bwd", inputs, 160) == read + 2 * 160 + 160 + 240 + 640
    assert bench.minimal_bytes("double", inputs, 160) == read + 160 + 640
    with pytest.raises(SystemExit):
        bench.parse_args(["--plan", "chunk=-3"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "nope"])
    small = bench.parse_args(["--small"])
    assert (small.nodes, small.edges, small.channels, small.L) == (500, 5000, 16, [1, 2])
    assert small.isolate == "impl" and bench.parse_args([]).isolate == "case"


def test_smoke_check_catches_non_finite_and_zero_outputs():
    assert bench.smoke(jnp.ones(3))[0]
    assert "non-finite" in bench.smoke(jnp.array([1.0, jnp.nan]))[2]
    assert "zero" in bench.smoke((jnp.ones(2), jnp.zeros(2)))[2]


def test_tp_and_conv_benchmarks_take_plans(tmp_path):
    from benchmarks import conv
    from benchmarks import tp as bench_tp

    result = bench_tp.main(
        ["--workloads", "full", "--L", "1", "--modes", "fwd", "--batch", "8", "--repeats", "1",
         "--methods", "cg", "--baselines", "e3nn", "--plan", "default", "--plan", "chunk=none",
         "--out", str(tmp_path)]
    )  # fmt: skip
    names = {r.candidate: r for r in result["records"]}
    assert names["cg"].verified and names["cg@chunk=none"].verified
    out = tmp_path / "conv.json"
    conv.main(
        ["--ls", "1", "--modes", "fwd", "--methods", "cg", "--edges", "16", "--channels", "2",
         "--repeats", "1", "--plan", "chunk=none", "--out", str(out)]
    )  # fmt: skip
    (record,) = json.loads(out.read_text())["records"]
    assert record["status"] == "ok" and record["plan"] == "chunk=none" and record["median_ms"] > 0
