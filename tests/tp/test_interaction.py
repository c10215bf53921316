"""The fused interaction (gather, channelwise product, scatter; every derivative fused).

Oracles: e3nn-jax's legacy ``FunctionalTensorProduct`` on the gathered senders, summed into the
receivers (values); the unfused interaction (gather, the "cg" convolution, ``segment_sum``) for
derivatives of every order; finite differences (``check_grads``); rotations and inversion. The
Pallas kernels run in interpret mode here and are lowered for CUDA (Triton) to check that the GPU
build compiles to fused kernels with no loop around them.
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from e3nn_jax.legacy import FunctionalTensorProduct
from jax.test_util import check_grads

from equitens.conv import edge_convolution, sh_irreps
from equitens.so3 import D_from_matrix, random_rotation
from equitens.tp.interaction import InteractionForm, fused_interaction, slot_contraction
from equitens.tp.plan import Plan
from equitens.tp.spec import TensorProductSpec

NODES, EDGES = 5, 13
IRREPS = {  # (irreps of the features, irreps of the messages): parity-mixed from L = 1
    0: ("2x0e + 2x0o", "2x0e + 2x0o"),
    1: ("2x0e + 2x1o + 2x1e", "2x0e + 2x0o + 2x1o + 2x1e"),
    2: ("2x0e + 2x1o + 2x2e", "2x0e + 2x1o + 2x1e + 2x2e + 2x2o"),
    3: ("2x0e + 2x1o + 2x2e + 2x3o", "2x0e + 2x1o + 2x2e + 2x3o + 2x3e"),
    4: ("2x0e + 2x2e + 2x4e", "2x0e + 2x1o + 2x2e + 2x4e"),
}


def _conv(lmax: int, interaction: str, dtype=jnp.float64):
    irreps_in, irreps_out = IRREPS[lmax]
    return edge_convolution(irreps_in, irreps_out, lmax, plan=Plan(interaction=interaction))


def _graph(conv, seed: int = 0, dtype=jnp.float64):
    """Random features, vectors and weights; the last node is a padding node whose edges have
    zero vectors and zero weights (as the models pad)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    x = jax.random.normal(keys[0], (NODES, conv.irreps_in.dim), dtype)
    vectors = jax.random.normal(keys[1], (EDGES, 3), dtype)
    weights = jax.random.normal(keys[2], (EDGES, conv.weight_numel), dtype)
    senders = jax.random.randint(keys[3], (EDGES,), 0, NODES - 1)
    receivers = jax.random.randint(keys[4], (EDGES,), 0, NODES - 1)
    padding = NODES - 1
    senders, receivers = senders.at[-2:].set(padding), receivers.at[-2:].set(padding)
    vectors, weights = vectors.at[-2:].set(0.0), weights.at[-2:].set(0.0)
    return x, senders, receivers, vectors, weights


def _e3nn_reference(conv, x, senders, receivers, vectors, weights):
    spec = TensorProductSpec.channelwise(conv.irreps_in, sh_irreps(conv.lmax), conv.irreps_out)
    instructions = [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in spec.paths]
    tp = FunctionalTensorProduct(
        conv.irreps_in.to_e3nn(),
        sh_irreps(conv.lmax).to_e3nn(),
        conv.irreps_out.to_e3nn(),
        instructions,
        gradient_normalization="path",
    )
    y = e3nn.spherical_harmonics(sh_irreps(conv.lmax).to_e3nn(), vectors, normalize=True)
    sent = e3nn.IrrepsArray(conv.irreps_in.to_e3nn(), x[senders])
    messages = jax.vmap(tp.left_right)(weights, sent, y).array
    return jax.ops.segment_sum(messages, receivers, num_segments=NODES)


def _aggregate(conv):
    return lambda x, s, r, v, w: conv.aggregate(x, s, r, v, w)


