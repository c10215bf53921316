"""``"vector_gaunt"`` and ``"gaunt_fourier"``: exact tables, CG equivalence, symmetry, derivatives.

Independent oracles: the vector Gaunt tensor from ``jax`` gradients of the harmonic polynomials
(``spherical_harmonics(normalize=False)``) integrated on a Gauss-Legendre grid; the torus Fourier
tables against ``spherical_harmonics`` at points with ``theta > pi``; CG with kappa weights.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import equitens.tp.gaunt  # noqa: F401  (registers the Gaunt methods)
from equitens.so3 import (
    D_from_matrix,
    S2Grid,
    clebsch_gordan,
    gaunt,
    random_rotation,
    spherical_harmonics,
)
from equitens.tp import TensorProductSpec
from equitens.tp.gaunt import fourier as fourier_module
from equitens.tp.gaunt import gaunt_cg_spec, gaunt_spec, vector_gaunt, vector_gaunt_kappa
from equitens.tp.gaunt.fourier import fourier_to_sh_table, sh_to_fourier_table
from equitens.tp.plan import Plan
from equitens.tp.registry import tensor_product_kernel
from tests.gaunt._oracle import contract, natural, rand


def _mixed_tensor(l1, l2, l3):
    return vector_gaunt(l1, l2, l3) if (l1 + l2 + l3) % 2 else gaunt(l1, l2, l3)


@pytest.mark.parametrize("l1, l2, l3", [(1, 1, 1), (2, 2, 1), (3, 2, 2)])
def test_vector_gaunt_tensor_against_gradients(l1, l2, l3):
    grid = S2Grid.exact_for(l1 + l2 + l3 + 2)
    n = jnp.asarray(grid.points.reshape(-1, 3))

    def poly(l):  # the harmonic polynomials r^l Y_lm (orthonormal on the sphere)
        return lambda v: spherical_harmonics(l, v, normalize=False, normalization="integral")[
            l * l :
        ]

    g1 = jax.vmap(jax.jacfwd(poly(l1)))(n)  # (P, d1, 3): Cartesian gradients
    g2 = jax.vmap(jax.jacfwd(poly(l2)))(n)
    y3 = spherical_harmonics(l3, n, normalization="integral")[:, l3 * l3 :]
    cross = jnp.cross(g1[:, :, None, :], g2[:, None, :, :])  # (P, d1, d2, 3)
    normal = jnp.einsum("pabi,pi->pab", cross, n)
    expected = jnp.einsum("pab,pc,p->abc", normal, y3, jnp.asarray(grid.weights.reshape(-1)))
    np.testing.assert_allclose(vector_gaunt(l1, l2, l3), expected, atol=1e-12)
    kappa = vector_gaunt_kappa(l1, l2, l3)
    assert kappa != 0.0
    np.testing.assert_allclose(
        vector_gaunt(l1, l2, l3), kappa * np.asarray(clebsch_gordan(l1, l2, l3)), atol=1e-12
    )


def test_vector_gaunt_vanishes_on_even_paths_and_constants():
    assert vector_gaunt_kappa(1, 1, 2) == 0.0 and vector_gaunt_kappa(0, 3, 3) == 0.0
    assert not np.any(vector_gaunt(2, 2, 2))
    with pytest.raises(ValueError, match="l2 must be a non-negative int"):
        vector_gaunt_kappa(1, -1, 1)


def test_vector_gaunt_kernel_covers_every_path():
    irreps1 = "0e + 1o + 2e + 1e"
    irreps2 = "1o + 0o"
    spec = TensorProductSpec.full(irreps1, irreps2, method="vector_gaunt")  # every path, e3nn-style
    x, y = rand((4, spec.irreps_in1.dim), 1), rand((4, spec.irreps_in2.dim), 2)
    out = jax.jit(tensor_product_kernel(spec))(x, y)
    np.testing.assert_allclose(out, contract(spec, x, y, _mixed_tensor), atol=1e-12, rtol=0)
    reference = jax.jit(tensor_product_kernel(gaunt_cg_spec(spec)))(x, y)  # CG, kappa(_v) weights
    np.testing.assert_allclose(out, reference, atol=1e-12, rtol=0)


@pytest.mark.parametrize("L", [1, 4])
def test_vector_gaunt_product_spec(L):
    spec = gaunt_spec(natural(L), natural(L), odd=True, method="vector_gaunt")
    assert any((p.i_in1 != p.i_in2) for p in spec.paths)
    x, y = rand((3, spec.irreps_in1.dim), 3), rand((3, spec.irreps_in2.dim), 4)
    out = jax.jit(tensor_product_kernel(spec))(x, y)
    expected = contract(spec, x, y, _mixed_tensor)
    assert np.abs(out - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.parametrize("method", ["vector_gaunt", "gaunt_fourier"])
def test_equivariance_and_gradients(method):
    spec = gaunt_spec(natural(1) + " + 1e", natural(2), odd=method == "vector_gaunt", method=method)
    kernel = jax.jit(tensor_product_kernel(spec))
    x, y = rand((2, spec.irreps_in1.dim), 5), rand((2, spec.irreps_in2.dim), 6)
    R = random_rotation(jax.random.PRNGKey(3), dtype=jnp.float64)
    for Q in (R, -R):
        D1, D2, D3 = (
            D_from_matrix(i, Q) for i in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
        )
        np.testing.assert_allclose(
            kernel(x @ D1.T, y @ D2.T), kernel(x, y) @ D3.T, atol=1e-10, rtol=0
        )
    check_grads(kernel, (x, y), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_fourier_tables_reproduce_harmonics_on_the_torus():
    L = 4
    theta = jnp.array([0.3, 2.0, 3.5, 5.9])  # two of them beyond pi: the extension
    phi = jnp.array([0.1, 4.0, 2.2, 5.0])
    n = jnp.stack(
        [jnp.sin(theta) * jnp.sin(phi), jnp.cos(theta), jnp.sin(theta) * jnp.cos(phi)], -1
    )
    expected = spherical_harmonics(L, n, normalization="integral")
    u = np.arange(-L, L + 1)
    basis = np.exp(
        1j
        * (
            u[None, :, None] * np.asarray(theta)[:, None, None]
            + u[None, None, :] * np.asarray(phi)[:, None, None]
        )
    )
    values = np.einsum("cq,pq->pc", sh_to_fourier_table(L), basis.reshape(len(theta), -1))
    np.testing.assert_allclose(values.real, expected, atol=1e-13)
    np.testing.assert_allclose(values.imag, 0, atol=1e-13)
    # and back: Z projects a band-limited series onto the harmonics exactly (round trip = identity)
    eye = np.eye((L + 1) ** 2)
    back = (eye @ sh_to_fourier_table(L) @ fourier_to_sh_table(L, L)).real
    np.testing.assert_allclose(back, eye, atol=1e-13)


@pytest.mark.parametrize("L, convolution", [(1, "direct"), (3, "fft"), (3, "dft"), (8, "auto")])
def test_fourier_equals_gaunt_contraction(L, convolution):
    spec = gaunt_spec(
        natural(L), natural(L, pseudo=True) + " + " + natural(1), method="gaunt_fourier"
    )
    x, y = rand((3, spec.irreps_in1.dim), L), rand((3, spec.irreps_in2.dim), L + 1)
    out = fourier_module.gaunt_fourier_kernel(spec, Plan(fourier_convolution=convolution))(x, y)
    expected = contract(spec, x, y)
    assert np.abs(out - expected).max() <= 1e-12 * np.abs(expected).max()


def test_fourier_rejects_odd_paths():
    with pytest.raises(ValueError, match="'vector_gaunt'"):
        tensor_product_kernel(TensorProductSpec.full("1o", "1o", method="gaunt_fourier"))
