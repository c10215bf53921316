"""MACE's product basis (symmetric contraction): per-channel polynomials of degree 1..ν of A.

For each channel ``c`` of the atomic basis ``A`` (``C x (ir_1 + ir_2 + ...)``, the same
multiplicity ``C`` for every irrep) MACE builds the equivariant polynomials of degree
``1..correlation`` in ``A[c]`` and mixes them with per-species, per-channel weights:

    ``B[n, c, L] = sum_{ν=1..correlation} sum_k W[z_n, k, c] T_ν^k[n, c, L]``

where the ``T_ν^k`` are a spanning set of the degree-ν equivariant polynomials of ``A[c]``.

How the ``T_ν^k`` are built here (the CG backend): by repeated *exact Clebsch-Gordan products*
of the channel with itself, ``T_1 = A`` and ``T_ν = T_{ν-1} (x) A``, channelwise (``"uuu"``,
channel ``c`` only meets channel ``c``), every parity- and triangle-allowed coupling of every
block of ``T_{ν-1}`` with every irrep of ``A`` kept as its own block. Every degree-ν polynomial
of ``A[c]`` that transforms as ``L`` is a linear combination of these iterated couplings (the
iterated CG couplings of ``A^{(x)ν}`` span all equivariant maps out of the tensor power, and the
symmetric power is its image), so the weights reach MACE's full product basis. The set is
redundant (couplings that differ by the order of the factors give the same polynomial up to a
sign; at ν = 2 the ordered pairs ``i <= j`` are kept only), which costs a few weights but no
expressivity. Blocks that cannot reach any output irrep in the remaining products are pruned
before anything is computed.

Each product ``T_{ν-1} (x) A`` is one ``"uuu"`` :class:`~equitens.tp.spec.TensorProductSpec`
(its paths and normalisation constants). Three algorithms evaluate it, all with exact
derivatives of every order:

- ``"kernel"`` (default): the spec's own kernel from the registry (``method`` picks the family,
  e.g. ``"cg"``: unrolled sparse products). Where every product runs unrolled it works in the
  ir_mul layout (:func:`kernel_layout`: ``A`` is converted once, each component is then a
  contiguous row of channels; 1.5x faster than mul_ir's strided columns at ``lmax = 2``),
  else in mul_ir. The highest degree is never
  formed: its blocks that share an irrep, a factor of ``A`` and an output are summed with their
  weights first, and one product per group gives the output (:mod:`equitens.nn.last_degree`;
  at ``lmax = 3``, 49 products become 13); and the blocks that vanish for every input (the odd
  couplings of an entry of ``A`` with itself, e.g. ``a x a``, and what is built on them) are
  left out (:mod:`equitens.nn.vanishing_blocks`);
- ``"blocked"``: per pair of input blocks ``(i, j)``, one outer product of the two blocks and one
  matrix product with the constant float64 matrix of that pair's Clebsch-Gordan paths (built
  once from the spec), in the layout ``(N, C, components)``;
- ``"dense"``: all pairs at once, ``T_ν = (T_{ν-1} ⊗ A) M`` with one constant matrix ``M`` per
  degree (fewest operations, fastest to compile, but most of ``M`` is zeros).

Measured on one core of the 2-core CPU (N = 91 nodes, C = 32, A = 0e + 1o + 2e, outputs
0e + 1o, correlation 3; the gradient with respect to the weights of the squared gradient with
respect to A, i.e. what training on forces does; ``benchmarks/symmetric_contraction.py``, median
of 10, one run): ``"kernel"`` 1.35 ms and 7.8 s to compile, ``"blocked"`` 10.9 ms and 2.7 s,
``"dense"`` 13.3 ms and 2.0 s; at ``lmax = 3`` with 64 channels and 210 nodes, 58, 221 and 585
ms (compile 18.8, 6.3 and 3.5 s). In a whole MACE training step ``"kernel"`` was 3.3x faster
than ``"blocked"`` (ethanol, 32 channels, lmax 2: 21 against 70 ms, before the ir_mul layout)
for 16 s more compilation (35 against 19 s), and the default training run ends sooner with it
(see the models guide), so it is what ``"auto"`` picks for ``method="cg"``. All three give the
same values (tested against each other).

**The Gaunt product basis** (``method="gaunt_grid"``, ``"gaunt_fourier"`` or ``"vector_gaunt"``,
algorithm ``"gaunt"``, which ``"auto"`` picks for these methods) is another basis, not another
algorithm: products of learnably mixed spherical functions on one grid
(:mod:`equitens.nn.gaunt_product_basis`, spec :class:`GauntProductBasisSpec`). The scalar methods
reach the Gaunt couplings only (no antisymmetric ones, natural parities only) with fewer
polynomials per ``(ν, L)``, and are cheaper; ``"vector_gaunt"`` adds the odd couplings. With
``algorithm="kernel"`` a Gaunt method instead evaluates the CG-structured couplings above with
its kernels (every coupling with its Gaunt constant, odd ones zero, or the vector-Gaunt constant
for ``"vector_gaunt"``). ``"blocked"`` and ``"dense"`` compute Clebsch-Gordan products only:
with another method they are an error, not a silent ``"cg"``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from equitens.nn.gaunt_product_basis import (
    GAUNT_PRODUCT_METHODS,
    GauntProductBasisSpec,
    gaunt_product_basis,
)
from equitens.nn.last_degree import last_degree
from equitens.nn.product_basis_inputs import checked_inputs
from equitens.nn.vanishing_blocks import evaluated_products
from equitens.so3.irreps import IntoIrreps, Irrep, Irreps
from equitens.so3.layout import (
    concat,
    ir_mul_to_mul_ir,
    mul_ir_to_ir_mul,
    split_blocks,
    split_sizes,
)
from equitens.tp.pairs import pair_plan
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import method_layouts, tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = [
    "ALGORITHMS",
    "GauntProductBasisSpec",
    "SymmetricContraction",
    "SymmetricContractionSpec",
    "product_basis_spec",
    "kernel_layout",
    "resolve_algorithm",
    "symmetric_contraction",
]

ALGORITHMS = ("auto", "blocked", "dense", "kernel", "gaunt")
"""The algorithms of :func:`symmetric_contraction` (see the module docstring)."""

_GAUNT_FAMILY = GAUNT_PRODUCT_METHODS


def resolve_algorithm(method: str, algorithm: str) -> str:
    """The algorithm that runs for a method: ``"auto"`` resolved, ignored combinations refused.

    ``"auto"`` is ``"kernel"`` for ``"cg"`` and any other registered method, and ``"gaunt"``
    (the Gaunt product basis) for the Gaunt family.

    Args:
        method: the tensor-product family (``"cg"``, ``"gaunt_grid"``, ...).
        algorithm: one of :data:`ALGORITHMS`.

    Returns:
        ``"blocked"``, ``"dense"``, ``"kernel"`` or ``"gaunt"``.

    Raises:
        ValueError: for an unknown algorithm, or one that would ignore the method.

    Examples:
        >>> resolve_algorithm("cg", "auto"), resolve_algorithm("gaunt_grid", "auto")
        ('kernel', 'gaunt')
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"the product-basis algorithm must be one of {ALGORITHMS}, got {algorithm!r}"
        )
    if algorithm == "auto":
        return "gaunt" if method in _GAUNT_FAMILY else "kernel"
    if algorithm in ("blocked", "dense") and method != "cg":
        raise ValueError(
            f"product-basis algorithm {algorithm!r} evaluates Clebsch-Gordan products only, so "
            f"method {method!r} would be ignored; use algorithm='auto' or 'gaunt' (the Gaunt "
            f"product basis; in a model config: model.product_algorithm=auto), algorithm='kernel' "
            f"(the CG-structured couplings through the {method!r} kernels; "
            f"model.product_algorithm=kernel) or method='cg'"
        )
    if algorithm == "gaunt" and method not in _GAUNT_FAMILY:
        raise ValueError(
            f"product-basis algorithm 'gaunt' is the Gaunt product basis (products of spherical "
            f"functions on a grid), which needs method 'gaunt_grid', 'gaunt_fourier' or "
            f"'vector_gaunt', got "
            f"{method!r}; use algorithm='auto' (in a model config: model.product_algorithm=auto)"
        )
    return algorithm


