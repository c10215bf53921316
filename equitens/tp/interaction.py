"""The fused message-passing interaction: gather, channelwise product, scatter, as one primitive.

The interaction of a message-passing layer, for edges ``e = (s_e -> r_e)``,

    ``out[r, k, c] = sum_{e: r_e = r} sum_terms coef * x[s_e, i, c] * y[e, j] * w[e, p, c]``

(``x``: node features, ``y``: edge harmonics, ``w``: per-edge, per-channel path weights, one
*term* ``(i, j, p, k, coef)`` per nonzero Clebsch-Gordan entry of a channelwise path), is the
multilinear form

    ``F(x, y, w, g) = sum_e sum_terms coef * y[e, j] * sum_c x[s_e, i, c] w[e, p, c] g[r_e, k, c]``

of four *slots*: ``x`` (nodes, read through the senders), ``y`` and ``w`` (edges), ``g`` (nodes,
read through the receivers; the output's cotangent). The interaction is the gradient of ``F``
with respect to ``g``; every derivative of every order is the gradient of ``F`` with respect to
another slot, with a cotangent put in the slot of the output. These *slot contractions* have the
same sparse description (the terms); only which slot is written, and so which index array
scatters, changes: the ``x`` gradient gathers ``g`` through the receivers and scatters through
the senders; the ``w`` and ``y`` gradients gather both and write per edge.

:data:`interaction_p` is one JAX primitive for all of them, with the rules that make every order
of forward and reverse differentiation (and ``vmap``) work:

- JVP: the sum over the slots with a tangent of the contraction with that tangent in its slot;
- transpose: with respect to slot ``s``, the contraction of target ``s`` with the cotangent in
  the slot of the old target.

How a contraction runs is its ``backend``: ``"pallas"`` lowers each contraction to one Pallas
kernel generated from the terms (:mod:`equitens.tp.interaction_pallas`; Triton on GPU, no
``(edges, channels x dim)`` intermediate; the same kernel in interpret mode on the CPU, for
tests; the XLA form on TPU), ``"xla"`` to the XLA form (gathers, the form's per-edge
contribution unrolled over the edges' rows, scatters).

The primitive is generic over the *form*: a form names the kind of each of its slots
(:data:`SENDER`, :data:`EDGE`, :data:`EDGE_CHANNELS`, :data:`RECEIVER`; the last slot is the
receiver slot, the output's) and says what one edge contributes to any target slot given the rows
of the others (``contribution``). :class:`InteractionForm` is the Clebsch-Gordan form above; the
SO(2) convolution has its own five-slot form (features, Wigner rows in, weights, Wigner rows back,
cotangent: :mod:`equitens.conv.so2_interaction`). Every rule and kernel is written once for all.

Arrays inside are in the ir_mul layout with channels last: ``x (N, dx, C)``, ``y (E, dy)``,
``w (E, P, C)``, ``g (N, dout, C)``; :func:`fused_interaction` converts from e3nn's layout.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from equitens.so3.clebsch_gordan import clebsch_gordan_nonzero
from equitens.so3.irreps import Irreps
from equitens.so3.layout import ir_mul_to_mul_ir, mul_ir_to_ir_mul

__all__ = [
    "InteractionForm",
    "channelwise_interaction",
    "fused_interaction",
    "interaction",
    "interaction_form",
    "interaction_p",
    "slot_contraction",
]

SENDER, EDGE, EDGE_CHANNELS, RECEIVER = "sender", "edge", "edge_channels", "receiver"
"""Slot kinds: node rows read through the senders, per-edge scalars, per-edge channel rows,
node rows read through the receivers (the output's slot)."""
X, Y, W, G = 0, 1, 2, 3  # the slots of :class:`InteractionForm`
BACKENDS = ("pallas", "xla")


@dataclasses.dataclass(frozen=True)
class InteractionForm:
    """The sparse description of a channelwise interaction (hashable: a primitive parameter).

    Attributes:
        terms: ``((i, j, p, k, coefficient), ...)``: component ``i`` of ``x``, ``j`` of ``y``,
            path ``p`` of the weights, component ``k`` of the output.
        dims: ``(dx, dy, paths, dout)``.
    """

    terms: tuple[tuple[int, int, int, int, float], ...]
    dims: tuple[int, int, int, int]
    kinds = (SENDER, EDGE, EDGE_CHANNELS, RECEIVER)

    @classmethod
    def from_spec(cls, spec) -> InteractionForm:
        """The terms of a channelwise (``"uvu"``) tensor product with edge harmonics.

        Args:
            spec: a :class:`~equitens.tp.spec.TensorProductSpec` of mode ``"uvu"`` whose second
                input has multiplicity 1 everywhere and whose first input and output entries
                all have one multiplicity ``C`` (what the ``"cg"`` edge convolution builds).

        Returns:
            The form; its path ``p`` reads the weights ``w[:, p, :]`` of the spec's path ``p``.

        Raises:
            ValueError: when the spec is not of that kind.

        Examples:
            >>> from equitens.tp.spec import TensorProductSpec
            >>> spec = TensorProductSpec.channelwise("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
            >>> form = InteractionForm.from_spec(spec)
            >>> form.dims, len(form.terms)
            ((4, 4, 4, 4), 10)
        """
        muls = {mul for mul, _ in spec.irreps_in1} | {mul for mul, _ in spec.irreps_out}
        if spec.channel_mode != "uvu" or not spec.weighted or len(muls) != 1:
            raise ValueError(
                "the fused interaction needs a weighted channelwise ('uvu') product whose "
                f"inputs and outputs all have one multiplicity, got mode {spec.channel_mode!r} "
                f"with {spec.irreps_in1} x {spec.irreps_in2} -> {spec.irreps_out}; use the "
                "same multiplicity everywhere (e.g. '64x0e + 64x1o') or plan interaction=unfused"
            )
        if any(mul != 1 for mul, _ in spec.irreps_in2):
            raise ValueError(
                f"the fused interaction needs edge harmonics of multiplicity 1, got "
                f"{spec.irreps_in2}"
            )
        all_irreps = (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
        offsets = [_offsets(irreps) for irreps in all_irreps]
        terms = []
        for p, path in enumerate(spec.paths):
            (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(path)
            entries = clebsch_gordan_nonzero(ir1.l, ir2.l, ir3.l)
            for a, b, c, value in zip(*entries, strict=True):
                terms.append(
                    (
                        offsets[0][path.i_in1] + int(a),
                        offsets[1][path.i_in2] + int(b),
                        p,
                        offsets[2][path.i_out] + int(c),
                        float(path.coefficient * value),
                    )
                )
        dims = tuple(sum(ir.dim for _, ir in irreps) for irreps in all_irreps)
        return cls(tuple(terms), (dims[0], dims[1], len(spec.paths), dims[2]))

    def dense(self) -> np.ndarray:
        """The terms as a dense float64 tensor ``T[i, j, p, k]``."""
        tensor = np.zeros(self.dims)
        for i, j, p, k, value in self.terms:
            tensor[i, j, p, k] += value
        return tensor

    def used(self, slot: int) -> tuple[int, ...]:
        """The components of ``slot`` that some term reads."""
        return _used_components(self, slot)

    def contribution(self, target: int, rows: dict) -> dict:
        """One edge's contribution to slot ``target`` from the rows of the others.

        Args:
            target: the slot written.
            rows: ``{slot: {component: value}}`` for the other slots: channel rows for ``x``,
                ``w``, ``g``, scalars (or anything broadcasting against the rows) for ``y``.

        Returns:
            ``{component: value}``: channel rows, or for ``y`` sums over the channels (the last
            axis). Components that no term reaches are left out (zero).
        """
        vectors = [s for s in (X, W, G) if s != target]
        u, v = (X, W) if target == Y else vectors
        out: dict = {}
        for (a, b), inner in _groups(self, target):
            product = rows[u][a] * rows[v][b]
            for t, pairs in inner:
                if target == Y:
                    dot = jnp.sum(product * rows[G][t], axis=-1)
                    for j, coef in pairs:
                        _accumulate(out, j, coef * dot)
                else:
                    scale = sum(coef * rows[Y][j] for j, coef in pairs)
                    _accumulate(out, t, scale * product)
        return out


def _accumulate(out: dict, key, value) -> None:
    out[key] = value if key not in out else out[key] + value


@functools.cache
def _used_components(form: InteractionForm, slot: int) -> tuple[int, ...]:
    return tuple(sorted({term[slot] for term in form.terms}))


@functools.cache
def _groups(form: InteractionForm, target: int) -> tuple:
    """Terms grouped for :meth:`InteractionForm.contribution`: each product of two rows once.

    ``((a, b), ((t, ((j, coef), ...)), ...)), ...``: for a channel-row target (``x``, ``w``,
    ``g``), ``(a, b)`` index the two other channel-row slots and ``t`` the target, the pairs
    ``(j, coef)`` weigh the harmonics. For ``y``, ``(a, b)`` index ``x`` and ``w``, ``t`` indexes
    ``g``, and ``j`` is the target's component.
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


def _offsets(irreps: Irreps) -> list[int]:
    """Where each entry's components start in the ir_mul layout (one row per component)."""
    out, start = [], 0
    for _, ir in irreps:
        out.append(start)
        start += ir.dim
    return out


# ----------------------------------------------------------------------------- the primitive

interaction_p = Primitive("equitens_interaction")
"""``bind(*others, *indices, form, target, num_nodes, backend)``: the slot contraction of
``target``; ``others`` are the form's other slots in slot order; ``indices`` are
``(senders, receivers)`` for the XLA backend and also the receiver and sender orderings
``(by_receiver, receiver_offsets, by_sender, sender_offsets)`` for Pallas."""


def other_slots(form, target: int) -> tuple[int, ...]:
    return tuple(s for s in range(len(form.kinds)) if s != target)


def slot_of(form, kind: str) -> int:
    """The slot of a node kind (:data:`SENDER` or :data:`RECEIVER`)."""
    return form.kinds.index(kind)


def target_shape(form, target: int, operands: dict, num_nodes: int, edges: int) -> tuple:
    channels = next(a.shape[-1] for s, a in operands.items() if form.kinds[s] != EDGE)
    kind, size = form.kinds[target], form.dims[target]
    if kind in (SENDER, RECEIVER):
        return (num_nodes, size, channels)
    return (edges, size) if kind == EDGE else (edges, size, channels)


def slot_contraction(target: int, operands: dict, indices: tuple, *, form, **params) -> jax.Array:
    """The contraction of slot ``target`` given the other slots (``{slot: array}``)."""
    args = [operands[s] for s in other_slots(form, target)]
    return interaction_p.bind(*args, *indices, form=form, target=target, **params)


def _split(args, form):
    count = len(form.kinds) - 1
    return list(args[:count]), tuple(args[count:])


def _abstract_eval(*args, form, target, num_nodes, backend):
    floats, indices = _split(args, form)
    operands = dict(zip(other_slots(form, target), floats, strict=True))
    shape = target_shape(form, target, operands, num_nodes, indices[0].shape[0])
    return jax.core.ShapedArray(shape, floats[0].dtype)


def _jvp(primals, tangents, *, form, target, num_nodes, backend):
    params = dict(form=form, target=target, num_nodes=num_nodes, backend=backend)
    out = interaction_p.bind(*primals, **params)
    floats, indices = _split(primals, form)
    total = None
    for position, tangent in enumerate(tangents[: len(floats)]):
        if type(tangent) is ad.Zero:
            continue
        args = list(floats)
        args[position] = tangent
        term = interaction_p.bind(*args, *indices, **params)
        total = term if total is None else total + term
    if total is None:
        return out, ad.Zero.from_primal_value(out)
    return out, total


def _transpose(cotangent, *args, form, target, num_nodes, backend):
    floats, indices = _split(args, form)
    linear = [n for n, a in enumerate(floats) if ad.is_undefined_primal(a)]
    if len(linear) != 1:
        raise NotImplementedError("the interaction is linear in one slot at a time")
    position = linear[0]
    others = other_slots(form, target)
    slot = others[position]
    result = [None] * len(args)
    if type(cotangent) is ad.Zero:
        return result
    operands = {s: a for s, a in zip(others, floats, strict=True) if s != slot}
    operands[target] = cotangent
    result[position] = slot_contraction(
        slot, operands, indices, form=form, num_nodes=num_nodes, backend=backend
    )
    return result


def _batch(args, dims, *, form, target, num_nodes, backend):
    """``vmap``: one contraction per batch element (``jax.lax.map``)."""
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    moved = [
        jnp.broadcast_to(a, (size,) + a.shape) if d is None else jnp.moveaxis(a, d, 0)
        for a, d in zip(args, dims, strict=True)
    ]
    params = dict(form=form, target=target, num_nodes=num_nodes, backend=backend)
    out = jax.lax.map(lambda xs: interaction_p.bind(*xs, **params), tuple(moved))
    return out, 0


def gathered_rows(form, operands: dict, senders, receivers) -> dict:
    """``{slot: {component: rows over the edges}}``: node slots gathered through their index
    (out-of-range indices read zeros), edge scalars as ``(E, 1)`` columns."""
    index = {SENDER: senders, RECEIVER: receivers}
    rows = {}
    for slot, array in operands.items():
        kind = form.kinds[slot]
        if kind in index:
            array = array.at[index[kind]].get(mode="fill", fill_value=0)
        if kind == EDGE:
            rows[slot] = {j: array[:, j, None] for j in form.used(slot)}
        else:
            rows[slot] = {i: array[:, i, :] for i in form.used(slot)}
    return rows


def _xla_contraction(*args, form, target, num_nodes, backend):
    """The slot contraction in XLA: the form's per-edge contribution to ``target``, vectorised
    over the gathered rows of the other slots, then summed into the nodes (a node target) or
    stacked per edge; out-of-range indices read zeros and are dropped, as in the Pallas kernels."""
    del backend
    floats, (senders, receivers, *_) = _split(args, form)
    operands = dict(zip(other_slots(form, target), floats, strict=True))
    edges = senders.shape[0]
    shape = target_shape(form, target, operands, num_nodes, edges)
    dtype = floats[0].dtype
    kind = form.kinds[target]
    contribution = form.contribution(target, gathered_rows(form, operands, senders, receivers))
    zero = jnp.zeros((edges,) + shape[2:], dtype)  # one component's rows over the edges
    rows = [
        jnp.broadcast_to(contribution[k], zero.shape) if k in contribution else zero
        for k in range(form.dims[target])
    ]
    per_edge = jnp.stack(rows, axis=1)
    if kind in (EDGE, EDGE_CHANNELS):
        return per_edge
    index = senders if kind == SENDER else receivers
    return jax.ops.segment_sum(per_edge, index, num_segments=num_nodes)


def _lowering(platform: str):
    def contraction(*args, form, target, num_nodes, backend):
        params = dict(form=form, target=target, num_nodes=num_nodes)
        if backend == "pallas" and platform in ("cuda", "rocm", "cpu"):
            from equitens.tp.interaction_pallas import pallas_contraction

            return pallas_contraction(*args, interpret=platform == "cpu", **params)
        return _xla_contraction(*args, backend=backend, **params)

    return mlir.lower_fun(contraction, multiple_results=False)


def _impl(*args, **params):
    return jax.jit(functools.partial(interaction_p.bind, **params))(*args)


interaction_p.def_impl(_impl)
interaction_p.def_abstract_eval(_abstract_eval)
ad.primitive_jvps[interaction_p] = _jvp
ad.primitive_transposes[interaction_p] = _transpose
batching.primitive_batchers[interaction_p] = _batch
mlir.register_lowering(interaction_p, _lowering("default"))
for _platform in ("cpu", "cuda", "rocm"):
    mlir.register_lowering(interaction_p, _lowering(_platform), platform=_platform)


# ----------------------------------------------------------------------------- the public function


def _ordering(index: jax.Array, num_nodes: int) -> tuple[jax.Array, jax.Array]:
    """Edges sorted by ``index`` and each node's range in that order (CSR offsets).

    Indices outside ``[0, num_nodes)`` are left out, as :func:`jax.ops.segment_sum` drops them.
    """
    valid = (index >= 0) & (index < num_nodes)
    key = jnp.where(valid, index, num_nodes)
    order = jnp.argsort(key, stable=True).astype(jnp.int32)
    counts = jnp.zeros((num_nodes + 1,), jnp.int32).at[key].add(1)[:num_nodes]
    offsets = jnp.concatenate([jnp.zeros((1,), jnp.int32), jnp.cumsum(counts, dtype=jnp.int32)])
    return order, offsets


def fused_interaction(
    form: InteractionForm,
    x: jax.Array,
    y: jax.Array,
    w: jax.Array,
    senders: jax.Array,
    receivers: jax.Array,
    *,
    backend: str = "pallas",
) -> jax.Array:
    """``out[r] = sum_{e: r_e = r} sum_terms coef x[s_e, i] y[e, j] w[e, p]``, fused.

    Differentiable to any order, forward and reverse, in every argument but the indices.

    Args:
        form: the terms (:meth:`InteractionForm.from_spec`).
        x: node features ``(N, dx, C)`` (ir_mul, channels last).
        y: edge harmonics ``(E, dy)``.
        w: per-edge weights ``(E, paths, C)``.
        senders: ``(E,)`` int, the node each edge reads.
        receivers: ``(E,)`` int, the node each edge writes (out-of-range indices are dropped).
        backend: ``"pallas"`` (Pallas kernels: Triton on GPU, interpret mode on the CPU) or
            ``"xla"``.

    Returns:
        ``(N, dout, C)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.tp.spec import TensorProductSpec
        >>> spec = TensorProductSpec.channelwise("2x0e", "0e", "2x0e")
        >>> form = InteractionForm.from_spec(spec)
        >>> x = jnp.array([[[1.0, 2.0]], [[3.0, 4.0]]])
        >>> y, w = jnp.ones((3, 1)), jnp.ones((3, 1, 2))
        >>> senders, receivers = jnp.array([0, 1, 1]), jnp.array([1, 0, 1])
        >>> fused_interaction(form, x, y, w, senders, receivers, backend="xla")[:, 0].tolist()
        [[3.0, 4.0], [4.0, 6.0]]
    """
    _check_shapes(form, x, y, w, senders, receivers)
    return interaction(form, x, (y, w), senders, receivers, backend=backend)


def interaction(
    form, x: jax.Array, edge_operands: tuple, senders, receivers, *, backend: str
) -> jax.Array:
    """The receiver slot's contraction of any form: ``sum_{e -> r}`` of each edge's message.

    Args:
        form: a form (:class:`InteractionForm`, or another with ``kinds``, ``dims``, ``used``
            and ``contribution``) whose first slot is the sender slot and last the
            receiver slot.
        x: node features ``(N, dims[0], C)``.
        edge_operands: the arrays of the slots in between, in slot order.
        senders: ``(E,)`` int.
        receivers: ``(E,)`` int (out-of-range indices are dropped).
        backend: ``"pallas"`` or ``"xla"``.

    Returns:
        ``(N, dims[-1], C)``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    senders = senders.astype(jnp.int32)
    receivers = receivers.astype(jnp.int32)
    indices = (senders, receivers)
    if backend == "pallas":
        indices += _ordering(receivers, x.shape[0]) + _ordering(senders, x.shape[0])
    out = len(form.kinds) - 1
    operands = dict(enumerate((x, *edge_operands)))
    return slot_contraction(
        out, operands, indices, form=form, num_nodes=x.shape[0], backend=backend
    )


def _check_shapes(form, x, y, w, senders, receivers) -> None:
    dx, dy, paths, _ = form.dims
    edges = senders.shape[0] if senders.ndim == 1 else -1
    expected = (
        ("x", x, (x.shape[0], dx, x.shape[-1]) if x.ndim == 3 else None),
        ("y", y, (edges, dy)),
        ("w", w, (edges, paths, x.shape[-1])),
        ("receivers", receivers, (edges,)),
    )
    for name, array, shape in expected:
        if shape is None or tuple(array.shape) != shape:
            raise ValueError(
                f"fused_interaction: {name} has shape {tuple(array.shape)}; expected x "
                f"(nodes, {dx}, channels), y (edges, {dy}), w (edges, {paths}, channels), "
                f"senders and receivers (edges,) with edges = {edges}"
            )
    if not (
        jnp.issubdtype(senders.dtype, jnp.integer) and jnp.issubdtype(receivers.dtype, jnp.integer)
    ):
        raise ValueError("fused_interaction: senders and receivers must be integer arrays")
    if len({x.dtype, y.dtype, w.dtype}) != 1:
        raise ValueError(
            f"fused_interaction: x, y and w need one dtype, got {x.dtype}, {y.dtype}, {w.dtype}"
        )


def channelwise_interaction(
    spec, x: jax.Array, y: jax.Array, weights: jax.Array, senders, receivers, *, backend: str
) -> jax.Array:
    """:func:`fused_interaction` of a channelwise spec on e3nn's layout (what ``"cg"`` uses).

    Args:
        spec: the ``"uvu"`` spec (see :meth:`InteractionForm.from_spec`).
        x: node features ``(N, irreps_in1.dim)`` (mul_ir).
        y: edge harmonics ``(E, irreps_in2.dim)``.
        weights: ``(E, weight_numel)`` in the spec's weight layout.
        senders: ``(E,)`` int.
        receivers: ``(E,)`` int.
        backend: ``"pallas"`` or ``"xla"``.

    Returns:
        ``(N, irreps_out.dim)`` (mul_ir): the products summed into the receivers.
    """
    form = interaction_form(spec)
    channels = spec.irreps_in1[0].mul
    nodes, edges = x.shape[0], y.shape[0]
    rows = mul_ir_to_ir_mul(x, spec.irreps_in1).reshape(nodes, form.dims[0], channels)
    w = weights.reshape(edges, form.dims[2], channels)
    out = fused_interaction(form, rows, y, w, senders, receivers, backend=backend)
    return ir_mul_to_mul_ir(out.reshape(nodes, -1), spec.irreps_out)


@functools.cache
def interaction_form(spec) -> InteractionForm:
    """:meth:`InteractionForm.from_spec`, cached per spec."""
    return InteractionForm.from_spec(spec)
