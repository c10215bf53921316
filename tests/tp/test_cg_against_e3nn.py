"""Black-box tests of ``equitens.tp`` (method "cg") against e3nn-jax, group identities and FD.

Oracles: ``e3nn_jax.tensor_product``, ``e3nn_jax.elementwise_tensor_product``,
``e3nn_jax.legacy.FunctionalTensorProduct`` (values), ``e3nn_jax.Irreps.D_from_matrix``
(equivariance under rotations and improper rotations) and finite differences (gradients).
"""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from e3nn_jax.legacy import FunctionalTensorProduct
from jax.test_util import check_grads

from equitens.tp import (
    TensorProductSpec,
    available_methods,
    elementwise_tensor_product,
    tensor_product,
    tensor_product_kernel,
)

ATOL = 1e-12
BATCH = 3


def _normal(irreps, seed: int, batch=(BATCH,)) -> e3nn.IrrepsArray:
    return e3nn.normal(irreps, jax.random.PRNGKey(seed), batch)


def _weights(n: int, seed: int, batch=()) -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(seed), batch + (n,), dtype=jnp.float64)


def _assert_same(ours: e3nn.IrrepsArray, ref: e3nn.IrrepsArray) -> None:
    assert ours.irreps == ref.irreps, f"irreps {ours.irreps} != e3nn's {ref.irreps}"
    assert ours.array.shape == ref.array.shape
    assert ours.array.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(ours.array), np.asarray(ref.array), rtol=0, atol=ATOL)


def _orthogonal_matrices(seed: int) -> list[jax.Array]:
    """A random rotation R, its improper partner -R, and the pure inversion."""
    R = e3nn.rand_matrix(jax.random.PRNGKey(seed), (), dtype=jnp.float64)
    assert np.isclose(np.linalg.det(np.asarray(R)), 1.0)
    return [R, -R, -jnp.eye(3)]


@functools.partial(jax.jit, static_argnums=0)
def _D(irreps: str, R) -> jax.Array:
    return e3nn.Irreps(irreps).D_from_matrix(R)


# ------------------------------------------------------------------ tensor_product

TP_CASES = [
    # (irreps_in1, irreps_in2, filter_ir_out)
    ("0e", "0e", None),  # scalars only, one channel
    ("3x0e + 2x0o", "2x0o + 0e", None),  # scalars only, multiplicities, odd parity
    ("1e", "1o", None),  # pseudo-vector x vector
    ("1e", "1o", ["1e", e3nn.Irrep("0o"), "2o"]),  # a list mixing strings and Irrep objects
    ("2x0o + 1e", "2o + 3x0e", None),  # odd parities, multiplicities on both sides
    ("2x0o + 1e", "2o + 3x0e", "0e + 1o + 2e + 3o"),  # a string filter
    ("1o + 0e + 1o", "0e + 2e + 0e", None),  # unsorted, unmerged inputs (e3nn regroups)
    ("1o + 0e + 1o", "0e + 2e + 0e", ["0e", "2o", "3o"]),  # filter with irreps no path reaches
    ("2x1o + 3e", "4e", None),  # L up to 4 (outputs up to 7)
    ("2x1o + 3e", "4e", "2e + 3o + 5o + 7e"),
]


@pytest.mark.parametrize("irreps1, irreps2, filter_ir_out", TP_CASES)
def test_tensor_product_matches_e3nn(irreps1, irreps2, filter_ir_out):
    x, y = _normal(irreps1, 0), _normal(irreps2, 1)
    ref = jax.jit(lambda a, b: e3nn.tensor_product(a, b, filter_ir_out=filter_ir_out))(x, y)
    ours = jax.jit(lambda a, b: tensor_product(a, b, filter_ir_out=filter_ir_out))(x, y)
    _assert_same(ours, ref)


def test_tensor_product_broadcasts_leading_dims_like_e3nn():
    x, y = _normal("2x0e + 1o", 0, (2, 1)), _normal("1o + 2e", 1, (3,))
    ref = jax.jit(e3nn.tensor_product)(x, y)
    ours = jax.jit(tensor_product)(x, y)
    assert ours.shape == (2, 3, ref.irreps.dim)
    _assert_same(ours, ref)


def test_tensor_product_filter_that_leaves_nothing_matches_e3nn():
    x, y = _normal("0e + 1o", 0), _normal("1o", 1)
    ref = e3nn.tensor_product(x, y, filter_ir_out="5e")  # e3nn-jax 0.21: empty output, no error
    ours = tensor_product(x, y, filter_ir_out="5e")
    assert ref.irreps == e3nn.Irreps("") and ref.shape == (BATCH, 0)
    _assert_same(ours, ref)


# ------------------------------------------------------------------ elementwise_tensor_product

