"""``method="gaunt_grid"``: exact Gaunt semantics, parity sectors, equivariance, gradients, errors.

Oracles: path-by-path contraction with ``equitens.gaunt`` (exact integers + one sqrt(pi)), the
``"cg"`` kernel on :func:`gaunt_cg_spec` (CG with path weights kappa on the same paths),
``D_from_matrix`` for rotations and inversion, ``jax.test_util.check_grads``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import equitens.tp.gaunt  # noqa: F401  (registers the Gaunt methods)
from equitens.so3 import D_from_matrix, Irreps, random_rotation
from equitens.tp import TensorProductSpec, elementwise_tensor_product, tensor_product
from equitens.tp.gaunt import (
    from_grid,
    gaunt_cg_spec,
    gaunt_grid_kernel,
    gaunt_spec,
    grid_for_power,
    plan_products,
    to_grid,
)
from equitens.tp.plan import Plan
from equitens.tp.registry import tensor_product_kernel
from tests.gaunt._oracle import contract, natural, rand


def _kernel(spec):
    return jax.jit(tensor_product_kernel(spec))


@pytest.mark.parametrize("L", [0, 1, 2, 4, 6, 8])
def test_full_product_equals_gaunt_contraction(L):
    spec = gaunt_spec(natural(L), natural(L))
    assert spec.irreps_out == Irreps(natural(2 * L))
    assert len(plan_products(spec)) == 1  # one product of functions, not one per path
    x, y = rand((4, (L + 1) ** 2), L), rand((4, (L + 1) ** 2), L + 100)
    out = np.asarray(_kernel(spec)(x, y))
    expected = contract(spec, x, y)
    scale = np.abs(expected).max()
    assert np.abs(out - expected).max() <= 1e-12 * scale


@pytest.mark.parametrize("L", [1, 3])
def test_equals_cg_with_kappa_on_same_paths(L):
    spec = gaunt_spec(natural(L, 2), natural(L, 3))
    x, y = rand((3, spec.irreps_in1.dim), 1), rand((3, spec.irreps_in2.dim), 2)
    out = _kernel(spec)(x, y)
    reference = _kernel(gaunt_cg_spec(spec))(x, y)
    np.testing.assert_allclose(out, reference, atol=1e-12, rtol=0)


def test_four_parity_sectors():
    irreps1 = natural(2) + " + " + natural(2, pseudo=True)
    irreps2 = natural(1) + " + " + natural(2, pseudo=True)
    spec = gaunt_spec(irreps1, irreps2)
    # every sector pair (+,+), (+,-), (-,+), (-,-) is one product
    assert len(plan_products(spec)) == 4
    for p in spec.paths:  # the output parity is the product, the paths are even
        (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(p)
        assert ir3.p == ir1.p * ir2.p and (ir1.l + ir2.l + ir3.l) % 2 == 0
    x, y = rand((5, spec.irreps_in1.dim), 3), rand((5, spec.irreps_in2.dim), 4)
    np.testing.assert_allclose(_kernel(spec)(x, y), contract(spec, x, y), atol=1e-12, rtol=0)


def test_pseudo_times_pseudo_is_natural():
    spec = gaunt_spec("0o + 1e", "0o + 1e")
    assert spec.irreps_out == Irreps("0e + 1o + 2e")


@pytest.mark.parametrize("mode", ["uvuv", "uuu"])
def test_channel_modes(mode):
    spec = gaunt_spec(natural(2, 3), natural(2, 3), 3, channel_mode=mode)
    assert spec.irreps_out.dim == (9 if mode == "uvuv" else 3) * 16
    x, y = rand((2, 6, spec.irreps_in1.dim), 5), rand((6, spec.irreps_in2.dim), 6)  # broadcast
    out = _kernel(spec)(x, y)
    assert out.shape == (2, 6, spec.irreps_out.dim)
    np.testing.assert_allclose(
        out, contract(spec, x, np.broadcast_to(y, x.shape)), atol=1e-12, rtol=0
    )


def test_e3nn_style_full_spec_uses_gaunt_coefficients():
    """Per-path output blocks (TensorProductSpec.full): each is that path's Gaunt contraction."""
    irreps = "2x0e + 1o + 2x2e + 1o"
    spec = TensorProductSpec.full(
        irreps, "0e + 1o + 2e", "0e + 1o + 2e + 3o + 4e", method="gaunt_grid"
    )
    x, y = rand((3, spec.irreps_in1.dim), 7), rand((3, spec.irreps_in2.dim), 8)
    np.testing.assert_allclose(_kernel(spec)(x, y), contract(spec, x, y), atol=1e-12, rtol=0)


def test_functional_entry_points():
    import e3nn_jax as e3nn

    x = e3nn.IrrepsArray("0e + 1o + 2e", rand((4, 9), 9))
    y = e3nn.IrrepsArray("2x0e + 1o", rand((4, 5), 10))
    out = tensor_product(x, y, filter_ir_out="0e + 1o + 2e + 3o", method="gaunt_grid")
    spec = TensorProductSpec.full(
        Irreps(x.irreps).regroup(),
        Irreps(y.irreps).regroup(),
        "0e + 1o + 2e + 3o",
        method="gaunt_grid",
    )
    assert out.irreps == spec.irreps_out.simplify().to_e3nn()  # e3nn's output irreps
    np.testing.assert_allclose(out.array, contract(spec, x.array, y.array), atol=1e-12, rtol=0)
    z = e3nn.IrrepsArray("1o + 1o", rand((4, 6), 11))
    w = elementwise_tensor_product(z, z, filter_ir_out="0e + 2e", method="gaunt_grid")
    assert w.irreps == e3nn.Irreps("0e + 2e + 0e + 2e")


