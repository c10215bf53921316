"""The step profiler (benchmarks/profile_step.py): op_name parsing, and its smallest run end to
end, whose attributed times must cover the model's blocks in all three passes."""

from __future__ import annotations

import json

import pytest

from benchmarks import profile_step as bench
from tests.test_bench_model_step import data  # noqa: F401  (the two-frame data set fixture)


def test_blocks_and_passes_are_read_from_op_names():
    assert bench.block_and_pass("jit(step)/jvp(jvp(MACE))/product_0/product_0/dot") == (
        "product_0",
        "forward",
    )
    assert bench.block_and_pass(
        "jit(step)/transpose(jvp(transpose(jvp(NequIP))))/message_1/radial/w/dot_general"
    ) == ("message_1/radial", "double")
    assert bench.block_and_pass("jit(step)/jvp(MACE)/a/b/c/mul", depth=3) == ("a/b/c", "forward")
    assert bench.block_and_pass("opt_state[0].mu") == ("(step)", "forward")
    assert bench.op_names('ROOT %dot.2 = f32[] dot(%a), metadata={op_name="jit(f)/dot"}') == {
        "dot.2": "jit(f)/dot"
    }


@pytest.mark.parametrize("model", ["mace", "nequip"])
def test_smallest_profile_attributes_the_step_to_its_blocks(data, tmp_path, model):  # noqa: F811
    out = tmp_path / "profile.json"
    argv = ["--data", data, "--model", model, "--batch", "2", "--channels", "2", "--lmax", "1"]
    result = bench.main([*argv, "--steps", "2", "--out", str(out)])["result"]
    times = result["times"]
    blocks = {block for block, _ in times}
    assert {"message_0/radial", "message_1"} <= blocks, blocks
    if model == "mace":
        assert "product_0" in blocks
    for kind in bench.PASSES:
        assert sum(ms for (_, k), ms in times.items() if k == kind) > 0, kind
    attributed = sum(times.values())
    assert attributed > 0 and result["unattributed_ms"] < attributed
    assert result["step_ms"] > 0
    document = json.loads(out.read_text())
    assert sum(r["ms"] for r in document["records"]) == pytest.approx(attributed)
    assert document["meta"]["model"] == model
