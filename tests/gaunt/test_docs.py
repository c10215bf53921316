"""The examples of docs/guide/gaunt.md and docs/guide/analysis.md run and print what they say."""

from __future__ import annotations

import pytest

from tests._docs import GUIDE, check_examples, python_blocks


@pytest.mark.parametrize("name", ["gaunt.md", "analysis.md"])
def test_examples_run_and_print_what_the_page_says(name):
    page = GUIDE / name
    assert python_blocks(page)
    check_examples(page)
