"""The README's example and test command are promises: check them."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

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
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found == command
    assert 'bash -c "$test_command"' in ci


def test_top_level_reexports_the_so3_core():
    import equitens
    import equitens.so3

    assert set(equitens.so3.__all__) <= set(dir(equitens))
    for name in equitens.so3.__all__:
        assert getattr(equitens, name) is getattr(equitens.so3, name)


def test_ci_installs_into_a_fresh_virtual_environment():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in ci and 'source "$venv/bin/activate"' in ci
    assert ci.index("activate") < ci.index("pip install")


def _optional_only_modules() -> set[str]:
    """Top-level modules of the optional extras that the core dependencies do not pull in."""
    import importlib.metadata as metadata
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core, stack = set(), [Requirement(r).name for r in project["dependencies"]]
    while stack:  # the installed closure of the core dependencies
        name = stack.pop().lower().replace("_", "-")
        if name in core:
            continue
        core.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        stack += [r.name for r in map(Requirement, requires) if r.marker is None]
    extras = {
        Requirement(r).name.lower().replace("_", "-")
        for group in project["optional-dependencies"].values()
        for r in group
    }
    owners = metadata.packages_distributions()  # module -> distributions
    modules = set()
    for dist in extras - core:
        found = {m for m, ds in owners.items() if dist in {d.lower().replace("_", "-") for d in ds}}
        modules |= found or {dist.replace("-", "_")}
    return modules


def test_default_import_path_needs_no_optional_extra():
    """Every module of the package imports with the optional extras made unimportable."""
    blocked = _optional_only_modules()
    assert {"tblite", "pytest", "mkdocs"} <= blocked
    script = f"""
import importlib, pkgutil, sys
blocked = {sorted(blocked)!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ImportError(f"optional extra {{name}} imported on the default path")
sys.meta_path.insert(0, Block())
import equitens, equitens.models, equitens.train
for info in pkgutil.walk_packages(equitens.__path__, "equitens."):
    importlib.import_module(info.name)
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