@functools.cache
def product_basis_spec(
    irreps_in: IntoIrreps,
    irreps_out: IntoIrreps,
    correlation: int,
    method: str = "cg",
    algorithm: str = "auto",
    num_mixes: int = 1,
) -> SymmetricContractionSpec | GauntProductBasisSpec:
    """The spec of the product basis a method and algorithm compute (cached).

    Args:
        irreps_in: irreps of ``A``.
        irreps_out: output irreps.
        correlation: highest degree.
        method: the tensor-product family.
        algorithm: one of :data:`ALGORITHMS`.
        num_mixes: chains of mixed factors of the Gaunt product basis (ignored otherwise).

    Returns:
        A :class:`GauntProductBasisSpec` for algorithm ``"gaunt"``, else a
        :class:`SymmetricContractionSpec`.

    Examples:
        >>> type(product_basis_spec("2x0e + 2x1o", "2x0e", 2, "gaunt_grid")).__name__
        'GauntProductBasisSpec'
    """
    if resolve_algorithm(method, algorithm) == "gaunt":
        return GauntProductBasisSpec.create(
            irreps_in, irreps_out, correlation, method=method, num_mixes=num_mixes
        )
    return SymmetricContractionSpec.create(irreps_in, irreps_out, correlation, method=method)


@dataclasses.dataclass(frozen=True)
class SymmetricContractionSpec:
    """Static description of a symmetric contraction (hashable; build with :meth:`create`).

    Attributes:
        irreps_in: the atomic basis ``A``, every entry with multiplicity ``num_channels``.
        irreps_out: the output irreps, every entry with multiplicity ``num_channels``.
        correlation: the highest polynomial degree ν.
        products: one ``"uuu"`` :class:`~equitens.tp.spec.TensorProductSpec` per degree
            ``2..correlation``: ``T_{ν-1} (x) A -> T_ν``.
        blocks: per output entry, the ``(degree, block index in T_degree)`` pairs that feed it,
            in weight order.
    """

    irreps_in: Irreps
    irreps_out: Irreps
    correlation: int
    products: tuple[TensorProductSpec, ...]
    blocks: tuple[tuple[tuple[int, int], ...], ...]

    def dense_matrices(self) -> tuple[np.ndarray, ...]:
        """One float64 matrix ``M[i * dim_A + j, k]`` per product, on the components of ``T_{ν-1}``,
        ``A`` and ``T_ν``.

        ``T_ν[..., k] = sum_{i, j} T_{ν-1}[..., i] A[..., j] M[i * dim_A + j, k]`` for a single
        channel (the ``(2l+1)`` components of the blocks concatenated in order).

        Examples:
            >>> import numpy as np
            >>> spec = SymmetricContractionSpec.create("1x1o", "1x0e", 2)
            >>> M = spec.dense_matrices()[0][:, 0] * 3**0.5  # the dot product
            >>> bool(np.allclose(M, np.eye(3).ravel()))
            True
        """
        return tuple(_dense_matrix(product) for product in self.products)

    @classmethod
    def create(
        cls, irreps_in: IntoIrreps, irreps_out: IntoIrreps, correlation: int, *, method: str = "cg"
    ) -> SymmetricContractionSpec:
        """Build the spec.

        Args:
            irreps_in: irreps of ``A``, e.g. ``"8x0e + 8x1o + 8x2e"`` (same multiplicity for all).
            irreps_out: output irreps with the same multiplicity, e.g. ``"8x0e + 8x1o"``.
            correlation: highest degree, ``>= 1``.
            method: the tensor-product family of the products.

        Returns:
            The spec.

        Examples:
            >>> spec = SymmetricContractionSpec.create("4x0e + 4x1o", "4x0e", correlation=3)
            >>> [len(b) for b in spec.blocks], spec.weight_numel
            ([6], 24)
        """
        irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        if not isinstance(correlation, int) or correlation < 1:
            raise ValueError(
                f"correlation must be an int >= 1 (MACE uses 1..3), got {correlation!r}"
            )
        muls = {mul for mul, _ in irreps_in} | {mul for mul, _ in irreps_out}
        if len(muls) != 1 or 0 in muls:
            raise ValueError(
                f"a symmetric contraction needs the same nonzero multiplicity (channels) for every "
                f"irrep of its input and output, got {irreps_in} -> {irreps_out}; write e.g. "
                "'8x0e + 8x1o + 8x2e' -> '8x0e + 8x1o'"
            )
        (channels,) = muls
        a_irreps = [ir for _, ir in irreps_in]
        targets = {ir for _, ir in irreps_out}
        if len(targets) != len(irreps_out):
            raise ValueError(
                f"irreps_out must not repeat an irrep, got {irreps_out}; "
                f"use {irreps_out.simplify()}"
            )

        # keep[nu]: the irreps worth computing at degree nu (they are outputs or lead to one).
        keep = {correlation: set(targets)}
        for nu in range(correlation - 1, 0, -1):
            keep[nu] = set(targets) | {
                Irrep(l, p)
                for l in range(
                    0,
                    max(ir.l for ir in targets)
                    + (correlation - nu) * max(a.l for a in a_irreps)
                    + 1,
                )
                for p in (1, -1)
                if any(ir3 in keep[nu + 1] for a in a_irreps for ir3 in Irrep(l, p) * a)
            }

        degree_irreps = [list(a_irreps)]  # irreps of the blocks of T_1, T_2, ...
        products = []
        for nu in range(2, correlation + 1):
            previous = degree_irreps[-1]
            out, triples = [], []
            for i, ir1 in enumerate(previous):
                for j, ir2 in enumerate(a_irreps):
                    if nu == 2 and j < i:  # A (x) A: the ordered pairs i <= j suffice
                        continue
                    for ir3 in ir1 * ir2:
                        if ir3 in keep[nu]:
                            triples.append((i, j, len(out)))
                            out.append(ir3)
            if not out:
                break
            spec = TensorProductSpec.from_instructions(
                Irreps([(channels, ir) for ir in previous]),
                irreps_in,
                Irreps([(channels, ir) for ir in out]),
                triples,
                "uuu",
                weighted=False,
                method=method,
            )
            products.append(spec)
            degree_irreps.append(out)

        blocks = []
        for mul, ir in irreps_out:
            feeding = tuple(
                (nu + 1, k)
                for nu, irs in enumerate(degree_irreps)
                for k, ir_k in enumerate(irs)
                if ir_k == ir
            )
            if not feeding:
                raise ValueError(
                    f"the output {mul}x{ir} is not reachable from {irreps_in} with correlation "
                    f"{correlation}; remove it from irreps_out or raise the correlation"
                )
            blocks.append(feeding)
        return cls(irreps_in, irreps_out, correlation, tuple(products), tuple(blocks))

    @property
    def num_channels(self) -> int:
        """The common multiplicity ``C``."""
        return self.irreps_in[0].mul

    @property
    def weight_numel(self) -> int:
        """Weights per species: one per (feeding block, channel) of every output entry."""
        return sum(len(b) for b in self.blocks) * self.num_channels

    def weight_init_std(self) -> np.ndarray:
        """Standard deviation of the default normal initialisation, ``1/sqrt(#blocks)`` per output.

        Examples:
            >>> SymmetricContractionSpec.create("2x0e", "2x0e", 2).weight_init_std().tolist()
            [0.7071067811865476, 0.7071067811865476, 0.7071067811865476, 0.7071067811865476]
        """
        return np.concatenate(
            [np.full(len(b) * self.num_channels, len(b) ** -0.5) for b in self.blocks]
        )

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{ir}: {len(b)}" for (_, ir), b in zip(self.irreps_out, self.blocks, strict=True)
        )
        return (
            f"SymmetricContractionSpec({self.irreps_in} -> {self.irreps_out}, correlation="
            f"{self.correlation}, polynomials per output {{{counts}}}, "
            f"{self.weight_numel} weights/species)"
        )


