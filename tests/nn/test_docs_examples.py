"""The examples of docs/guide/modules.md run and print what the page says they print."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
from itertools import pairwise

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide" / "modules.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def _expected_output(block: str) -> list[str]:
    """The ``# ...`` comment lines that directly follow a ``print(...)`` line."""
    lines = block.splitlines()
    expected = []
    for previous, line in pairwise(lines):
        if previous.lstrip().startswith("print(") and line.startswith("# "):
            expected.append(line[2:])
    return expected


def test_the_page_has_examples():
    assert len(_blocks()) >= 5
    assert sum(len(_expected_output(b)) for b in _blocks()) >= 5


def test_examples_run_and_print_what_the_page_says():
    namespace: dict = {}  # later blocks may use names defined earlier on the page
    for index, block in enumerate(_blocks()):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(block, f"{PAGE.name}, block {index}", "exec"), namespace)
        assert buffer.getvalue().splitlines() == _expected_output(block), f"block {index}"