@pytest.mark.parametrize("seed", [0])
def test_equivariance_rotation_and_inversion(seed):
    irreps1 = natural(2, 2) + " + " + natural(1, 2, pseudo=True)
    irreps2 = natural(2) + " + " + natural(1, pseudo=True)
    spec = gaunt_spec(irreps1, irreps2)
    kernel = _kernel(spec)
    x, y = rand((3, spec.irreps_in1.dim), seed), rand((3, spec.irreps_in2.dim), seed + 50)
    R = random_rotation(jax.random.PRNGKey(seed), dtype=jnp.float64)
    for Q in (R, -R):  # a rotation, and a rotation composed with the inversion
        D1, D2 = D_from_matrix(spec.irreps_in1, Q), D_from_matrix(spec.irreps_in2, Q)
        D3 = D_from_matrix(spec.irreps_out, Q)
        np.testing.assert_allclose(
            kernel(x @ D1.T, y @ D2.T), kernel(x, y) @ D3.T, atol=1e-10, rtol=0
        )


@pytest.mark.parametrize("chunked", [True, False])
def test_gradients_first_and_second_order(chunked):
    """Both evaluation paths: chunked through equitens.tp.multilinear (custom VJPs, the default)
    and plain JAX autodiff (which also has forward mode)."""
    plan = Plan(gaunt_multilinear=chunked, chunk=64)  # several chunks for 5 samples
    spec = gaunt_spec(natural(1) + " + 1e", natural(2), 3)
    kernel = jax.jit(gaunt_grid_kernel(spec, plan))
    x, y = rand((5, spec.irreps_in1.dim), 12), rand((5, spec.irreps_in2.dim), 13)
    np.testing.assert_allclose(kernel(x, y), contract(spec, x, y), atol=1e-12, rtol=0)
    check_grads(kernel, (x, y), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)
    if not chunked:
        check_grads(kernel, (x, y), order=1, modes=["fwd"], atol=1e-6, rtol=1e-6)


def test_errors_name_a_method_that_can():
    odd = TensorProductSpec.full("1o", "1o", method="gaunt_grid")
    with pytest.raises(
        ValueError, match=r"odd path .*'vector_gaunt'.*'cg'.*filter_ir_out='0e \+ 2e'"
    ):
        tensor_product_kernel(odd)
    weighted = TensorProductSpec.channelwise(
        "2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o", method="gaunt_grid"
    )
    with pytest.raises(ValueError, match="no per-path weights.*method='cg'"):
        tensor_product_kernel(weighted)
    kernel = tensor_product_kernel(gaunt_spec("0e", "0e"))
    with pytest.raises(ValueError, match="takes no weights"):
        kernel(jnp.ones(1), jnp.ones(1), jnp.ones(1))
    with pytest.raises(ValueError, match=r"x1 must have shape \(\.\.\., 1\)"):
        kernel(jnp.ones(2), jnp.ones(1))
    with pytest.raises(ValueError, match="same multiplicity"):
        gaunt_spec("2x0e + 1o", "0e")
    with pytest.raises(ValueError, match="repeats an irrep"):
        gaunt_spec("0e + 0e", "0e")


def test_powers_on_one_grid():
    """MACE's A^nu: sample once, multiply nu - 1 times, project once."""
    L, nu, lout = 2, 3, 2
    irreps = natural(L, 4)
    a = rand((5, Irreps(irreps).dim), 14)
    grid = grid_for_power(L, nu, lout)
    values = to_grid(a, irreps, grid)
    assert values.shape == (5, 4, grid.n_beta, grid.n_alpha)
    a3 = from_grid(values**nu, natural(lout, 4), grid)
    # oracle: two exact Gaunt products (A (x) A to 2L, then (x) A to lout), channel by channel
    square = contract(gaunt_spec(irreps, irreps, channel_mode="uuu"), a, a)
    cube_spec = gaunt_spec(natural(2 * L, 4), irreps, lout, channel_mode="uuu")
    np.testing.assert_allclose(a3, contract(cube_spec, square, a), atol=1e-12, rtol=0)


def test_grid_helpers_errors():
    grid = grid_for_power(1, 2, 1)
    with pytest.raises(ValueError, match="mixes parity sectors"):
        to_grid(jnp.ones(4), "0e + 1e", grid)
    with pytest.raises(ValueError, match="one multiplicity"):
        to_grid(jnp.ones(7), "0e + 2x1o", grid)
    with pytest.raises(ValueError, match=r"values must have shape \(\.\.\., 2, n_beta, n_alpha\)"):
        from_grid(jnp.ones((3, grid.n_beta, grid.n_alpha)), "2x0e", grid)
    with pytest.raises(ValueError, match="power must be an int >= 1"):
        grid_for_power(1, 0, 1)