def _component_offsets(irreps: Irreps) -> list[int]:
    offsets, start = [], 0
    for _, ir in irreps:
        offsets.append(start)
        start += ir.dim
    return offsets


@functools.cache
def _dense_matrix(product: TensorProductSpec) -> np.ndarray:
    from equitens.so3.clebsch_gordan import clebsch_gordan

    irreps1, irreps2, irreps3 = product.irreps_in1, product.irreps_in2, product.irreps_out
    d1, d2, d3 = (sum(ir.dim for _, ir in irreps) for irreps in (irreps1, irreps2, irreps3))
    o1, o2, o3 = (_component_offsets(irreps) for irreps in (irreps1, irreps2, irreps3))
    m = np.zeros((d1, d2, d3))
    for path in product.paths:
        l1, l2, l3 = irreps1[path.i_in1].ir.l, irreps2[path.i_in2].ir.l, irreps3[path.i_out].ir.l
        a, b, c = o1[path.i_in1], o2[path.i_in2], o3[path.i_out]
        m[a : a + 2 * l1 + 1, b : b + 2 * l2 + 1, c : c + 2 * l3 + 1] += (
            path.coefficient * clebsch_gordan(l1, l2, l3)
        )
    m = m.reshape(d1 * d2, d3)
    m.setflags(write=False)
    return m


