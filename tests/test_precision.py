"""One rule for float64: the library checks jax's x64 mode, only the command line switches it on."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from equitens.precision import enable_x64_for, run_dtype


def test_run_dtype_names_and_numpy_dtypes():
    assert run_dtype("float32") is np.float32
    assert run_dtype(np.float32) is np.float32
    assert run_dtype("float64") is np.float64  # the test session runs in x64 mode
    with pytest.raises(ValueError, match="'float32' or 'float64'"):
        run_dtype("bfloat16")


def test_float64_without_x64_is_refused_with_how_to_switch_it_on():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="jax_enable_x64.*JAX_ENABLE_X64=1"):
            run_dtype("float64")
        assert run_dtype("float32") is np.float32
        assert not jax.config.jax_enable_x64  # checking never switches the mode on


def test_build_model_follows_the_same_rule():
    from equitens.models import build_model

    config = {"dtype": "float64", "model": {"name": "mace", "num_channels": 4, "lmax": 1}}
    with jax.enable_x64(False), pytest.raises(ValueError, match="jax_enable_x64"):
        build_model(config, (1, 8), np.zeros(2))


def test_enable_x64_for_switches_on_for_float64_only():
    with jax.enable_x64(False):
        enable_x64_for("float32")
        assert not jax.config.jax_enable_x64
    with pytest.raises(ValueError, match="'float32' or 'float64'"):
        enable_x64_for("float16")
