"""The edge-convolution interface and its "cg" method (float64)."""

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equitens.conv import available_conv_methods, edge_convolution, sh_irreps
from equitens.so3 import D_from_matrix, Irreps, random_rotation
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec


def _inputs(conv, edges=7, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jax.random.normal(keys[0], (edges, conv.irreps_in.dim), jnp.float64)
    vectors = jax.random.normal(keys[1], (edges, 3), jnp.float64)
    weights = jax.random.normal(keys[2], (edges, conv.weight_numel), jnp.float64)
    return x, vectors, weights


def test_cg_equals_channelwise_tensor_product_with_e3nn_harmonics():
    """The message is the "uvu" product (itself checked against e3nn) with e3nn's harmonics."""
    conv = edge_convolution("3x0e + 3x1o + 3x2e", "3x0e + 3x1o + 3x1e + 3x2e", lmax=2)
    x, vectors, weights = _inputs(conv)
    y = e3nn.spherical_harmonics(sh_irreps(2).to_e3nn(), vectors, normalize=True).array
    spec = TensorProductSpec.channelwise(conv.irreps_in, sh_irreps(2), conv.irreps_out)
    reference = tensor_product_kernel(spec)(x, y, weights)
    ours = conv(x, vectors, weights)
    assert ours.shape == (7, conv.irreps_out.dim)
    np.testing.assert_allclose(ours, reference, atol=1e-13)


@pytest.mark.parametrize("parity", [1, -1])
def test_cg_message_is_o3_equivariant(parity):
    conv = edge_convolution("2x0e + 2x1o + 2x2e + 0o", "2x0e + 2x1o + 2x1e + 2x2e + 2x2o", lmax=3)
    x, vectors, weights = _inputs(conv, seed=1)
    rotation = parity * random_rotation(jax.random.PRNGKey(3), dtype=jnp.float64)
    d_in = D_from_matrix(conv.irreps_in, rotation)
    d_out = D_from_matrix(conv.irreps_out, rotation)
    rotated = conv(x @ d_in.T, vectors @ rotation.T, weights)
    np.testing.assert_allclose(rotated, conv(x, vectors, weights) @ d_out.T, atol=1e-11)


def test_zero_length_edges_have_finite_gradients():
    conv = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", lmax=2)
    x, vectors, weights = _inputs(conv, edges=3)
    vectors = vectors.at[0].set(0.0)

    def energy(v):
        return jnp.sum(conv(x, v, weights) ** 2)

    grad = jax.grad(energy)(vectors)
    hessian_row = jax.grad(lambda v: jax.grad(energy)(v)[0].sum())(vectors)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hessian_row))


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown edge-convolution method 'nope'.*'cg'"):
        edge_convolution("0e", "0e", 1, method="nope")
    conv = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", lmax=1)
    x, vectors, weights = _inputs(conv, edges=4)
    with pytest.raises(ValueError, match=r"x must have shape \(num_edges, 8\)"):
        conv(x[:, :5], vectors, weights)
    with pytest.raises(ValueError, match="one row per edge"):
        conv(x, vectors[:3], weights)
    with pytest.raises(ValueError, match="weights must have shape"):
        conv(x, vectors, weights[:, 1:])
    with pytest.raises(ValueError, match="no path"):
        edge_convolution("2x0e", "2x1e", lmax=1)
    assert "cg" in available_conv_methods()
    assert Irreps("2x0e + 2x1o") == conv.irreps_out
