"""Tensor products: one static spec, pure kernels per method, e3nn-jax-compatible functions."""

from equitens.tp import cg as _cg  # noqa: F401  (registers the "cg" method)
from equitens.tp import gaunt as _gaunt  # noqa: F401  (registers gaunt_grid, gaunt_fourier, vector_gaunt)
from equitens.tp.functional import elementwise_tensor_product, tensor_product
from equitens.tp.interaction import InteractionForm, fused_interaction
from equitens.tp.plan import DEFAULT_PLAN, Plan, as_plan
from equitens.tp.registry import (
    LAYOUTS,
    available_methods,
    method_layouts,
    register_method,
    tensor_product_kernel,
)
from equitens.tp.spec import CHANNEL_MODES, Path, TensorProductSpec

__all__ = [
    "CHANNEL_MODES",
    "DEFAULT_PLAN",
    "InteractionForm",
    "LAYOUTS",
    "Path",
    "Plan",
    "TensorProductSpec",
    "as_plan",
    "available_methods",
    "elementwise_tensor_product",
    "fused_interaction",
    "method_layouts",
    "register_method",
    "tensor_product",
    "tensor_product_kernel",
]
