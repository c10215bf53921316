"""The examples of docs/guide/edge_convolution.md run and print what the page says they print."""

from __future__ import annotations

from tests._docs import GUIDE, check_examples, expected_output, python_blocks

PAGE = GUIDE / "edge_convolution.md"


def test_examples_run_and_print_what_the_page_says():
    blocks = python_blocks(PAGE)
    assert blocks and sum(len(expected_output(b)) for b in blocks) >= 2
    check_examples(PAGE)
