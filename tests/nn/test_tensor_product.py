"""TensorProduct ("uvu") and FullyConnectedTensorProduct ("uvw") modules.

Oracle: e3nn-jax's legacy ``FunctionalTensorProduct`` with the same instructions, normalizations
and weights (the spec's flat weight layout is e3nn's).
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from e3nn_jax.legacy import FunctionalTensorProduct
from flax import nnx

from equitens.nn import linen as enn
from equitens.nn import nnx as ennx
from equitens.nn.tensor_product import apply_tensor_product, channelwise_spec, fully_connected_spec
from tests.nn._helpers import act, orthogonal_matrices, random_input

UVU_CASES = [
    # (irreps_in1, irreps_in2, irreps_out, path_normalization, irrep_normalization)
    ("4x0e + 4x1o", "0e + 1o + 2e", "4x0e + 4x1o + 4x2e", "element", "component"),
    ("3x0e + 3x1o", "2x0e + 2x1o", "3x0e + 3x1o + 3x1e", "path", "component"),  # mul2 > 1
    (
        "2x0o + 2x1e + 1x2o",
        "0e + 1o",
        "2x0o + 2x1o + 1x2e + 2x1e",
        "element",
        "norm",
    ),  # odd parities
]

UVW_CASES = [
    ("2x0e + 2x1o", "0e + 1o", "3x0e + 3x1o + 2x1e", "element", "component"),
    ("0o + 2x1e + 2o", "1o + 1e", "2x0e + 1x1o + 2x2e + 0o", "path", "norm"),
]


def _legacy(spec) -> FunctionalTensorProduct:
    irreps = [i.to_e3nn() for i in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)]
    instructions = [(p.i_in1, p.i_in2, p.i_out, spec.channel_mode, True) for p in spec.paths]
    return FunctionalTensorProduct(
        *irreps,
        instructions,
        path_normalization=spec.path_normalization,
        irrep_normalization=spec.irrep_normalization,
    )


def _legacy_apply(spec, x1, x2, w):
    tp = _legacy(spec)

    def one(a, b, c):
        return tp.left_right(
            c, e3nn.IrrepsArray(x1.irreps, a), e3nn.IrrepsArray(x2.irreps, b)
        ).array

    return jax.vmap(one, in_axes=(0, 0, 0 if w.ndim == 2 else None))(x1.array, x2.array, w)


@pytest.mark.parametrize("irreps1, irreps2, irreps_out, path_norm, irrep_norm", UVU_CASES)
def test_tensor_product_equal_to_e3nn_legacy(irreps1, irreps2, irreps_out, path_norm, irrep_norm):
    x1, x2 = random_input(irreps1, 0, (5,)), random_input(irreps2, 1, (5,))
    spec = channelwise_spec(
        x1.irreps, x2.irreps, e3nn.Irreps(irreps_out), path_norm, irrep_norm, "cg"
    )
    assert spec.channel_mode == "uvu" and spec.weight_numel > 0
    options = {"path_normalization": path_norm, "irrep_normalization": irrep_norm}
    # per-sample (per-edge) weights
    external = enn.TensorProduct(irreps_out, internal_weights=False, **options)
    w = jax.random.normal(jax.random.PRNGKey(2), (5, spec.weight_numel), jnp.float64)
    out = external.apply({}, x1, x2, w)
    assert out.irreps == e3nn.Irreps(irreps_out)
    np.testing.assert_allclose(out.array, _legacy_apply(spec, x1, x2, w), rtol=0, atol=1e-12)
    # internal (shared) weights
    module = enn.TensorProduct(irreps_out, param_dtype=jnp.float64, **options)
    params = module.init(jax.random.PRNGKey(3), x1, x2)
    assert params["params"]["w"].shape == (spec.weight_numel,)
    np.testing.assert_allclose(
        module.apply(params, x1, x2).array,
        _legacy_apply(spec, x1, x2, params["params"]["w"]),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("irreps1, irreps2, irreps_out, path_norm, irrep_norm", UVW_CASES)
def test_fully_connected_equal_to_e3nn_legacy(irreps1, irreps2, irreps_out, path_norm, irrep_norm):
    x1, x2 = random_input(irreps1, 0, (4,)), random_input(irreps2, 1, (4,))
    module = enn.FullyConnectedTensorProduct(
        irreps_out,
        path_normalization=path_norm,
        irrep_normalization=irrep_norm,
        param_dtype=jnp.float64,
    )
    params = module.init(jax.random.PRNGKey(0), x1, x2)
    spec = fully_connected_spec(
        x1.irreps, x2.irreps, e3nn.Irreps(irreps_out), path_norm, irrep_norm, "cg"
    )
    assert spec.channel_mode == "uvw"
    w = params["params"]["w"]
    assert w.shape == (spec.weight_numel,) and w.dtype == jnp.float64
    out = module.apply(params, x1, x2)
    assert out.irreps == e3nn.Irreps(irreps_out)
    np.testing.assert_allclose(out.array, _legacy_apply(spec, x1, x2, w), rtol=0, atol=1e-12)


def test_broadcasting_of_leading_axes():
    x1 = random_input("2x0e + 2x1o", 0, (3, 1))
    x2 = random_input("0e + 1o", 1, (1, 4))
    spec = channelwise_spec(
        x1.irreps, x2.irreps, e3nn.Irreps("2x0e + 2x1o"), "element", "component", "cg"
    )
    w = jax.random.normal(jax.random.PRNGKey(2), (spec.weight_numel,), jnp.float64)
    out = apply_tensor_product(spec, x1, x2, w)
    assert out.shape == (3, 4, x1.irreps.dim)
    expected = apply_tensor_product(spec, x1[1, 0], x2[0, 2], w)
    np.testing.assert_allclose(out.array[1, 2], expected.array, rtol=0, atol=1e-13)


@pytest.mark.parametrize("which", ["uvu", "uvw"])
def test_equivariance(which):
    x1, x2 = random_input("2x0e + 2x1o + 2x2e", 0, (3,)), random_input("0e + 1o + 2e", 1, (3,))
    if which == "uvu":
        irreps_out = e3nn.Irreps("2x0e + 2x1o + 2x2e + 2x1e")
        module = enn.TensorProduct(irreps_out, internal_weights=False)
        spec = channelwise_spec(x1.irreps, x2.irreps, irreps_out, "element", "component", "cg")
        w = jax.random.normal(jax.random.PRNGKey(2), (3, spec.weight_numel), jnp.float64)
        params = {}
        apply = jax.jit(lambda a, b: module.apply(params, a, b, w))
    else:
        module = enn.FullyConnectedTensorProduct("3x0e + 2x1o + 1x2e + 1x2o + 1x3o")
        params = module.init(jax.random.PRNGKey(2), x1, x2)
        apply = jax.jit(lambda a, b: module.apply(params, a, b))
    for matrix in orthogonal_matrices(4):
        np.testing.assert_allclose(
            apply(act(x1, matrix), act(x2, matrix)).array,
            act(apply(x1, x2), matrix).array,
            rtol=0,
            atol=1e-12,
        )


def test_linen_and_nnx_agree_and_jit():
    irreps1, irreps2, irreps_out = "4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o"
    x1 = random_input(irreps1, 0, (6,)).astype(jnp.float32)
    x2 = random_input(irreps2, 1, (6,)).astype(jnp.float32)

    # channelwise, internal weights
    linen_tp = enn.TensorProduct(irreps_out)
    params = linen_tp.init(jax.random.PRNGKey(0), x1, x2)
    nnx_tp = ennx.TensorProduct(
        irreps_out, irreps_in1=irreps1, irreps_in2=irreps2, rngs=nnx.Rngs(0)
    )
    nnx_tp.w[...] = params["params"]["w"]
    a = jax.jit(linen_tp.apply)(params, x1, x2)
    b = nnx.jit(lambda m, x, y: m(x, y))(nnx_tp, x1, x2)
    assert a.dtype == jnp.float32 and a.irreps == b.irreps
    np.testing.assert_array_equal(a.array, b.array)

    # channelwise, external per-edge weights
    external = ennx.TensorProduct(
        irreps_out, irreps_in1=irreps1, irreps_in2=irreps2, internal_weights=False
    )
    linen_external = enn.TensorProduct(irreps_out, internal_weights=False)
    w = jax.random.normal(jax.random.PRNGKey(1), (6, external.weight_numel), jnp.float32)
    np.testing.assert_array_equal(
        jax.jit(lambda x, y, w: linen_external.apply({}, x, y, w))(x1, x2, w).array,
        nnx.jit(lambda m, x, y, w: m(x, y, w))(external, x1, x2, w).array,
    )

    # fully connected
    linen_fc = enn.FullyConnectedTensorProduct("3x0e + 2x1e")
    params = linen_fc.init(jax.random.PRNGKey(2), x1, x2)
    nnx_fc = ennx.FullyConnectedTensorProduct(
        "3x0e + 2x1e", irreps_in1=irreps1, irreps_in2=irreps2, rngs=nnx.Rngs(2)
    )
    nnx_fc.w[...] = params["params"]["w"]
    np.testing.assert_array_equal(
        jax.jit(linen_fc.apply)(params, x1, x2).array,
        nnx.jit(lambda m, x, y: m(x, y))(nnx_fc, x1, x2).array,
    )


def test_gradients_flow_to_inputs_and_weights():
    x1, x2 = random_input("2x0e + 2x1o", 0, (3,)), random_input("0e + 1o", 1, (3,))
    spec = channelwise_spec(
        x1.irreps, x2.irreps, e3nn.Irreps("2x0e + 2x1o"), "element", "component", "cg"
    )
    w = jax.random.normal(jax.random.PRNGKey(2), (3, spec.weight_numel), jnp.float64)

    def loss(a, b, c):
        return jnp.sum(
            apply_tensor_product(
                spec, e3nn.IrrepsArray(x1.irreps, a), e3nn.IrrepsArray(x2.irreps, b), c
            ).array
            ** 2
        )

    def loss_legacy(a, b, c):
        return jnp.sum(
            _legacy_apply(spec, e3nn.IrrepsArray(x1.irreps, a), e3nn.IrrepsArray(x2.irreps, b), c)
            ** 2
        )

    ours = jax.grad(loss, argnums=(0, 1, 2))(x1.array, x2.array, w)
    reference = jax.grad(loss_legacy, argnums=(0, 1, 2))(x1.array, x2.array, w)
    for g, r in zip(ours, reference, strict=True):
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-11)


def test_errors_are_clear():
    x1, x2 = random_input("2x0e + 2x1o", 0, (3,)), random_input("0e + 1o", 1, (3,))
    spec = channelwise_spec(
        x1.irreps, x2.irreps, e3nn.Irreps("2x0e + 2x1o"), "element", "component", "cg"
    )
    with pytest.raises(ValueError, match=r"weights must have shape \(\.\.\., 8\)"):
        apply_tensor_product(spec, x1, x2, jnp.ones((3, 7)))
    with pytest.raises(ValueError, match="needs weights"):
        apply_tensor_product(spec, x1, x2)
    with pytest.raises(ValueError, match="do not broadcast"):
        apply_tensor_product(spec, x1, x2, jnp.ones((4, 8)))
    with pytest.raises(ValueError, match="x2 has irreps"):
        apply_tensor_product(spec, x1, random_input("0e + 1e", 1, (3,)), jnp.ones(8))
    with pytest.raises(ValueError, match="no path"):
        enn.FullyConnectedTensorProduct("1e + 2x2o").init(jax.random.PRNGKey(0), x1, x2)
    with pytest.raises(ValueError, match="multiplicity"):
        enn.TensorProduct("3x0e", internal_weights=False).apply({}, x1, x2, jnp.ones(8))
    with pytest.raises(ValueError, match="plain array"):
        enn.TensorProduct("2x0e", internal_weights=False).apply({}, x1.array, x2, jnp.ones(8))
    # weight ownership: the same rule and message in both flavours
    inputs = {"irreps_in1": "2x0e + 2x1o", "irreps_in2": "0e + 1o"}
    tp = ennx.TensorProduct("2x0e + 2x1o", **inputs, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="owns its weights"):
        tp(x1, x2, jnp.ones(8))
    with pytest.raises(ValueError, match="owns its weights"):
        enn.TensorProduct("2x0e + 2x1o").init(jax.random.PRNGKey(0), x1, x2, jnp.ones(8))
    with pytest.raises(ValueError, match="declared with"):
        tp(random_input("2x0e + 2x1e", 0, (3,)), x2)
    with pytest.raises(ValueError, match="per-sample weights"):
        ennx.TensorProduct("2x0e + 2x1o", **inputs, internal_weights=False)(x1, x2)
    with pytest.raises(ValueError, match="per-sample weights"):
        enn.TensorProduct("2x0e + 2x1o", internal_weights=False).apply({}, x1, x2)
    with pytest.raises(ValueError, match="rngs"):
        ennx.TensorProduct("2x0e + 2x1o", **inputs)
