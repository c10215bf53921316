"""Test configuration shared by tests/ and the doctests in equitens/.

Exactness checks run in float64, so x64 is enabled before any array is created.

A test or doctest that reaches a feature of an optional extra which is not installed (the
feature raises :class:`equitens.extras.MissingExtraError`) is reported as skipped, with the
install command as the reason, instead of failing.
"""

import doctest

import jax
import pytest

from equitens.extras import MissingExtraError

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
