"""Clebsch-Gordan tensor-product kernels (``method="cg"``).

One XLA computation per tensor product, whatever its number of paths, built only from matrix
products, static slices and splits, reshapes and elementwise arithmetic: no per-path einsum, and
no gather or scatter. Derivatives of every order come from :mod:`equitens.tp.multilinear`: each is
a *slot contraction* of the same multilinear form, evaluated by the same kind of code.

Three algorithms; :func:`cg_kernel` picks one per spec:

- **unrolled sparse** (few nonzero coefficients, e.g. ``l <= 2``; modes ``"uvu"``, ``"uuu"``, and
  ``"uvuv"`` of single channels): every nonzero Clebsch-Gordan entry is one elementwise product
  of column slices, ``(samples, channels)`` at a time. XLA fuses each sum into a loop that reads
  every input once and writes every output once. Each derivative slot is written out with its own
  (transposed) index structure, so backward passes are sums of products too.
- **A-first** (``"uvu"``, the NequIP/MACE message with ``x2`` the spherical harmonics): ``x2`` is
  contracted with the constant Clebsch-Gordan tensors first, in one matrix product for all paths:
  ``A[e, (path, v, m1, m3)] = sum_m2 C x2[e, v, m2]``. Then each output entry is one batched
  product over the samples that sums over ``(path, v, m1)`` with the weighted ``x1`` in the
  *ir_mul* layout (channels minor): ``out[e, m3, u] = sum A[e, q, m3] * (w[e, p, u] x1[e, m1, u])``.
  Samples are processed in chunks (``jax.lax.map``) so these intermediates stay in cache.
- **pair products** (``"uvuv"``, ``"uuu"``, ``"uvw"``): for each pair of input entries, the outer
  product of the inputs times the constant matrix of all the pair's paths (one broadcast product
  and one matrix product per pair, :mod:`equitens.tp.pairs`); ``"uvw"`` then mixes channels with
  one product per output.

What was measured on a 2-core CPU (XLA, jax 0.10) and shaped these choices: gathers cost
~6 ns/element (a padded gather-and-sum of the nonzero entries ran 10-30x slower than e3nn-jax);
reductions over a short *minor* axis are 10-20x slower than over a middle axis (hence the ir_mul
layout of the A-first algorithm); the m-parity split of the pair matrices (``m1 + m2 + m3`` even)
halves the arithmetic but was slower (more operations, strided pads); broadcast products with unit
channel axes have 3x slower derivatives than the squeezed ones; and XLA's compile time grows with
the number of operations, so each algorithm uses O(L^2) operations, not O(paths).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.layout import (
    concat,
    ir_mul_to_mul_ir,
    mul_ir_to_ir_mul,
    split_blocks,
    split_sizes,
)
from equitens.tp.multilinear import multilinear
from equitens.tp.pairs import pair_plan
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import register_method
from equitens.tp.spec import TensorProductSpec

__all__ = ["cg_kernel"]

_HIGHEST = lax.Precision.HIGHEST
# Floats of intermediates per chunk of samples on a CPU (Plan.chunk="auto"; measured on 2 cores):
# 8-sample chunks of the A-first algorithm from L = 2 (the "uvu" message, 32 channels). Against
# 1 << 22 (256 to 512 samples) they ran the gradient passes 1.4 to 2.3x faster at L = 3 to 5,
# and the forward pass as fast or faster; 32-sample chunks at L = 2 and 2 or 4 at L = 3 were
# slower (docs/guide/plans.md).
CPU_BUDGET = 1 << 14


# ----------------------------------------------------------------------------------- helpers


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@functools.cache
def _cg(l1: int, l2: int, l3: int) -> np.ndarray:
    return np.asarray(clebsch_gordan(l1, l2, l3), dtype=np.float64)


def _weight_pieces(spec: TensorProductSpec, w: jax.Array) -> list[jax.Array]:
    """The flat weights cut into one piece per path (a split, so its transpose is a concat)."""
    if not spec.weighted:
        return [None] * len(spec.paths)
    sizes = [s.stop - s.start for s in spec.weight_slices()]
    return split_sizes(w, sizes)


# ------------------------------------------------------------------------- "uvu": A-first


@dataclasses.dataclass(frozen=True)
class _UvuGroup:
    """The paths from one input-1 entry to one output entry (their ``l2`` differ)."""

    i_in1: int
    paths: tuple  # path indices
    rows: int  # sum of the paths' mul2: rows of the weighted input per m1


@dataclasses.dataclass(frozen=True)
class _UvuPlan:
    matrix: np.ndarray  # (irreps_in2.dim, T): x2 -> A, columns by (output, group, path, v, m1, m3)
    widths: tuple  # columns of A per output entry
    outputs: tuple  # per output entry: tuple of _UvuGroup


@functools.cache
def _uvu_plan(spec: TensorProductSpec) -> _UvuPlan:
    starts2 = np.cumsum([0] + [mul * ir.dim for mul, ir in spec.irreps_in2])
    groups: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(spec.paths):
        (mul1, _), (mul2, _), _ = spec.mul_irreps(path)
        if mul1 > 0 and mul2 > 0:
            groups.setdefault((path.i_out, path.i_in1), []).append(index)
    columns, widths, outputs = [], [], []
    for i_out in range(len(spec.irreps_out)):
        width, out_groups = 0, []
        for (k, i1), indices in sorted(groups.items()):
            if k != i_out:
                continue
            rows = 0
            for index in indices:
                path = spec.paths[index]
                (_, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
                cg = _cg(ir1.l, ir2.l, ir3.l) * path.coefficient  # (d1, d2, d3)
                for v in range(mul2):
                    block = np.zeros((spec.irreps_in2.dim, ir1.dim * ir3.dim))
                    first = starts2[path.i_in2] + v * ir2.dim
                    block[first : first + ir2.dim] = cg.transpose(1, 0, 2).reshape(ir2.dim, -1)
                    columns.append(block)
                    width += block.shape[1]
                rows += mul2
            out_groups.append(_UvuGroup(i1, tuple(indices), rows))
        widths.append(width)
        outputs.append(tuple(out_groups))
    matrix = np.concatenate(columns, axis=1) if columns else np.zeros((spec.irreps_in2.dim, 0))
    return _UvuPlan(_readonly(matrix), tuple(widths), tuple(outputs))


def _uvu_apply(spec: TensorProductSpec, x1, x2, w) -> jax.Array:
    """``"uvu"``: contract ``x2`` with the Clebsch-Gordan tensors, then one batched product per
    output entry over ``(path, v, m1)``, with the weighted ``x1`` in the ir_mul layout.

    O(L^2) operations, not O(paths): one matrix product builds ``A`` for every path, and the
    weighted input is one broadcast product per (input entry, output entry) group.
    """
    plan = _uvu_plan(spec)
    e = x1.shape[0]
    dtype = x1.dtype
    x1_blocks = split_blocks(x1, spec.irreps_in1)

    # A[e, (output, group, path, v, m1, m3)] = sum_m2 c C[m1, m2, m3] x2[e, v, m2]
    a = jnp.dot(x2, jnp.asarray(plan.matrix, dtype), precision=_HIGHEST)
    a_outputs = split_sizes(a, list(plan.widths))

    # weights as (E|1, rows, U) per (input entry, output entry) group: rows (path, v) major,
    # channels (u) minor. One permutation (split + concat) when every path has mul2 = 1.
    group_weights: dict[tuple[int, int], jax.Array] = {}
    groups = [(i_out, g) for i_out, gs in enumerate(plan.outputs) for g in gs]
    order = [i for _, g in groups for i in g.paths]
    sizes = [math.prod(spec.path_weight_shape(p)) for p in spec.paths]
    if all(spec.irreps_in2[spec.paths[i].i_in2].mul == 1 for i in order):
        if order != list(range(len(spec.paths))):
            pieces = split_sizes(w, sizes)
            w = concat([pieces[i] for i in order])
        counts = [len(g.paths) * spec.irreps_in1[g.i_in1].mul for _, g in groups]
        for (i_out, g), piece in zip(groups, split_sizes(w, counts), strict=True):
            mul1 = spec.irreps_in1[g.i_in1].mul
            group_weights[(i_out, g.i_in1)] = piece.reshape(-1, len(g.paths), mul1)
    else:
        pieces = split_sizes(w, sizes)
        for i_out, g in groups:
            mul1 = spec.irreps_in1[g.i_in1].mul
            rows = []
            for i in g.paths:
                mul2 = spec.irreps_in2[spec.paths[i].i_in2].mul
                rows.append(jnp.swapaxes(pieces[i].reshape(-1, mul1, mul2), 1, 2))  # (E|1, V, U)
            group_weights[(i_out, g.i_in1)] = (
                rows[0] if len(rows) == 1 else jnp.concatenate(rows, axis=1)
            )

    x_ir_mul: dict[int, jax.Array] = {}
    out_blocks = []
    for i_out, (mul3, ir3) in enumerate(spec.irreps_out):
        groups = plan.outputs[i_out]
        if not groups or mul3 == 0:
            out_blocks.append(jnp.zeros((e, mul3 * ir3.dim), dtype))
            continue
        rows = []
        for group in groups:
            mul1, ir1 = spec.irreps_in1[group.i_in1]
            if group.i_in1 not in x_ir_mul:
                x_ir_mul[group.i_in1] = jnp.swapaxes(x1_blocks[group.i_in1], 1, 2)  # (E, d1, U)
            weights = group_weights[(i_out, group.i_in1)]
            xw = weights[:, :, None, :] * x_ir_mul[group.i_in1][:, None, :, :]  # (E, R, d1, U)
            rows.append(xw.reshape(e, group.rows * ir1.dim, mul1))
        x_group = rows[0] if len(rows) == 1 else jnp.concatenate(rows, axis=1)  # (E, Q, U)
        a_group = a_outputs[i_out].reshape(e, -1, ir3.dim)  # (E, Q, d3)
        out = lax.dot_general(
            a_group, x_group, (((1,), (1,)), ((0,), (0,))), precision=_HIGHEST
        )  # (E, d3, U)
        out_blocks.append(jnp.swapaxes(out, 1, 2).reshape(e, mul3 * ir3.dim))
    return concat(out_blocks)


# ------------------------------------------------------- "uvuv", "uuu", "uvw": pair products


def _outer(a: jax.Array, b: jax.Array, diagonal: bool) -> jax.Array:
    """Outer products of ``a: (E, U, d1)`` and ``b: (E, V, d2)`` as ``(E, C, d1 * d2)``.

    ``C = U`` when ``diagonal`` (channel ``u`` with channel ``u``), else ``U * V`` (``(u, v)``
    order). Unit channel axes are dropped before broadcasting: XLA's derivative of a 5-d
    broadcast product with unit axes measured three times slower than the 3-d one.
    """
    e, u, d1 = a.shape
    v, d2 = b.shape[1:]
    if u == 1 and v == 1:
        return (a[:, 0, :, None] * b[:, 0, None, :]).reshape(e, 1, d1 * d2)
    if diagonal or u == 1 or v == 1:
        return (a[:, :, :, None] * b[:, :, None, :]).reshape(e, max(u, v), d1 * d2)
    return (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(e, u * v, d1 * d2)


def _pair_apply(spec: TensorProductSpec, x1, x2, w) -> jax.Array:
    """Per pair of input entries: the outer product times the pair's Clebsch-Gordan matrix.

    One broadcast product and one matrix product (``M = samples x channels``) per pair, whatever
    the number of paths of the pair. Measured faster on CPU than splitting the matrix by the
    m-parity selection rule (half the arithmetic, but twice the operations and strided pads).
    """
    e = x1.shape[0]
    dtype = x1.dtype
    mode = spec.channel_mode
    b1 = split_blocks(x1, spec.irreps_in1)  # (E, U, d1)
    b2 = split_blocks(x2, spec.irreps_in2)  # (E, V, d2)
    w_paths = _weight_pieces(spec, w)
    contributions: list[list] = [[] for _ in spec.irreps_out]
    for pair in pair_plan(spec):
        outer = _outer(b1[pair.i_in1], b2[pair.i_in2], diagonal=mode == "uuu")  # (E, C, d1 d2)
        values = lax.dot_general(
            outer, jnp.asarray(pair.matrix, dtype), (((2,), (0,)), ((), ())), precision=_HIGHEST
        )  # (E, C, N): C = U (uuu) or U V
        for index, part in zip(pair.paths, split_sizes(values, list(pair.widths)), strict=True):
            contributions[spec.paths[index].i_out].append((index, part))

    out_blocks = []
    for i_out, (mul3, ir3) in enumerate(spec.irreps_out):
        parts = contributions[i_out]
        if not parts or mul3 == 0:
            out_blocks.append(jnp.zeros((e, mul3 * ir3.dim), dtype))
            continue
        if mode == "uvw":
            # (E, d3, sum_p U V) @ (sum_p U V, W): channel mixing, one product per output entry
            rows = concat([jnp.swapaxes(part, 1, 2) for _, part in parts])
            if w.ndim == 1:
                weights = [w_paths[i].reshape(-1, mul3) for i, _ in parts]
                mixed = lax.dot_general(
                    rows,
                    jnp.concatenate(weights, axis=0) if len(weights) > 1 else weights[0],
                    (((2,), (0,)), ((), ())),
                    precision=_HIGHEST,
                )
            else:
                weights = [w_paths[i].reshape(e, -1, mul3) for i, _ in parts]
                mixed = lax.dot_general(
                    rows,
                    jnp.concatenate(weights, axis=1) if len(weights) > 1 else weights[0],
                    (((2,), (1,)), ((0,), (0,))),
                    precision=_HIGHEST,
                )  # (E, d3, W)
            out_blocks.append(jnp.swapaxes(mixed, 1, 2).reshape(e, mul3 * ir3.dim))
            continue
        total = None
        for index, part in parts:  # (E, C, d3)
            if mode == "uuu" and spec.weighted:
                part = part * w_paths[index][..., None]
            part = part.reshape(e, -1)
            total = part if total is None else total + part
        out_blocks.append(total)
    return concat(out_blocks)


# ------------------------------------------------------------ small products: unrolled sparse


@functools.cache
def _nonzeros(l1: int, l2: int, l3: int) -> tuple:
    """The nonzero entries ``(m1, m2, m3, value)`` of a Clebsch-Gordan tensor."""
    cg = _cg(l1, l2, l3)
    return tuple(
        (int(a), int(b), int(c), float(cg[a, b, c]))
        for a, b, c in zip(*np.nonzero(cg), strict=True)
    )


def _sparse_terms(spec: TensorProductSpec) -> int:
    """The number of elementwise terms of the unrolled algorithm (its HLO size)."""
    total = 0
    for path in spec.paths:
        (mul1, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
        if mul1 == 0 or mul2 == 0:
            continue
        nnz = len(_nonzeros(ir1.l, ir2.l, ir3.l))
        if spec.channel_mode == "uvu":
            total += mul2 * (nnz + min(nnz, ir1.dim * ir3.dim) + ir3.dim)
        else:
            total += nnz
    return total


def _sparse_supported(spec: TensorProductSpec) -> bool:
    """The unrolled algorithm keeps every slot elementwise only when channels do not contract."""
    if spec.channel_mode in ("uvu", "uuu"):
        return True
    if spec.channel_mode == "uvuv":
        return all(
            spec.irreps_in1[p.i_in1].mul == 1 and spec.irreps_in2[p.i_in2].mul == 1
            for p in spec.paths
        )
    return False


class _Sparse:
    """The unrolled sparse algorithm: every slot as elementwise sums over ``(samples, channels)``.

    Each nonzero Clebsch-Gordan entry is one product of column slices; XLA fuses each sum into a
    loop that reads every input once and writes every output once, with no intermediates. Each
    slot (output, ``x1``, ``x2``, weights) is written with its own index structure, so that the
    derivatives are sums of products too, never scatters or pads.

    Channel layouts (mul_ir): ``x1`` columns are ``(E, U)``; ``"uvu"`` takes ``x2`` columns as
    per-sample scalars ``(E, 1)`` per channel ``v``; ``"uuu"`` takes them as ``(E, U)``.
    """

    def __init__(self, spec: TensorProductSpec, layout: str = "mul_ir"):
        self.spec = spec
        self.layout = layout
        self.live = [
            (index, path)
            for index, path in enumerate(spec.paths)
            if spec.irreps_in1[path.i_in1].mul > 0 and spec.irreps_in2[path.i_in2].mul > 0
        ]

    # -- helpers
    def _columns(self, x, irreps):
        """Column slices of a ``(E, dim)`` array: ``cols[i][m]`` is ``(E, mul)``."""
        ir_mul = self.layout == "ir_mul"  # there each column is contiguous
        return [
            [block[:, m, :] if ir_mul else block[:, :, m] for m in range(ir.dim)]
            for block, (_, ir) in zip(split_blocks(x, irreps, self.layout), irreps, strict=True)
        ]

    def _assemble(self, columns, irreps, e, dtype):
        """Inverse of ``_columns``: ``columns[i][m]`` (E, mul) or None -> ``(E, dim)``."""
        blocks = []
        for cols, (mul, ir) in zip(columns, irreps, strict=True):
            filled = [c if c is not None else jnp.zeros((e, mul), dtype) for c in cols]
            blocks.append(
                jnp.stack(filled, axis=1 if self.layout == "ir_mul" else -1).reshape(
                    e, mul * ir.dim
                )
                if filled
                else jnp.zeros((e, 0), dtype)
            )
        return concat(blocks)

    def _weights(self, w):
        spec = self.spec
        pieces = _weight_pieces(spec, w)
        out = {}
        for index, path in self.live:
            (mul1, _), (mul2, _), _ = spec.mul_irreps(path)
            if spec.channel_mode == "uvu":
                out[index] = pieces[index].reshape(-1, mul1, mul2)
            elif spec.weighted:
                out[index] = pieces[index].reshape(-1, mul1)
        return out

    def _a(self, x2c):
        """``"uvu"``: ``A[index][v][(m1, m3)] = sum_m2 c C[m1, m2, m3] x2[v, m2]``, shape (E, 1)."""
        spec = self.spec
        out = {}
        for index, path in self.live:
            (_, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
            y = x2c[path.i_in2]
            per_v = []
            for v in range(mul2):
                a: dict[tuple[int, int], jax.Array] = {}
                for m1, m2, m3, value in _nonzeros(ir1.l, ir2.l, ir3.l):
                    term = (path.coefficient * value) * y[m2][:, v : v + 1]
                    a[(m1, m3)] = term if (m1, m3) not in a else a[(m1, m3)] + term
                per_v.append(a)
            out[index] = per_v
        return out

    def _contract(self, free: int, x1, x2, g, w):
        """Slot ``free`` (0: ``x1``, 1: ``x2``, 2: the output) from the other two slots' arrays.

        For each path, column ``m`` of the free slot sums the Clebsch-Gordan entries whose index
        in that slot is ``m``, each times the product of the other two slots' columns.
        ``"uvu"`` reads ``x2`` through ``A`` (:meth:`_a`) and serves slots 0 and 2 only.
        """
        spec = self.spec
        arrays = (x1, x2, g)
        reference = x1 if g is None else g
        e, dtype = reference.shape[0], reference.dtype
        irreps = (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
        cols = [
            None if a is None else self._columns(a, ir)
            for a, ir in zip(arrays, irreps, strict=True)
        ]
        weights = self._weights(w)
        uvu = spec.channel_mode == "uvu"
        if uvu:
            a_all = self._a(cols[1])
            position = free // 2  # the free index's position in A's (m1, m3) keys
        others = [s for s in range(3) if s != free]
        columns = [[None] * ir.dim for _, ir in irreps[free]]
        for index, path in self.live:
            entries = (path.i_in1, path.i_in2, path.i_out)
            (_, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
            for m in range((ir1, ir2, ir3)[free].dim):
                total = None
                if uvu:
                    other = cols[2 - free][entries[2 - free]]
                    for v in range(mul2):
                        a = a_all[index][v]
                        terms = [a[k] * other[k[1 - position]] for k in a if k[position] == m]
                        if terms:
                            t = weights[index][:, :, v] * functools.reduce(jnp.add, terms)
                            total = t if total is None else total + t
                else:
                    for entry in _nonzeros(ir1.l, ir2.l, ir3.l):
                        if entry[free] == m:
                            a, b = (cols[s][entries[s]][entry[s]] for s in others)
                            t = (path.coefficient * entry[3]) * (a * b)
                            total = t if total is None else total + t
                    if total is not None and spec.weighted:
                        total = total * weights[index]
                if total is not None:
                    old = columns[entries[free]][m]
                    columns[entries[free]][m] = total if old is None else old + total
        return self._assemble(columns, irreps[free], e, dtype)

    # -- the four slots
    def out(self, x1, x2, w, g=None):
        return self._contract(2, x1, x2, None, w)

    def x1(self, x1, x2, w, g):
        return self._contract(0, None, x2, g, w)

    def x2(self, x1, x2, w, g):
        if self.spec.channel_mode == "uvu":
            return self._x2_uvu(x1, w, g)
        return self._contract(1, x1, None, g, w)

    def _x2_uvu(self, x1, w, g):
        """``dF/dx2`` contracts the channels: one batched matrix product per output entry."""
        spec = self.spec
        e, dtype = g.shape[0], g.dtype
        b1 = split_blocks(x1, spec.irreps_in1)  # (E, U, d1)
        bg = split_blocks(g, spec.irreps_out)  # (E, U, d3)
        weights = self._weights(w)
        z_paths = {}
        for i_out in range(len(spec.irreps_out)):
            group = [(i, p) for i, p in self.live if p.i_out == i_out]
            if not group:
                continue
            rows, sizes = [], []
            for index, path in group:
                (_, ir1), (mul2, _), _ = spec.mul_irreps(path)
                for v in range(mul2):
                    rows.append(weights[index][:, :, v : v + 1] * b1[path.i_in1])  # (E, U, d1)
                    sizes.append(ir1.dim)
            xw = concat(rows)
            z = lax.dot_general(xw, bg[i_out], (((1,), (1,)), ((0,), (0,))), precision=_HIGHEST)
            pieces = split_sizes(jnp.swapaxes(z, 0, 1), sizes, axis=0)  # (d1, E, d3) each
            position = 0
            for index, path in group:
                mul2 = spec.irreps_in2[path.i_in2].mul
                z_paths[index] = pieces[position : position + mul2]
                position += mul2
        columns = [[None] * (mul * ir.dim) for mul, ir in spec.irreps_in2]
        for index, path in self.live:
            (_, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
            for v in range(mul2):
                z = z_paths[index][v]
                for m in range(ir2.dim):
                    terms = [
                        (path.coefficient * value) * z[m1, :, m3]
                        for m1, m2, m3, value in _nonzeros(ir1.l, ir2.l, ir3.l)
                        if m2 == m
                    ]
                    if terms:
                        t = functools.reduce(jnp.add, terms)
                        slot = v * ir2.dim + m
                        old = columns[path.i_in2][slot]
                        columns[path.i_in2][slot] = t if old is None else old + t
        blocks = []
        for cols, _ in zip(columns, spec.irreps_in2, strict=True):
            filled = [c if c is not None else jnp.zeros((e,), dtype) for c in cols]
            blocks.append(jnp.stack(filled, axis=-1) if filled else jnp.zeros((e, 0), dtype))
        return concat(blocks)

    def w(self, x1, x2, w, g):
        spec = self.spec
        e, dtype = g.shape[0], g.dtype
        c1 = self._columns(x1, spec.irreps_in1)
        c2 = self._columns(x2, spec.irreps_in2)
        cg_ = self._columns(g, spec.irreps_out)
        if spec.channel_mode == "uvu":
            a_all = self._a(c2)
        pieces = []
        live = dict(self.live)
        for index, path in enumerate(spec.paths):
            (mul1, ir1), (mul2, ir2), (_, ir3) = spec.mul_irreps(path)
            size = math.prod(spec.path_weight_shape(path))
            if index not in live:
                pieces.append(jnp.zeros((e, size), dtype))
                continue
            x, gk = c1[path.i_in1], cg_[path.i_out]
            if spec.channel_mode == "uvu":
                per_v = []
                for v in range(mul2):
                    a = a_all[index][v]
                    terms = [a[(m1, m3)] * (x[m1] * gk[m3]) for (m1, m3) in a]
                    per_v.append(
                        functools.reduce(jnp.add, terms) if terms else jnp.zeros((e, mul1), dtype)
                    )
                pieces.append(jnp.stack(per_v, axis=-1).reshape(e, size))
            else:
                y = c2[path.i_in2]
                terms = [
                    (path.coefficient * value) * (x[m1] * y[m2] * gk[m3])
                    for m1, m2, m3, value in _nonzeros(ir1.l, ir2.l, ir3.l)
                ]
                pieces.append(
                    functools.reduce(jnp.add, terms) if terms else jnp.zeros((e, size), dtype)
                )
        return concat(pieces)


# ---------------------------------------------------------------------------- the kernel


def _check_inputs(spec: TensorProductSpec, x1, x2, weights):
    for name, x, irreps in (("x1", x1, spec.irreps_in1), ("x2", x2, spec.irreps_in2)):
        if x.ndim == 0 or x.shape[-1] != irreps.dim:
            raise ValueError(
                f"{name} must have shape (..., {irreps.dim}) for irreps {irreps}, got "
                f"{tuple(x.shape)}; reshape it or fix the spec's irreps"
            )
    if spec.weighted:
        if weights is None:
            raise ValueError(
                f"this {spec.channel_mode!r} tensor product needs weights of shape "
                f"(..., {spec.weight_numel}); pass them as the third argument"
            )
        if weights.ndim == 0 or weights.shape[-1] != spec.weight_numel:
            raise ValueError(
                f"weights must have shape (..., {spec.weight_numel}) (spec.weight_numel), got "
                f"{tuple(weights.shape)}"
            )
    elif weights is not None:
        raise ValueError(
            f"this {spec.channel_mode!r} tensor product has no weights; pass weights=None"
        )


def _intermediate_floats(spec: TensorProductSpec) -> int:
    """Floats of the A-first algorithm's intermediates per sample (``A``, the weighted ``x1``)."""
    total = spec.irreps_in1.dim + spec.irreps_in2.dim + spec.irreps_out.dim
    for path in spec.paths:
        (mul1, ir1), (mul2, _), (_, ir3) = spec.mul_irreps(path)
        total += mul1 * mul2 * ir1.dim + mul2 * ir1.dim * ir3.dim
    return total