def _to_channels(x: jax.Array, irreps: Irreps) -> jax.Array:
    """mul_ir ``(N, dim)`` with equal multiplicities -> ``(N, C, components)``."""
    return jnp.concatenate([b for b in split_blocks(x, irreps)], axis=-1)


def symmetric_contraction(
    spec: SymmetricContractionSpec | GauntProductBasisSpec,
    weights: jax.Array,
    x: jax.Array,
    species: jax.Array,
    algorithm: str = "auto",
    plan: Plan = DEFAULT_PLAN,
) -> jax.Array:
    """Apply the product basis (see the module docstring).

    Args:
        spec: a :class:`SymmetricContractionSpec` (the CG-structured basis) or a
            :class:`GauntProductBasisSpec` (the Gaunt product basis; see
            :func:`product_basis_spec`).
        weights: ``(num_species, spec.weight_numel)``.
        x: the atomic basis, ``(N, irreps_in.dim)`` in e3nn's mul_ir layout.
        species: ``(N,)`` integer species indices into the rows of ``weights``.
        algorithm: ``"auto"`` (``"kernel"`` for a CG spec, ``"gaunt"`` for a Gaunt spec),
            ``"blocked"``, ``"dense"`` (constant CG matrices), ``"kernel"`` (the tensor-product
            kernels of the spec's method) or ``"gaunt"``; see the module docstring.
        plan: how kernels run (``"kernel"``: the tensor-product kernels' plan; ``"gaunt"``: its
            ``s2_transform``).

    Returns:
        ``(N, irreps_out.dim)`` in mul_ir layout.

    Examples:
        >>> import jax.numpy as jnp
        >>> spec = SymmetricContractionSpec.create("1x0e", "1x0e", correlation=3)
        >>> w = jnp.ones((1, spec.weight_numel))  # 1 * x + 1 * x^2 + 1 * x^3
        >>> symmetric_contraction(spec, w, jnp.array([[2.0]]), jnp.array([0])).tolist()
        [[14.0]]
    """
    if isinstance(spec, GauntProductBasisSpec):
        if resolve_algorithm(spec.method, algorithm) != "gaunt":
            raise ValueError(
                f"symmetric_contraction: a GauntProductBasisSpec runs with algorithm 'auto' or "
                f"'gaunt', got {algorithm!r}; for the CG-structured basis build a "
                f"SymmetricContractionSpec (product_basis_spec(..., algorithm={algorithm!r}))"
            )
        return gaunt_product_basis(spec, weights, x, species, transform=plan.s2_transform)
    x, weights = checked_inputs("symmetric_contraction", spec, x, weights)
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"symmetric_contraction: algorithm must be one of {ALGORITHMS}, got {algorithm!r}"
        )
    method = spec.products[0].method if spec.products else "cg"
    if algorithm == "auto":
        algorithm = "kernel"
    elif algorithm == "gaunt":
        raise ValueError(
            "symmetric_contraction: algorithm 'gaunt' needs a GauntProductBasisSpec (the Gaunt "
            "product basis), got a SymmetricContractionSpec; build it with "
            "product_basis_spec(..., method='gaunt_grid', algorithm='gaunt')"
        )
    if algorithm != "kernel" and method != "cg":
        raise ValueError(
            f"symmetric_contraction: algorithm {algorithm!r} evaluates Clebsch-Gordan products "
            f"only, so method {method!r} would be ignored; use algorithm='kernel' (in a model "
            f"config: model.product_algorithm=kernel) or method='cg'"
        )
    n, channels = x.shape[0], spec.num_channels
    layout = kernel_layout(spec, plan) if algorithm == "kernel" else "mul_ir"
    if layout == "ir_mul":
        x = mul_ir_to_ir_mul(x, spec.irreps_in)
    degrees = [split_blocks(x, spec.irreps_in, layout)]
    last = last_degree(spec) if algorithm == "kernel" else None
    if algorithm == "kernel":  # without the vanishing blocks' paths (their blocks are zeros)
        products = evaluated_products(spec)
        t = x
        for product in products[:-1] if last else products:
            t = tensor_product_kernel(product, plan, layout)(t, x)
            degrees.append(split_blocks(t, product.irreps_out, layout))
    elif algorithm == "blocked":
        a_blocks = degrees[0]
        previous = a_blocks
        for product in spec.products:
            blocks: list = [None] * len(product.irreps_out)
            for pair in pair_plan(product):
                x1, x2 = previous[pair.i_in1], a_blocks[pair.i_in2]
                outer = (x1[..., :, None] * x2[..., None, :]).reshape(n * channels, -1)
                y = jnp.matmul(
                    outer, jnp.asarray(pair.matrix, x.dtype), precision=jax.lax.Precision.HIGHEST
                )
                y = y.reshape(n, channels, -1)
                for k, block in zip(pair.outputs, split_sizes(y, list(pair.widths)), strict=True):
                    blocks[k] = block
            degrees.append(blocks)
            previous = blocks
    else:
        a = _to_channels(x, spec.irreps_in)  # (N, C, dim_A)
        t = a
        for product, matrix in zip(spec.products, spec.dense_matrices(), strict=True):
            outer = (t[..., :, None] * a[..., None, :]).reshape(n * channels, -1)
            t = jnp.matmul(outer, jnp.asarray(matrix, x.dtype), precision=jax.lax.Precision.HIGHEST)
            t = t.reshape(n, channels, -1)
            degrees.append(split_sizes(t, [ir.dim for _, ir in product.irreps_out]))

    onehot = jax.nn.one_hot(species, weights.shape[0], dtype=x.dtype)
    starts = np.cumsum([0] + [len(feeding) * channels for feeding in spec.blocks])

    def node_weights(terms):
        """Per-node weights ``(N, K, C)`` of ``terms`` ``(output, feeding index, scale)``: the
        columns are picked and scaled per species, before the per-node selection."""
        columns = np.concatenate(
            [starts[o] + position * channels + np.arange(channels) for o, position, _ in terms]
        )
        scales = np.repeat([scale for _, _, scale in terms], channels)
        picked = weights[:, columns].astype(x.dtype) * jnp.asarray(scales, x.dtype)
        return (onehot @ picked).reshape(n, len(terms), channels)

    top = last.degree if last else spec.correlation + 1
    out = [jnp.zeros((n, channels * ir.dim), x.dtype) for _, ir in spec.irreps_out]
    for o, feeding in enumerate(spec.blocks):
        direct = [(position, nu, k) for position, (nu, k) in enumerate(feeding) if nu < top]
        if not direct:
            continue
        w_direct = node_weights([(o, position, 1.0) for position, _, _ in direct])
        out[o] = _weighted_sum([degrees[nu - 1][k] for _, nu, k in direct], w_direct, layout)
    if last:
        previous, groups = degrees[-1], []
        for o, members in zip(last.outputs, last.members, strict=True):
            w_group = node_weights([(o, position, scale) for position, _, scale in members])
            blocks = [previous[block] for _, block, _ in members]
            groups.append(_weighted_sum(blocks, w_group, layout))
        highest = tensor_product_kernel(last.product, plan, layout)(concat(groups), x)
        highest = split_sizes(highest, [block.shape[-1] for block in out])
        out = [o + h for o, h in zip(out, highest, strict=True)]
    out = concat(out)
    return ir_mul_to_mul_ir(out, spec.irreps_out) if layout == "ir_mul" else out


