"""The suite compiles with fast XLA settings (``conftest.py``): it must compute what users get.

The root ``conftest.py`` adds ``FAST_COMPILE_FLAGS`` to ``XLA_FLAGS`` (the classic loop emitters,
no LLVM optimisation passes), which took the suite from 1459-1596 s to 839-976 s in CI on 2
cores. Those settings change how XLA emits code, not the arithmetic it asks for, so results may
differ by rounding only. Checked here (``tests/_compile_check.py``): a MACE model (energy,
forces, stress and the parameter gradient of a force loss, so second order; on the CPU it runs
the XLA form of the fused interaction), the Pallas interaction in interpret mode (double
backward, L = 1) and the SO(3) core (spherical harmonics to l = 8, Wigner D to l = 4 with its
Jacobian), computed in this process and in a subprocess compiled with XLA's default settings,
agree to 1e-10.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

import conftest
from tests import _compile_check

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_fast_flags_are_added_once_and_never_override_a_flag_already_set():
    assert conftest.with_fast_compile("") == " ".join(conftest.FAST_COMPILE_FLAGS)
    mine = "--xla_backend_optimization_level=3 --xla_cpu_multi_thread_eigen=false"
    added = conftest.with_fast_compile(mine).split()
    assert added[:2] == mine.split()
    assert "--xla_backend_optimization_level=0" not in added
    assert "--xla_cpu_use_fusion_emitters=false" in added
    twice = conftest.with_fast_compile(conftest.with_fast_compile(""))
    assert twice == conftest.with_fast_compile("")
    # this session: every flag is named, by conftest.py or by whoever set XLA_FLAGS before it
    assert conftest.with_fast_compile(os.environ["XLA_FLAGS"]) == os.environ["XLA_FLAGS"]


def _default_flags() -> str:
    return " ".join(
        f for f in os.environ["XLA_FLAGS"].split() if f not in conftest.FAST_COMPILE_FLAGS
    )


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the flags are XLA:CPU settings")
def test_results_equal_those_compiled_with_xla_defaults(tmp_path):
    path = tmp_path / "default_flags.npz"
    script = "import sys, numpy, tests._compile_check as c; numpy.savez(sys.argv[1], **c.outputs())"
    env = {**os.environ, "XLA_FLAGS": _default_flags(), "JAX_PLATFORMS": "cpu"}
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, env=env, check=True)
    reference = dict(np.load(path))
    fast = _compile_check.outputs()
    assert sorted(fast) == sorted(reference)
    for key, value in fast.items():
        scale = np.abs(reference[key]).max()
        assert scale > 0, key  # a check of zeros could not fail
        np.testing.assert_allclose(
            value, reference[key], rtol=1e-10, atol=1e-12 * scale, err_msg=key
        )
