"""The SO(2)-reduced edge convolution (``method="so2"``, eSCN; Passaro & Zitnick 2023).

The CG message ``sum_paths w_path CG(x, Y(edge))`` is computed in the edge-aligned frame: rotate
the sender features so that the edge points along +y (:func:`equitens.so3.edge_frame_wigner`,
gradients kept), where the edge's spherical harmonics have only their ``m = 0`` component; there
every path couples order ``m`` of an input degree only to order ``+-m`` of an output degree, so the
message is an SO(2)-linear map per ``m``; then rotate back:

    ``message = D(R)^T  SO2Lin( D(R) x ),    R = edge_frame(edge)``.

Per order ``m >= 1``, with ``x+`` and ``x-`` the ``+m`` and ``-m`` components (stacked over the
input entries with ``l >= m``)::

    y+ = A x+ + B x-,      y- = A x- - B x+          (m = 0:  y0 = A x0)

i.e. the real form ``[y+; y-] = [[A, B], [-B, A]] [x+; x-]`` of the complex product
``(A - iB)(x+ + i x-)``, evaluated block by block (element-wise over the channels). ``A``
collects the *even* paths (``l_in + l_filter + l_out`` even) and ``B`` the *odd* ones
(reference section 2.1).

**Weights** (per edge, from a radial network; channelwise like the ``"cg"`` conv, so every input
entry and output entry must have the same multiplicity ``C``): one weight per channel for each
*block* ``(m, i_in, i_out, kind)``, ``kind`` ``"a"`` (an entry of ``A``) or ``"b"`` (of ``B``).
:func:`so2_layout` lists the blocks in weight order: for ``m = 0..m_max``, first the ``"a"`` blocks
of that ``m`` sorted by ``(i_out, i_in)``, then its ``"b"`` blocks; each block holds ``C``
consecutive channel weights. ``weight_numel = len(blocks) * C``.

**Parity** (``parity=True``, the default): the conv is O(3)-equivariant with the irreps' parities.
A pair of entries ``(l_i p_i) -> (l_o p_o)`` is *even* when ``p_o = p_i (-1)^(l_i + l_o)``: then
only filters with ``(-1)^l_f = (-1)^(l_i + l_o)`` reach it, all paths are even and the pair gets
``"a"`` blocks for ``m = 0..min(l_i, l_o, m_max)``; otherwise it is *odd* and gets ``"b"`` blocks
for ``m = 1..min(l_i, l_o, m_max)``. A pair is coupled exactly when the ``"cg"`` conv of the same
``lmax`` has a path for it (``|l_i - l_o| <= lmax``, plus 1 for odd pairs). With ``parity=False``
parities are ignored and every coupled pair gets both kinds (eSCN's layer: SO(3)- but not
O(3)-equivariant).

**Expressivity.** Free weights make the most general edge-equivariant channelwise linear map of
these degrees: the CG conv with filter degrees up to ``l_i + l_o``. For pairs with
``l_i + l_o <= lmax`` it spans exactly the CG conv's paths; for the others it has more freedom
(``1 + min(l_i, l_o)`` even or ``min(l_i, l_o)`` odd weights against the CG conv's fewer
``l_f <= lmax`` paths). :func:`so2_weights_from_cg` maps CG path weights to SO(2) weights, with
which the two convs agree to rounding.

**Truncation** ``m_max`` (default ``None``: no truncation, exact) keeps only orders
``|m| <= m_max`` (exactly equivariant; each ``|m|`` block is roll invariant). ``rescale=True``
multiplies the rotated-back degree ``l > m_max`` by ``sqrt((2l+1)/(2 m_max+1))`` (EquiformerV2's
variance correction). The roll about the edge is 0, or uniform in ``[0, 2 pi)`` per edge from the
``key`` passed at call time; the result does not depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from equitens.conv.interface import (
    EdgeConvolution,
    common_multiplicity,
    register_conv_method,
    sh_irreps,
)
from equitens.conv.so2_interaction import SO2InteractionForm, so2_interaction
from equitens.so3.edge_frame import edge_frame_wigner
from equitens.so3.irreps import Irreps
from equitens.so3.layout import split_sizes
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.tp.multilinear import multilinear
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = [
    "SO2Block",
    "SO2Layout",
    "so2_layout",
    "so2_edge_convolution",
    "so2_weights_from_cg",
]

_HIGHEST = jax.lax.Precision.HIGHEST
# Floats of intermediates per chunk of edges on a CPU (Plan.chunk="auto"): small chunks (8 to 32
# edges) stay in cache. On GPU/TPU the default plan runs unchunked.
CPU_BUDGET = 1 << 16


@dataclasses.dataclass(frozen=True)
class SO2Block:
    """One block of the SO(2) weights: order ``m``, input entry, output entry and kind.

    Attributes:
        m: the order, ``0 <= m <= min(l_in, l_out, m_max)``.
        i_in: index of the input entry in ``irreps_in``.
        i_out: index of the output entry in ``irreps_out``.
        kind: ``"a"`` (diagonal coupling, even paths) or ``"b"`` (antisymmetric, odd paths).

    Examples:
        >>> SO2Block(1, 0, 2, "b")
        SO2Block(m=1, i_in=0, i_out=2, kind='b')
    """

    m: int
    i_in: int
    i_out: int
    kind: str


@dataclasses.dataclass(frozen=True)
class SO2Layout:
    """Static structure of an SO(2) convolution: its blocks (the weight layout) and sizes.

    Attributes:
        irreps_in: input irreps (one multiplicity ``mul`` for all entries).
        irreps_out: output irreps (the same multiplicity).
        lmax: degree of the edge harmonics whose CG conv this reduces.
        m_max: the largest order kept.
        parity: whether parities are tracked (O(3)) or ignored (SO(3) only).
        mul: the channel count ``C``.
        blocks: the weight blocks in weight order (see the module docstring).

    Examples:
        >>> layout = so2_layout("4x0e + 4x1o", "4x0e + 4x1o", lmax=2)
        >>> len(layout.blocks), layout.weight_numel
        (5, 20)
    """

    irreps_in: Irreps
    irreps_out: Irreps
    lmax: int
    m_max: int
    parity: bool
    mul: int
    blocks: tuple[SO2Block, ...]

    @property
    def weight_numel(self) -> int:
        """Weights per edge: ``len(blocks) * mul``."""
        return len(self.blocks) * self.mul

    def blocks_of(self, m: int, kind: str) -> tuple[SO2Block, ...]:
        """The blocks of order ``m`` and one kind, in weight order.

        Examples:
            >>> so2_layout("2x1o", "2x1o", lmax=2).blocks_of(1, "a")
            (SO2Block(m=1, i_in=0, i_out=0, kind='a'),)
        """
        return tuple(b for b in self.blocks if b.m == m and b.kind == kind)

    def entries_in(self, m: int) -> tuple[int, ...]:
        """Input entries with ``l >= m`` (the rows stacked at order ``m``)."""
        return tuple(i for i, (_, ir) in enumerate(self.irreps_in) if ir.l >= m)

    def entries_out(self, m: int) -> tuple[int, ...]:
        """Output entries with ``l >= m``."""
        return tuple(k for k, (_, ir) in enumerate(self.irreps_out) if ir.l >= m)


def _pair_kinds(
    l_in: int, p_in: int, l_out: int, p_out: int, lmax: int, parity: bool
) -> tuple[str, ...]:
    """Kinds of coupling between two entries (``()`` when the CG conv has no path)."""
    low, diff = min(l_in, l_out), abs(l_in - l_out)
    even_ok = diff <= lmax
    odd_ok = low >= 1 and diff + 1 <= lmax
    if not parity:
        return tuple(k for k, ok in (("a", even_ok), ("b", odd_ok)) if ok)
    if p_out == p_in * (-1) ** (l_in + l_out):
        return ("a",) if even_ok else ()
    return ("b",) if odd_ok else ()


def so2_layout(
    irreps_in,
    irreps_out,
    lmax: int,
    *,
    m_max: int | None = None,
    parity: bool = True,
) -> SO2Layout:
    """The block structure and weight layout of an SO(2) convolution.

    Args:
        irreps_in: irreps of the sender features, all entries of one multiplicity ``C``.
        irreps_out: irreps of the messages, all entries of multiplicity ``C``; each must be coupled
            to some input entry.
        lmax: degree of the edge harmonics of the CG conv being reduced (decides which entry
            pairs are coupled).
        m_max: largest order kept (``None``: all, exact).
        parity: track parities (O(3)) or not (SO(3) only, both kinds for every pair).

    Returns:
        The :class:`SO2Layout`.

    Raises:
        ValueError: for mixed multiplicities, a negative ``m_max`` or an unreachable output.

    Examples:
        >>> layout = so2_layout("8x0e + 8x1o + 8x2e", "8x0e + 8x1o + 8x1e + 8x2e", lmax=2)
        >>> [(b.m, b.i_in, b.i_out, b.kind) for b in layout.blocks_of(1, "b")]
        [(1, 1, 2, 'b'), (1, 2, 2, 'b')]
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    if len(irreps_in) == 0 or len(irreps_out) == 0:
        raise ValueError("the so2 convolution needs non-empty irreps_in and irreps_out")
    channels = common_multiplicity(irreps_in, irreps_out, "so2", "it is channelwise")
    if not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative int, got {lmax!r}")
    top = min(irreps_in.lmax, irreps_out.lmax)
    if m_max is None:
        m_max = top
    if isinstance(m_max, bool) or not isinstance(m_max, int) or m_max < 0:
        raise ValueError(f"m_max must be a non-negative int or None (no truncation), got {m_max!r}")
    m_max = min(m_max, top)
    kinds = {}
    for i, (_, a) in enumerate(irreps_in):
        for k, (_, b) in enumerate(irreps_out):
            kinds[i, k] = _pair_kinds(a.l, a.p, b.l, b.p, lmax, parity)
    for k, (mul, ir) in enumerate(irreps_out):
        if not any(kinds[i, k] for i in range(len(irreps_in))):
            raise ValueError(
                f"no path of {irreps_in} x {sh_irreps(lmax)} produces the output {mul}x{ir} "
                "(parity or degree out of reach); remove it from irreps_out"
            )
    blocks = []
    for m in range(m_max + 1):
        for kind in ("a", "b"):
            if kind == "b" and m == 0:
                continue
            for k, (_, b) in enumerate(irreps_out):
                for i, (_, a) in enumerate(irreps_in):
                    if kind in kinds[i, k] and m <= min(a.l, b.l):
                        blocks.append(SO2Block(m, i, k, kind))
    return SO2Layout(irreps_in, irreps_out, lmax, m_max, bool(parity), channels, tuple(blocks))


