"""Pallas kernels of the fused interaction, generated from its terms for any target slot.

One kernel per slot contraction of :mod:`equitens.tp.interaction` (the forward is the contraction
of the output slot ``g``; each derivative is another slot's). The kernel body is generated from
the form's terms by :func:`edge_terms`, the same for every target; what changes is where the
rows come from and where the result goes:

- a **node target** (``g``, the forward, or ``x``, the feature gradient) runs one program per node
  over the node's edges (edges sorted by receiver, resp. sender: CSR offsets), gathering the other
  node slot's rows through the other index array and accumulating in registers; it writes each
  node row once, with no atomics and no per-edge intermediate in memory;
- an **edge target** (``w``, ``y``: the weight and harmonic gradients) runs one program per block
  of edges, gathering both node slots' rows, and writes each edge's row.

The channel axis is the vector axis of every row (padded to a power of two, as Triton needs);
the terms are unrolled and grouped so that each product of two rows is formed once per edge.
On the CPU the same kernels run in Pallas' interpret mode (the tests); on GPU they lower to
Triton.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from equitens.tp.interaction import G, InteractionForm, W, X, Y, other_slots, target_shape

__all__ = ["edge_terms", "pallas_contraction"]

EDGE_BLOCK = 16
"""Edges per program of the edge-target kernels."""


def _used(form: InteractionForm, slot: int) -> list[int]:
    return sorted({term[slot] for term in form.terms})


@functools.cache
def _groups(form: InteractionForm, target: int) -> tuple:
    """Terms grouped for :func:`edge_terms`: ``((a, b), ((t, ((j, coef), ...)), ...)), ...``.

    For a vector target (``x``, ``w``, ``g``), ``(a, b)`` index the two other vector slots and
    ``t`` the target, the pairs ``(j, coef)`` weigh the harmonics. For ``y``, ``(a, b)`` index
    ``x`` and ``w``, ``t`` indexes ``g``, and ``j`` is the target's component.
    """
    vectors = [s for s in (X, W, G) if s != target]
    u, v = (X, W) if target == Y else vectors
    t_slot = G if target == Y else target
    grouped: dict = {}
    for term in form.terms:
        pairs = grouped.setdefault((term[u], term[v]), {})
        pairs.setdefault(term[t_slot], []).append((term[Y], term[4]))
    return tuple(
        (key, tuple((t, tuple(pairs)) for t, pairs in sorted(inner.items())))
        for key, inner in sorted(grouped.items())
    )


def edge_terms(form: InteractionForm, target: int, rows: dict) -> dict:
    """One edge's contribution to the target slot, from the rows of the other slots.

    Args:
        form: the terms.
        target: the slot written.
        rows: ``{slot: {component: value}}`` for the three other slots: ``(C,)`` vectors for
            ``x``, ``w``, ``g``, scalars for ``y``.

    Returns:
        ``{component: value}`` of the target: ``(C,)`` vectors, or scalars for ``y`` (summed
        over the channels).
    """
    vectors = [s for s in (X, W, G) if s != target]
    u, v = (X, W) if target == Y else vectors
    out: dict = {}
    for (a, b), inner in _groups(form, target):
        product = rows[u][a] * rows[v][b]
        for t, pairs in inner:
            if target == Y:
                dot = jnp.sum(product * rows[G][t])
                for j, coef in pairs:
                    term = coef * dot
                    out[j] = term if j not in out else out[j] + term
            else:
                scale = sum(coef * rows[Y][j] for j, coef in pairs)
                term = scale * product
                out[t] = term if t not in out else out[t] + term
    return out


def _load_rows(form: InteractionForm, refs: dict, rows_of: dict) -> dict:
    """``{slot: {component: row}}``: ``rows_of[slot]`` is the row index of that slot's array."""
    out = {}
    for slot, ref in refs.items():
        index = rows_of[slot]
        if slot == Y:
            out[slot] = {j: ref[index, j] for j in _used(form, slot)}
        else:
            out[slot] = {i: ref[index, i, :] for i in _used(form, slot)}
    return out


def _node_kernel(form: InteractionForm, target: int, channels: int, dtype):
    """Program ``n``: the target row of node ``n``, summed over the node's edges."""
    others = other_slots(target)
    gathered = G if target == X else X  # the other node slot, read through the other index
    width = form.dims[target]

    def kernel(offsets_ref, order_ref, index_ref, *refs):
        operand_refs, out_ref = refs[:3], refs[3]
        slot_refs = dict(zip(others, operand_refs, strict=True))
        n = pl.program_id(0)

        def body(position, acc):  # two independent index loads, then the rows
            e, other = order_ref[position], index_ref[position]
            rows = _load_rows(form, slot_refs, {gathered: other, Y: e, W: e})
            terms = edge_terms(form, target, rows)
            return tuple(acc[k] + terms[k] if k in terms else acc[k] for k in range(width))

        zero = jnp.zeros((channels,), dtype)
        acc = jax.lax.fori_loop(
            offsets_ref[n], offsets_ref[n + 1], body, tuple(zero for _ in range(width))
        )
        for k in range(width):
            out_ref[n, k, :] = acc[k]

    return kernel


def _edge_kernel(form: InteractionForm, target: int, channels: int, dtype, edges: int):
    """Program ``b``: the target rows of edges ``b * EDGE_BLOCK ...`` (the last ones clamped:
    a clamped edge rewrites its own row with the same value)."""
    others = other_slots(target)
    width = form.dims[target]

    def kernel(senders_ref, receivers_ref, *refs):
        operand_refs, out_ref = refs[:3], refs[3]
        slot_refs = dict(zip(others, operand_refs, strict=True))
        block = pl.program_id(0)

        def body(offset, carry):
            e = jnp.minimum(block * EDGE_BLOCK + offset, edges - 1)
            rows_of = {X: senders_ref[e], G: receivers_ref[e], Y: e, W: e}
            rows = _load_rows(form, slot_refs, rows_of)
            terms = edge_terms(form, target, rows)
            for k in range(width):
                if target == Y:
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


def pallas_contraction(*args, form: InteractionForm, target: int, num_nodes: int, interpret: bool):
    """The slot contraction of ``target`` with a Pallas kernel (see the module docstring).

    ``args``: the three other slots in slot order, then ``senders, receivers, by_receiver,
    receiver_offsets, by_sender, sender_offsets``.
    """
    floats, indices = args[:3], args[3:]
    senders, receivers, by_receiver, receiver_offsets, by_sender, sender_offsets = indices
    operands = dict(zip(other_slots(target), floats, strict=True))
    edges = senders.shape[0]
    shape = target_shape(target, operands, form, num_nodes, edges)
    dtype = floats[0].dtype
    if edges == 0 or num_nodes == 0:
        return jnp.zeros(shape, dtype)
    channels = next(a.shape[-1] for s, a in operands.items() if s != Y)
    padded = max(16, 1 << (channels - 1).bit_length())
    floats = [a if s == Y else _pad_channels(a, padded) for s, a in operands.items()]
    out_shape = shape if target == Y else shape[:-1] + (padded,)
    common = dict(
        out_shape=jax.ShapeDtypeStruct(out_shape, dtype),
        interpret=interpret,
        compiler_params=None if interpret else _compiler_params(padded),
        name=f"equitens_interaction_{'xywg'[target]}",
    )
    if target in (X, G):
        offsets, order, index = (
            (receiver_offsets, by_receiver, senders)
            if target == G
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
    return out if target == Y else out[..., :channels]
