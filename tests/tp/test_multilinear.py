"""The multilinear derivative engine: any order of reverse-mode derivatives, chunked or not.

Oracle: plain JAX autodiff of the same forward function (no custom rule).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equitens.tp.multilinear import multilinear

D1, D2, NW, DOUT = 3, 4, 5, 2
MIX = np.random.default_rng(0).normal(size=(D1, D2, NW, DOUT))


def forward(x1, x2, w):
    """A generic trilinear map out[e, o] = sum M[i, j, k, o] x1[e, i] x2[e, j] w[e or -, k]."""
    if w.ndim == 1:
        return jnp.einsum("ijko,ei,ej,k->eo", MIX, x1, x2, w)
    return jnp.einsum("ijko,ei,ej,ek->eo", MIX, x1, x2, w)


def _rand(shape, seed):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype=jnp.float64)


def _weights_index(w) -> str:
    return "k" if w.ndim == 1 else "ek"


EXPLICIT = {  # the slot contractions written out, as a family with its own index structure gives
    0: lambda x1, x2, w, g: jnp.einsum(f"ijko,ej,{_weights_index(w)},eo->ei", MIX, x2, w, g),
    1: lambda x1, x2, w, g: jnp.einsum(f"ijko,ei,{_weights_index(w)},eo->ej", MIX, x1, w, g),
    2: lambda x1, x2, w, g: jnp.einsum("ijko,ei,ej,eo->ek", MIX, x1, x2, g),
}


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("budget", [1, 1 << 30])  # 8-sample chunks, or a single chunk
def test_derivatives_up_to_third_order_match_plain_autodiff(shared, budget, explicit):
    kernel = multilinear(
        forward,
        (D1, D2, NW, DOUT),
        shared_weights=shared,
        per_sample_floats=1,
        budget=budget,
        slot_functions=EXPLICIT if explicit else None,
    )
    n = 19
    x1, x2 = _rand((n, D1), 0), _rand((n, D2), 1)
    w = _rand((NW,) if shared else (n, NW), 2)

    def loss(f):
        return lambda x1, x2, w: jnp.sum(jnp.sin(f(x1, x2, w)))

    def second(f):
        # the gradient of a squared gradient: the shape of force training
        return lambda x1, x2, w: jnp.sum(jax.grad(loss(f), argnums=1)(x1, x2, w) ** 2)

    def third(f):
        return lambda x1, x2, w: jnp.sum(jax.grad(second(f), argnums=0)(x1, x2, w) ** 2)

    np.testing.assert_allclose(kernel(x1, x2, w), forward(x1, x2, w), atol=1e-12)
    for order in (loss, second, third):
        ours = jax.jit(jax.grad(order(kernel), argnums=(0, 1, 2)))(x1, x2, w)
        ref = jax.jit(jax.grad(order(forward), argnums=(0, 1, 2)))(x1, x2, w)
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_unweighted_forms_and_jit():
    def bilinear(x1, x2, w):
        return jnp.einsum("ijo,ei,ej->eo", MIX[:, :, 0, :], x1, x2)

    kernel = jax.jit(
        multilinear(
            bilinear, (D1, D2, None, DOUT), shared_weights=False, per_sample_floats=1, budget=1
        )
    )
    x1, x2 = _rand((11, D1), 3), _rand((11, D2), 4)
    grads = jax.grad(lambda a, b: jnp.sum(kernel(a, b) ** 3), argnums=(0, 1))(x1, x2)
    ref = jax.grad(lambda a, b: jnp.sum(bilinear(a, b, None) ** 3), argnums=(0, 1))(x1, x2)
    for a, b in zip(grads, ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def _second_order_lowering(budget, n: int) -> str:
    kernel = multilinear(
        forward, (D1, D2, NW, DOUT), shared_weights=False, per_sample_floats=1, budget=budget
    )

    def force_loss(x1, x2, w):
        return jnp.sum(jax.grad(lambda a: jnp.sum(kernel(a, x2, w) ** 2))(x1) ** 2)

    args = (_rand((n, D1), 0), _rand((n, D2), 1), _rand((n, NW), 2))
    return jax.jit(jax.grad(force_loss, argnums=(0, 1, 2))).lower(*args).as_text()


def test_one_chunk_lowers_as_no_chunks():
    """Samples that fit one CPU chunk need no per-platform branch: the kernel lowers exactly as
    the unchunked one (``jax.lax.platform_dependent`` would trace and emit every branch, and
    block XLA's fusion across it). More samples than a chunk keep the branches and the loop."""
    per_platform = (("cpu", 64), ("default", None))  # 64-sample chunks on the CPU
    assert _second_order_lowering(per_platform, 19) == _second_order_lowering(None, 19)
    chunked = _second_order_lowering(per_platform, 100)
    assert "stablehlo.case" in chunked and "stablehlo.while" in chunked
