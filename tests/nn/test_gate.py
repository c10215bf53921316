"""Gate: equal to e3nn_jax.gate, equivariant, parity rules, linen == nnx."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equitens.nn import linen as enn
from equitens.nn import nnx as ennx
from equitens.nn.gate import gate
from tests.nn._helpers import act, orthogonal_matrices, random_input

IRREPS = [
    "15x0e + 2x1e + 1x2e",
    "12x0e + 3x0o + 2x1e + 1x2e",  # odd gates flip the parity of what they gate
    "2x0e + 2x0o + 3x1e",  # the gates straddle a 0e and a 0o chunk
    "0o + 1e + 0e + 2e",  # gates are the last scalars, wherever they are
    "4x0e + 3x0o",  # nothing to gate: all scalars activated
    "3x0e + 1e + 2o + 0o",
]

ACTIVATIONS = [
    {},
    {"normalize_act": False},
    {
        "even_act": jnp.tanh,
        "odd_act": jnp.cos,
        "even_gate_act": jax.nn.silu,
        "odd_gate_act": jnp.sin,
    },
]


def _without_empty(irreps: e3nn.Irreps) -> e3nn.Irreps:
    return e3nn.Irreps([(mul, ir) for mul, ir in irreps if mul > 0])


@pytest.mark.parametrize("kwargs", ACTIVATIONS)
@pytest.mark.parametrize("irreps", IRREPS)
def test_equal_to_e3nn_gate(irreps, kwargs):
    x = random_input(irreps, 0, (5,))
    expected = e3nn.gate(x, **kwargs)
    out = gate(x, **kwargs)
    assert out.irreps == _without_empty(expected.irreps)
    np.testing.assert_allclose(out.array, expected.array, rtol=0, atol=1e-12)


def test_gated_values_by_hand():
    # normalize_act=False: gelu on the first scalar, sigmoid gates times the vectors
    x = e3nn.IrrepsArray(
        "0e + 0e + 0o + 1o + 1e", jnp.array([0.3, -1.2, 0.7, 1.0, 2.0, 3.0, -1.0, 0.5, 0.0])
    )
    out = gate(x, normalize_act=False)
    assert out.irreps == e3nn.Irreps("0e + 1o + 1o")  # the odd gate (tanh) turns 1e into 1o
    expected = np.concatenate(
        [
            [jax.nn.gelu(0.3)],
            jax.nn.sigmoid(-1.2) * np.array([1.0, 2.0, 3.0]),
            np.tanh(0.7) * np.array([-1.0, 0.5, 0.0]),
        ]
    )
    np.testing.assert_allclose(out.array, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("irreps", [IRREPS[1], IRREPS[2]])
def test_equivariance(irreps):
    x = random_input(irreps, 1, (4,))
    apply = jax.jit(gate)
    for matrix in orthogonal_matrices(2):
        np.testing.assert_allclose(
            apply(act(x, matrix)).array, act(apply(x), matrix).array, rtol=0, atol=1e-12
        )


def test_normalized_activation_has_unit_second_moment():
    # independent oracle: Gauss-Hermite quadrature of E[phi(z)^2], z ~ N(0, 1)
    z, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / weights.sum()
    x = e3nn.IrrepsArray(f"{len(z)}x0e", jnp.asarray(z))
    moment = float(np.sum(weights * np.asarray(gate(x).array) ** 2))
    assert abs(moment - 1.0) < 1e-4  # e3nn-jax's constant is a 1e6-point estimate


def test_linen_and_nnx_agree_and_jit():
    x = random_input(IRREPS[1], 2, (3,)).astype(jnp.float32)
    kwargs = {"even_act": jax.nn.silu, "normalize_act": False}
    a = jax.jit(lambda x: enn.Gate(**kwargs).apply({}, x))(x)
    b = jax.jit(lambda x: ennx.Gate(**kwargs)(x))(x)
    assert a.irreps == b.irreps and a.dtype == jnp.float32
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.array, gate(x, **kwargs).array, rtol=1e-6)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="3 scalars but 4 non-scalar"):
        gate(random_input("3x0e + 4x1o", 0))
    with pytest.raises(ValueError, match="neither even nor odd"):
        gate(random_input("2x0o + 1e", 0), odd_act=jnp.exp)
    with pytest.raises(ValueError, match="IrrepsArray"):
        gate(jnp.ones(4))
