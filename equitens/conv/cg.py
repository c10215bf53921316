"""The Clebsch-Gordan edge convolution (``method="cg"``): the NequIP/MACE message.

``out[u] = sum_paths w[e, path, u] c_path (x[u] (x) Y(edge))``: every parity-allowed path
``(l1 p1, l2 (-1)^l2) -> l3 p3`` from the sender's irreps and the edge's spherical harmonics
(component normalisation, degrees ``0..lmax``) into the requested output irreps, channelwise
(``"uvu"``), one weight per path and channel per edge. It is the exact reference the other
families are compared with.
"""

from __future__ import annotations

import jax

from equitens.conv.interface import EdgeConvolution, register_conv_method, sh_irreps
from equitens.so3.irreps import Irreps
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.tp.interaction import channelwise_interaction, interaction_form
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = ["cg_edge_convolution"]


def cg_edge_convolution(
    irreps_in: Irreps,
    irreps_out: Irreps,
    lmax: int,
    *,
    path_normalization: str = "element",
    plan: Plan = DEFAULT_PLAN,
) -> EdgeConvolution:
    """The Clebsch-Gordan edge convolution (see the module docstring).

    Args:
        irreps_in: irreps of the sender features.
        irreps_out: irreps of the messages; each entry must be reachable and have the
            multiplicity of the input entries feeding it (channelwise).
        lmax: highest degree of the spherical harmonics.
        path_normalization: ``"element"`` or ``"path"``.
        plan: how the kernels run (:class:`~equitens.tp.plan.Plan`; default: chunked for the
            CPU cache on CPU, unchunked on GPU/TPU, chosen when lowered).

    Returns:
        The :class:`~equitens.conv.interface.EdgeConvolution`; weights are laid out as the
        ``"uvu"`` :class:`~equitens.tp.spec.TensorProductSpec` says (per path, ``mul1``).

    Examples:
        >>> conv = cg_edge_convolution(Irreps("2x0e + 2x1o"), Irreps("2x0e + 2x1o"), 1)
        >>> conv.weight_numel
        8
    """
    spec = TensorProductSpec.channelwise(
        irreps_in, sh_irreps(lmax), irreps_out, path_normalization=path_normalization
    )
    kernel = tensor_product_kernel(spec, plan)

    def apply(x: jax.Array, vectors: jax.Array, weights: jax.Array, key) -> jax.Array:
        y = spherical_harmonics(lmax, vectors.astype(x.dtype), normalize=True)
        return kernel(x, y, weights)

    def fused(x, senders, receivers, vectors, weights, backend: str) -> jax.Array:
        y = spherical_harmonics(lmax, vectors.astype(x.dtype), normalize=True)
        return channelwise_interaction(spec, x, y, weights, senders, receivers, backend=backend)

    try:
        interaction_form(spec)
    except ValueError:  # several multiplicities: the unfused interaction only
        fused = None
    paths = ", ".join(repr(p) for p in spec.paths)
    return EdgeConvolution(
        irreps_in=spec.irreps_in1,
        irreps_out=spec.irreps_out,
        lmax=lmax,
        method="cg",
        weight_numel=spec.weight_numel,
        description=f"every parity-allowed path, one weight per (path, channel) per edge: {paths}",
        apply=apply,
        plan=plan,
        fused=fused,
    )


register_conv_method("cg", cg_edge_convolution)