# ---------------------------------------------------------------------------------- the kernel


def _kept(l: int, m_max: int) -> tuple[int, int]:
    """Rows ``l - t .. l + t`` of ``D^l`` are kept, ``t = min(l, m_max)``: ``(t, first row)``."""
    t = min(l, m_max)
    return t, l - t


def _wigner_layout(layout: SO2Layout) -> tuple[tuple[int, int, int], ...]:
    """``(l, offset, rows)`` of each degree's kept rows in the flat per-edge Wigner vector."""
    ls = sorted({ir.l for _, ir in layout.irreps_in} | {ir.l for _, ir in layout.irreps_out})
    out, offset = [], 0
    for l in ls:
        if l == 0:
            continue
        t, _ = _kept(l, layout.m_max)
        out.append((l, offset, 2 * t + 1))
        offset += (2 * t + 1) * (2 * l + 1)
    return tuple(out)


def _wigner_flat(layout: SO2Layout, D: list[jax.Array]) -> jax.Array:
    """The kept rows of every needed ``D^l`` (``l >= 1``), flattened per edge."""
    parts = []
    for l, _, rows in _wigner_layout(layout):
        _, first = _kept(l, layout.m_max)
        parts.append(D[l][:, first : first + rows, :].reshape(D[l].shape[0], -1))
    if not parts:
        return jnp.zeros((D[0].shape[0], 1), D[0].dtype)
    return jnp.concatenate(parts, axis=1)


