"""The persistent compilation cache (:mod:`equitens.compilation_cache`) and its command-line use.

The real promise is across processes: a second process that compiles the same program loads it
from the directory the first one wrote, and computes the same numbers. Checked with two
subprocesses (jax's own monitoring event for a cache hit, and the results). The rest runs in this
process and restores jax's settings afterwards.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache as jax_cache

from equitens import cli
from equitens.compilation_cache import (
    ENVIRONMENT_VARIABLE,
    cache_directory,
    enable_compilation_cache,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A program that takes a moment to compile (min_compile_time 0 saves it anyway), run in a fresh
# process: it prints whether jax reported a persistent-cache hit, and the result.
_PROGRAM = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp
    from equitens.compilation_cache import enable_compilation_cache

    hits = []
    jax.monitoring.register_event_listener(
        lambda event, **kw: hits.append(event) if event.endswith("/cache_hits") else None)
    directory = enable_compilation_cache()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

    @jax.jit
    def f(x, w):
        for _ in range(8):
            x = jnp.tanh(x @ w)
        return x.sum()

    x = jnp.linspace(0.0, 1.0, 64).reshape(8, 8)
    value = float(f(x, x.T / 4))
    print(json.dumps({"directory": str(directory), "hits": len(hits), "value": value}))
    """
)


def _run(cache: pathlib.Path) -> dict:
    env = dict(os.environ, **{ENVIRONMENT_VARIABLE: str(cache)})
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def restore_jax_cache():
    """Put jax's cache settings back as they were (this process shares them with other tests)."""
    directory = jax.config.jax_compilation_cache_dir
    min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    yield
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_time)
    jax_cache.reset_cache()


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"
    first = _run(cache)
    assert first["directory"] == str(cache)
    assert first["hits"] == 0
    saved = sorted(p.name for p in cache.iterdir())
    assert saved, "the first process saved nothing"
    second = _run(cache)
    assert second["hits"] >= 1, "the second process compiled again instead of loading"
    assert second["value"] == first["value"]
    assert sorted(p.name for p in cache.iterdir()) == saved  # nothing new to save


def test_the_directory_comes_from_the_environment_or_the_user_cache():
    assert cache_directory({ENVIRONMENT_VARIABLE: "/scratch/xla"}) == pathlib.Path("/scratch/xla")
    assert cache_directory({ENVIRONMENT_VARIABLE: " ~/xla "}) == pathlib.Path.home() / "xla"
    for off in ("off", "OFF", "0", "false", "no", "none"):
        assert cache_directory({ENVIRONMENT_VARIABLE: off}) is None
    assert cache_directory({"XDG_CACHE_HOME": "/data/c"}) == pathlib.Path("/data/c/equitens/jax")
    home_default = pathlib.Path.home() / ".cache" / "equitens" / "jax"
    assert cache_directory({}) == home_default
    assert cache_directory({ENVIRONMENT_VARIABLE: "", "XDG_CACHE_HOME": " "}) == home_default


def test_off_leaves_jax_alone(monkeypatch, restore_jax_cache):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "off")
    jax.config.update("jax_compilation_cache_dir", None)
    assert enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir is None


def test_a_directory_is_created_for_its_owner_only(tmp_path, monkeypatch, restore_jax_cache):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, str(tmp_path / "from_env"))
    jax.config.update("jax_compilation_cache_dir", None)
    target = tmp_path / "a" / "b"
    assert enable_compilation_cache(target) == target  # the argument before the environment
    assert jax.config.jax_compilation_cache_dir == str(target)
    assert target.stat().st_mode & 0o077 == 0
    assert not (tmp_path / "from_env").exists()


def test_jax_own_setting_is_kept(tmp_path, restore_jax_cache):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    assert enable_compilation_cache(tmp_path / "other") == tmp_path / "mine"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
    assert not (tmp_path / "other").exists()


def test_an_unusable_directory_warns_and_leaves_the_cache_off(tmp_path, restore_jax_cache):
    jax.config.update("jax_compilation_cache_dir", None)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match=f"stays off.*{ENVIRONMENT_VARIABLE}"):
        assert enable_compilation_cache(blocker / "cache") is None
    assert jax.config.jax_compilation_cache_dir is None


def test_the_command_line_switches_it_on_and_says_where(
    tmp_path, monkeypatch, capsys, restore_jax_cache
):
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, str(tmp_path / "cli"))
    cli._start("float64")  # the suite runs in x64 already: this switches nothing else
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cli")
    assert f"compilation cache: {tmp_path / 'cli'}" in capsys.readouterr().out
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "off")
    cli._start("float64")
    assert "compilation cache: off" in capsys.readouterr().out
    assert jax.config.jax_compilation_cache_dir is None
