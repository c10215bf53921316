"""Bessel basis, polynomial envelope, radial MLP."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.integrate import quad

from equitens.nn.radial import RadialMLP, bessel_basis, polynomial_envelope, radial_embedding


def test_bessel_basis_is_orthonormal_with_the_r2_measure():
    """int_0^c b_n(r) b_m(r) r^2 dr = delta_nm (the radial Laplacian eigenfunctions)."""
    c = 4.0

    def f(r, n, m):
        return (
            float(bessel_basis(jnp.array(r), c, 4)[n] * bessel_basis(jnp.array(r), c, 4)[m]) * r * r
        )

    gram = np.array(
        [[quad(f, 0, c, args=(n, m), limit=200)[0] for m in range(4)] for n in range(4)]
    )
    np.testing.assert_allclose(gram, np.eye(4), atol=1e-8)


def test_bessel_basis_is_smooth_at_zero():
    c = 5.0
    at_zero = bessel_basis(jnp.array(0.0), c, 6)
    near = bessel_basis(jnp.array(1e-7), c, 6)
    np.testing.assert_allclose(at_zero, near, rtol=1e-12)
    grads = jax.jit(jax.jacfwd(jax.grad(lambda r: bessel_basis(r, c, 6).sum())))(jnp.array(0.0))
    assert np.isfinite(float(grads))
    check_grads(
        jax.jit(lambda r: bessel_basis(r, c, 6)),
        (jnp.array([0.3, 1.7, 4.9]),),
        order=2,
        modes=["rev"],
    )


@pytest.mark.parametrize("p", [5, 6])
def test_envelope_vanishes_at_the_cutoff_with_two_derivatives(p):
    c = 3.0

    def env(r):
        return polynomial_envelope(r, c, p)

    assert float(env(jnp.array(0.0))) == 1.0
    r = jnp.array(c - 1e-9)
    assert abs(float(env(r))) < 1e-12
    assert abs(float(jax.grad(env)(r))) < 1e-6
    assert abs(float(jax.grad(jax.grad(env))(r))) < 1e-3
    np.testing.assert_array_equal(env(jnp.array([c, c + 0.5, 10.0])), 0.0)
    values = env(jnp.linspace(0, c, 50))
    assert np.all(np.diff(np.asarray(values)) <= 1e-15)  # monotone decreasing


def test_embedding_is_zero_beyond_cutoff_and_mlp_keeps_zero():
    emb = radial_embedding(jnp.array([0.5, 3.0, 3.5]), 3.0, 8)
    np.testing.assert_array_equal(emb[1:], 0.0)
    mlp = RadialMLP((16, 16), 7, jnp.float64)
    params = mlp.init(jax.random.PRNGKey(0), emb)
    out = mlp.apply(params, emb)
    assert out.shape == (3, 7) and float(jnp.abs(out[0]).max()) > 0
    np.testing.assert_array_equal(out[1:], 0.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bessel_basis(jnp.ones(2), -1.0), "cutoff must be a positive finite length"),
        (lambda: bessel_basis(jnp.ones(2), 5.0, 0), "num_basis must be a positive int"),
        (lambda: polynomial_envelope(jnp.ones(2), 5.0, 0), "degree p must be a positive int"),
    ],
)
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