def _so2_forward(layout: SO2Layout, rescale: bool):
    """The chunk forward ``f(x, d, w)``: rotate in, SO(2) linear per ``m``, rotate back.

    Trilinear in the features ``x`` ``(c, din)``, the flat kept Wigner rows ``d`` and the weights
    ``w`` ``(c, nw)``. The rotations are batched matrix products over the edges, ``(2t+1, 2l+1)``
    Wigner rows times the ``(2l+1, C)`` channels of an entry; the per-``m`` products are
    element-wise over the channels, one product per weight block. Every array is cut into its
    pieces with ``jax.lax.split`` (never indexing or slicing): the transposes (the backward pass)
    are then concatenations, where slices would transpose to one full-size padded array per
    piece (measured 7x slower fwd+bwd of the per-``m`` stage at ``L = 6``).
    """
    ir_in, ir_out, m_max, C = layout.irreps_in, layout.irreps_out, layout.m_max, layout.mul
    wig = _wigner_layout(layout)
    wig_index = {l: n for n, (l, _, _) in enumerate(wig)}
    wig_sizes = [rows * (2 * l + 1) for l, _, rows in wig]
    n_blocks = len(layout.blocks)

    def forward(x, d, w):
        c = x.shape[0]
        rot = split_sizes(d, wig_sizes, 1) if wig else []

        def rotation(l):
            _, _, rows = wig[wig_index[l]]
            return rot[wig_index[l]].reshape(c, rows, 2 * l + 1)

        # rotate in: xe[i] (c, 2t+1, C), row t + m holds order m in the edge frame
        rows_in = []
        for (_, ir), xi in zip(
            ir_in, split_sizes(x, [C * ir.dim for _, ir in ir_in], 1), strict=True
        ):
            xi = xi.reshape(c, C, ir.dim)
            if ir.l == 0:
                xe = jnp.swapaxes(xi, 1, 2)
            else:
                xe = jnp.einsum("crj,cuj->cru", rotation(ir.l), xi, precision=_HIGHEST)
            rows_in.append([r[:, 0] for r in split_sizes(xe, [1] * xe.shape[1], 1)])
        # per m: y+ = A x+ + B x-,  y- = A x- - B x+  (one product per block and sign)
        ws = [b[:, 0] for b in split_sizes(w.reshape(c, n_blocks, C), [1] * n_blocks, 1)]
        acc = {}

        def add(key, value):
            acc[key] = acc[key] + value if key in acc else value

        for wb, b in zip(ws, layout.blocks, strict=True):
            t = min(ir_in[b.i_in].ir.l, m_max)
            xp, xm = rows_in[b.i_in][t + b.m], rows_in[b.i_in][t - b.m]
            if b.kind == "a":
                add((b.i_out, b.m), wb * xp)
                if b.m:
                    add((b.i_out, -b.m), wb * xm)
            else:
                add((b.i_out, b.m), wb * xm)
                add((b.i_out, -b.m), -(wb * xp))
        # rotate back: out[j] = sum_r R[r, j] y[r]
        pieces = []
        for k, (_, ir) in enumerate(ir_out):
            l, t = ir.l, min(ir.l, m_max)
            zero = jnp.zeros((c, C), x.dtype)
            y = jnp.stack([acc.get((k, m), zero) for m in range(-t, t + 1)], axis=1)  # (c, 2t+1, C)
            if l == 0:
                ok = y.reshape(c, C)
            else:
                ok = jnp.einsum("crj,cru->cuj", rotation(l), y, precision=_HIGHEST).reshape(c, -1)
            if rescale and l > m_max:
                ok = ok * math.sqrt((2 * l + 1) / (2 * m_max + 1))
            pieces.append(ok)
        return jnp.concatenate(pieces, axis=1)

    return forward


