"""Pallas kernels of the fused interaction, generated from its form for any target slot.

One kernel per slot contraction of :mod:`equitens.tp.interaction` (the forward is the contraction
of the output slot ``g``; each derivative is another slot's). The kernel body is the form's
``contribution`` of one edge (unrolled from the form's sparse description: the Clebsch-Gordan
terms, or the SO(2) rotations and per-``m`` blocks), the same code for every target and form; what
changes is where the rows come from and where the result goes:

- a **node target** (``g``, the forward, or ``x``, the feature gradient) runs one program per node
  over the node's edges (edges sorted by receiver, resp. sender: CSR offsets), gathering the other
  node slot's rows through the other index array and accumulating in registers; it writes each
  node row once, with no atomics and no per-edge intermediate in memory;
- an **edge target** (``w``, ``y``: the weight and harmonic gradients) runs one program per block
  of edges, gathering both node slots' rows, and writes each edge's row.

The channel axis is the vector axis of every row (padded to a power of two, as Triton needs).
On the CPU the same kernels run in Pallas' interpret mode (the tests); on GPU they lower to
Triton.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from equitens.tp.interaction import (
    EDGE,
    RECEIVER,
    SENDER,
    other_slots,
    target_shape,
)

__all__ = ["pallas_contraction"]

EDGE_BLOCK = 16
"""Edges per program of the edge-target kernels."""


def _load_rows(form, refs: dict, rows_of: dict) -> dict:
    """``{slot: {component: row}}``: ``rows_of[slot]`` is the row index of that slot's array."""
    out = {}
    for slot, ref in refs.items():
        index = rows_of[slot]
        if form.kinds[slot] == EDGE:
            out[slot] = {j: ref[index, j] for j in form.used(slot)}
        else:
            out[slot] = {i: ref[index, i, :] for i in form.used(slot)}
    return out


def _edge_rows_of(form, e, sender, receiver) -> dict:
    """The row of each slot for edge ``e``: node slots through its sender or receiver."""
    node = {SENDER: sender, RECEIVER: receiver}
    return {slot: node.get(kind, e) for slot, kind in enumerate(form.kinds)}


def _node_kernel(form, target: int, channels: int, dtype):
    """Program ``n``: the target row of node ``n``, summed over the node's edges."""
    others = other_slots(form, target)
    width = form.dims[target]

    def kernel(offsets_ref, order_ref, index_ref, *refs):
        slot_refs = dict(zip(others, refs[:-1], strict=True))
        out_ref = refs[-1]
        n = pl.program_id(0)

        def body(position, acc):  # two independent index loads, then the rows
            e, other = order_ref[position], index_ref[position]
            rows_of = _edge_rows_of(form, e, other, other)
            terms = form.contribution(target, _load_rows(form, slot_refs, rows_of))
            return tuple(acc[k] + terms[k] if k in terms else acc[k] for k in range(width))

        zero = jnp.zeros((channels,), dtype)
        acc = jax.lax.fori_loop(
            offsets_ref[n], offsets_ref[n + 1], body, tuple(zero for _ in range(width))
        )
        for k in range(width):
            out_ref[n, k, :] = acc[k]

    return kernel


def _edge_kernel(form, target: int, channels: int, dtype, edges: int):
    """Program ``b``: the target rows of edges ``b * EDGE_BLOCK ...`` (the last ones clamped:
    a clamped edge rewrites its own row with the same value)."""
    others = other_slots(form, target)
    width = form.dims[target]
    scalar = form.kinds[target] == EDGE

    def kernel(senders_ref, receivers_ref, *refs):
        slot_refs = dict(zip(others, refs[:-1], strict=True))
        out_ref = refs[-1]
        block = pl.program_id(0)

        def body(offset, carry):
            e = jnp.minimum(block * EDGE_BLOCK + offset, edges - 1)
            rows_of = _edge_rows_of(form, e, senders_ref[e], receivers_ref[e])
            terms = form.contribution(target, _load_rows(form, slot_refs, rows_of))
            for k in range(width):
                if scalar:
                    out_ref[e, k] = terms.get(k, jnp.zeros((), dtype))
                else:
                    out_ref[e, k, :] = terms.get(k, jnp.zeros((channels,), dtype))
            return carry

        jax.lax.fori_loop(0, EDGE_BLOCK, body, 0)

    return kernel


def _compiler_params(channels: int):
    try:
        from jax.experimental.pallas import triton as pltriton
    except ImportError:  # pragma: no cover - jaxlib without the Triton bindings
        return None
    return pltriton.CompilerParams(num_warps=max(1, min(4, channels // 32)), num_stages=1)


def _pad_channels(array: jax.Array, channels: int) -> jax.Array:
    extra = channels - array.shape[-1]
    return array if extra == 0 else jnp.pad(array, [(0, 0)] * (array.ndim - 1) + [(0, extra)])


def pallas_contraction(*args, form, target: int, num_nodes: int, interpret: bool):
    """The slot contraction of ``target`` with a Pallas kernel (see the module docstring).

    ``args``: the other slots in slot order, then ``senders, receivers, by_receiver,
    receiver_offsets, by_sender, sender_offsets``.
    """
    count = len(form.kinds) - 1
    floats, indices = args[:count], args[count:]
    senders, receivers, by_receiver, receiver_offsets, by_sender, sender_offsets = indices
    operands = dict(zip(other_slots(form, target), floats, strict=True))
    edges = senders.shape[0]
    shape = target_shape(form, target, operands, num_nodes, edges)
    dtype = floats[0].dtype
    if edges == 0 or num_nodes == 0:
        return jnp.zeros(shape, dtype)
    channels = next(a.shape[-1] for s, a in operands.items() if form.kinds[s] != EDGE)
    padded = max(16, 1 << (channels - 1).bit_length())
    floats = [a if form.kinds[s] == EDGE else _pad_channels(a, padded) for s, a in operands.items()]
    scalar = form.kinds[target] == EDGE
    out_shape = shape if scalar else shape[:-1] + (padded,)
    common = dict(
        out_shape=jax.ShapeDtypeStruct(out_shape, dtype),
        interpret=interpret,
        compiler_params=None if interpret else _compiler_params(padded),
        name=f"equitens_interaction_{type(form).__name__.lower()}_{target}",
    )
    kind = form.kinds[target]
    if kind in (SENDER, RECEIVER):
        offsets, order, index = (
            (receiver_offsets, by_receiver, senders)
            if kind == RECEIVER
            else (sender_offsets, by_sender, receivers)
        )
        kernel = _node_kernel(form, target, padded, dtype)
        index_in_order = index[order]  # the other node of each edge, in the loop's order
        out = pl.pallas_call(kernel, grid=(num_nodes,), **common)(
            offsets, order, index_in_order, *floats
        )
    else:
        kernel = _edge_kernel(form, target, padded, dtype, edges)
        grid = (-(-edges // EDGE_BLOCK),)
        out = pl.pallas_call(kernel, grid=grid, **common)(senders, receivers, *floats)
    return out if scalar else out[..., :channels]
