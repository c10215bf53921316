"""A persistent cache of compiled programs: a second run of the same model does not compile again.

jax compiles every jitted function for its shapes when it is first called, and XLA's compilation
of a potential's training step is slow: about a minute for an ``lmax = 3`` MACE on a CPU. jax can
save each compiled executable to a directory and load it in any later process that compiles the
same program with the same jax version, backend and flags (jax's *persistent compilation cache*:
the key is a hash of all of them, so a stale entry is never used). A rerun, a resumed run, an
``evaluate`` of the checkpoint and the MD of the trained model then skip their compilations.

As with jax's x64 mode (:mod:`equitens.precision`), **the library never switches it on by
itself**: the setting is process-wide and writes to disk. **The command line does**: ``equitens
train | evaluate | md`` call :func:`enable_compilation_cache` at start-up. In your own program,
call it once before the first compilation (e.g. before an ``EquitensCalculator`` runs MD).

Where the cache lives, in order:

1. jax's own setting, kept if there is one (``JAX_COMPILATION_CACHE_DIR`` in the environment, or
   ``jax.config.update("jax_compilation_cache_dir", ...)``);
2. the ``path`` argument;
3. ``EQUITENS_COMPILATION_CACHE`` in the environment: a directory, or ``off`` (also ``0``,
   ``false``, ``no``, ``none``) to leave the cache off;
4. ``$XDG_CACHE_HOME/equitens/jax`` (``~/.cache/equitens/jax`` by default).

Only compilations of at least a second are saved (jax's
``jax_persistent_cache_min_compile_time_secs``). The directory is created readable by its owner
only: jax runs what it loads from there, so never point it at a directory others can write to.
Delete the directory to empty the cache.

Examples:
    >>> cache_directory(environ={"XDG_CACHE_HOME": "/data/cache"})
    PosixPath('/data/cache/equitens/jax')
"""

from __future__ import annotations

import os
import pathlib
import warnings
from collections.abc import Mapping

import jax

__all__ = ["ENVIRONMENT_VARIABLE", "cache_directory", "enable_compilation_cache"]

ENVIRONMENT_VARIABLE = "EQUITENS_COMPILATION_CACHE"
"""The environment variable that names the cache directory, or ``off``."""

_OFF = ("off", "0", "false", "no", "none")


def cache_directory(environ: Mapping[str, str] | None = None) -> pathlib.Path | None:
    """The directory equitens would cache compiled programs in, from the environment.

    Args:
        environ: the environment (default ``os.environ``).

    Returns:
        ``EQUITENS_COMPILATION_CACHE`` when it names a directory, ``None`` when it is ``off``,
        else ``$XDG_CACHE_HOME/equitens/jax`` (``~/.cache/equitens/jax``).

    Examples:
        >>> cache_directory(environ={"EQUITENS_COMPILATION_CACHE": "/scratch/xla"})
        PosixPath('/scratch/xla')
        >>> cache_directory(environ={"EQUITENS_COMPILATION_CACHE": "off"}) is None
        True
    """
    environ = os.environ if environ is None else environ
    setting = environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return pathlib.Path(setting).expanduser()
    base = environ.get("XDG_CACHE_HOME", "").strip() or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base).expanduser() / "equitens" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Switch jax's persistent compilation cache on for this process (see the module docstring).

    Args:
        path: the cache directory (default: :func:`cache_directory`); jax's own setting, when
            it has one, is kept instead.

    Returns:
        The directory compiled programs are cached in, or ``None`` when the cache stays off
        (``EQUITENS_COMPILATION_CACHE=off``, or a directory that cannot be created or written:
        a warning then says which and how to fix it; nothing fails for want of a cache).

    Examples:
        >>> import tempfile, jax
        >>> before = jax.config.jax_compilation_cache_dir
        >>> jax.config.update("jax_compilation_cache_dir", mine := tempfile.mkdtemp())
        >>> enable_compilation_cache("/elsewhere") == pathlib.Path(mine)  # jax's own is kept
        True
        >>> jax.config.update("jax_compilation_cache_dir", before)
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return pathlib.Path(current)
    directory = pathlib.Path(path).expanduser() if path is not None else cache_directory()
    if directory is None:
        return None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK | os.X_OK)
    except OSError as error:
        writable, reason = False, str(error)
    else:
        reason = "it is not writable"
    if not writable:
        warnings.warn(
            f"the compilation cache stays off: cannot use {str(directory)!r} ({reason}); set "
            f"{ENVIRONMENT_VARIABLE} to a writable directory, or to 'off' to silence this",
            stacklevel=2,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    return directory
