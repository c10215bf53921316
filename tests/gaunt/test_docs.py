"""The examples of docs/guide/gaunt.md and docs/guide/analysis.md run and print what they say."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
from itertools import pairwise

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide"


def _blocks(page: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def _expected_output(block: str) -> list[str]:
    """The ``# ...`` lines that follow ``print(...)`` lines (or a ``print`` inside a block)."""
    lines = block.splitlines()
    expected = []
    for previous, line in pairwise(lines):
        if "print(" in previous and line.startswith("# "):
            expected.append(line[2:])
    return expected


@pytest.mark.parametrize("name", ["gaunt.md", "analysis.md"])
def test_examples_run_and_print_what_the_page_says(name):
    page = DOCS / name
    blocks = _blocks(page)
    assert blocks
    namespace: dict = {}
    for index, block in enumerate(blocks):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(block, f"{name}, block {index}", "exec"), namespace)
        assert buffer.getvalue().splitlines() == _expected_output(block), f"{name}, block {index}"
