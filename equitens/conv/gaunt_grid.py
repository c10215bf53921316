"""The Gaunt edge convolution (``method="gaunt_grid"``): the message as a product of functions.

``message[u] = w_out[l3, u] * ( (w_in[entry, u] x[u])  (x)_G  (w_sh[l2, u] Y(edge)) )_{l3}``

Each channel ``u`` of the sender is a spherical function (its entries, weighted per entry by the
edge's radial weights ``w_in``); the edge's spherical harmonics ``Y_0 .. Y_lmax`` (component
normalisation), weighted per degree by ``w_sh``, are another; the message is their Gaunt product
(:mod:`equitens.tp.gaunt.grid`, exact on the minimal grid, O(L^3)), optionally weighted per output
entry by ``w_out``. The effective weight of a path ``(l1, l2) -> l3`` is therefore the *rank-1*
product ``w_in[l1] w_sh[l2] w_out[l3] kappa(l1, l2, l3)``, where the ``"cg"`` convolution has a
free weight per path; only even paths (``l1 + l2 + l3`` even) exist, so the message of an entry
``l1 p`` has parity ``p (-1)^(l1 + l3)``: natural-parity senders give natural-parity messages,
pseudo senders pseudo messages. That is the expressivity this family trades for speed (see the
analysis guide).

Weights per edge (``weight_numel``), in this order: ``w_in`` as ``(len(irreps_in), U)``, then
``w_sh`` as ``(lmax + 1, U)``, then (with ``output_weights=True``) ``w_out`` as
``(len(irreps_out), U)``, each flattened row-major; ``U`` is the common multiplicity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import equitens.tp.gaunt  # noqa: F401  (registers "gaunt_grid")
from equitens.conv.interface import (
    EdgeConvolution,
    common_multiplicity,
    register_conv_method,
    sh_irreps,
)
from equitens.so3.irreps import Irrep, Irreps
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import Path, TensorProductSpec

__all__ = ["gaunt_grid_edge_convolution"]


def gaunt_grid_edge_convolution(
    irreps_in: Irreps,
    irreps_out: Irreps,
    lmax: int,
    *,
    output_weights: bool = False,
    plan: Plan = DEFAULT_PLAN,
) -> EdgeConvolution:
    """The Gaunt edge convolution (see the module docstring).

    Args:
        irreps_in: irreps of the sender features: one multiplicity ``U`` for every entry and
            distinct irreps (e.g. ``"16x0e + 16x1o + 16x2e"``; pseudo entries ``0o, 1e, ...``
            are a second function).
        irreps_out: irreps of the messages, multiplicity ``U``; every entry must be reached by an
            even path from an input entry and a harmonic of degree ``<= lmax``.
        lmax: highest degree of the edge's spherical harmonics.
        output_weights: also weight each output entry per channel (``w_out``).
        plan: how the kernels run (:class:`~equitens.tp.plan.Plan`; default: chunked for the
            CPU cache on CPU, unchunked on GPU/TPU, chosen when lowered).

    Returns:
        The :class:`~equitens.conv.interface.EdgeConvolution`.

    Raises:
        ValueError: for unequal multiplicities, repeated irreps or unreachable outputs.

    Examples:
        >>> import jax.numpy as jnp
        >>> conv = gaunt_grid_edge_convolution(
        ...     Irreps("4x0e + 4x1o"), Irreps("4x0e + 4x1o + 4x2e"), 2)
        >>> conv.weight_numel  # w_in (2 entries x 4) + w_sh (3 degrees x 4)
        20
        >>> conv(jnp.ones((5, 16)), jnp.ones((5, 3)), jnp.ones((5, 20))).shape
        (5, 36)
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    mul = common_multiplicity(
        irreps_in, irreps_out, "gaunt_grid", "each channel is one spherical function"
    )
    for name, irreps in (("irreps_in", irreps_in), ("irreps_out", irreps_out)):
        irs = [ir for _, ir in irreps]
        if len(set(irs)) != len(irs):
            raise ValueError(f"{name}={irreps} repeats an irrep; merge it first (Irreps.regroup)")
    sh = mul * sh_irreps(lmax)
    triples = []
    for k, (_, ir3) in enumerate(irreps_out):
        found = False
        for i, (_, ir1) in enumerate(irreps_in):
            for j, (_, ir2) in enumerate(sh):
                if (
                    abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l
                    and (ir1.l + ir2.l + ir3.l) % 2 == 0
                    and ir1.p * ir2.p == ir3.p
                ):
                    triples.append((i, j, k))
                    found = True
        if not found:
            reachable = sorted(
                {
                    Irrep(l3, ir1.p * (-1) ** (ir1.l + l3))
                    for _, ir1 in irreps_in
                    for l2 in range(lmax + 1)
                    for l3 in range(abs(ir1.l - l2), ir1.l + l2 + 1)
                    if (ir1.l + l2 + l3) % 2 == 0
                }
            )
            raise ValueError(
                f"the 'gaunt_grid' convolution cannot produce {mul}x{ir3} from {irreps_in} and "
                f"harmonics up to lmax={lmax} (only even paths, l1 + l2 + l3 even, exist; the "
                f"parity of a message is that of its sender's sector). Reachable: "
                f"{' + '.join(str(ir) for ir in reachable)}; use method='cg' for the odd paths"
            )
    paths = tuple(
        Path(i, j, k, 1.0, (str(irreps_in[i]), str(sh[j]), str(irreps_out[k])))
        for i, j, k in triples
    )
    spec = TensorProductSpec(irreps_in, sh, irreps_out, paths, "uuu", False, method="gaunt_grid")
    kernel = tensor_product_kernel(spec, plan)
    n_in, n_sh, n_out = len(irreps_in), lmax + 1, len(irreps_out) if output_weights else 0
    weight_numel = (n_in + n_sh + n_out) * mul

    def scale(x: jax.Array, irreps: Irreps, w: jax.Array) -> jax.Array:
        """Multiply entry ``k`` channel ``u`` of ``x`` (mul_ir) by ``w[:, k, u]``."""
        e = x.shape[0]
        parts, start = [], 0
        for k, (m, ir) in enumerate(irreps):
            block = x[:, start : start + m * ir.dim].reshape(e, m, ir.dim)
            parts.append((block * w[:, k, :, None]).reshape(e, m * ir.dim))
            start += m * ir.dim
        return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def apply(x: jax.Array, vectors: jax.Array, weights: jax.Array, key) -> jax.Array:
        e = x.shape[0]
        w_in = weights[:, : n_in * mul].reshape(e, n_in, mul)
        w_sh = weights[:, n_in * mul : (n_in + n_sh) * mul].reshape(e, n_sh, mul)
        y = spherical_harmonics(lmax, vectors.astype(x.dtype), normalize=True)  # (E, (lmax+1)^2)
        y_blocks = [
            (w_sh[:, l, :, None] * y[:, None, l * l : (l + 1) ** 2]).reshape(e, mul * (2 * l + 1))
            for l in range(lmax + 1)
        ]
        y_weighted = jnp.concatenate(y_blocks, axis=-1) if len(y_blocks) > 1 else y_blocks[0]
        out = kernel(scale(x, irreps_in, w_in), y_weighted)
        if output_weights:
            w_out = weights[:, (n_in + n_sh) * mul :].reshape(e, n_out, mul)
            out = scale(out, irreps_out, w_out)
        return out

    described = ", ".join(
        f"({irreps_in[i].ir}, {sh[j].ir}) -> {irreps_out[k].ir}" for i, j, k in triples
    )
    layout = "w_in (entries, U), w_sh (lmax + 1, U)" + (
        ", w_out (outputs, U)" if output_weights else ""
    )
    return EdgeConvolution(
        irreps_in=irreps_in,
        irreps_out=irreps_out,
        lmax=lmax,
        method="gaunt_grid",
        weight_numel=weight_numel,
        description=(
            f"Gaunt product per channel (U={mul}), even paths only, rank-1 path weights "
            f"w_in[l1] w_sh[l2]{' w_out[l3]' if output_weights else ''} kappa; weights per edge: "
            f"{layout}; paths: {described}"
        ),
        apply=apply,
        plan=plan,
    )


register_conv_method("gaunt_grid", gaunt_grid_edge_convolution)
