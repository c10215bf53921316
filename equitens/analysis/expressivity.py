"""Expressivity and interactability of a tensor product, computed numerically for any method.

"The Price of Freedom" (Xie et al. 2025) compares tensor-product families by what a layer
``Linear o TP o (Linear, Linear)`` can represent. Both measures here are computed from the kernel
itself (whatever its method), on *data irreps*: one copy of each distinct irrep of the inputs and
outputs (``X1``, ``X2``, ``Xout``):

- **expressivity**: the dimension of the set of equivariant bilinear maps ``X1 x X2 -> Xout``
  reachable as ``B = Lout o TP(L1 ., L2 .; w)`` when the equivariant linear maps ``L1, L2, Lout``
  and the TP's own weights ``w`` vary: the rank of the Jacobian of ``params -> B`` at a random
  point (its generic rank: the dimension of the reachable set). The upper bound is the dimension
  of *all* equivariant bilinear maps, the number of parity-allowed paths
  ``(ir1, ir2) -> ir3`` of the data irreps (what CG with free path weights reaches);
- **interactability**: which interactions ``(ir1, ir2) -> ir3`` are reachable at all, the blocks
  of ``B`` that are not identically zero.

A product with *rank-1* path weights (Gaunt: ``w_{l1} w'_{l2} w''_{l3} kappa``) reaches fewer
dimensions than it has paths; channels (``mul > 1`` in the spec) add rank-1 terms and raise it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.irreps import Irrep, Irreps
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = ["Interaction", "ExpressivityReport", "expressivity", "interactability", "bilinear_paths"]


@dataclasses.dataclass(frozen=True, order=True)
class Interaction:
    """One interaction ``(ir1, ir2) -> ir3`` between data irreps.

    Examples:
        >>> Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e"))
        (1o, 1o) -> 1e
    """

    ir1: Irrep
    ir2: Irrep
    ir3: Irrep

    def __repr__(self) -> str:
        return f"({self.ir1}, {self.ir2}) -> {self.ir3}"

    @property
    def odd(self) -> bool:
        """Whether ``l1 + l2 + l3`` is odd (an antisymmetric coupling)."""
        return (self.ir1.l + self.ir2.l + self.ir3.l) % 2 == 1


@dataclasses.dataclass(frozen=True)
class ExpressivityReport:
    """The result of :func:`expressivity`.

    Attributes:
        method: the TP method analysed.
        dimension: the dimension of the reachable set of equivariant bilinear maps.
        upper_bound: the dimension of all equivariant bilinear maps ``X1 x X2 -> Xout``.
        num_parameters: the number of parameters of ``Linear o TP o (Linear, Linear)``.
        interactions: the reachable interactions (interactability).
        missing: the parity-allowed interactions that are not reachable.
        singular_values: the Jacobian's singular values (largest first), for inspection.
    """

    method: str
    dimension: int
    upper_bound: int
    num_parameters: int
    interactions: tuple[Interaction, ...]
    missing: tuple[Interaction, ...]
    singular_values: tuple[float, ...] = dataclasses.field(repr=False, default=())


_CHUNK_FLOATS = 1 << 24  # floats of kernel outputs per batch of Jacobian columns


def _distinct(irreps: Irreps) -> Irreps:
    return Irreps([(1, ir) for ir in sorted({ir for mul, ir in irreps if mul > 0})])


def bilinear_paths(irreps1, irreps2, irreps_out) -> tuple[Interaction, ...]:
    """Every parity-allowed interaction between distinct irreps (the CG paths).

    Args:
        irreps1: first data irreps (multiplicities ignored).
        irreps2: second data irreps.
        irreps_out: output data irreps.

    Returns:
        The interactions, sorted.

    Examples:
        >>> len(bilinear_paths("0e + 1o", "0e + 1o", "0e + 1o + 1e + 2e"))  # 1o x 1o -> 0e, 1e, 2e
        6
    """
    x1, x2, xo = (_distinct(Irreps(i)) for i in (irreps1, irreps2, irreps_out))
    return tuple(
        sorted(
            Interaction(a, b, c)
            for _, a in x1
            for _, b in x2
            for _, c in xo
            if abs(a.l - b.l) <= c.l <= a.l + b.l and a.p * b.p == c.p
        )
    )


def _linear(irreps_from: Irreps, irreps_to: Irreps):
    """An equivariant linear map between irreps: one weight per (input copy, output copy) pair of
    the same irrep. Returns ``(num_params, apply(params, x))`` on mul_ir layouts."""
    pairs, count = [], 0
    for i, (m_in, ir_in) in enumerate(irreps_from):
        for k, (m_out, ir_out) in enumerate(irreps_to):
            if ir_in == ir_out:
                pairs.append((i, k, count, m_in, m_out))
                count += m_in * m_out
    starts_in = np.cumsum([0] + [m * ir.dim for m, ir in irreps_from])

    def apply(params, x):
        blocks = [None] * len(irreps_to)
        for i, k, offset, m_in, m_out in pairs:
            ir = irreps_from[i].ir
            xi = x[..., starts_in[i] : starts_in[i + 1]].reshape(x.shape[:-1] + (m_in, ir.dim))
            w = params[offset : offset + m_in * m_out].reshape(m_in, m_out)
            y = jnp.einsum("...ui,uv->...vi", xi, w)
            blocks[k] = y if blocks[k] is None else blocks[k] + y
        parts = [
            (b if b is not None else jnp.zeros(x.shape[:-1] + (m, ir.dim), x.dtype)).reshape(
                x.shape[:-1] + (m * ir.dim,)
            )
            for b, (m, ir) in zip(blocks, irreps_to, strict=True)
        ]
        return jnp.concatenate(parts, axis=-1)

    return count, apply


def _bilinear_tensor_fn(spec: TensorProductSpec, x1: Irreps, x2: Irreps, xo: Irreps):
    """``params -> B`` with ``B[a, b, c]`` the bilinear map on the data irreps' bases."""
    n1, lin1 = _linear(x1, spec.irreps_in1)
    n2, lin2 = _linear(x2, spec.irreps_in2)
    no, lino = _linear(spec.irreps_out, xo)
    nw = spec.weight_numel if spec.weighted else 0
    kernel = tensor_product_kernel(spec)
    d1, d2 = x1.dim, x2.dim
    e1 = jnp.repeat(jnp.eye(d1), d2, axis=0)  # sample (a, b) -> e_a
    e2 = jnp.tile(jnp.eye(d2), (d1, 1))  # sample (a, b) -> e_b
    sizes = np.cumsum([0, n1, n2, no, nw])

    def fn(params):
        p1, p2, po, pw = (params[sizes[i] : sizes[i + 1]] for i in range(4))
        a, b = lin1(p1, e1.astype(params.dtype)), lin2(p2, e2.astype(params.dtype))
        out = kernel(a, b, pw) if spec.weighted else kernel(a, b)
        return lino(po, out).reshape(d1, d2, xo.dim)

    return int(sizes[-1]), fn, tuple(int(v) for v in sizes)


