"""The registry of tensor-product methods: ``method`` string -> kernel factory.

Every family registers a factory that turns a :class:`~equitens.tp.spec.TensorProductSpec` into
a pure function of arrays: ``"cg"`` (:mod:`equitens.tp.cg`), ``"gaunt_grid"``,
``"gaunt_fourier"`` and ``"vector_gaunt"`` (:mod:`equitens.tp.gaunt`). The edge-convolution
families (``"so2"``, ``"cp"``, ...) have their own registry, :mod:`equitens.conv.interface`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from equitens.tp.plan import Plan, as_plan

__all__ = ["register_method", "available_methods", "check_method", "tensor_product_kernel"]

_FACTORIES: dict[str, Callable] = {}


def register_method(name: str, factory: Callable) -> None:
    """Register a kernel family under a ``method`` name.

    Args:
        name: the ``method`` string users pass (e.g. ``"cg"``).
        factory: ``factory(spec, plan) -> kernel`` with ``kernel(x1, x2, weights)`` and ``plan``
            a :class:`~equitens.tp.plan.Plan` (the options of the family it reads); it may raise
            a ``ValueError`` when it cannot evaluate a spec (paths or parities it cannot reach).

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


def tensor_product_kernel(spec, plan: Plan | None = None) -> Callable:
    """The kernel of a spec: a pure, jit-compatible function of plain arrays.

    ``kernel(x1, x2, weights=None) -> out`` with ``x1: (..., irreps_in1.dim)``,
    ``x2: (..., irreps_in2.dim)`` in e3nn's mul_ir layout, and ``out: (..., irreps_out.dim)``;
    leading dimensions broadcast. ``weights`` is ``(..., spec.weight_numel)``: per sample (leading
    dimensions broadcast with the inputs', e.g. per-edge weights) or shared (shape
    ``(weight_numel,)``), for every weighted mode. The output dtype is the inputs' dtype.

    Args:
        spec: a :class:`~equitens.tp.spec.TensorProductSpec` (hashable; kernels are cached
            per spec and plan).
        plan: how the kernel runs (chunking, algorithm; :class:`~equitens.tp.plan.Plan`, a
            mapping of its fields or a ``"key=value,..."`` string). Default: the backend-aware
            default plan, chunked for the CPU cache on CPU and unchunked on GPU/TPU.

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
    return _kernel(spec, as_plan(plan))


@functools.cache
def _kernel(spec, plan: Plan) -> Callable:
    return _FACTORIES[spec.method](spec, plan)
