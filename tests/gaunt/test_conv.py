"""The ``"gaunt_grid"`` edge convolution: oracle, equivariance (rotation + inversion), errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import equitens.conv.gaunt_grid  # noqa: F401  (registers the method)
from equitens.conv import edge_convolution
from equitens.so3 import D_from_matrix, gaunt, random_rotation, spherical_harmonics
from tests.gaunt._oracle import blocks, rand

IRREPS_IN = "3x0e + 3x1o + 3x2e + 3x1e"
IRREPS_OUT = "3x0e + 3x1o + 3x2e + 3x0o + 3x1e"


def _conv(output_weights=False):
    return edge_convolution(
        IRREPS_IN, IRREPS_OUT, 2, method="gaunt_grid", output_weights=output_weights
    )


def _inputs(conv, seed=0, n=6):
    x = rand((n, conv.irreps_in.dim), seed)
    v = rand((n, 3), seed + 1)
    w = rand((n, conv.weight_numel), seed + 2)
    return x, v, w


@pytest.mark.parametrize("output_weights", [False, True])
def test_matches_weighted_gaunt_oracle(output_weights):
    conv = _conv(output_weights)
    n_in, n_sh, n_out, mul = 4, 3, 5, 3
    assert conv.weight_numel == (n_in + n_sh + (n_out if output_weights else 0)) * mul
    x, v, w = _inputs(conv)
    out = jax.jit(conv.__call__)(x, v, w)
    e = x.shape[0]
    w_in = np.asarray(w[:, : n_in * mul]).reshape(e, n_in, mul)
    w_sh = np.asarray(w[:, n_in * mul : (n_in + n_sh) * mul]).reshape(e, n_sh, mul)
    y = np.asarray(spherical_harmonics(2, v, normalize=True))
    xb = blocks(np.asarray(x), conv.irreps_in)
    expected = [np.zeros((e, mul, ir.dim)) for _, ir in conv.irreps_out]
    for i, (_, ir1) in enumerate(conv.irreps_in):
        for l2 in range(3):
            for k, (_, ir3) in enumerate(conv.irreps_out):
                if ir1.p * (-1) ** l2 != ir3.p or (ir1.l + l2 + ir3.l) % 2:
                    continue
                if not abs(ir1.l - l2) <= ir3.l <= ir1.l + l2:
                    continue
                a = xb[i] * w_in[:, i, :, None]
                b = w_sh[:, l2, :, None] * y[:, None, l2 * l2 : (l2 + 1) ** 2]
                expected[k] += np.einsum("eui,euj,ijk->euk", a, b, gaunt(ir1.l, l2, ir3.l))
    if output_weights:
        w_out = np.asarray(w[:, (n_in + n_sh) * mul :]).reshape(e, n_out, mul)
        expected = [o * w_out[:, k, :, None] for k, o in enumerate(expected)]
    expected = np.concatenate([o.reshape(e, -1) for o in expected], axis=-1)
    np.testing.assert_allclose(out, expected, atol=1e-12, rtol=0)


def test_equivariance_rotation_and_inversion():
    conv = _conv(True)
    x, v, w = _inputs(conv, 3)
    f = jax.jit(conv.__call__)
    R = random_rotation(jax.random.PRNGKey(7), dtype=jnp.float64)
    for Q in (R, -R):
        d_in, d_out = D_from_matrix(conv.irreps_in, Q), D_from_matrix(conv.irreps_out, Q)
        np.testing.assert_allclose(
            f(x @ d_in.T, v @ Q.T, w), f(x, v, w) @ d_out.T, atol=1e-10, rtol=0
        )


def test_errors():
    with pytest.raises(
        ValueError, match="cannot produce 3x1e.*Reachable: 0e \\+ 1o \\+ 2e.*method='cg'"
    ):
        edge_convolution("3x0e + 3x1o", "3x1e", 1, method="gaunt_grid")
    with pytest.raises(ValueError, match="one multiplicity"):
        edge_convolution("3x0e + 2x1o", "3x0e", 1, method="gaunt_grid")
    with pytest.raises(ValueError, match="repeats an irrep"):
        edge_convolution("3x0e + 3x0e", "3x0e", 1, method="gaunt_grid")
