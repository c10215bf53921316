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

__all__ = [
    "LAYOUTS",
    "register_method",
    "available_methods",
    "check_method",
    "method_layouts",
    "tensor_product_kernel",
]

LAYOUTS = ("mul_ir", "ir_mul")
"""The array layouts of irreps (:mod:`equitens.so3.layout`): e3nn's ``mul_ir`` and ``ir_mul``."""

_FACTORIES: dict[str, Callable] = {}
_LAYOUTS: dict[str, tuple[str, ...]] = {}


def register_method(name: str, factory: Callable, layouts: tuple[str, ...] = ("mul_ir",)) -> None:
    """Register a kernel family under a ``method`` name.

    Args:
        name: the ``method`` string users pass (e.g. ``"cg"``).
        factory: ``factory(spec, plan) -> kernel`` with ``kernel(x1, x2, weights)`` and ``plan``
            a :class:`~equitens.tp.plan.Plan` (the options of the family it reads); it may raise
            a ``ValueError`` when it cannot evaluate a spec (paths or parities it cannot reach).
            A family with kernels in other layouts than ``"mul_ir"`` takes ``layout=`` too.
        layouts: the layouts of the arrays its kernels take and return (``"mul_ir"`` first).

    Examples:
        >>> "cg" in available_methods()
        True
    """
    unknown = [layout for layout in layouts if layout not in LAYOUTS]
    if unknown or "mul_ir" not in layouts:
        raise ValueError(f"layouts must include 'mul_ir' and be among {LAYOUTS}, got {layouts}")
    _FACTORIES[name] = factory
    _LAYOUTS[name] = tuple(layouts)


def method_layouts(method: str) -> tuple[str, ...]:
    """The layouts a method's kernels take (``"mul_ir"``, and ``"ir_mul"`` for ``"cg"``).

    Examples:
        >>> method_layouts("cg")
        ('mul_ir', 'ir_mul')
    """
    check_method(method)
    return _LAYOUTS.get(method, ("mul_ir",))


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


def tensor_product_kernel(spec, plan: Plan | None = None, layout: str = "mul_ir") -> Callable:
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
        layout: the layout of ``x1``, ``x2`` and ``out``: ``"mul_ir"`` (e3nn's) or ``"ir_mul"``
            (each component contiguous over the channels; :func:`method_layouts` says which
            families have it).

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
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout not in method_layouts(spec.method):
        raise ValueError(
            f"method {spec.method!r} has no {layout!r} kernels (it has "
            f"{', '.join(map(repr, method_layouts(spec.method)))}); use layout='mul_ir' and "
            "convert with equitens.so3.layout.mul_ir_to_ir_mul / ir_mul_to_mul_ir"
        )
    return _kernel(spec, as_plan(plan), layout)


@functools.cache
def _kernel(spec, plan: Plan, layout: str) -> Callable:
    if layout == "mul_ir":
        return _FACTORIES[spec.method](spec, plan)
    return _FACTORIES[spec.method](spec, plan, layout=layout)
