"""The floating dtype of a run, and jax's 64-bit (x64) mode.

A configuration's ``dtype`` is ``"float32"`` (the default) or ``"float64"``. jax makes 64-bit
arrays only in its x64 mode, a process-wide switch that also changes the default dtype of every
later ``jnp`` call (``jnp.zeros(3)`` becomes float64, integer indices become int64). So there is
one rule:

- **the library never switches x64 on by itself**: :func:`run_dtype`, the one check used by
  ``equitens.models.build_model``, ``equitens.train.train``,
  ``equitens.train.evaluate_checkpoint`` and ``EquitensCalculator.from_checkpoint``, raises a
  ``ValueError`` that says how to switch it on when float64 is asked for without it. In your own
  program: ``jax.config.update("jax_enable_x64", True)`` at start-up, before creating arrays, or
  ``JAX_ENABLE_X64=1`` in the environment;
- **the command line switches it on for you**: ``equitens train | evaluate | md`` own their
  process, so they call :func:`enable_x64_for` with the run's dtype at start-up.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["DTYPES", "enable_x64_for", "run_dtype"]

DTYPES = {"float32": np.float32, "float64": np.float64}
"""The dtypes a run can use, by name."""


def _name(dtype: Any) -> str:
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return name


def run_dtype(dtype: Any) -> type:
    """The numpy dtype of a run's ``dtype`` setting, checked against jax's x64 mode.

    Args:
        dtype: ``"float32"`` or ``"float64"`` (or the numpy dtype).

    Returns:
        ``np.float32`` or ``np.float64``.

    Raises:
        ValueError: for another dtype, or for float64 while jax's x64 mode is off (the message
            says how to switch it on; equitens never does it behind your back).

    Examples:
        >>> run_dtype("float32").__name__
        'float32'
        >>> run_dtype("float16")
        Traceback (most recent call last):
        ...
        ValueError: dtype must be 'float32' or 'float64', got 'float16'
    """
    name = _name(dtype)
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype float64 needs jax's 64-bit mode, which equitens does not switch on by itself "
            "(it changes the default dtypes of the whole process): call "
            "jax.config.update('jax_enable_x64', True) at the start of your program, or set "
            "JAX_ENABLE_X64=1 in the environment (the equitens command line does it for you)"
        )
    return DTYPES[name]


def enable_x64_for(dtype: Any) -> None:
    """Switch jax's x64 mode on when ``dtype`` is float64 (for programs: the command line).

    Call it at start-up, before any array is created; float32 leaves the mode as it is.

    Args:
        dtype: ``"float32"`` or ``"float64"`` (or the numpy dtype).

    Examples:
        >>> enable_x64_for("float32")  # nothing to do
    """
    if _name(dtype) == "float64":
        jax.config.update("jax_enable_x64", True)
