"""Kernel plans: the accelerator plan has no chunk loop, the CPU plan keeps its chunks, and every
plan computes the same values and derivatives.

The GPU plan is checked without a GPU: ``jax.export`` lowers for ``platforms=["cuda"]`` (and TPU)
on this machine, and the StableHLO it produces must hold no ``while`` loop (``jax.lax.map`` over
chunks lowers to one). The same export for the CPU must hold one, or the check could not fail.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from equitens.conv import edge_convolution
from equitens.tp.plan import Plan, as_plan

METHODS = ("cg", "so2", "gaunt_grid", "cp")
IRREPS = "4x0e + 4x1o + 4x2e"


def _interaction(conv, num_nodes):
    """``out = segment_sum(conv(x[senders], vectors, weights), receivers)`` and its passes."""

    def forward(x, senders, receivers, vectors, weights):
        messages = conv(x[senders], vectors, weights)
        return jax.ops.segment_sum(messages, receivers, num_segments=num_nodes)

    def loss(x, senders, receivers, vectors, weights):
        return jnp.sum(forward(x, senders, receivers, vectors, weights) ** 2) / 2

    def fwd_bwd(x, senders, receivers, vectors, weights):
        return jax.grad(loss, argnums=(0, 3, 4))(x, senders, receivers, vectors, weights)

    def double(x, senders, receivers, vectors, weights):
        def force_loss(x, weights):
            forces = jax.grad(loss, argnums=3)(x, senders, receivers, vectors, weights)
            return jnp.sum(forces**2)

        return jax.grad(force_loss, argnums=(0, 1))(x, weights)

    return {"fwd": forward, "fwd+bwd": fwd_bwd, "double": double}


def _shapes(conv, num_nodes, num_edges, dtype=jnp.float32):
    s = jax.ShapeDtypeStruct
    return (
        s((num_nodes, conv.irreps_in.dim), dtype),
        s((num_edges,), jnp.int32),
        s((num_edges,), jnp.int32),
        s((num_edges, 3), dtype),
        s((num_edges, conv.weight_numel), dtype),
    )


def _while_loops(fn, shapes, platform) -> int:
    exported = jax.export.export(jax.jit(fn), platforms=[platform])(*shapes)
    return exported.mlir_module().count("stablehlo.while")


@pytest.mark.parametrize("method", METHODS)
def test_accelerator_plan_has_no_chunk_loop(method):
    conv = edge_convolution(IRREPS, IRREPS, 2, method=method)
    shapes = _shapes(conv, 1000, 1 << 17)  # enough edges for several CPU chunks in every family
    for mode, fn in _interaction(conv, 1000).items():
        for platform in ("cuda", "tpu"):
            assert _while_loops(fn, shapes, platform) == 0, (method, mode, platform)


@pytest.mark.parametrize(
    "method, irreps, lmax",
    [("cg", "16x0e + 16x1o + 16x2e + 16x3o", 3), ("so2", IRREPS, 2)],  # cg: the chunked dense plan
)
def test_cpu_plan_keeps_its_chunks_and_explicit_plans_win(method, irreps, lmax):
    """The default plan chunks on the CPU; ``chunk=None`` never chunks, an explicit budget always
    does (on every platform): the option is honoured, not overridden by the backend."""

    def passes(plan=None):
        return _interaction(edge_convolution(irreps, irreps, lmax, method=method, plan=plan), 1000)

    shapes = _shapes(edge_convolution(irreps, irreps, lmax, method=method), 1000, 1 << 17)
    for mode, fn in passes().items():
        assert _while_loops(fn, shapes, "cpu") > 0, mode
    for mode, fn in passes({"chunk": None}).items():
        assert _while_loops(fn, shapes, "cpu") == 0, mode
    assert _while_loops(passes("chunk=4096")["fwd+bwd"], shapes, "cuda") > 0


def test_cpu_plan_runs_the_unrolled_cg_kernels_unchunked():
    """Only the A-first CG algorithm keeps per-sample intermediates worth chunking: the unrolled
    sparse kernels (here, L <= 2) run in one pass on the CPU too, however many edges."""
    conv = edge_convolution(IRREPS, IRREPS, 2, method="cg")
    shapes = _shapes(conv, 1000, 1 << 17)
    for mode, fn in _interaction(conv, 1000).items():
        assert _while_loops(fn, shapes, "cpu") == 0, mode


@pytest.mark.parametrize("method", METHODS)
def test_plans_agree_on_values_and_derivatives(method):
    """Chunked (the smallest chunks, 45 edges padded to 48) and unchunked plans: one result.
    (The CPU default plan is checked against the oracles by every other test.)"""
    n, e = 7, 45
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    results = []
    for plan in (Plan(chunk=1), Plan(chunk=None)):
        conv = edge_convolution(IRREPS, IRREPS, 2, method=method, plan=plan)
        assert conv.plan == plan
        x = jax.random.normal(keys[0], (n, conv.irreps_in.dim), jnp.float64)
        senders = jax.random.randint(keys[1], (e,), 0, n)
        receivers = (senders + 1 + jnp.arange(e) % (n - 1)) % n
        vectors = jax.random.normal(keys[2], (e, 3), jnp.float64)
        weights = jax.random.normal(keys[3], (e, conv.weight_numel), jnp.float64)
        passes = _interaction(conv, n)
        results.append(
            [jax.jit(f)(x, senders, receivers, vectors, weights) for f in passes.values()]
        )
    flat = [jax.tree_util.tree_leaves(r) for r in results]
    for other in flat[1:]:
        for a, b in zip(flat[0], other, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(a).max())


def test_plan_options_are_checked_and_hashable():
    assert hash(Plan()) == hash(as_plan({})) and Plan() == as_plan("")
    assert as_plan("chunk=none,cg_algorithm=dense") == Plan(chunk=None, cg_algorithm="dense")
    for bad, match in [
        ({"chunk": 0}, "positive number"),
        ({"cg_algorithm": "fast"}, "one of"),
        ({"chunks": 1}, "unknown plan settings"),
        ("chunk", "key=value"),
    ]:
        with pytest.raises(ValueError, match=match):
            as_plan(bad)
