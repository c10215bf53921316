"""Smoke test of the tensor-product benchmark harness (benchmarks/tp.py): verifies, then times."""

from __future__ import annotations

import importlib.util
import json

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import tp as bench


def test_compare_catches_wrong_empty_and_non_finite_results():
    a = jnp.arange(1.0, 5.0)
    assert bench.compare(a, a, 1e-6)[0]
    assert bench.compare(a * (1 + 1e-7), a, 1e-6)[0]
    ok, err, why = bench.compare(a * 1.01, a, 1e-4)
    assert not ok and err == pytest.approx(0.01, rel=1e-5) and "relative error" in why
    assert "empty" in bench.compare(jnp.zeros(0), jnp.zeros(0), 1e-4)[2]
    assert "non-finite" in bench.compare(a.at[0].set(jnp.nan), a, 1e-4)[2]
    assert "shape" in bench.compare(a[:3], a, 1e-4)[2]
    assert "zero" in bench.compare(a, jnp.zeros(4), 1e-4)[2]


def test_workloads_have_the_issue_shapes():
    uvu = bench.uvu_problem(2, batch=8)
    x, y, w = uvu.inputs
    assert x.shape == (8, 32 * 9) and y.shape == (8, 9) and w.shape[0] == 8
    spec = uvu.spec("cg")
    assert spec.channel_mode == "uvu" and str(spec.irreps_out) == str(spec.irreps_in1)
    np.testing.assert_allclose(
        np.asarray(y[:, 0]), 1.0, rtol=1e-6
    )  # component-normalized SH, l = 0
    full = bench.full_problem(2, batch=8)
    assert full.inputs[2] is None
    assert max(ir.l for _, ir in full.spec("cg").irreps_out) == 4


def test_a_tiny_run_verifies_times_and_writes(tmp_path):
    result = bench.main(
        [
            "--workloads",
            "full",
            "--L",
            "1",
            "--modes",
            "fwd,fwd+bwd",
            "--batch",
            "32",
            "--repeats",
            "1",
            "--methods",
            "cg",
            "--baselines",
            "e3nn",
            "--out",
            str(tmp_path),
        ]
    )
    records = {(r.candidate, r.mode): r for r in result["records"]}
    for mode in ("fwd", "fwd+bwd"):
        assert records[("cg", mode)].verified and records[("cg", mode)].time_s > 0
        assert records[("e3nn", mode)].time_s > 0
    assert records[("cg", "fwd")].gflops > 0
    document = json.loads((tmp_path / "tp.json").read_text())
    assert len(document["records"]) == 4 and document["meta"]["ratios"][0]["ratio"] > 0
    if importlib.util.find_spec("matplotlib") is not None:  # the plot needs the "bench" extra
        assert (tmp_path / "tp.png").stat().st_size > 0
