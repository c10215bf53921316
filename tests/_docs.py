"""Run the ```python examples of a docs page and check that they print what the page says.

A page's examples promise their output as ``# ...`` comment lines directly after a ``print(...)``
line (indented too, e.g. inside a loop): the run of such lines is the output of that ``print``,
one comment line per printed line. The blocks of a page run in order in one namespace (whose
``__name__`` is the page's name, not ``"__main__"``), so later blocks may use names defined
earlier on the page. What is checked is what the page's own ``print`` calls print; output the
library writes itself (e.g. the log of a training run) is not part of the promise.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "guide"


def python_blocks(page: pathlib.Path) -> list[str]:
    """The ```python code blocks of a Markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def expected_output(block: str) -> list[str]:
    """The ``# ...`` comment lines that directly follow a ``print(...)`` line, without ``# ``."""
    expected, after_print = [], False
    for line in block.splitlines():
        if after_print and line.startswith("# "):
            expected.append(line[2:])
            continue
        after_print = line.lstrip().startswith("print(")
    return expected


def check_examples(page: pathlib.Path) -> dict:
    """Run the page's blocks in one namespace; each must print exactly its expected output.

    Returns:
        The namespace, for checks of what the page defines.
    """
    namespace: dict = {"__name__": page.stem}
    for index, block in enumerate(python_blocks(page)):
        printed = io.StringIO()

        def page_print(*args, file=None, _printed=printed, **kwargs):
            print(*args, file=_printed if file is None else file, **kwargs)

        namespace["print"] = page_print  # the page's print, also inside functions it defines
        with contextlib.redirect_stdout(io.StringIO()):  # the library's own output, unchecked
            exec(compile(block, f"{page.name}, block {index}", "exec"), namespace)
        assert printed.getvalue().splitlines() == expected_output(block), (
            f"{page.name}, block {index}"
        )
    del namespace["print"]
    return namespace