def cg_kernel(
    spec: TensorProductSpec, plan: Plan = DEFAULT_PLAN, layout: str = "mul_ir"
) -> Callable:
    """The Clebsch-Gordan kernel of a spec (registered as ``method="cg"``).

    Prefer :func:`~equitens.tp.registry.tensor_product_kernel`, which caches kernels per spec
    and plan.

    Args:
        spec: the tensor product.
        plan: how it runs (``plan.cg_algorithm``, ``plan.sparse_terms_for``, ``plan.chunk``,
            ``plan.fuse_gradients``).

    Returns:
        ``kernel(x1, x2, weights=None) -> out``, see
        :func:`~equitens.tp.registry.tensor_product_kernel`; ``kernel.algorithm`` is the
        algorithm it runs (``"sparse"`` or ``"dense"``).

    Examples:
        >>> import jax.numpy as jnp
        >>> spec = TensorProductSpec.full("1o", "1o", filter_ir_out="0e")
        >>> kernel = cg_kernel(spec)
        >>> out = kernel(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 3.0]))
        >>> round(float(out[0]), 4)  # |x|^2 / sqrt(3)
        8.0829
    """
    algorithm = plan.cg_algorithm  # "sparse" falls back to "dense" where it does not apply
    if algorithm == "auto":
        limit = plan.sparse_terms_for(spec.channel_mode)
        small = _sparse_supported(spec) and _sparse_terms(spec) <= limit
        algorithm = "sparse" if small else "dense"
    if not _sparse_supported(spec):
        algorithm = "dense"
    if layout == "ir_mul" and not (algorithm == "sparse" and spec.channel_mode == "uuu"):
        return _converted(cg_kernel(spec, plan), spec, algorithm)
    slot_functions = None
    if algorithm == "sparse":
        sparse = _Sparse(spec, layout)

        def apply(spec, x1, x2, w):
            return sparse.out(x1, x2, w)

        slot_functions = {0: sparse.x1, 1: sparse.x2}
        if spec.weighted:
            slot_functions[2] = sparse.w
    else:
        apply = _uvu_apply if spec.channel_mode == "uvu" else _pair_apply
    dims = (
        spec.irreps_in1.dim,
        spec.irreps_in2.dim,
        spec.weight_numel if spec.weighted else None,
        spec.irreps_out.dim,
    )
    # only the A-first algorithm keeps large per-sample intermediates worth chunking (measured):
    # under chunk="auto" the others run unchunked on every platform
    a_first = apply is _uvu_apply
    floats = _intermediate_floats(spec) if a_first else 1

    def forward(x1, x2, w):
        if w is None:
            w = jnp.zeros((0,), x1.dtype)
        return apply(spec, x1, x2, w)

    kernels = {
        shared: multilinear(
            forward,
            dims,
            shared_weights=shared,
            per_sample_floats=floats,
            budget=plan.chunk_budgets(CPU_BUDGET if a_first else None),
            fuse_gradients=plan.fuse_gradients,
            slot_functions=slot_functions,
        )
        for shared in (False, True)
    }

    def kernel(x1, x2, weights=None):
        x1 = jnp.asarray(x1)
        x2 = jnp.asarray(x2)
        weights = None if weights is None else jnp.asarray(weights)
        _check_inputs(spec, x1, x2, weights)
        arrays = [x1, x2] + ([] if weights is None else [weights])
        dtype = jnp.result_type(*arrays)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.result_type(float)
        shared = weights is not None and weights.ndim == 1
        batch_shapes = [x1.shape[:-1], x2.shape[:-1]]
        if weights is not None and not shared:
            batch_shapes.append(weights.shape[:-1])
        leading = jnp.broadcast_shapes(*batch_shapes)
        e = math.prod(leading)
        x1 = jnp.broadcast_to(x1.astype(dtype), leading + x1.shape[-1:]).reshape(e, dims[0])
        x2 = jnp.broadcast_to(x2.astype(dtype), leading + x2.shape[-1:]).reshape(e, dims[1])
        if weights is not None:
            weights = weights.astype(dtype)
            if not shared:
                weights = jnp.broadcast_to(weights, leading + weights.shape[-1:]).reshape(
                    e, dims[2]
                )
        if spec.irreps_out.dim == 0 or not spec.paths:
            return jnp.zeros(leading + (spec.irreps_out.dim,), dtype)
        out = kernels[shared](x1, x2, weights)
        return out.reshape(leading + (spec.irreps_out.dim,))

    kernel.algorithm = algorithm
    kernel.converts_layout = False
    return kernel


def _converted(kernel: Callable, spec: TensorProductSpec, algorithm: str) -> Callable:
    """The ``"ir_mul"`` kernel of an algorithm written in mul_ir: layouts converted around it."""

    def converted(x1, x2, weights=None):
        out = kernel(
            ir_mul_to_mul_ir(x1, spec.irreps_in1), ir_mul_to_mul_ir(x2, spec.irreps_in2), weights
        )
        return mul_ir_to_ir_mul(out, spec.irreps_out)

    converted.algorithm = algorithm
    converted.converts_layout = True
    return converted


register_method("cg", cg_kernel, layouts=("mul_ir", "ir_mul"))