@functools.cache
def _so2_kernel(layout: SO2Layout, rescale: bool, plan: Plan):
    forward = _so2_forward(layout, rescale)
    d_wigner = max(1, sum(rows * (2 * l + 1) for l, _, rows in _wigner_layout(layout)))
    din, dout, nw = layout.irreps_in.dim, layout.irreps_out.dim, layout.weight_numel
    return multilinear(
        forward,
        (din, d_wigner, nw, dout),
        shared_weights=False,
        per_sample_floats=2 * (din + dout) + nw,
        budget=plan.chunk_budgets(CPU_BUDGET),
        linear_in_x2=False,  # the Wigner rows rotate in and back: quadratic in them
    )


def _so2_apply(layout: SO2Layout, rescale: bool, plan: Plan, x, vectors, weights, key):
    dtype = x.dtype
    lmax_feat = max(layout.irreps_in.lmax, layout.irreps_out.lmax)
    gamma = None
    if key is not None:
        gamma = jax.random.uniform(key, (x.shape[0],), dtype=dtype, maxval=2 * jnp.pi)
    D = edge_frame_wigner(lmax_feat, vectors.astype(dtype), gamma)
    kernel = _so2_kernel(layout, rescale, plan)
    return kernel(x, _wigner_flat(layout, D), weights.astype(dtype))


