"""Linear: equal to e3nn_jax.flax.Linear with the same weights, equivariant, linen == nnx."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from equitens.nn import linen as enn
from equitens.nn import nnx as ennx
from equitens.nn.linear import LinearSpec, linear
from tests.nn._helpers import act, e3nn_linear_to_flat, orthogonal_matrices, random_input

CASES = [
    # (irreps_in, irreps_out): odd parities, mul 1 and > 1, repeated and unreachable irreps
    ("2x0e + 1o + 0e + 3x1o", "3x0e + 2x1o + 1e + 0e"),
    ("1o + 2e", "0e + 2x2e"),
    ("4x0e + 2x1e + 0o + 2x2o", "0o + 3x1e + 2x2o + 5x0e"),
    ("0e + 0x1o + 2x1o", "2x1o + 0e + 1x1o"),
    ("3x1o", "2x0e"),  # nothing reachable
]


def _e3nn_reference(irreps_in, irreps_out, biases, key):
    x = random_input(irreps_in, key)
    module = e3nn.flax.Linear(irreps_out, biases=biases)
    params = module.init(jax.random.PRNGKey(key), x)
    # random (non-zero) biases too, so that they are checked
    params = jax.tree.map(
        lambda a: jax.random.normal(jax.random.PRNGKey(key + 1), a.shape, a.dtype), params
    )
    return x, module, params


@pytest.mark.parametrize("biases", [False, True])
@pytest.mark.parametrize("irreps_in, irreps_out", CASES)
def test_equal_to_e3nn_flax_linear(irreps_in, irreps_out, biases):
    x, module, params = _e3nn_reference(irreps_in, irreps_out, biases, key=0)
    expected = module.apply(params, x)
    spec = LinearSpec.create(irreps_in, irreps_out, biases=biases)
    w, b = e3nn_linear_to_flat(params.get("params", {}), irreps_in, spec.weight_blocks())
    assert w.shape == (spec.weight_numel,)
    out = enn.Linear(irreps_out, biases=biases).apply(
        {"params": {"w": w, **({"b": b} if biases else {})}}, x
    )
    assert out.irreps == expected.irreps
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.array, expected.array, rtol=0, atol=1e-12)


@pytest.mark.parametrize("biases", [False, True])
def test_per_species_equal_to_e3nn_indexed_weights(biases):
    irreps_in, irreps_out, num_species = "3x0e + 2x1o + 1x2e", "2x0e + 1o + 2x2e", 4
    x = random_input(irreps_in, 1, (9,))
    species = jnp.array([0, 3, 1, 1, 2, 0, 3, 2, 1])
    module = e3nn.flax.Linear(irreps_out, biases=biases, num_indexed_weights=num_species)
    params = module.init(jax.random.PRNGKey(0), species, x)
    params = jax.tree.map(
        lambda a: jax.random.normal(jax.random.PRNGKey(5), a.shape, a.dtype), params
    )
    expected = module.apply(params, species, x)

    spec = LinearSpec.create(irreps_in, irreps_out, biases=biases)
    w, b = e3nn_linear_to_flat(params["params"], irreps_in, spec.weight_blocks(), num_species)
    ours = enn.Linear(irreps_out, num_species=num_species, biases=biases)
    out = ours.apply({"params": {"w": w, **({"b": b} if biases else {})}}, x, species)
    np.testing.assert_allclose(out.array, expected.array, rtol=0, atol=1e-12)


def test_per_species_selects_the_weight_set():
    spec = LinearSpec.create("2x0e + 3x1o", "4x0e + 1o", biases=True)
    w = jax.random.normal(jax.random.PRNGKey(0), (3, spec.weight_numel), jnp.float64)
    b = jax.random.normal(jax.random.PRNGKey(1), (3, spec.bias_numel), jnp.float64)
    x = random_input("2x0e + 3x1o", 2, (5, 2))
    species = jnp.array([[0, 1], [2, 2], [1, 0], [0, 0], [2, 1]])
    out = linear(spec, w, x, b, species)
    singles = np.stack(
        [linear(spec, w[s], x, b[s]).array for s in range(3)]
    )  # (species, 5, 2, dim)
    expected = np.take_along_axis(singles, np.asarray(species)[None, :, :, None], axis=0)[0]
    np.testing.assert_allclose(out.array, expected, rtol=0, atol=1e-12)
    # a single species for the whole batch broadcasts
    broadcast = linear(spec, w, x, b, jnp.array(2))
    np.testing.assert_allclose(
        broadcast.array, linear(spec, w[2], x, b[2]).array, rtol=0, atol=1e-12
    )


def test_gradient_normalization_moves_the_scale_into_the_weights():
    irreps_in, irreps_out = "5x0e + 3x1o + 0e", "2x0e + 4x1o"
    path = LinearSpec.create(irreps_in, irreps_out, gradient_normalization="path")
    element = LinearSpec.create(irreps_in, irreps_out, gradient_normalization="element")
    np.testing.assert_array_equal(path.init_std(), np.ones(path.weight_numel))
    np.testing.assert_allclose(
        element.init_std(), np.repeat([6**-0.5, 3**-0.5], [6 * 2, 3 * 4]), rtol=1e-15
    )
    x = random_input(irreps_in, 3)
    w = jax.random.normal(jax.random.PRNGKey(4), (path.weight_numel,), jnp.float64)
    np.testing.assert_allclose(
        linear(element, w * element.init_std(), x).array,
        linear(path, w, x).array,
        rtol=0,
        atol=1e-12,
    )
    # and both agree with e3nn-jax's "element" gradient normalization
    module = e3nn.flax.Linear(irreps_out, gradient_normalization="element")
    params = module.init(jax.random.PRNGKey(0), x)
    w_e3nn, _ = e3nn_linear_to_flat(params["params"], irreps_in, element.weight_blocks())
    np.testing.assert_allclose(
        linear(element, w_e3nn, x).array, module.apply(params, x).array, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("irreps_in, irreps_out", [CASES[0], CASES[2]])
def test_equivariance(irreps_in, irreps_out):
    spec = LinearSpec.create(irreps_in, irreps_out, biases=True)
    w = jax.random.normal(jax.random.PRNGKey(0), (3, spec.weight_numel), jnp.float64)
    b = jax.random.normal(jax.random.PRNGKey(1), (3, spec.bias_numel), jnp.float64)
    x = random_input(irreps_in, 2)
    species = jnp.arange(7) % 3
    apply = jax.jit(lambda x: linear(spec, w, x, b, species))
    for matrix in orthogonal_matrices(3):
        rotated_then = apply(act(x, matrix))
        then_rotated = act(apply(x), matrix)
        np.testing.assert_allclose(rotated_then.array, then_rotated.array, rtol=0, atol=1e-12)


def test_any_chunking_of_the_declared_irreps_is_accepted():
    layer = enn.Linear("3x0e + 1o", irreps_in="2x0e + 1o")
    x = random_input("0e + 1o + 0e", 0)  # same irreps after regroup, other layout
    params = layer.init(jax.random.PRNGKey(0), x)
    regrouped = e3nn.IrrepsArray(
        "2x0e + 1o", jnp.concatenate([x.array[:, :1], x.array[:, 4:], x.array[:, 1:4]], -1)
    )
    np.testing.assert_allclose(
        layer.apply(params, x).array, layer.apply(params, regrouped).array, rtol=0, atol=1e-14
    )
    # a plain array is read in the declared layout
    np.testing.assert_allclose(
        layer.apply(params, regrouped.array).array,
        layer.apply(params, regrouped).array,
        rtol=0,
        atol=0,
    )


def test_linen_and_nnx_agree_and_jit():
    irreps_in, irreps_out = "4x0e + 2x1o + 2e", "3x0e + 3x1o + 2e"
    x = random_input(irreps_in, 0).astype(jnp.float32)
    species = jnp.array([0, 1, 1, 0, 1, 0, 0])
    linen_layer = enn.Linear(irreps_out, num_species=2, biases=True)
    params = linen_layer.init(jax.random.PRNGKey(0), x, species)
    params = jax.tree.map(lambda a: a + 1.0, params)  # non-zero biases
    nnx_layer = ennx.Linear(
        irreps_out, irreps_in=irreps_in, num_species=2, biases=True, rngs=nnx.Rngs(1)
    )
    assert nnx_layer.w.shape == params["params"]["w"].shape
    assert nnx_layer.b.shape == params["params"]["b"].shape
    nnx_layer.w[...] = params["params"]["w"]
    nnx_layer.b[...] = params["params"]["b"]
    expected = jax.jit(linen_layer.apply)(params, x, species)
    out = nnx.jit(lambda m, x, s: m(x, s))(nnx_layer, x, species)
    assert out.irreps == expected.irreps and out.dtype == jnp.float32
    np.testing.assert_array_equal(out.array, expected.array)


def test_computation_follows_the_input_and_parameters_follow_param_dtype():
    spec = LinearSpec.create("2x0e", "0e")
    for dtype in (jnp.float32, jnp.float64):
        x = e3nn.IrrepsArray("2x0e", jnp.ones((3, 2), dtype))
        assert linear(spec, jnp.ones(2, jnp.float64), x).dtype == dtype
    x64 = e3nn.IrrepsArray("2x0e", jnp.ones((3, 2), jnp.float64))
    # float32 parameters by default in both flavours (flax's default), whatever the input
    params = enn.Linear("0e", biases=True).init(jax.random.PRNGKey(0), x64)
    layer = ennx.Linear("0e", irreps_in="2x0e", biases=True, rngs=nnx.Rngs(0))
    for w in (params["params"]["w"], params["params"]["b"], layer.w[...], layer.b[...]):
        assert w.dtype == jnp.float32
    assert enn.Linear("0e").apply(params, x64).dtype == jnp.float64
    params = enn.Linear("0e", param_dtype=jnp.float64).init(jax.random.PRNGKey(0), x64)
    assert params["params"]["w"].dtype == jnp.float64
    layer = ennx.Linear("0e", irreps_in="2x0e", param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    assert layer.w.dtype == jnp.float64


def test_errors_are_clear():
    spec = LinearSpec.create("2x0e + 1o", "0e + 1o", biases=True)
    x = random_input("2x0e + 1o", 0)
    w, b = jnp.ones(spec.weight_numel), jnp.ones(spec.bias_numel)
    with pytest.raises(ValueError, match="expects"):
        linear(spec, w, random_input("2x0e + 1e", 0), b)
    with pytest.raises(ValueError, match=r"last axis must have size irreps_in.dim=5"):
        linear(spec, w, jnp.ones((3, 4)), b)
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        linear(spec, jnp.ones(4), x, b)
    with pytest.raises(ValueError, match="pass species"):
        linear(spec, jnp.ones((2, 3)), x, b)
    with pytest.raises(ValueError, match="integer"):
        linear(spec, jnp.ones((2, 3)), x, jnp.ones((2, 1)), species=jnp.zeros(7))
    with pytest.raises(ValueError, match="biases must be given"):
        linear(spec, w, x)
    with pytest.raises(ValueError, match="does not broadcast"):
        linear(spec, jnp.ones((2, 3)), x, jnp.ones((2, 1)), species=jnp.zeros(3, int))
    with pytest.raises(ValueError, match="gradient_normalization"):
        LinearSpec.create("0e", "0e", gradient_normalization="weird")
    with pytest.raises(ValueError, match="expects 2x0e"):
        enn.Linear("0e", irreps_in="2x0e").init(jax.random.PRNGKey(0), random_input("0e + 0o", 0))
    with pytest.raises(ValueError, match="num_species"):
        enn.Linear("0e", num_species=2).init(jax.random.PRNGKey(0), x)
    with pytest.raises(ValueError, match="set num_species"):
        ennx.Linear("0e", irreps_in="2x0e + 1o", rngs=nnx.Rngs(0))(x, jnp.zeros(7, int))
