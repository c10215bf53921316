"""Tests of the mul_ir <-> ir_mul conversions and of the e3nn-jax interop helpers.

Oracles: an element-by-element numpy reference, and e3nn-jax's own ``IrrepsArray.chunks``
(``(..., mul, 2l+1)`` per term).
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from equitens.so3.irreps import Irreps
from equitens.so3.layout import from_e3nn, ir_mul_to_mul_ir, mul_ir_to_ir_mul, to_e3nn

IRREPS = [
    "",
    "0x1o",
    "0e",
    "5x0e",
    "0e + 1o + 2e",
    "3x1o",
    "2x0e + 3x1o + 0x2e + 2x2e + 1o",
    "4x2e + 3x0o + 2x3o + 1x1e",
    "16x0e + 8x1o + 4x2e + 2x3o",
]


def reference_ir_mul(x: np.ndarray, irreps: Irreps) -> np.ndarray:
    """Element by element: ir_mul[off + m * mul + u] = mul_ir[off + u * (2l+1) + m]."""
    out = np.empty_like(x)
    offset = 0
    for mul, ir in irreps:
        for u in range(mul):
            for m in range(ir.dim):
                out[..., offset + m * mul + u] = x[..., offset + u * ir.dim + m]
        offset += mul * ir.dim
    return out


def random_array(shape: tuple[int, ...], dtype=np.float64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("text", IRREPS)
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_against_reference_and_round_trip(text, lead):
    irreps = Irreps(text)
    x = random_array(lead + (irreps.dim,))
    y = mul_ir_to_ir_mul(x, irreps)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(y), reference_ir_mul(x, irreps))
    np.testing.assert_array_equal(np.asarray(ir_mul_to_mul_ir(y, irreps)), x)
    z = ir_mul_to_mul_ir(x, text)  # irreps given as a string
    np.testing.assert_array_equal(reference_ir_mul(np.asarray(z), irreps), x)
    np.testing.assert_array_equal(np.asarray(mul_ir_to_ir_mul(z, irreps)), x)


@pytest.mark.parametrize("text", IRREPS[4:])
def test_against_e3nn_chunks(text):
    irreps = Irreps(text)
    x = jnp.asarray(random_array((5, irreps.dim), seed=1))
    chunks = [
        jnp.swapaxes(chunk, -1, -2).reshape(5, -1)
        for chunk, (mul, _) in zip(e3nn.IrrepsArray(text, x).chunks, irreps, strict=True)
        if chunk is not None and mul > 0
    ]
    np.testing.assert_array_equal(mul_ir_to_ir_mul(x, irreps), jnp.concatenate(chunks, axis=-1))


def test_identical_layouts_are_returned_unchanged():
    for text in ["5x0e + 3x0o", "0e + 1o + 2e + 3o", "1o + 0x2e + 7x0e"]:
        x = jnp.asarray(random_array((2, Irreps(text).dim)))
        assert mul_ir_to_ir_mul(x, text) is x
        assert ir_mul_to_mul_ir(x, text) is x


def test_jit_vmap_and_dtypes():
    irreps = Irreps("3x0e + 2x1o + 4x2e")
    x = random_array((6, irreps.dim))
    expected = reference_ir_mul(x, irreps)
    f = jax.jit(mul_ir_to_ir_mul, static_argnums=1)
    np.testing.assert_array_equal(f(x, irreps), expected)
    np.testing.assert_array_equal(jax.vmap(lambda row: mul_ir_to_ir_mul(row, irreps))(x), expected)
    for dtype in (np.float32, np.float16, np.int32, np.complex64):
        y = mul_ir_to_ir_mul(x.astype(dtype), irreps)
        assert y.dtype == dtype
        np.testing.assert_array_equal(np.asarray(y), reference_ir_mul(x.astype(dtype), irreps))


def test_gradients_all_orders_and_no_scatter():
    irreps = Irreps("2x0e + 3x1o + 2x2e")
    x, t, w = (jnp.asarray(random_array((3, irreps.dim), seed=seed)) for seed in (2, 3, 4))
    for f, g in ((mul_ir_to_ir_mul, ir_mul_to_mul_ir), (ir_mul_to_mul_ir, mul_ir_to_ir_mul)):
        check_grads(jax.jit(lambda x, f=f: f(x, irreps) ** 2), (x,), order=1, modes=("fwd", "rev"))
        # The map is linear: its jvp is itself and its vjp is the inverse conversion, exactly.
        _, tangent = jax.jit(lambda x, t, f=f: jax.jvp(lambda y: f(y, irreps), (x,), (t,)))(x, t)
        np.testing.assert_array_equal(tangent, f(t, irreps))
        cotangent = jax.jit(lambda x, w, f=f: jax.vjp(lambda y: f(y, irreps), x)[1](w)[0])(x, w)
        np.testing.assert_array_equal(cotangent, g(w, irreps))
        # Second order, forward-over-reverse and reverse-over-reverse: sum(f(x)^3) = sum(x^3).

        def cube(v, f=f):
            return jnp.sum(f(v, irreps) ** 3)

        hessian = jax.jit(jax.hessian(cube))(x[0])
        np.testing.assert_allclose(hessian, np.diag(6 * np.asarray(x[0])), rtol=1e-14)
        grad_of_grad = jax.jit(jax.grad(lambda v, cube=cube: jnp.sum(jax.grad(cube)(v))))(x)
        np.testing.assert_allclose(grad_of_grad, 6 * x, rtol=1e-14)
        # The backward pass is transposes, not a scatter-add (the transpose of a gather).
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda x, f=f: jnp.vdot(f(x, irreps), w)))(x))
        assert "scatter" not in jaxpr and "transpose" in jaxpr


@pytest.mark.parametrize("function", [mul_ir_to_ir_mul, ir_mul_to_mul_ir, to_e3nn])
def test_shape_errors_state_expected_and_got(function):
    expected = r"expected an array of shape \(\.\.\., 9\) .* got shape \(4, 8\)"
    with pytest.raises(ValueError, match=expected):
        function(jnp.zeros((4, 8)), "3x0e + 2x1o")
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        function(jnp.zeros(()), "3x0e + 2x1o")
    with pytest.raises(ValueError, match=function.__name__):
        function(jnp.zeros(3), "0e")
    with pytest.raises(ValueError, match="invalid irrep"):
        function(jnp.zeros(3), "1o+2x")


def test_from_and_to_e3nn():
    irreps = Irreps("3x0e + 2x1o + 1x2e")
    x = jnp.asarray(random_array((4, irreps.dim)))
    wrapped = to_e3nn(x, irreps)
    assert isinstance(wrapped, e3nn.IrrepsArray)
    assert wrapped.irreps == e3nn.Irreps("3x0e + 2x1o + 1x2e")
    assert wrapped.array is x  # no copy
    array, back = from_e3nn(wrapped)
    assert array is x and back == irreps and type(back) is Irreps
    e3nn_array = e3nn.IrrepsArray("2x1o + 0e", jnp.arange(7.0))
    array, irreps = from_e3nn(e3nn_array)
    np.testing.assert_array_equal(array, jnp.arange(7.0))
    assert irreps == "2x1o + 0e"
    # from_e3nn works under jit (IrrepsArray is a pytree).
    doubled = jax.jit(lambda a: from_e3nn(a)[0] * 2)(e3nn_array)
    np.testing.assert_array_equal(doubled, 2 * jnp.arange(7.0))
    with pytest.raises(TypeError, match="expects an e3nn_jax.IrrepsArray"):
        from_e3nn(jnp.zeros(3))