EW_PAIRS = [
    ("3x0e", "3x0o", None),
    ("2x0e + 1o", "0e + 0e + 1o", None),  # different chunking of the same channels
    ("2x0e + 1o", "1e + 0o + 0o", None),  # chunks split across entries of different irreps
    ("2x1o + 2e", "1e + 1o + 4o", "0e + 1e + 2o + 3e + 5o + 6e"),  # L up to 4, string filter
    ("3x1o", "2x2e + 1o", ["1e", e3nn.Irrep("2o"), "0e"]),  # list filter
]


@pytest.mark.parametrize("irreps1, irreps2, filter_ir_out", EW_PAIRS)
def test_elementwise_tensor_product_matches_e3nn(irreps1, irreps2, filter_ir_out):
    x, y = _normal(irreps1, 2), _normal(irreps2, 3)
    ref = jax.jit(lambda a, b: e3nn.elementwise_tensor_product(a, b, filter_ir_out=filter_ir_out))(
        x, y
    )
    ours = jax.jit(lambda a, b: elementwise_tensor_product(a, b, filter_ir_out=filter_ir_out))(x, y)
    _assert_same(ours, ref)


def test_elementwise_filter_that_leaves_nothing_matches_e3nn():
    x, y = _normal("2x0e + 1o", 0), _normal("0e + 0e + 1o", 1)
    ref = e3nn.elementwise_tensor_product(x, y, filter_ir_out="3e")
    ours = elementwise_tensor_product(x, y, filter_ir_out="3e")
    assert ref.shape == (BATCH, 0)
    _assert_same(ours, ref)


# ------------------------------------------------------------------ uvu / uvw vs legacy e3nn

CONNECTED = [
    # (mode, irreps_in1, irreps_in2, irreps_out, path_normalization, irrep_normalization)
    (
        "uvu",
        "3x0e + 3x1o + 2x2e",
        "0e + 1o + 2e",
        "3x0e + 3x1o + 3x1e + 2x2e + 2x3o",
        "element",
        "component",
    ),
    ("uvu", "2x0o + 2x1e", "2x0e + 1o", "2x0o + 2x1o + 2x1e + 2x2o", "path", "norm"),
    ("uvw", "2x0e + 3x1o", "0e + 2x1o", "4x0e + 1x1o + 2x1e + 3x2e", "element", "component"),
    ("uvw", "2x0o + 1x2e", "1x1e + 1x3o", "2x1o + 3x2e + 1x4o", "path", "norm"),
]


def _expected_triples(irreps1, irreps2, irreps_out, mode):
    """Every (i1, i2, i_out) the selection rules allow (and, for uvu, mul_out == mul1)."""
    i1s, i2s, outs = e3nn.Irreps(irreps1), e3nn.Irreps(irreps2), e3nn.Irreps(irreps_out)
    return sorted(
        (i, j, k)
        for i, (m1, ir1) in enumerate(i1s)
        for j, (_, ir2) in enumerate(i2s)
        for k, (m3, ir3) in enumerate(outs)
        if ir3 in ir1 * ir2 and (mode != "uvu" or m1 == m3)
    )


def _connected_spec(mode, irreps1, irreps2, irreps_out, pn, irn):
    make = TensorProductSpec.channelwise if mode == "uvu" else TensorProductSpec.fully_connected
    return make(irreps1, irreps2, irreps_out, path_normalization=pn, irrep_normalization=irn)


def _legacy(spec, mode, irreps1, irreps2, irreps_out, pn, irn):
    instructions = [(p.i_in1, p.i_in2, p.i_out, mode, True) for p in spec.paths]
    # gradient_normalization="path" folds the normalisation constant into the forward pass, as
    # the spec's coefficients do (with "element" e3nn moves it into the weight initialisation).
    return FunctionalTensorProduct(
        irreps1,
        irreps2,
        irreps_out,
        instructions,
        irrep_normalization=irn,
        path_normalization=pn,
        gradient_normalization="path",
    )


@pytest.mark.parametrize("mode, irreps1, irreps2, irreps_out, pn, irn", CONNECTED)
def test_connected_kernel_matches_legacy_e3nn(mode, irreps1, irreps2, irreps_out, pn, irn):
    spec = _connected_spec(mode, irreps1, irreps2, irreps_out, pn, irn)
    assert spec.irreps_out == e3nn.Irreps(irreps_out)
    assert [(p.i_in1, p.i_in2, p.i_out) for p in spec.paths] == _expected_triples(
        irreps1, irreps2, irreps_out, mode
    )
    tp = _legacy(spec, mode, irreps1, irreps2, irreps_out, pn, irn)
    assert spec.weight_numel == sum(int(np.prod(i.path_shape)) for i in tp.instructions)
    x, y = _normal(irreps1, 4), _normal(irreps2, 5)
    kernel = jax.jit(tensor_product_kernel(spec))

    # Shared weights.
    w = _weights(spec.weight_numel, 6)
    ref = jax.jit(jax.vmap(tp.left_right, (None, 0, 0)))(w, x, y)
    ours = kernel(x.array, y.array, w)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref.array), rtol=0, atol=ATOL)

    # Per-sample weights (per-edge weights from a radial MLP).
    ws = _weights(spec.weight_numel, 7, (BATCH,))
    ref = jax.jit(jax.vmap(tp.left_right))(ws, x, y)
    ours = kernel(x.array, y.array, ws)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref.array), rtol=0, atol=ATOL)


