"""The "cg" kernels in the ir_mul layout (``tensor_product_kernel(spec, plan, "ir_mul")``).

Oracles: e3nn-jax's ``elementwise_tensor_product`` (mul_ir) with the layouts converted by
``equitens.so3.layout``, the mul_ir kernels of every algorithm, and ``jax.test_util.check_grads``.
The unrolled algorithm of ``"uuu"`` products computes in ir_mul itself; every other kernel
converts the layouts around its mul_ir algorithm, and says so (``kernel.converts_layout``).
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from equitens.so3.layout import ir_mul_to_mul_ir, mul_ir_to_ir_mul
from equitens.tp import TensorProductSpec
from equitens.tp.plan import Plan
from equitens.tp.registry import method_layouts, tensor_product_kernel


def _rand(shape, seed):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype=jnp.float64)


def _spec(mode):
    if mode == "uuu":
        return TensorProductSpec.elementwise("3x0e + 3x1o + 3x2e", "3x1o + 3x2e + 3x0e")
    if mode == "uuu-weighted":
        return TensorProductSpec.elementwise(
            "2x0e + 2x1o + 2x2e", "2x1e + 2x1o + 2x0e", weighted=True
        )
    if mode == "uvu":
        return TensorProductSpec.channelwise("3x0e + 3x1o + 3x2e", "0e + 1o + 2e", "3x0e + 3x1o")
    if mode == "uvw":
        return TensorProductSpec.fully_connected("2x0e + 3x1o", "2x1o + 0e", "4x0e + 2x1o + 2x2e")
    return TensorProductSpec.full("2x0e + 2x1o", "1o + 2e")  # "uvuv"


def _ir_mul_call(kernel, spec, x1, x2, w):
    """The ir_mul kernel on mul_ir inputs, its output converted back to mul_ir."""
    out = kernel(mul_ir_to_ir_mul(x1, spec.irreps_in1), mul_ir_to_ir_mul(x2, spec.irreps_in2), w)
    return ir_mul_to_mul_ir(out, spec.irreps_out)


def _inputs(spec, seed=0, samples=7):
    x1 = _rand((samples, spec.irreps_in1.dim), seed)
    x2 = _rand((samples, spec.irreps_in2.dim), seed + 1)
    w = _rand((samples, spec.weight_numel), seed + 2) if spec.weighted else None
    return x1, x2, w


@pytest.mark.parametrize("mode", ["uuu", "uuu-weighted", "uvu", "uvw", "uvuv"])
@pytest.mark.parametrize("algorithm", ["sparse", "dense"])
def test_ir_mul_kernels_equal_the_mul_ir_kernels(mode, algorithm):
    spec = _spec(mode)
    plan = Plan(cg_algorithm=algorithm)
    kernel = tensor_product_kernel(spec, plan, "ir_mul")
    native = algorithm == "sparse" and spec.channel_mode == "uuu"
    assert kernel.converts_layout is not native
    x1, x2, w = _inputs(spec)
    reference = tensor_product_kernel(spec, plan)(x1, x2, w)
    ours = jax.jit(lambda a, b, c: _ir_mul_call(kernel, spec, a, b, c))(x1, x2, w)
    assert float(jnp.abs(reference).max()) > 1e-2
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


def test_ir_mul_elementwise_product_matches_e3nn():
    """An independent oracle: e3nn-jax's elementwise product, read in the ir_mul layout."""
    spec = _spec("uuu")
    x1, x2, _ = _inputs(spec, seed=3)
    expected = e3nn.elementwise_tensor_product(
        e3nn.IrrepsArray(spec.irreps_in1.to_e3nn(), x1),
        e3nn.IrrepsArray(spec.irreps_in2.to_e3nn(), x2),
    )
    assert spec.irreps_out.to_e3nn() == expected.irreps
    kernel = tensor_product_kernel(spec, Plan(cg_algorithm="sparse"), "ir_mul")
    out = kernel(mul_ir_to_ir_mul(x1, spec.irreps_in1), mul_ir_to_ir_mul(x2, spec.irreps_in2))
    np.testing.assert_allclose(out, mul_ir_to_ir_mul(expected.array, spec.irreps_out), atol=1e-12)


@pytest.mark.parametrize("mode", ["uuu", "uuu-weighted"])
def test_ir_mul_kernel_derivatives_match_finite_differences(mode):
    spec = _spec(mode)
    kernel = tensor_product_kernel(spec, Plan(cg_algorithm="sparse"), "ir_mul")
    assert not kernel.converts_layout
    args = tuple(a for a in _inputs(spec, seed=5, samples=5) if a is not None)
    check_grads(jax.jit(kernel), args, order=2, modes=["rev"], eps=1e-4)


def test_layouts_are_checked_with_a_clear_error():
    spec = _spec("uuu")
    with pytest.raises(ValueError, match="layout must be one of"):
        tensor_product_kernel(spec, None, "ir-mul")
    gaunt = TensorProductSpec.elementwise("2x0e + 2x1o", "2x1o + 2x0e", method="gaunt_grid")
    assert method_layouts("gaunt_grid") == ("mul_ir",)
    with pytest.raises(ValueError, match="has no 'ir_mul' kernels.*mul_ir_to_ir_mul"):
        tensor_product_kernel(gaunt, None, "ir_mul")