VALUE_CASES = [(lmax, jnp.float64, b) for lmax in range(5) for b in ("pallas", "xla")] + [
    (2, jnp.float32, "pallas"),
    (4, jnp.float32, "pallas"),
    pytest.param(1, jnp.float32, "xla", marks=pytest.mark.slow),
    pytest.param(3, jnp.float32, "pallas", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("lmax, dtype, interaction", VALUE_CASES)
def test_values_match_e3nn(lmax, dtype, interaction):
    conv = _conv(lmax, interaction)
    x, senders, receivers, vectors, weights = _graph(conv, seed=lmax, dtype=dtype)
    ours = jax.jit(_aggregate(conv))(x, senders, receivers, vectors, weights)
    reference = _e3nn_reference(conv, x, senders, receivers, vectors, weights)
    assert ours.shape == (NODES, conv.irreps_out.dim) and ours.dtype == dtype
    atol = 1e-12 if dtype == jnp.float64 else 2e-5
    np.testing.assert_allclose(ours, reference, atol=atol, rtol=0)
    assert np.abs(reference).max() > 0.1  # the check has something to compare
    assert np.all(ours[NODES - 1] == 0)  # the padding node receives nothing


def _losses(conv):
    """The energy-like scalar, its force-like gradient and the force loss (training on forces)."""
    aggregate = _aggregate(conv)

    def energy(x, vectors, weights, senders, receivers):
        return jnp.sum(aggregate(x, senders, receivers, vectors, weights) ** 2) / 2

    def force_loss(x, vectors, weights, senders, receivers):
        forces = jax.grad(energy, argnums=1)(x, vectors, weights, senders, receivers)
        return jnp.sum(forces**2)

    return energy, force_loss


@pytest.mark.parametrize("lmax", [1, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.parametrize("interaction", ["pallas", "xla"])
def test_first_and_second_derivatives_match_unfused(interaction, lmax):
    """fwd+bwd (gradients w.r.t. features, vectors, weights) and the double backward (gradients
    of the force loss w.r.t. features and weights) equal the unfused interaction's."""
    fused, unfused = _conv(lmax, interaction), _conv(lmax, "unfused")
    x, senders, receivers, vectors, weights = _graph(fused, seed=7)
    args = (x, vectors, weights, senders, receivers)
    for which in range(2):
        ours = jax.jit(jax.grad(_losses(fused)[which], argnums=(0, 1, 2)))(*args)
        reference = jax.grad(_losses(unfused)[which], argnums=(0, 1, 2))(*args)
        for a, b in zip(ours, reference, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-10, rtol=1e-11)
            assert np.all(np.isfinite(a))


@pytest.mark.parametrize("interaction", [pytest.param("pallas", marks=pytest.mark.slow), "xla"])
def test_third_order_and_forward_mode(interaction):
    """Any order, either mode: the Hessian-vector product of the force loss (third order), by
    forward-over-reverse and by reverse-over-reverse, against the unfused interaction's.

    The derivative rules do not depend on the backend (each backend only evaluates the slot
    contractions, all four of which the second-order test checks for Pallas): the default run
    checks them with the XLA form; Pallas under ``-m slow``."""
    fused, reference = _conv(1, interaction), _conv(1, "unfused")
    x, senders, receivers, vectors, weights = _graph(fused, seed=3)
    tangent = jnp.ones_like(vectors)

    def third_forward(conv):
        grad = jax.grad(_losses(conv)[1], argnums=1)
        return jax.jvp(lambda v: grad(x, v, weights, senders, receivers), (vectors,), (tangent,))[1]

    def third_reverse(conv):  # the unfused kernels have no forward mode
        grad = jax.grad(_losses(conv)[1], argnums=1)
        return jax.grad(lambda v: jnp.vdot(grad(x, v, weights, senders, receivers), tangent))(
            vectors
        )

    expected = third_reverse(reference)  # the Hessian of the force loss is symmetric
    np.testing.assert_allclose(third_forward(fused), expected, atol=1e-9, rtol=1e-10)
    np.testing.assert_allclose(third_reverse(fused), expected, atol=1e-9, rtol=1e-10)


@pytest.mark.parametrize("interaction", [pytest.param("pallas", marks=pytest.mark.slow), "xla"])
def test_gradients_against_finite_differences(interaction):
    conv = _conv(1, interaction)
    x, senders, receivers, vectors, weights = _graph(conv, seed=11)
    vectors = vectors.at[-2:].set(1.0)  # finite differences of |v| need nonzero vectors

    def f(x, vectors, weights):
        return conv.aggregate(x, senders, receivers, vectors, weights)

    check_grads(f, (x, vectors, weights), order=2, modes=("rev",), atol=1e-6, rtol=1e-6)
    check_grads(f, (x, vectors, weights), order=1, modes=("fwd",), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("parity", [1, -1])
def test_equivariant_under_rotations_and_inversion(parity):
    conv = _conv(2, "pallas")
    x, senders, receivers, vectors, weights = _graph(conv, seed=5)
    rotation = parity * random_rotation(jax.random.PRNGKey(9), dtype=jnp.float64)
    d_in = D_from_matrix(conv.irreps_in, rotation)
    d_out = D_from_matrix(conv.irreps_out, rotation)
    aggregate = jax.jit(_aggregate(conv))
    rotated = aggregate(x @ d_in.T, senders, receivers, vectors @ rotation.T, weights)
    expected = aggregate(x, senders, receivers, vectors, weights) @ d_out.T
    np.testing.assert_allclose(rotated, expected, atol=1e-11)


def test_vmap_over_graphs():
    conv = _conv(1, "pallas")
    graphs = [_graph(conv, seed=s) for s in (1, 2)]
    stacked = [jnp.stack(parts) for parts in zip(*graphs, strict=True)]
    batched = jax.vmap(_aggregate(conv))(*stacked)
    for n, graph in enumerate(graphs):
        np.testing.assert_allclose(batched[n], conv.aggregate(*graph), atol=1e-12)


def test_out_of_range_receivers_are_dropped_like_segment_sum():
    conv = _conv(1, "pallas")
    x, senders, receivers, vectors, weights = _graph(conv, seed=2)
    receivers = receivers.at[0].set(NODES + 3).at[1].set(-1)
    ours = conv.aggregate(x, senders, receivers, vectors, weights)
    reference = _conv(1, "unfused").aggregate(x, senders, receivers, vectors, weights)
    np.testing.assert_allclose(ours, reference, atol=1e-12)


def _export_cuda(fn, *args):
    checks = [jax.export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")]
    return jax.export.export(jax.jit(fn), platforms=["cuda"], disabled_checks=checks)(*args)


def test_lowers_for_cuda_to_fused_kernels_without_loops():
    """fwd, fwd+bwd and double backward each lower for CUDA (Triton) on this CPU machine: one
    Triton kernel per slot contraction, no ``stablehlo.while`` (no chunk loop)."""
    conv = _conv(2, "pallas")
    nodes, edges = 10, 37
    f32 = jnp.float32
    args = (
        jax.ShapeDtypeStruct((nodes, conv.irreps_in.dim), f32),
        jax.ShapeDtypeStruct((edges, 3), f32),
        jax.ShapeDtypeStruct((edges, conv.weight_numel), f32),
        jax.ShapeDtypeStruct((edges,), jnp.int32),
        jax.ShapeDtypeStruct((edges,), jnp.int32),
    )
    energy, force_loss = _losses(conv)

    def forward(x, v, w, s, r):
        return conv.aggregate(x, s, r, v, w)

    passes = {
        "fwd": (forward, 1),
        "fwd+bwd": (jax.grad(energy, argnums=(0, 1, 2)), 4),
        "double": (jax.grad(force_loss, argnums=(0, 2)), 7),
    }
    for name, (fn, kernels) in passes.items():
        text = _export_cuda(fn, *args).mlir_module()
        assert text.count("__gpu$xla.gpu.triton") == kernels, name
        assert "stablehlo.while" not in text, name
    unfused = _export_cuda(jax.grad(_losses(_conv(2, "unfused"))[0]), *args).mlir_module()
    assert "__gpu$xla.gpu.triton" not in unfused  # the check can fail


def test_clear_errors():
    cp = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", 1, method="cp", plan="interaction=pallas")
    x, senders, receivers, vectors, weights = _graph(cp)
    with pytest.raises(ValueError, match="does not have.*interaction='unfused'"):
        cp.aggregate(x, senders, receivers, vectors, weights)
    mixed = edge_convolution("2x0e + 1x1o", "2x0e + 1x1o", 1, plan="interaction=pallas")
    with pytest.raises(ValueError, match="does not have"):
        mixed.aggregate(
            jnp.zeros((3, 5)),
            senders[:2],
            receivers[:2],
            vectors[:2],
            jnp.zeros((2, mixed.weight_numel)),
        )
    conv = _conv(1, "pallas")
    x, senders, receivers, vectors, weights = _graph(conv)
    with pytest.raises(ValueError, match=r"weights must have shape \(num_edges"):
        conv.aggregate(x, senders, receivers, vectors, weights[:, 1:])
    with pytest.raises(ValueError, match="same length"):
        conv.aggregate(x, senders, receivers[1:], vectors, weights)
    with pytest.raises(ValueError, match="one multiplicity"):
        InteractionForm.from_spec(TensorProductSpec.channelwise("2x0e + 1x1o", "1o", "2x1o"))
    form = InteractionForm.from_spec(TensorProductSpec.channelwise("2x0e", "0e", "2x0e"))
    with pytest.raises(ValueError, match="backend must be one of"):
        fused_interaction(
            form,
            jnp.zeros((2, 1, 2)),
            jnp.zeros((1, 1)),
            jnp.zeros((1, 1, 2)),
            jnp.zeros(1, int),
            jnp.zeros(1, int),
            backend="cuda",
        )


def test_xla_contractions_equal_the_dense_contractions():
    """Every slot contraction of the XLA form (the terms unrolled over the gathered rows, summed
    into the nodes or stacked per edge) against a numpy contraction with the dense tensor of the
    terms, on parity-mixed irreps up to L = 2, with an out-of-range receiver (reads zeros, and its
    message is dropped)."""
    spec = TensorProductSpec.channelwise("3x0e + 3x1o + 3x2e", "0e + 1o + 2e", "3x0e + 3x1e + 3x2o")
    form = InteractionForm.from_spec(spec)
    dx, dy, paths, dout = form.dims
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(NODES, dx, 3)), rng.normal(size=(NODES, dout, 3))
    y, w = rng.normal(size=(EDGES, dy)), rng.normal(size=(EDGES, paths, 3))
    senders, receivers = rng.integers(0, NODES, EDGES), rng.integers(0, NODES, EDGES)
    receivers[3] = NODES
    arrays = (x, y, w, g)
    g_rows = np.concatenate([g, np.zeros((1, dout, 3))])[receivers]
    xs, dense = x[senders], form.dense()
    per_edge = {
        0: np.einsum("ijpk,ej,epc,ekc->eic", dense, y, w, g_rows),
        1: np.einsum("ijpk,eic,epc,ekc->ej", dense, xs, w, g_rows),
        2: np.einsum("ijpk,eic,ej,ekc->epc", dense, xs, y, g_rows),
        3: np.einsum("ijpk,eic,ej,epc->ekc", dense, xs, y, w),
    }
    expected = {1: per_edge[1], 2: per_edge[2]}
    for slot, index in ((0, senders), (3, receivers)):
        expected[slot] = np.zeros_like(arrays[slot])
        valid = index < NODES
        np.add.at(expected[slot], index[valid], per_edge[slot][valid])
    indices = (jnp.asarray(senders, jnp.int32), jnp.asarray(receivers, jnp.int32))
    for target, reference in expected.items():
        operands = {s: jnp.asarray(a) for s, a in enumerate(arrays) if s != target}
        ours = slot_contraction(
            target, operands, indices, form=form, num_nodes=NODES, backend="xla"
        )
        assert np.abs(reference).max() > 1.0
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12, err_msg=str(target))