def kernel_layout(spec: SymmetricContractionSpec, plan: Plan = DEFAULT_PLAN) -> str:
    """The layout the ``"kernel"`` algorithm runs in (the input and output are converted once).

    ``"ir_mul"`` where every product it evaluates has a kernel that computes in that layout
    (``"cg"`` products small enough for the unrolled algorithm, ``plan.cg_sparse_terms``: their
    columns are then whole rows of channels rather than strided slices), else ``"mul_ir"``.

    Examples:
        >>> spec = SymmetricContractionSpec.create("8x0e + 8x1o + 8x2e", "8x0e + 8x1o", 3)
        >>> kernel_layout(spec), kernel_layout(spec, Plan(cg_sparse_terms=50))
        ('ir_mul', 'mul_ir')
    """
    last = last_degree(spec)
    products = evaluated_products(spec)
    if last:
        products = (*products[:-1], last.product)
    for product in products:
        if "ir_mul" not in method_layouts(product.method):
            return "mul_ir"
        if getattr(tensor_product_kernel(product, plan, "ir_mul"), "converts_layout", False):
            return "mul_ir"
    return "ir_mul"


def _weighted_sum(blocks: list[jax.Array], w: jax.Array, layout: str) -> jax.Array:
    """``sum_k blocks[k] * w[:, k]`` flattened to ``(N, C * d)`` in ``layout``: blocks
    ``(N, C, d)`` (mul_ir) or ``(N, d, C)`` (ir_mul), weights ``(N, K, C)``."""
    scale = (lambda k: w[:, k, :, None]) if layout == "mul_ir" else (lambda k: w[:, k, None, :])
    total = functools.reduce(jnp.add, (block * scale(k) for k, block in enumerate(blocks)))
    return total.reshape(total.shape[0], -1)


