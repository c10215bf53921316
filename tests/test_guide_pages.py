"""The ```python examples of the guide pages run and print what the pages say they print.

Every page of ``docs/guide`` with ```python blocks is run here or by the docs test of its part of
the library (``COVERED_ELSEWHERE``); a new page with examples fails the first test until it is
added to one of them. Each page runs with ``tests/_docs.py``: its blocks in order, in one
namespace, every ``print`` checked against the ``# ...`` lines after it. The pages run in a
temporary working directory (the training example writes ``runs/quick/``).
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest

from tests._docs import GUIDE, check_examples, expected_output, python_blocks

ROOT = pathlib.Path(__file__).resolve().parents[1]

COVERED_ELSEWHERE = {
    "analysis.md": "tests/gaunt/test_docs.py",
    "data.md": "tests/data/test_docs_examples.py",
    "edge_convolution.md": "tests/conv/test_edge_convolution_docs.py",
    "gaunt.md": "tests/gaunt/test_docs.py",
    "jax_md.md": "tests/models/test_jax_md.py",
    "modules.md": "tests/nn/test_docs_examples.py",
}
PAGES = [
    "clebsch_gordan.md",
    "irreps.md",
    "models.md",
    "plans.md",
    "rotations.md",
    "s2grid.md",
    "spherical_harmonics.md",
    "tensor_products.md",
    "training.md",
]


def test_every_guide_page_with_examples_is_run():
    with_examples = {page.name for page in GUIDE.glob("*.md") if python_blocks(page)}
    assert with_examples == set(PAGES) | set(COVERED_ELSEWHERE)
    for name, module in COVERED_ELSEWHERE.items():
        assert f'"{name}"' in (ROOT / module).read_text(), (name, module)


@pytest.mark.parametrize("name", PAGES)
def test_examples_run_and_print_what_the_page_says(name, tmp_path, monkeypatch):
    page = GUIDE / name
    blocks = python_blocks(page)
    assert blocks and sum(len(expected_output(block)) for block in blocks) >= 1
    monkeypatch.chdir(tmp_path)
    namespace = check_examples(page)
    if name == "s2grid.md":
        _check_the_benchmark_script(namespace["bench"])
    if name == "training.md":
        assert (tmp_path / "runs" / "quick" / "checkpoints" / "best.ckpt").is_file()


def _check_the_benchmark_script(bench):
    """The page's timing script (run from the shell with arguments), on a small batch."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        bench("2L", [2], batch=64, reps=1)
    (line,) = out.getvalue().splitlines()
    assert re.fullmatch(r"2 S2Grid\(n_beta=3, n_alpha=5\)( \d+\.\d\d){6}", line), line