def test_weighted_elementwise_kernel_matches_legacy_e3nn():
    irreps1, irreps2 = "2x0e + 2x1o + 2e", "2x1e + 2x0o + 2o"  # aligned entry by entry
    spec = TensorProductSpec.elementwise(irreps1, irreps2, weighted=True)
    assert [(p.i_in1, p.i_in2) for p in spec.paths] == [
        (i, i)
        for i, (_, ir1) in enumerate(e3nn.Irreps(irreps1))
        for _ in ir1 * e3nn.Irreps(irreps2)[i].ir
    ]
    instructions = [(p.i_in1, p.i_in2, p.i_out, "uuu", True) for p in spec.paths]
    tp = FunctionalTensorProduct(
        irreps1, irreps2, spec.irreps_out.to_e3nn(), instructions, gradient_normalization="path"
    )
    x, y = _normal(irreps1, 30), _normal(irreps2, 31)
    ws = _weights(spec.weight_numel, 32, (BATCH,))
    ref = jax.jit(jax.vmap(tp.left_right))(ws, x, y)
    ours = jax.jit(tensor_product_kernel(spec))(x.array, y.array, ws)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref.array), rtol=0, atol=ATOL)


# ------------------------------------------------------------------ equivariance (O(3))


def _check_equivariance(f, irreps1, irreps2, irreps_out, x, y, seed):
    out = f(x, y)
    for R in _orthogonal_matrices(seed):
        d1, d2, d3 = (_D(str(irreps), R) for irreps in (irreps1, irreps2, irreps_out))
        rotated_then_tp = f(x @ d1.T, y @ d2.T)
        tp_then_rotated = out @ d3.T
        np.testing.assert_allclose(
            np.asarray(rotated_then_tp), np.asarray(tp_then_rotated), rtol=0, atol=1e-11
        )
    assert float(jnp.max(jnp.abs(out))) > 1e-3  # the check is not vacuous


@pytest.mark.parametrize(
    "product, irreps1, irreps2, seed",
    [
        (tensor_product, "2x0o + 1e", "1o + 2e", 8),
        (elementwise_tensor_product, "2x0o + 1e + 2o", "1o + 0o + 0e + 2e", 11),
    ],
    ids=["tensor_product", "elementwise_tensor_product"],
)
def test_functional_product_is_o3_equivariant(product, irreps1, irreps2, seed):
    x, y = _normal(irreps1, seed).array, _normal(irreps2, seed + 1).array
    irreps_out = product(_normal(irreps1, 0), _normal(irreps2, 0)).irreps

    @jax.jit
    def f(a, b):
        return product(e3nn.IrrepsArray(irreps1, a), e3nn.IrrepsArray(irreps2, b)).array

    _check_equivariance(f, irreps1, irreps2, irreps_out, x, y, seed + 2)


@pytest.mark.parametrize("mode, irreps1, irreps2, irreps_out, pn, irn", CONNECTED[1:3])
def test_connected_kernel_is_o3_equivariant(mode, irreps1, irreps2, irreps_out, pn, irn):
    spec = _connected_spec(mode, irreps1, irreps2, irreps_out, pn, irn)
    kernel = tensor_product_kernel(spec)
    ws = _weights(spec.weight_numel, 14, (BATCH,))
    f = jax.jit(lambda a, b: kernel(a, b, ws))
    x, y = _normal(irreps1, 15).array, _normal(irreps2, 16).array
    _check_equivariance(f, irreps1, irreps2, irreps_out, x, y, 17)


# ------------------------------------------------------------------ gradients (force training)

GRAD_SPECS = {
    "full": lambda: TensorProductSpec.full("0e + 1o", "1o + 2e", filter_ir_out="0e + 1o + 1e + 2e"),
    "uuu": lambda: TensorProductSpec.elementwise("1o + 1e", "0e + 1e", weighted=True),
    "uvu": lambda: TensorProductSpec.channelwise("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e"),
    "uvw": lambda: TensorProductSpec.fully_connected("0e + 1o", "1o + 0o", "0o + 2x1o + 1e"),
}
# Weighted modes: per-sample weights (per-edge, from a radial MLP) for uuu/uvu, shared for uvw.
GRAD_WEIGHT_BATCH = {"uuu": (2,), "uvu": (2,), "uvw": ()}