class SymmetricContraction(nn.Module):
    """Flax linen module of the product basis with per-species weights ``"w"``.

    As the other layers of :mod:`equitens.nn`, the output irreps are the only positional argument
    and the others are keyword-only (the input is a plain array, so ``irreps_in`` is required).

    Attributes:
        irreps_out: output irreps (same multiplicity).
        irreps_in: keyword-only; irreps of the atomic basis.
        correlation: highest polynomial degree.
        num_species: number of weight sets.
        method: tensor-product family: ``"cg"`` (default), or ``"gaunt_grid"``,
            ``"gaunt_fourier"``, ``"vector_gaunt"`` for the Gaunt product basis.
        algorithm: ``"auto"`` (``"kernel"`` for ``"cg"``, ``"gaunt"`` for the Gaunt methods),
            ``"blocked"``, ``"dense"``, ``"kernel"`` or ``"gaunt"`` (see
            :func:`symmetric_contraction`).
        num_mixes: chains of mixed factors of the Gaunt product basis (polynomials per
            ``(ν, L)``; unused by the other algorithms).
        plan: how kernels run (:class:`~equitens.tp.plan.Plan`).
        param_dtype: dtype of the weights.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> layer = SymmetricContraction(
        ...     "4x0e + 4x1o", irreps_in="4x0e + 4x1o + 4x2e", correlation=3, num_species=2)
        >>> x, z = jnp.ones((5, 36)), jnp.array([0, 1, 1, 0, 1])
        >>> params = layer.init(jax.random.PRNGKey(0), x, z)
        >>> layer.apply(params, x, z).shape
        (5, 16)
        >>> gaunt = SymmetricContraction("4x0e + 4x1o", irreps_in="4x0e + 4x1o + 4x2e",
        ...     correlation=3, num_species=2, method="gaunt_grid")
        >>> gaunt.apply(gaunt.init(jax.random.PRNGKey(0), x, z), x, z).shape
        (5, 16)
    """

    irreps_out: IntoIrreps
    _: dataclasses.KW_ONLY
    irreps_in: IntoIrreps
    correlation: int
    num_species: int
    method: str = "cg"
    algorithm: str = "auto"
    num_mixes: int = 1
    plan: Plan = DEFAULT_PLAN
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "irreps_in", Irreps(self.irreps_in))
        object.__setattr__(self, "irreps_out", Irreps(self.irreps_out))
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, species: jax.Array) -> jax.Array:
        """Apply to ``x`` ``(N, irreps_in.dim)`` with species ``(N,)``."""
        algorithm = resolve_algorithm(self.method, self.algorithm)
        spec = product_basis_spec(
            self.irreps_in,
            self.irreps_out,
            self.correlation,
            self.method,
            algorithm,
            self.num_mixes,
        )
        std = spec.weight_init_std()

        def init(key, shape, dtype):
            return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)

        w = self.param("w", init, (self.num_species, spec.weight_numel), self.param_dtype)
        return symmetric_contraction(spec, w, x, species, algorithm, self.plan)
