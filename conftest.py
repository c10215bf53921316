"""Test configuration shared by tests/ and the doctests in equitens/.

Exactness checks run in float64, so x64 is enabled before any array is created.

A test or doctest that reaches a feature of an optional extra which is not installed (the
feature raises :class:`equitens.extras.MissingExtraError`) is reported as skipped, with the
install command as the reason, instead of failing.

The suite spends most of its time compiling, not running code (its programs are small and many).
Before JAX starts its backend, two compiler settings are added to ``XLA_FLAGS``: the classic loop
emitters instead of the newer fusion emitters, and no LLVM optimisation passes. They change how
XLA:CPU emits code, not the arithmetic it is asked for, and they took the suite from 1459-1596 s
to 839-976 s in CI on 2 cores (backend compile time 724 s with the LLVM setting alone, 361 s with
both). The results agree with a default build to rounding: ``tests/test_compile_settings.py``
checks that against a subprocess compiled with XLA's defaults. A flag already named in
``XLA_FLAGS`` is left as it is, so ``XLA_FLAGS="--xla_backend_optimization_level=3
--xla_cpu_use_fusion_emitters=true" pytest`` runs the suite as users compile.

The command line switches jax's persistent compilation cache on
(:mod:`equitens.compilation_cache`); the suite runs it in-process, so ``EQUITENS_COMPILATION_CACHE``
defaults to ``off`` here: tests write nothing under ``~/.cache`` and every compilation they time
or check is a real one (``tests/test_compilation_cache.py`` switches it on in temporary folders).

``pyproject.toml`` runs the suite in one process per core, at most four (pytest-xdist,
``--dist loadfile``: each test file stays in one process, so the programs its tests compile are
shared); on 2 cores that took the default suite from 720-810 s to 400 s. Each worker imports this
file, so the settings above hold in all of them.
"""

import doctest
import os

import jax
import pytest

from equitens.extras import MissingExtraError

FAST_COMPILE_FLAGS = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0")


def with_fast_compile(flags: str) -> str:
    """``flags`` plus each of :data:`FAST_COMPILE_FLAGS` whose name it does not already set."""
    names = {flag.split("=")[0] for flag in flags.split()}
    extra = [flag for flag in FAST_COMPILE_FLAGS if flag.split("=")[0] not in names]
    return " ".join([flags.strip(), *extra]).strip()


# Importing jax and equitens starts no backend; the first array does, and reads XLA_FLAGS then.
os.environ["XLA_FLAGS"] = with_fast_compile(os.environ.get("XLA_FLAGS", ""))
os.environ.setdefault("EQUITENS_COMPILATION_CACHE", "off")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or call.excinfo is None:
        return
    error = call.excinfo.value
    if isinstance(error, doctest.UnexpectedException):  # an exception inside a doctest
        error = error.exc_info[1]
    if isinstance(error, MissingExtraError):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {error}")