@pytest.mark.parametrize("name", list(GRAD_SPECS))
def test_first_and_second_order_gradients_match_finite_differences(name):
    spec = GRAD_SPECS[name]()
    kernel = jax.jit(tensor_product_kernel(spec))
    x = _normal(spec.irreps_in1.to_e3nn(), 18, (2,)).array
    y = _normal(spec.irreps_in2.to_e3nn(), 19, (2,)).array
    if spec.weighted:
        w = _weights(spec.weight_numel, 20, GRAD_WEIGHT_BATCH[name])
        check_grads(kernel, (x, y, w), order=2, modes=["rev"])
    else:
        check_grads(kernel, (x, y), order=2, modes=["rev"])


def test_force_like_gradient_of_energy_matches_finite_differences():
    """d/dx of a scalar energy, differentiated again w.r.t. the weights (force loss)."""
    spec = GRAD_SPECS["uvu"]()
    kernel = tensor_product_kernel(spec)
    x = _normal(spec.irreps_in1.to_e3nn(), 22, (2,)).array
    y = _normal(spec.irreps_in2.to_e3nn(), 23, (2,)).array
    w = _weights(spec.weight_numel, 24, (2,))

    def force_loss(x, y, w):
        forces = jax.grad(lambda y_: jnp.sum(kernel(x, y_, w) ** 2))(y)
        return jnp.sum(forces**2)

    check_grads(jax.jit(force_loss), (x, y, w), order=1, modes=["rev"])


# ------------------------------------------------------------------ clear errors


def test_unknown_method_names_the_available_ones():
    x, y = _normal("0e + 1o", 0), _normal("1o", 1)
    assert "cg" in available_methods()
    for call in (tensor_product, elementwise_tensor_product):
        with pytest.raises(ValueError, match=r"unknown tensor-product method 'nope'.*'cg'"):
            call(x, y, method="nope")
    with pytest.raises(ValueError, match=r"'nope'.*'cg'"):
        TensorProductSpec.full("0e", "0e", method="nope")


def test_uuu_with_mismatched_multiplicities_raises():
    with pytest.raises(ValueError, match=r"mul1 == mul2 == mul_out.*\(got 2, 3, 2\)"):
        TensorProductSpec.from_instructions("2x0e", "3x0e", "2x0e", [(0, 0, 0)], "uuu")
    with pytest.raises(ValueError, match="same multiplicities entry by entry"):
        TensorProductSpec.elementwise("2x0e", "3x0e")
    with pytest.raises(ValueError, match="same number of irreps"):
        elementwise_tensor_product(_normal("2x0e", 0), _normal("3x0e", 1))


@pytest.mark.parametrize("mode", ["uvu", "uvw"])
def test_unreachable_output_irrep_raises(mode):
    make = TensorProductSpec.channelwise if mode == "uvu" else TensorProductSpec.fully_connected
    # 1o x 1o = 0e + 1e + 2e: neither 1o (parity) nor 3e (degree) can be produced.
    for bad in ("2x1o", "2x3e"):
        with pytest.raises(ValueError, match=rf"no path .* produces the output {bad}.*Reachable"):
            make("2x1o", "1o", f"2x0e + {bad}")


def test_explicit_path_breaking_the_selection_rules_raises():
    with pytest.raises(ValueError, match="breaks parity"):
        TensorProductSpec.from_instructions("1o", "1o", "1o", [(0, 0, 0)], "uvw")
    with pytest.raises(ValueError, match="triangle rule"):
        TensorProductSpec.from_instructions("1o", "1o", "3e", [(0, 0, 0)], "uvw")


def test_wrong_input_shapes_raise():
    spec = TensorProductSpec.channelwise("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
    kernel = tensor_product_kernel(spec)
    x, y = jnp.ones((BATCH, spec.irreps_in1.dim)), jnp.ones((BATCH, spec.irreps_in2.dim))
    w = jnp.ones((spec.weight_numel,))
    with pytest.raises(ValueError, match=r"x1 must have shape \(\.\.\., 8\)"):
        kernel(x[:, :-1], y, w)
    with pytest.raises(ValueError, match=r"x2 must have shape \(\.\.\., 4\)"):
        kernel(x, jnp.ones((BATCH, 3)), w)
    with pytest.raises(ValueError, match="x1 must have shape"):
        kernel(jnp.ones(()), y, w)
    with pytest.raises(
        ValueError, match=rf"weights must have shape \(\.\.\., {spec.weight_numel}\)"
    ):
        kernel(x, y, w[:-1])
    with pytest.raises(ValueError, match="needs weights"):
        kernel(x, y)
    with pytest.raises(ValueError, match="has no weights"):
        tensor_product_kernel(TensorProductSpec.full("0e", "0e"))(x[:, :1], y[:, :1], w)
