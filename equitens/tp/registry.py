"""The registry of tensor-product methods: ``method`` string -> kernel factory.

Every family (``"cg"`` here; Gaunt, CP, SO(2) later) registers a factory that turns a
:class:`~equitens.tp.spec.TensorProductSpec` into a pure function of arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["register_method", "available_methods", "check_method", "tensor_product_kernel"]

_FACTORIES: dict[str, Callable] = {}


def register_method(name: str, factory: Callable) -> None:
    """Register a kernel family under a ``method`` name.

    Args:
        name: the ``method`` string users pass (e.g. ``"cg"``).
        factory: ``factory(spec) -> kernel`` with ``kernel(x1, x2, weights)``; it may raise a
            ``ValueError`` when it cannot evaluate a spec (paths or parities it cannot reach).

    Examples:
        >>> "cg" in available_methods()
        True
    """
    _FACTORIES[name] = factory


def available_methods() -> tuple[str, ...]:
    """The registered ``method`` names.

    Returns:
        The names, sorted.

    Examples:
        >>> "cg" in available_methods()
        True
    """
    return tuple(sorted(_FACTORIES))


def check_method(method: str) -> None:
    """Raise a ``ValueError`` naming the alternatives if ``method`` is not registered.

    Args:
        method: the method name to check.

    Examples:
        >>> check_method("cg")
    """
    if method not in _FACTORIES:
        raise ValueError(
            f"unknown tensor-product method {method!r}; available methods: "
            f"{', '.join(repr(m) for m in available_methods())}"
        )


@functools.cache
def tensor_product_kernel(spec) -> Callable:
    """The kernel of a spec: a pure, jit-compatible function of plain arrays.

    ``kernel(x1, x2, weights=None) -> out`` with ``x1: (..., irreps_in1.dim)``,
    ``x2: (..., irreps_in2.dim)`` in e3nn's mul_ir layout, and ``out: (..., irreps_out.dim)``;
    leading dimensions broadcast. ``weights`` is ``(..., spec.weight_numel)``: per sample (leading
    dimensions broadcast with the inputs', e.g. per-edge weights) or shared (shape
    ``(weight_numel,)``), for every weighted mode. The output dtype is the inputs' dtype.

    Args:
        spec: a :class:`~equitens.tp.spec.TensorProductSpec` (hashable; kernels are cached).

    Returns:
        The kernel function.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.tp.spec import TensorProductSpec
        >>> spec = TensorProductSpec.full("1o", "1o")
        >>> kernel = tensor_product_kernel(spec)
        >>> kernel(jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])).shape
        (9,)
    """
    check_method(spec.method)
    return _FACTORIES[spec.method](spec)
