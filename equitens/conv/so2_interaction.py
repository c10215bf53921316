"""The SO(2) convolution as a fused interaction form (``EdgeConvolution.aggregate`` of ``"so2"``).

The summed SO(2) messages ``out[r] = sum_{e -> r} D_e^T M(w_e) D_e x[s_e]`` (rotate the sender's
features into the edge frame with the kept Wigner rows ``D_e``, mix each order ``m`` with the
per-edge weights, rotate back; :mod:`equitens.conv.so2`) are the receiver-slot contraction of the
five-slot form

    ``F(x, d, w, d', g) = sum_e sum_c  g[r_e] . D'_e^T M(w_e) D_e x[s_e]``

with the Wigner rows in two slots, ``d`` (rotating in) and ``d'`` (rotating back), both fed the
same array. ``F`` is linear in each slot, so :mod:`equitens.tp.interaction`'s rules give every
derivative of every order as another slot's contraction (JAX sums the two Wigner slots'
cotangents), each one fused kernel. Each is the same three stages, rotate in, mix per ``m``,
rotate back, read in a different direction:

- ``g`` (the messages): ``D'^T M D x``;
- ``x`` (feature gradient): ``D^T M^T D' g``;
- ``w``: the per-block products of ``D x`` and ``D' g`` in the edge frame;
- ``d``: ``x`` against ``M^T D' g``; ``d'``: ``g`` against ``M D x`` (summed over the channels).

Per edge this is ``sum_l (2t+1)(2l+1)`` multiply-adds of channel rows to rotate each side and
two per weight block to mix, against the Clebsch-Gordan form's one per nonzero coefficient: the
SO(2) form is the cheaper one from ``L = 3`` on. The rotations ``D`` are computed per edge
outside the kernel (:func:`~equitens.so3.edge_frame_wigner`, ``(E, sum_l (2t+1)(2l+1))``); no
``(E, C x dim)`` array is formed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from equitens.so3.edge_frame import edge_frame_wigner
from equitens.so3.irreps import Irreps
from equitens.so3.layout import ir_mul_to_mul_ir, mul_ir_to_ir_mul
from equitens.tp.interaction import (
    EDGE,
    EDGE_CHANNELS,
    RECEIVER,
    SENDER,
    interaction,
)

if TYPE_CHECKING:
    from equitens.conv.so2 import SO2Layout

__all__ = ["SO2InteractionForm", "so2_interaction"]

X, D_IN, W, D_OUT, G = 0, 1, 2, 3, 4


def _accumulate(out: dict, key, value) -> None:
    out[key] = value if key not in out else out[key] + value


@dataclasses.dataclass(frozen=True)
class SO2InteractionForm:
    """The five-slot form of the summed SO(2) messages (hashable: a primitive parameter).

    Slots: ``x`` (sender features ``(N, irreps_in.dim / C, C)``), ``d`` (the kept Wigner rows
    rotating in, ``(E, nd)``), ``w`` (``(E, blocks, C)``, :func:`~equitens.conv.so2.so2_layout`'s
    weight order), ``d'`` (the same Wigner rows, rotating back), ``g`` (the messages' slot).

    Attributes:
        layout: the convolution's :class:`~equitens.conv.so2.SO2Layout`.
        rescale: EquiformerV2's variance correction of rotated-back degrees ``l > m_max``.

    Examples:
        >>> from equitens.conv.so2 import so2_layout
        >>> form = SO2InteractionForm(so2_layout("4x0e + 4x1o", "4x0e + 4x1o", lmax=1), False)
        >>> form.dims
        (4, 10, 5, 10, 4)
    """

    layout: SO2Layout
    rescale: bool
    kinds = (SENDER, EDGE, EDGE_CHANNELS, EDGE, RECEIVER)

    @functools.cached_property
    def _wigner(self) -> dict[int, int]:
        """``{l: offset}`` of each degree's kept rows in the Wigner slots (``D^0 = 1`` too, so
        that ``F`` is linear in each slot)."""
        irreps = (*self.layout.irreps_in, *self.layout.irreps_out)
        out, offset = {}, 0
        for l in sorted({ir.l for _, ir in irreps}):
            out[l] = offset
            offset += (2 * min(l, self.layout.m_max) + 1) * (2 * l + 1)
        return out

    @functools.cached_property
    def dims(self) -> tuple[int, ...]:
        wigner = sum(len(self._wigner_rows(l)) for l in self._wigner)
        dx = sum(ir.dim for _, ir in self.layout.irreps_in)
        dout = sum(ir.dim for _, ir in self.layout.irreps_out)
        return (dx, wigner, len(self.layout.blocks), wigner, dout)

    def _entries(self, irreps: Irreps, scaled: bool) -> tuple[tuple[int, int, int, float], ...]:
        """``(offset, l, t, scale)`` per entry in the ir_mul rows; ``t = min(l, m_max)``."""
        m_max, out, offset = self.layout.m_max, [], 0
        for _, ir in irreps:
            big = scaled and self.rescale and ir.l > m_max
            scale = math.sqrt((2 * ir.l + 1) / (2 * m_max + 1)) if big else 1.0
            out.append((offset, ir.l, min(ir.l, m_max), scale))
            offset += ir.dim
        return tuple(out)

    def used(self, slot: int) -> tuple[int, ...]:
        """The components of ``slot`` read (the Wigner slots: only their side's degrees)."""
        if slot in (X, G):
            return tuple(range(self.dims[slot]))
        if slot == W:
            return tuple(range(len(self.layout.blocks)))
        irreps = self.layout.irreps_in if slot == D_IN else self.layout.irreps_out
        return tuple(q for l in sorted({ir.l for _, ir in irreps}) for q in self._wigner_rows(l))

    def _wigner_rows(self, l: int) -> range:
        offset, t = self._wigner[l], min(l, self.layout.m_max)
        return range(offset, offset + (2 * t + 1) * (2 * l + 1))

    def wigner_rows(self, D: list[jax.Array]) -> jax.Array:
        """The Wigner slots' array ``(E, dims[1])`` from the edge frame's ``D^l`` (``l = 0..``)."""
        parts = []
        for l in self._wigner:
            t = min(l, self.layout.m_max)
            parts.append(D[l][:, l - t : l + t + 1, :].reshape(D[l].shape[0], -1))
        return jnp.concatenate(parts, axis=1)

    # ------------------------------------------------------------- the three stages, unrolled

    def _rotate_in(self, node: dict, d: dict, irreps: Irreps, scaled: bool) -> list[dict]:
        """Per entry, its rows in the edge frame: ``{r: sum_j D[r, j] node[j]}`` (row ``t + m``
        holds order ``m``)."""
        frames = []
        for offset, l, t, scale in self._entries(irreps, scaled):
            base, width = self._wigner[l], 2 * l + 1
            frame = {}
            for r in range(2 * t + 1):
                row = sum(d[base + r * width + j] * node[offset + j] for j in range(width))
                frame[r] = scale * row if scale != 1.0 else row
            frames.append(frame)
        return frames

    def _rotate_back(self, frames: list[dict], d: dict, irreps: Irreps, scaled: bool) -> dict:
        """``{component: sum_r D[r, j] frame[r]}``: the frames rotated back, per component."""
        out: dict = {}
        for frame, (offset, l, _, scale) in zip(frames, self._entries(irreps, scaled), strict=True):
            base, width = self._wigner[l], 2 * l + 1
            for j in range(width):
                terms = [d[base + r * width + j] * value for r, value in frame.items()]
                if terms:
                    total = sum(terms[1:], terms[0])
                    out[offset + j] = scale * total if scale != 1.0 else total
        return out

    def _mix(self, frames_in: list[dict], w: dict) -> list[dict]:
        """``M(w)``: per order ``m``, ``y+ = A x+ + B x-``, ``y- = A x- - B x+``."""
        out = [{} for _ in self.layout.irreps_out]
        for n, block, ti, tk in self._block_list:
            xp, xm = frames_in[block.i_in][ti + block.m], frames_in[block.i_in][ti - block.m]
            y = out[block.i_out]
            if block.kind == "a":
                _accumulate(y, tk + block.m, w[n] * xp)
                if block.m:
                    _accumulate(y, tk - block.m, w[n] * xm)
            else:
                _accumulate(y, tk + block.m, w[n] * xm)
                _accumulate(y, tk - block.m, -(w[n] * xp))
        return out

    def _mix_transposed(self, frames_out: list[dict], w: dict) -> list[dict]:
        """``M(w)^T``: from the output frames back to the input entries."""
        out = [{} for _ in self.layout.irreps_in]
        for n, block, ti, tk in self._block_list:
            gp, gm = frames_out[block.i_out][tk + block.m], frames_out[block.i_out][tk - block.m]
            y = out[block.i_in]
            if block.kind == "a":
                _accumulate(y, ti + block.m, w[n] * gp)
                if block.m:
                    _accumulate(y, ti - block.m, w[n] * gm)
            else:
                _accumulate(y, ti - block.m, w[n] * gp)
                _accumulate(y, ti + block.m, -(w[n] * gm))
        return out

    def _weight_gradient(self, frames_in: list[dict], frames_out: list[dict]) -> dict:
        out = {}
        for n, block, ti, tk in self._block_list:
            x, g, m = frames_in[block.i_in], frames_out[block.i_out], block.m
            if block.kind == "a":
                out[n] = g[tk + m] * x[ti + m] + (g[tk - m] * x[ti - m] if m else 0.0)
            else:
                out[n] = g[tk + m] * x[ti - m] - g[tk - m] * x[ti + m]
        return out

    def _wigner_gradient(self, node: dict, frames: list[dict], irreps: Irreps, scaled) -> dict:
        """``{q: sum_c node[j] frame[r]}`` for the Wigner entry ``q = (l, r, j)``, summed over
        the entries of degree ``l`` (over the channels: the last axis)."""
        out: dict = {}
        for frame, (offset, l, _, scale) in zip(frames, self._entries(irreps, scaled), strict=True):
            base, width = self._wigner[l], 2 * l + 1
            for r, value in frame.items():
                for j in range(width):
                    dot = jnp.sum(node[offset + j] * value, axis=-1)
                    _accumulate(out, base + r * width + j, scale * dot if scale != 1.0 else dot)
        return out

    @functools.cached_property
    def _block_list(self) -> tuple:
        """``(weight index, block, t_in, t_out)`` per block."""
        ir_in, ir_out, m_max = self.layout.irreps_in, self.layout.irreps_out, self.layout.m_max
        return tuple(
            (n, b, min(ir_in[b.i_in].ir.l, m_max), min(ir_out[b.i_out].ir.l, m_max))
            for n, b in enumerate(self.layout.blocks)
        )

    # ------------------------------------------------------------------- the form's protocol

    def contribution(self, target: int, rows: dict) -> dict:
        """One edge's contribution to slot ``target`` from the rows of the others (see the
        module docstring); components not reached are left out (zero)."""
        ir_in, ir_out = self.layout.irreps_in, self.layout.irreps_out
        if target == G:
            frames = self._mix(self._rotate_in(rows[X], rows[D_IN], ir_in, False), rows[W])
            return self._rotate_back(frames, rows[D_OUT], ir_out, True)
        if target == D_OUT:
            frames = self._mix(self._rotate_in(rows[X], rows[D_IN], ir_in, False), rows[W])
            return self._wigner_gradient(rows[G], frames, ir_out, True)
        frames_out = self._rotate_in(rows[G], rows[D_OUT], ir_out, True)
        if target == W:
            frames_in = self._rotate_in(rows[X], rows[D_IN], ir_in, False)
            return self._weight_gradient(frames_in, frames_out)
        frames = self._mix_transposed(frames_out, rows[W])
        if target == X:
            return self._rotate_back(frames, rows[D_IN], ir_in, False)
        return self._wigner_gradient(rows[X], frames, ir_in, False)  # D_IN


def so2_interaction(
    form: SO2InteractionForm, x, senders, receivers, vectors, weights, *, backend: str
) -> jax.Array:
    """The SO(2) messages summed into the receivers, fused (e3nn's mul_ir layout in and out).

    Args:
        form: the convolution's form.
        x: node features ``(N, irreps_in.dim)``.
        senders: ``(E,)`` int.
        receivers: ``(E,)`` int (out-of-range indices are dropped).
        vectors: edge vectors ``(E, 3)``.
        weights: ``(E, weight_numel)`` in :func:`~equitens.conv.so2.so2_layout`'s order.
        backend: ``"pallas"`` or ``"xla"``.

    Returns:
        ``(N, irreps_out.dim)``.
    """
    layout = form.layout
    lmax = max(layout.irreps_in.lmax, layout.irreps_out.lmax)
    d = form.wigner_rows(edge_frame_wigner(lmax, vectors.astype(x.dtype)))
    nodes, edges, channels = x.shape[0], vectors.shape[0], layout.mul
    rows = mul_ir_to_ir_mul(x, layout.irreps_in).reshape(nodes, form.dims[X], channels)
    w = weights.astype(x.dtype).reshape(edges, form.dims[W], channels)
    out = interaction(form, rows, (d, w, d), senders, receivers, backend=backend)
    return ir_mul_to_mul_ir(out.reshape(nodes, -1), layout.irreps_out)
