"""The CP-decomposed edge convolution (``method="cp"``, TDN; Lin et al. 2025).

*Path-weight sharing*: every path of the channelwise CG conv ``x (x) Y(edge)`` gets the same
per-edge, per-channel weight ``w[e, u]``, so the message is ``w[e, u] * M(x[e, u], Y(edge))`` for
one fixed bilinear map ``M`` (:func:`equitens.cp.shared_cg_tensor`). ``M`` is replaced by a CP
decomposition ``sum_r A[:, r] (x) B[:, r] (x) C[:, r]``, fitted offline in float64 by ALS to a
relative Frobenius tolerance ``tol`` and cached (:func:`equitens.cp.cp_factors`):

    ``out[e, :, u] = w[e, u] * C @ ((A^T x[e, u]) * (B^T Y(edge)))``

three dense matrix products (``(E C) x d_in x R``, ``E x d_sh x R``, ``(E C) x R x d_out``) and no
gathers. The CP product is only approximately equivariant: per channel the error is at most
``2 ||M_hat - M||_F ||x|| ||Y||`` for every rotation (reference section 3.3); ``tol`` controls it
and the factors carry their measured errors (``conv.description`` quotes them).

``exact=True`` gives the comparison baseline: the same path-weight-shared operation evaluated
exactly by the sparse ``"cg"`` kernels (one shared weight vector of ones, then ``w[e, u]``).

Weights: ``weight_numel = C``, one weight per channel per edge (``mul_ir``: channel ``u``).
Every entry of ``irreps_in`` and ``irreps_out`` must have the same multiplicity ``C``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from equitens.conv.interface import (
    EdgeConvolution,
    common_multiplicity,
    register_conv_method,
    sh_irreps,
)
from equitens.cp.factors import cp_factors
from equitens.so3.irreps import Irreps
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = ["cp_edge_convolution"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _to_channels_last(x: jax.Array, irreps: Irreps, C: int) -> jax.Array:
    """``mul_ir`` ``(E, dim)`` with one multiplicity ``C`` -> ``(E, C, d)`` (one-channel dims)."""
    E = x.shape[0]
    return jnp.concatenate(
        [
            x[:, sl].reshape(E, C, ir.dim)
            for (_, ir), sl in zip(irreps, irreps.slices(), strict=True)
        ],
        axis=2,
    )


def _from_channels_last(z: jax.Array, irreps: Irreps) -> jax.Array:
    E, C = z.shape[0], z.shape[1]
    pieces, start = [], 0
    for _, ir in irreps:
        pieces.append(z[:, :, start : start + ir.dim].reshape(E, C * ir.dim))
        start += ir.dim
    return jnp.concatenate(pieces, axis=1)


def cp_edge_convolution(
    irreps_in: Irreps,
    irreps_out: Irreps,
    lmax: int,
    *,
    tol: float = 1e-6,
    exact: bool = False,
    path_normalization: str = "element",
    fit: bool = True,
    plan: Plan = DEFAULT_PLAN,
) -> EdgeConvolution:
    """The path-weight-shared, CP-decomposed edge convolution; see the module docstring.

    Args:
        irreps_in: irreps of the sender features, one multiplicity ``C`` for all entries.
        irreps_out: irreps of the messages (multiplicity ``C``; each entry reachable).
        lmax: degree of the edge harmonics.
        tol: largest relative Frobenius error of the CP factors (smallest cached rank meeting it).
        exact: evaluate the shared-weight product exactly (sparse CG kernels) instead of by CP.
        path_normalization: path normalisation of the underlying CG conv.
        fit: fit missing factors by ALS (cached afterwards); False raises instead.
        plan: how the kernels run (:class:`~equitens.tp.plan.Plan`; default: chunked for the
            CPU cache on CPU, unchunked on GPU/TPU, chosen when lowered).

    Returns:
        The :class:`~equitens.conv.interface.EdgeConvolution`, ``weight_numel = C``.

    Examples:
        >>> import jax.numpy as jnp
        >>> conv = cp_edge_convolution(Irreps("4x0e + 4x1o"), Irreps("4x0e + 4x1o"), 1)
        >>> conv.weight_numel
        4
        >>> conv(jnp.ones((3, 16)), jnp.ones((3, 3)), jnp.ones((3, 4))).shape
        (3, 16)
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    C = common_multiplicity(
        irreps_in, irreps_out, "cp", "it shares one weight per channel across all paths"
    )
    sh = sh_irreps(lmax)
    # the CG spec validates reachability of the outputs with the usual error messages
    spec = TensorProductSpec.channelwise(
        irreps_in, sh, irreps_out, path_normalization=path_normalization
    )

    if exact:
        kernel = tensor_product_kernel(spec, plan)
        ones = np.ones((spec.weight_numel,))

        @jax.jit
        def apply(x, vectors, weights, key):
            y = spherical_harmonics(lmax, vectors.astype(x.dtype), normalize=True)
            out = kernel(x, y, jnp.asarray(ones, x.dtype))  # shared weights: all paths 1
            z = _to_channels_last(out, irreps_out, C) * weights[:, :, None]
            return _from_channels_last(z, irreps_out)

        description = (
            f"path-weight-shared CG, exact (sparse CG kernels): one weight per channel shared "
            f"by all {len(spec.paths)} paths"
        )
    else:
        factors = cp_factors(
            irreps_in, lmax, irreps_out, tol=tol, path_normalization=path_normalization, fit=fit
        )
        A, B, Cf = factors.A, factors.B, factors.C

        @jax.jit
        def apply(x, vectors, weights, key):
            dtype = x.dtype
            y = spherical_harmonics(lmax, vectors.astype(dtype), normalize=True)
            xs = _to_channels_last(x, irreps_in, C)  # (E, C, d_in)
            p = jnp.einsum("eui,ir->eur", xs, jnp.asarray(A, dtype), precision=_HIGHEST)
            q = jnp.einsum("ej,jr->er", y, jnp.asarray(B, dtype), precision=_HIGHEST)
            z = p * (q[:, None, :] * weights[:, :, None])
            out = jnp.einsum("eur,kr->euk", z, jnp.asarray(Cf, dtype), precision=_HIGHEST)
            return _from_channels_last(out, irreps_out)

        description = (
            f"path-weight-shared CG ({len(spec.paths)} paths, one weight per channel) by CP "
            f"decomposition: rank {factors.rank}, relative error {factors.rel_error:.2e}, "
            f"||M_hat - M||_F = {factors.abs_error:.2e} (equivariance error <= 2 x that x |x| |Y|)"
        )

    return EdgeConvolution(
        irreps_in=irreps_in,
        irreps_out=irreps_out,
        lmax=lmax,
        method="cp",
        weight_numel=C,
        description=description,
        apply=apply,
        plan=plan,
    )


register_conv_method("cp", cp_edge_convolution)