def _jacobian_columns(params: jax.Array, sizes: tuple[int, ...]) -> jax.Array:
    """Parameter points whose images are the Jacobian's columns.

    ``B`` is linear in each parameter group (``L1``, ``L2``, ``Lout``, the TP weights) separately,
    so its derivative along parameter ``i`` of group ``g`` is ``B`` with group ``g`` replaced by the
    unit vector ``e_i``: no autodiff needed (kernels with custom VJPs have no forward mode).
    """
    n = params.shape[0]
    group = np.searchsorted(np.asarray(sizes[1:]), np.arange(n), side="right")
    same_group = group[:, None] == group[None, :]
    points = jnp.where(jnp.asarray(same_group), 0.0, params[None, :])
    return points + jnp.eye(n, dtype=params.dtype)


def _blocks_of(irreps: Irreps) -> list[tuple[Irrep, slice]]:
    out, start = [], 0
    for _, ir in irreps:
        out.append((ir, slice(start, start + ir.dim)))
        start += ir.dim
    return out


def expressivity(
    spec: TensorProductSpec,
    *,
    irreps_out=None,
    seed: int = 0,
    rtol: float = 1e-9,
) -> ExpressivityReport:
    """Expressivity and interactability of ``Linear o TP o (Linear, Linear)`` for a spec.

    The data irreps are one copy of each distinct irrep of the spec's inputs and outputs (or
    ``irreps_out``). Computed in float64 (x64 is enabled for the computation).

    Args:
        spec: the tensor product (any method; its multiplicities are the hidden channels).
        irreps_out: output data irreps; default: the distinct irreps of ``spec.irreps_out``.
        seed: the random parameter point (the rank is generic: any seed gives the same number).
        rtol: singular values below ``rtol`` times the largest count as zero.

    Returns:
        An :class:`ExpressivityReport`.

    Examples:
        >>> from equitens.tp.spec import TensorProductSpec
        >>> report = expressivity(TensorProductSpec.full("0e + 1o", "0e + 1o"))
        >>> report.dimension, report.upper_bound  # CG: a free weight per path
        (6, 6)
    """
    with jax.enable_x64(True):
        x1, x2 = _distinct(spec.irreps_in1), _distinct(spec.irreps_in2)
        xo = _distinct(spec.irreps_out if irreps_out is None else Irreps(irreps_out))
        n, fn, sizes = _bilinear_tensor_fn(spec, x1, x2, xo)
        params = jax.random.normal(jax.random.PRNGKey(seed), (n,), jnp.float64)
        tensor = np.asarray(jax.jit(fn)(params))
        points = _jacobian_columns(params, sizes)
        per_column = x1.dim * x2.dim * max(spec.irreps_out.dim, 1)
        chunk = max(1, min(n, _CHUNK_FLOATS // per_column))
        batched = jax.jit(jax.vmap(fn))
        pieces = []
        for start in range(0, n, chunk):  # bounded memory: a fixed number of columns at a time
            block = points[start : start + chunk]
            if block.shape[0] < chunk:
                block = jnp.concatenate(
                    [block, jnp.zeros((chunk - block.shape[0], n), block.dtype)]
                )
            pieces.append(np.asarray(batched(block))[: min(chunk, n - start)])
        jac = np.concatenate(pieces).reshape(n, -1).T
    s = np.linalg.svd(jac, compute_uv=False) if jac.size else np.zeros(0)
    rank = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    reachable = set()
    scale = np.abs(tensor).max() if tensor.size else 0.0
    for ir1, s1 in _blocks_of(x1):
        for ir2, s2 in _blocks_of(x2):
            for ir3, s3 in _blocks_of(xo):
                if scale > 0 and np.abs(tensor[s1, s2, s3]).max() > 1e-9 * scale:
                    reachable.add(Interaction(ir1, ir2, ir3))
    allowed = bilinear_paths(x1, x2, xo)
    return ExpressivityReport(
        method=spec.method,
        dimension=rank,
        upper_bound=len(allowed),
        num_parameters=n,
        interactions=tuple(sorted(reachable)),
        missing=tuple(i for i in allowed if i not in reachable),
        singular_values=tuple(float(v) for v in s),
    )


def interactability(
    spec: TensorProductSpec, *, irreps_out=None, seed: int = 0
) -> tuple[Interaction, ...]:
    """The interactions ``(ir1, ir2) -> ir3`` a spec's method reaches (non-zero blocks).

    Args:
        spec: the tensor product.
        irreps_out: output data irreps (default: those of the spec).
        seed: the random parameter point.

    Returns:
        The reachable interactions, sorted.

    Examples:
        >>> from equitens.tp.spec import TensorProductSpec
        >>> interactability(TensorProductSpec.full("1o", "1o"))
        ((1o, 1o) -> 0e, (1o, 1o) -> 1e, (1o, 1o) -> 2e)
    """
    return expressivity(spec, irreps_out=irreps_out, seed=seed).interactions
