"""The examples of docs/guide/modules.md run and print what the page says they print."""

from __future__ import annotations

from tests._docs import GUIDE, check_examples, expected_output, python_blocks

PAGE = GUIDE / "modules.md"


def test_the_page_has_examples():
    blocks = python_blocks(PAGE)
    assert len(blocks) >= 5
    assert sum(len(expected_output(b)) for b in blocks) >= 5


def test_examples_run_and_print_what_the_page_says():
    check_examples(PAGE)  # later blocks may use names defined earlier on the page
