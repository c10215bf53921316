"""The fused SO(2) interaction (``method="so2"`` with plan ``interaction=pallas|xla``).

Oracles: e3nn-jax's Clebsch-Gordan product with the CG path weights that the SO(2) weights
reproduce (:func:`~equitens.conv.so2.so2_weights_from_cg`), summed into the receivers; the unfused
SO(2) interaction (gather, the so2 convolution, ``segment_sum``) for truncated, rescaled and
SO(3)-only layouts and for derivatives of every order; finite differences; rotations and
inversion; the CUDA lowering (Triton kernels, no loop).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from equitens.conv import edge_convolution
from equitens.conv.so2 import so2_weights_from_cg
from equitens.so3 import D_from_matrix, random_rotation
from equitens.tp.plan import Plan
from tests.tp.test_interaction import (
    IRREPS,
    NODES,
    _aggregate,
    _e3nn_reference,
    _export_cuda,
    _graph,
    _losses,
)


def _so2(lmax: int, interaction: str, **options):
    irreps_in, irreps_out = IRREPS[lmax]
    plan = Plan(interaction=interaction)
    return edge_convolution(irreps_in, irreps_out, lmax, method="so2", plan=plan, **options)


VALUE_CASES = [(lmax, jnp.float64, b) for lmax in range(4) for b in ("pallas", "xla")] + [
    (4, jnp.float64, "xla"),
    (2, jnp.float32, "pallas"),
    pytest.param(4, jnp.float64, "pallas", marks=pytest.mark.slow),
    pytest.param(4, jnp.float32, "pallas", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("lmax, dtype, interaction", VALUE_CASES)
def test_values_match_e3nn_with_the_equivalent_cg_weights(lmax, dtype, interaction):
    so2 = _so2(lmax, interaction)
    cg = edge_convolution(*IRREPS[lmax], lmax, method="cg")
    x, senders, receivers, vectors, cg_weights = _graph(cg, seed=lmax, dtype=dtype)
    weights = so2_weights_from_cg(so2.irreps_in, so2.irreps_out, lmax, cg_weights)
    ours = jax.jit(_aggregate(so2))(x, senders, receivers, vectors, weights)
    reference = _e3nn_reference(cg, x, senders, receivers, vectors, cg_weights)
    assert ours.shape == (NODES, so2.irreps_out.dim) and ours.dtype == dtype
    atol = 1e-11 if dtype == jnp.float64 else 3e-5
    np.testing.assert_allclose(ours, reference, atol=atol, rtol=0)
    assert np.abs(reference).max() > 0.1  # the check has something to compare
    assert np.all(ours[NODES - 1] == 0)  # the padding node receives nothing


@pytest.mark.parametrize(
    "options",
    [dict(m_max=1, rescale=True), dict(m_max=0), dict(parity=False)],
    ids=["m_max=1,rescale", "m_max=0", "SO(3)"],
)
@pytest.mark.parametrize("interaction", ["pallas", "xla"])
def test_truncated_rescaled_and_so3_layouts_match_unfused(options, interaction):
    fused, unfused = _so2(3, interaction, **options), _so2(3, "unfused", **options)
    x, senders, receivers, vectors, weights = _graph(fused, seed=4)
    ours = jax.jit(_aggregate(fused))(x, senders, receivers, vectors, weights)
    reference = unfused.aggregate(x, senders, receivers, vectors, weights)
    np.testing.assert_allclose(ours, reference, atol=1e-12, rtol=0)
    assert np.abs(reference).max() > 0.1


@pytest.mark.parametrize("lmax", [1, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.parametrize("interaction", ["pallas", pytest.param("xla", marks=pytest.mark.slow)])
def test_first_and_second_derivatives_match_unfused(interaction, lmax):
    """fwd+bwd and the double backward (the force loss): the Wigner rows sit in two slots of
    the form, and the second derivative through them pairs the two (a form that is not linear
    in each slot, e.g. without the ``D^0 = 1`` rows, fails here)."""
    fused, unfused = _so2(lmax, interaction), _so2(lmax, "unfused")
    x, senders, receivers, vectors, weights = _graph(fused, seed=7)
    args = (x, vectors, weights, senders, receivers)
    for which in range(2):
        ours = jax.jit(jax.grad(_losses(fused)[which], argnums=(0, 1, 2)))(*args)
        reference = jax.grad(_losses(unfused)[which], argnums=(0, 1, 2))(*args)
        for a, b in zip(ours, reference, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-10, rtol=1e-11)
            assert np.all(np.isfinite(a))


@pytest.mark.slow
def test_third_order_in_both_modes():
    fused, reference = _so2(1, "xla"), _so2(1, "unfused")
    x, senders, receivers, vectors, weights = _graph(fused, seed=3)
    tangent = jnp.ones_like(vectors)

    def gradient(conv):
        grad = jax.grad(_losses(conv)[1], argnums=1)
        return lambda v: grad(x, v, weights, senders, receivers)

    expected = jax.grad(lambda v: jnp.vdot(gradient(reference)(v), tangent))(vectors)
    forward = jax.jvp(gradient(fused), (vectors,), (tangent,))[1]
    reverse = jax.grad(lambda v: jnp.vdot(gradient(fused)(v), tangent))(vectors)
    np.testing.assert_allclose(forward, expected, atol=1e-9, rtol=1e-10)
    np.testing.assert_allclose(reverse, expected, atol=1e-9, rtol=1e-10)


# Slow (16 s): by default the fused so2 derivatives are checked against the unfused so2 (itself
# checked against finite differences in test_so2.py) and the primitive's rules against finite
# differences in tests/tp/test_interaction.py.
@pytest.mark.slow
@pytest.mark.parametrize("interaction", ["pallas", "xla"])
def test_gradients_against_finite_differences(interaction):
    conv = _so2(1, interaction)
    x, senders, receivers, vectors, weights = _graph(conv, seed=11)
    vectors = vectors.at[-2:].set(1.0)  # finite differences of the frame need nonzero vectors

    def f(x, vectors, weights):
        return conv.aggregate(x, senders, receivers, vectors, weights)

    check_grads(f, (x, vectors, weights), order=2, modes=("rev",), atol=1e-6, rtol=1e-6)
    check_grads(f, (x, vectors, weights), order=1, modes=("fwd",), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("parity", [1, -1])
def test_equivariant_under_rotations_and_inversion(parity):
    conv = _so2(2, "pallas")
    x, senders, receivers, vectors, weights = _graph(conv, seed=5)
    rotation = parity * random_rotation(jax.random.PRNGKey(9), dtype=jnp.float64)
    d_in = D_from_matrix(conv.irreps_in, rotation)
    d_out = D_from_matrix(conv.irreps_out, rotation)
    aggregate = jax.jit(_aggregate(conv))
    rotated = aggregate(x @ d_in.T, senders, receivers, vectors @ rotation.T, weights)
    expected = aggregate(x, senders, receivers, vectors, weights) @ d_out.T
    np.testing.assert_allclose(rotated, expected, atol=1e-11)


def test_lowers_for_cuda_to_fused_kernels_without_loops():
    """fwd, fwd+bwd and double backward lower for CUDA (Triton) here: one kernel per slot
    contraction (fwd+bwd: the messages, then the x, both Wigner and the w slots), no chunk loop
    (the unfused so2 has one on the CPU plan and none on the GPU plan)."""
    conv = _so2(2, "pallas")
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
        "fwd+bwd": (jax.grad(energy, argnums=(0, 1, 2)), 5),
        "double": (jax.grad(force_loss, argnums=(0, 2)), None),
    }
    for name, (fn, kernels) in passes.items():
        text = _export_cuda(fn, *args).mlir_module()
        count = text.count("__gpu$xla.gpu.triton")
        assert count == kernels if kernels else count > 5, (name, count)
        assert "stablehlo.while" not in text, name
