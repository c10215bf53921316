"""Run the ```python examples of a docs page and check that they print what the page says.

A page's examples promise their output as ``# ...`` comment lines directly after a ``print(...)``
line (indented too, e.g. inside a loop). The blocks of a page run in order in one namespace, so
later blocks may use names defined earlier on the page.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
from itertools import pairwise

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide"


def python_blocks(page: pathlib.Path) -> list[str]:
    """The ```python code blocks of a Markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def expected_output(block: str) -> list[str]:
    """The ``# ...`` comment lines that directly follow a ``print(...)`` line, without ``# ``."""
    return [
        line[2:]
        for previous, line in pairwise(block.splitlines())
        if previous.lstrip().startswith("print(") and line.startswith("# ")
    ]


def check_examples(page: pathlib.Path) -> None:
    """Run the page's blocks in one namespace; each must print exactly its expected output."""
    namespace: dict = {}
    for index, block in enumerate(python_blocks(page)):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(block, f"{page.name}, block {index}", "exec"), namespace)
        assert buffer.getvalue().splitlines() == expected_output(block), (
            f"{page.name}, block {index}"
        )