def so2_edge_convolution(
    irreps_in: Irreps,
    irreps_out: Irreps,
    lmax: int,
    *,
    m_max: int | None = None,
    rescale: bool = False,
    parity: bool = True,
    plan: Plan = DEFAULT_PLAN,
) -> EdgeConvolution:
    """The SO(2)-reduced (eSCN) edge convolution; see the module docstring.

    Args:
        irreps_in: irreps of the sender features, one multiplicity ``C`` for every entry.
        irreps_out: irreps of the messages, multiplicity ``C``.
        lmax: degree of the edge harmonics of the CG conv being reduced (which entry pairs couple).
        m_max: largest order kept; ``None`` (default) keeps all (exact).
        rescale: multiply rotated-back degrees ``l > m_max`` by ``sqrt((2l+1)/(2 m_max+1))``.
        parity: O(3) with parities (default) or SO(3) only (eSCN).
        plan: how the kernels run (:class:`~equitens.tp.plan.Plan`; default: chunked for the
            CPU cache on CPU, unchunked on GPU/TPU, chosen when lowered).

    Returns:
        The :class:`~equitens.conv.interface.EdgeConvolution`; ``weight_numel`` is
        ``so2_layout(...).weight_numel``. A ``key`` at call time draws a random roll per edge.

    Examples:
        >>> import jax.numpy as jnp
        >>> conv = so2_edge_convolution(Irreps("4x0e + 4x1o"), Irreps("4x0e + 4x1o"), 1)
        >>> conv.weight_numel
        20
        >>> conv(jnp.ones((3, 16)), jnp.ones((3, 3)), jnp.ones((3, 20))).shape
        (3, 16)
    """
    layout = so2_layout(irreps_in, irreps_out, lmax, m_max=m_max, parity=parity)

    @jax.jit
    def apply(x, vectors, weights, key):
        return _so2_apply(layout, bool(rescale), plan, x, vectors, weights, key)

    form = SO2InteractionForm(layout, bool(rescale))

    def fused(x, senders, receivers, vectors, weights, backend: str) -> jax.Array:
        return so2_interaction(form, x, senders, receivers, vectors, weights, backend=backend)

    summary = ", ".join(
        f"m={m}: {len(layout.blocks_of(m, 'a'))}a+{len(layout.blocks_of(m, 'b'))}b"
        for m in range(layout.m_max + 1)
    )
    return EdgeConvolution(
        irreps_in=layout.irreps_in,
        irreps_out=layout.irreps_out,
        lmax=lmax,
        method="so2",
        weight_numel=layout.weight_numel,
        description=(
            f"SO(2)-reduced CG conv ({'O(3)' if layout.parity else 'SO(3)'}, m_max={layout.m_max}, "
            f"rescale={bool(rescale)}): one weight per (m, i_in, i_out, kind) block and channel, "
            f"blocks ordered by m, kind, i_out, i_in ({summary}); see so2_layout"
        ),
        apply=apply,
        plan=plan,
        fused=fused,
    )


# ---------------------------------------------------------------------- CG path weights -> SO(2)


