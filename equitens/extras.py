"""Optional extras: a clear error when a feature needs a package that is not installed.

equitens's default install covers training, evaluation, MD and the benchmarks. A few features
need an optional extra (``pip install 'equitens[datagen]'`` for GFN2-xTB data generation); they
import it only when called and raise :class:`MissingExtraError` with the install command.

Example:
    >>> require("json", extra="none").__name__
    'json'
    >>> try:
    ...     require("no_such_module_xyz", extra="datagen", feature="generating data")
    ... except MissingExtraError as error:
    ...     print(error)
    generating data needs no_such_module_xyz; install it with: pip install 'equitens[datagen]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """A feature needs a package of an optional extra that is not installed."""


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install.

    Args:
        module: the module to import, e.g. ``"tblite.ase"``.
        extra: the equitens extra that installs it, e.g. ``"datagen"``.
        feature: what needs it, for the message (default: ``"this feature"``).

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.partition(".")[0]
        raise MissingExtraError(
            f"{feature or 'this feature'} needs {top}; "
            f"install it with: pip install 'equitens[{extra}]'"
        ) from error
