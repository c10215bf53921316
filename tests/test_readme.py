"""The README's example and test command are promises: check them."""

from __future__ import annotations

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "README.md has no python example"
    exec(compile(blocks[0], "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command():
    command = "pip install -e '.[test]' && pytest"
    assert f"    {command}\n" in README
    ci = (ROOT / ".ci" / "run").read_text()
    extract = next(line for line in ci.splitlines() if line.startswith("test_command="))
    found = subprocess.run(
        ["bash", "-c", f'{extract}\nprintf "%s" "$test_command"'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert found == command
    assert 'bash -c "$test_command"' in ci


def test_top_level_reexports_the_so3_core():
    import equitens
    import equitens.so3

    assert set(equitens.so3.__all__) <= set(dir(equitens))
    for name in equitens.so3.__all__:
        assert getattr(equitens, name) is getattr(equitens.so3, name)