@functools.cache
def _cg_to_so2_matrix(
    irreps_in: Irreps, irreps_out: Irreps, lmax: int, path_normalization: str
) -> np.ndarray:
    """``T`` with ``w_so2[block] = sum_path T[path, block] w_cg[path]`` (per channel), float64."""
    layout = so2_layout(irreps_in, irreps_out, lmax)
    one_in = Irreps([(1, ir) for _, ir in irreps_in])
    one_out = Irreps([(1, ir) for _, ir in irreps_out])
    spec = TensorProductSpec.channelwise(
        one_in, sh_irreps(lmax), one_out, path_normalization=path_normalization
    )
    kernel = tensor_product_kernel(spec)
    n_paths, d_in = len(spec.paths), one_in.dim
    # constants, also when first asked for inside a jit trace
    with jax.enable_x64(True), jax.ensure_compile_time_eval():
        y = spherical_harmonics(lmax, jnp.array([0.0, 1.0, 0.0], jnp.float64))
        x = jnp.tile(jnp.eye(d_in, dtype=jnp.float64), (n_paths, 1))
        w = jnp.repeat(jnp.eye(n_paths, dtype=jnp.float64), d_in, axis=0)
        out = np.asarray(kernel(x, jnp.tile(y, (n_paths * d_in, 1)), w), dtype=np.float64)
    coupling = out.reshape(n_paths, d_in, one_out.dim).transpose(0, 2, 1)  # M_p[out, in]
    start_in = [s.start for s in one_in.slices()]
    start_out = [s.start for s in one_out.slices()]
    T = np.zeros((n_paths, len(layout.blocks)))
    check = np.zeros_like(coupling)
    for n, b in enumerate(layout.blocks):
        li, lo = irreps_in[b.i_in].ir.l, irreps_out[b.i_out].ir.l
        oi, oo = start_in[b.i_in] + li, start_out[b.i_out] + lo
        if b.kind == "a":
            T[:, n] = coupling[:, oo + b.m, oi + b.m]
            check[:, oo + b.m, oi + b.m] = T[:, n]
            check[:, oo - b.m, oi - b.m] = T[:, n]
        else:
            T[:, n] = coupling[:, oo + b.m, oi - b.m]
            check[:, oo + b.m, oi - b.m] = T[:, n]
            check[:, oo - b.m, oi + b.m] = -T[:, n]
    error = np.abs(check - coupling).max(initial=0.0)
    if error > 1e-10:  # pragma: no cover - would mean the SO(2) structure is wrong
        raise RuntimeError(
            f"CG couplings in the edge frame are not SO(2)-structured (error {error:.2e})"
        )
    T.setflags(write=False)
    return T


def so2_weights_from_cg(
    irreps_in,
    irreps_out,
    lmax: int,
    cg_weights: jax.typing.ArrayLike,
    *,
    path_normalization: str = "element",
) -> jax.Array:
    """SO(2) weights with which the ``"so2"`` conv equals the ``"cg"`` conv (reference section 2.1).

    ``edge_convolution(..., method="so2")(x, v, so2_weights_from_cg(..., w))`` equals
    ``edge_convolution(..., method="cg", path_normalization=...)(x, v, w)`` to rounding, for
    every edge ``v`` (non-zero) and every per-edge, per-channel path weight ``w``. The map is linear
    and the same for every channel: each SO(2) weight is a fixed combination of the path weights,
    read off the CG couplings of the edge harmonics at ``+y`` (built once in float64, cached). It
    needs the default ``m_max=None`` (no truncation) and ``parity=True``.

    Args:
        irreps_in: irreps of the sender features (one multiplicity for all entries).
        irreps_out: irreps of the messages.
        lmax: degree of the edge harmonics.
        cg_weights: ``(..., weight_numel)`` weights of the ``"cg"`` conv.
        path_normalization: that of the ``"cg"`` conv.

    Returns:
        ``(..., so2 weight_numel)`` weights, dtype of ``cg_weights``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from equitens.conv.interface import edge_convolution
        >>> cg = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", 2, method="cg")
        >>> so2 = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", 2, method="so2")
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> x = jax.random.normal(k1, (4, 8)); v = jax.random.normal(k2, (4, 3))
        >>> w = jax.random.normal(k3, (4, cg.weight_numel))
        >>> w2 = so2_weights_from_cg("2x0e + 2x1o", "2x0e + 2x1o", 2, w)
        >>> bool(jnp.allclose(so2(x, v, w2), cg(x, v, w), atol=1e-5))
        True
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    layout = so2_layout(irreps_in, irreps_out, lmax)
    T = _cg_to_so2_matrix(irreps_in, irreps_out, lmax, path_normalization)
    cg_weights = jnp.asarray(cg_weights)
    C = layout.mul
    if cg_weights.ndim == 0 or cg_weights.shape[-1] != T.shape[0] * C:
        raise ValueError(
            f"cg_weights must end with the cg conv's weight_numel {T.shape[0] * C} "
            f"({T.shape[0]} paths x {C} channels), got shape {tuple(cg_weights.shape)}"
        )
    batch = cg_weights.shape[:-1]
    w = cg_weights.reshape(*batch, T.shape[0], C)
    out = jnp.einsum("pb,...pu->...bu", jnp.asarray(T, cg_weights.dtype), w, precision=_HIGHEST)
    return out.reshape(*batch, T.shape[1] * C)


register_conv_method("so2", so2_edge_convolution)
