"""What a Gaunt method computes for a :class:`~equitens.tp.spec.TensorProductSpec`, and how.

A Gaunt method reads a spec's *structure* (irreps, paths, channel mode) and evaluates every path
``(l1 p1, l2 p2) -> l3 p3`` with a **fixed** coefficient tensor:

- an *even* path (``l1 + l2 + l3`` even) with the real Gaunt tensor ``equitens.gaunt(l1, l2, l3)``
  ``= kappa * C`` (the integral of three orthonormal harmonics), for every Gaunt method;
- an *odd* path (only ``method="vector_gaunt"``) with the vector Gaunt tensor ``kappa_v * C``
  (:func:`equitens.so3.gaunt.vector_gaunt_kappa`).

The spec's own path coefficients (its Clebsch-Gordan normalisation) are **not** used: a Gaunt
product has no free per-path constant. :func:`gaunt_spec` builds specs whose coefficients are the
Gaunt constants, so that ``method="cg"`` on them computes the same numbers
(:func:`gaunt_cg_spec`: the Clebsch-Gordan product restricted to the same paths).

Fast evaluation needs paths that form *products of functions*: input-1 entries ``A`` (distinct
degrees) times input-2 entries ``B`` (distinct degrees) into output entries ``K`` (distinct
degrees), with every reachable path of ``A x B x K`` in the spec. :func:`plan_products` cuts a spec
into such products: one per parity sector pair for specs from :func:`gaunt_spec` (the four sectors
of "split by parity, product, merge"), one per pair of input entries for e3nn-style specs
(``TensorProductSpec.full``, whose every path writes its own output block).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from equitens.so3.gaunt import gaunt_kappa, vector_gaunt_kappa
from equitens.so3.irreps import Irrep, Irreps
from equitens.so3.layout import split_blocks
from equitens.tp.multilinear import multilinear
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.spec import Path, TensorProductSpec

__all__ = ["GauntProduct", "gaunt_spec", "gaunt_cg_spec", "plan_products", "sector"]

# Floats of intermediates per chunk of samples on a CPU (Plan.chunk="auto").
CPU_BUDGET = 1 << 20


def sector(ir: Irrep) -> int:
    """The parity sector of an irrep: ``+1`` for natural parity ``p = (-1)^l``, else ``-1``.

    Natural-parity coefficients (``0e, 1o, 2e, ...``) are a function on the sphere; the other
    sector (``0o, 1e, 2o, ...``) is a pseudo-function. A product of sectors ``s1, s2`` through an
    even path lands in sector ``s1 s2``, through an odd path in ``-s1 s2``.

    Examples:
        >>> sector(Irrep("1o")), sector(Irrep("1e"))
        (1, -1)
    """
    return ir.p * (-1) ** ir.l


@dataclasses.dataclass(frozen=True)
class GauntProduct:
    """One product of functions: entries ``inputs1`` times entries ``inputs2`` into ``outputs``.

    Attributes:
        inputs1: entry indices of ``irreps_in1`` (distinct degrees, equal multiplicities).
        inputs2: entry indices of ``irreps_in2`` (distinct degrees, equal multiplicities).
        outputs: entry indices of ``irreps_out`` (distinct degrees).
        lmax1: the largest degree among ``inputs1``.
        lmax2: the largest degree among ``inputs2``.
        lmax_out: the largest degree among ``outputs``.
        odd: whether the product is the vector (odd-path) product.
    """

    inputs1: tuple[int, ...]
    inputs2: tuple[int, ...]
    outputs: tuple[int, ...]
    lmax1: int
    lmax2: int
    lmax_out: int
    odd: bool = False


def _is_odd(spec: TensorProductSpec, path: Path) -> bool:
    (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(path)
    return (ir1.l + ir2.l + ir3.l) % 2 == 1


def _reachable(l1: int, l2: int, l3: int, odd: bool) -> bool:
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        return False
    if odd:  # the vector product vanishes when an input is a constant (its gradient is zero)
        return (l1 + l2 + l3) % 2 == 1 and l1 > 0 and l2 > 0
    return (l1 + l2 + l3) % 2 == 0


def _natural_filter(spec: TensorProductSpec) -> str:
    keep = sorted(
        {spec.irreps_out[p.i_out].ir for p in spec.paths if not _is_odd(spec, p)},
        key=lambda ir: (ir.l, ir.p),
    )
    return " + ".join(str(ir) for ir in keep) if keep else "(none)"


def check_servable(spec: TensorProductSpec, method: str, *, odd_allowed: bool) -> None:
    """Raise a ``ValueError`` saying what to do when a Gaunt method cannot evaluate ``spec``.

    Args:
        spec: the tensor product.
        method: the Gaunt method's name (for the messages).
        odd_allowed: whether the method evaluates odd paths (``"vector_gaunt"``).

    Examples:
        >>> spec = TensorProductSpec.full("1o", "1o", method="cg")
        >>> try:
        ...     check_servable(spec, "gaunt_grid", odd_allowed=False)
        ... except ValueError as error:
        ...     print(str(error)[:62])
        method 'gaunt_grid' cannot evaluate the odd path (1x1o, 1x1o)
    """
    if spec.weighted:
        raise ValueError(
            f"method {method!r} has no per-path weights (a Gaunt product's path weights are fixed, "
            f"kappa(l1, l2, l3)); this {spec.channel_mode!r} spec is weighted. Use an unweighted "
            "'uvuv' or 'uuu' spec with learnable Linear layers before and after (or the "
            "'gaunt_grid' edge convolution for messages), or method='cg' for free path weights"
        )
    if spec.channel_mode not in ("uvuv", "uuu"):
        raise ValueError(
            f"method {method!r} evaluates channel modes 'uvuv' (all channel pairs) and 'uuu' "
            f"(matching channels), not {spec.channel_mode!r}; use method='cg'"
        )
    for path in spec.paths:
        (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(path)
        if _is_odd(spec, path) and not odd_allowed:
            raise ValueError(
                f"method {method!r} cannot evaluate the odd path {path!r} (l1 + l2 + l3 = "
                f"{ir1.l + ir2.l + ir3.l} is odd: an antisymmetric coupling, which the scalar "
                "Gaunt product of two functions does not have). Use method='vector_gaunt' "
                "(recovers the odd paths) or method='cg', or keep only the even paths with "
                f"filter_ir_out='{_natural_filter(spec)}'"
            )


def plan_products(
    spec: TensorProductSpec, *, odd_allowed: bool = False
) -> tuple[GauntProduct, ...]:
    """Cut a spec's paths into products of functions (see the module docstring).

    Paths are grouped by (even or odd, sector of input 1, sector of input 2, multiplicities);
    a group that is a complete product becomes one :class:`GauntProduct`, else it is cut per
    pair of input entries, and further per path where output degrees repeat.

    Args:
        spec: the tensor product (already checked with :func:`check_servable`).
        odd_allowed: whether odd paths may appear (they form products of their own).

    Returns:
        The products; the sum of their outputs is the spec's output.

    Examples:
        >>> spec = gaunt_spec("0e + 1o + 2e", "0e + 1o + 2e")
        >>> len(plan_products(spec))
        1
        >>> len(plan_products(TensorProductSpec.full("0e + 1o", "0e + 1o", "0e + 1o + 2e")))
        4
    """
    groups: dict[tuple, list[Path]] = {}
    for path in spec.paths:
        (mul1, ir1), (mul2, ir2), (mul3, _) = spec.mul_irreps(path)
        if mul1 == 0 or mul2 == 0 or mul3 == 0:
            continue
        key = (_is_odd(spec, path), sector(ir1), sector(ir2), mul1, mul2)
        groups.setdefault(key, []).append(path)
    products: list[GauntProduct] = []
    for (odd, *_), paths in groups.items():
        product = _as_product(spec, paths, odd)
        if product is not None:
            products.append(product)
            continue
        pairs: dict[tuple[int, int], list[Path]] = {}
        for path in paths:
            pairs.setdefault((path.i_in1, path.i_in2), []).append(path)
        for pair_paths in pairs.values():
            product = _as_product(spec, pair_paths, odd)
            if product is not None:
                products.append(product)
            else:
                products.extend(_as_product(spec, [p], odd) for p in pair_paths)
    return tuple(products)


def _as_product(spec: TensorProductSpec, paths: list[Path], odd: bool) -> GauntProduct | None:
    """The product made of exactly these paths, or None if they are not a complete product."""
    inputs1 = sorted({p.i_in1 for p in paths})
    inputs2 = sorted({p.i_in2 for p in paths})
    outputs = sorted({p.i_out for p in paths})
    degrees = []
    for entries, irreps in (
        (inputs1, spec.irreps_in1),
        (inputs2, spec.irreps_in2),
        (outputs, spec.irreps_out),
    ):
        ls = [irreps[i].ir.l for i in entries]
        if len(set(ls)) != len(ls):
            return None
        degrees.append(ls)
    present = {(p.i_in1, p.i_in2, p.i_out) for p in paths}
    if len(present) != len(paths):  # a repeated instruction: evaluate it path by path
        return None
    for i in inputs1:
        for j in inputs2:
            for k in outputs:
                l1, l2, l3 = (
                    spec.irreps_in1[i].ir.l,
                    spec.irreps_in2[j].ir.l,
                    spec.irreps_out[k].ir.l,
                )
                if _reachable(l1, l2, l3, odd) != ((i, j, k) in present):
                    if (i, j, k) in present:  # a path whose tensor vanishes: drop it, still exact
                        continue
                    return None
    return GauntProduct(
        tuple(inputs1),
        tuple(inputs2),
        tuple(outputs),
        max(degrees[0]),
        max(degrees[1]),
        max(degrees[2]),
        odd,
    )


# ------------------------------------------------------------------------------ spec builders


def gaunt_spec(
    irreps_in1,
    irreps_in2,
    lmax_out: int | None = None,
    *,
    channel_mode: str = "uvuv",
    odd: bool = False,
    method: str = "gaunt_grid",
) -> TensorProductSpec:
    """The Gaunt product of two sets of spherical functions, one output entry per (degree, parity).

    Each input is a set of spherical functions (one per channel): its entries of natural parity
    (``0e, 1o, 2e, ...``) are one function, its other entries (``0o, 1e, ...``) another, and all
    entries of an input must have the same multiplicity. Every even path
    ``(l1 p1, l2 p2) -> l3 p1 p2`` with ``l3 <= lmax_out`` (and, with ``odd=True``, every odd path)
    writes into the output entry of its irrep, so all paths into one irrep are summed: the
    output is the product function's coefficients, ``(lmax1 + lmax2 + 1)^2`` numbers per channel
    pair for ``"0e + 1o + ... "`` inputs. Path coefficients are the Gaunt constants
    (``gaunt_kappa``, and ``vector_gaunt_kappa`` for odd paths), so ``method="cg"`` computes the
    same numbers (see :func:`gaunt_cg_spec`).

    Args:
        irreps_in1: irreps of the first input (distinct irreps, equal multiplicities).
        irreps_in2: irreps of the second input (distinct irreps, equal multiplicities).
        lmax_out: the largest output degree; default ``lmax1 + lmax2`` (the whole product).
        channel_mode: ``"uvuv"`` (all channel pairs) or ``"uuu"`` (matching channels).
        odd: also include the odd paths (for ``method="vector_gaunt"``).
        method: ``"gaunt_grid"``, ``"gaunt_fourier"``, ``"vector_gaunt"`` or ``"cg"``.

    Returns:
        The unweighted :class:`~equitens.tp.spec.TensorProductSpec`.

    Examples:
        >>> spec = gaunt_spec("0e + 1o", "0e + 1o")
        >>> spec.irreps_out
        1x0e+1x1o+1x2e
        >>> len(spec.paths)  # 0x0->0, 0x1->1, 1x0->1, 1x1->0, 1x1->2
        5
    """
    irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
    if channel_mode not in ("uvuv", "uuu"):
        raise ValueError(f"gaunt_spec: channel_mode must be 'uvuv' or 'uuu', got {channel_mode!r}")
    muls = []
    for name, irreps in (("irreps_in1", irreps_in1), ("irreps_in2", irreps_in2)):
        ms = {mul for mul, _ in irreps}
        if len(ms) != 1:
            raise ValueError(
                f"gaunt_spec: every entry of {name}={irreps} needs the same multiplicity (the "
                "number of spherical functions); pad or split the channels, or use a Linear layer"
            )
        irs = [ir for _, ir in irreps]
        if len(set(irs)) != len(irs):
            raise ValueError(
                f"gaunt_spec: {name}={irreps} repeats an irrep; merge it (Irreps.regroup) so each "
                "function has one coefficient block per degree"
            )
        muls.append(ms.pop())
    if channel_mode == "uuu" and muls[0] != muls[1]:
        raise ValueError(
            "gaunt_spec: channel_mode 'uuu' needs equal multiplicities, "
            f"got {muls[0]} and {muls[1]}"
        )
    lmax1 = max(ir.l for _, ir in irreps_in1)
    lmax2 = max(ir.l for _, ir in irreps_in2)
    if lmax_out is None:
        lmax_out = lmax1 + lmax2
    if not isinstance(lmax_out, int) or lmax_out < 0:
        raise ValueError(f"gaunt_spec: lmax_out must be a non-negative int, got {lmax_out!r}")
    triples = []
    for i, (_, ir1) in enumerate(irreps_in1):
        for j, (_, ir2) in enumerate(irreps_in2):
            for l3 in range(abs(ir1.l - ir2.l), min(ir1.l + ir2.l, lmax_out) + 1):
                is_odd = (ir1.l + ir2.l + l3) % 2 == 1
                if is_odd and not odd:
                    continue
                c = (
                    vector_gaunt_kappa(ir1.l, ir2.l, l3)
                    if is_odd
                    else gaunt_kappa(ir1.l, ir2.l, l3)
                )
                if c != 0.0:
                    triples.append((i, j, Irrep(l3, ir1.p * ir2.p), c))
    out_irs = sorted({t[2] for t in triples})
    mul_out = muls[0] * muls[1] if channel_mode == "uvuv" else muls[0]
    irreps_out = Irreps([(mul_out, ir) for ir in out_irs])
    index = {ir: k for k, ir in enumerate(out_irs)}
    paths = tuple(
        Path(
            i,
            j,
            index[ir3],
            c,
            (str(irreps_in1[i]), str(irreps_in2[j]), str(irreps_out[index[ir3]])),
        )
        for i, j, ir3, c in triples
    )
    return TensorProductSpec(
        irreps_in1,
        irreps_in2,
        irreps_out,
        paths,
        channel_mode,
        False,
        irrep_normalization="none",
        method=method,
    )


def gaunt_cg_spec(spec: TensorProductSpec) -> TensorProductSpec:
    """The Clebsch-Gordan spec that computes what a Gaunt method computes for ``spec``.

    Same irreps and paths, coefficients replaced by the Gaunt constants (``kappa`` on even paths,
    ``kappa_v`` on odd paths), ``method="cg"``: the CG product restricted to the Gaunt paths, with
    the Gaunt path weights. It is the equal-expressivity baseline of the benchmarks and an
    independent oracle of the tests.

    Args:
        spec: any spec a Gaunt method accepts.

    Returns:
        The ``"cg"`` spec.

    Examples:
        >>> import math
        >>> cg = gaunt_cg_spec(TensorProductSpec.full("1o", "1o", "0e", method="cg"))
        >>> cg.method, math.isclose(cg.paths[0].coefficient, gaunt_kappa(1, 1, 0))
        ('cg', True)
    """
    paths = []
    for path in spec.paths:
        (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(path)
        odd = (ir1.l + ir2.l + ir3.l) % 2 == 1
        c = vector_gaunt_kappa(ir1.l, ir2.l, ir3.l) if odd else gaunt_kappa(ir1.l, ir2.l, ir3.l)
        paths.append(dataclasses.replace(path, coefficient=c))
    return dataclasses.replace(spec, paths=tuple(paths), method="cg")


# ------------------------------------------------------------------------- the kernel shell


def _assemble(blocks: list[jax.Array], entries, irreps: Irreps, lmax: int, dtype) -> jax.Array:
    """Coefficients ``(E, mul, (lmax + 1)^2)`` of the function of some entries (zeros elsewhere)."""
    by_degree = {irreps[i].ir.l: blocks[i] for i in entries}
    e, mul = blocks[entries[0]].shape[:2]
    parts = [
        by_degree[l] if l in by_degree else jnp.zeros((e, mul, 2 * l + 1), dtype)
        for l in range(lmax + 1)
    ]
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def make_kernel(
    spec: TensorProductSpec,
    method: str,
    product_fn,
    plan: Plan = DEFAULT_PLAN,
    *,
    odd_allowed: bool = False,
):
    """A spec's kernel from a product of functions (shared by the Gaunt methods).

    Args:
        spec: the tensor product.
        method: the method's name (for messages).
        product_fn: ``product_fn(a, b, product, pairs, plan) -> c``: ``a (E, U, (lmax1+1)^2)``,
            ``b (E, V, (lmax2+1)^2)`` orthonormal-harmonic coefficients; ``c`` the Gaunt (or, for
            ``product.odd``, vector Gaunt) product up to ``lmax_out``, ``(E, U * V, ...)`` when
            ``pairs`` (all channel pairs) else ``(E, U, ...)``.
        plan: how it runs: ``plan.gaunt_multilinear`` (the multilinear derivative rules, chunked
            as ``plan.chunk`` says, or plain autodiff) and the options ``product_fn`` reads.
        odd_allowed: whether odd paths are evaluated.

    Returns:
        ``kernel(x1, x2, weights=None)`` as :func:`~equitens.tp.registry.tensor_product_kernel`.
    """
    check_servable(spec, method, odd_allowed=odd_allowed)
    products = plan_products(spec, odd_allowed=odd_allowed)
    pairs = spec.channel_mode == "uvuv"
    d1, d2, d_out = spec.irreps_in1.dim, spec.irreps_in2.dim, spec.irreps_out.dim

    def forward(x1, x2):
        e, dtype = x1.shape[0], x1.dtype
        b1, b2 = split_blocks(x1, spec.irreps_in1), split_blocks(x2, spec.irreps_in2)
        out: list = [None] * len(spec.irreps_out)
        for product in products:
            a = _assemble(b1, product.inputs1, spec.irreps_in1, product.lmax1, dtype)
            b = _assemble(b2, product.inputs2, spec.irreps_in2, product.lmax2, dtype)
            c = product_fn(a, b, product, pairs, plan)
            for k in product.outputs:
                l = spec.irreps_out[k].ir.l
                piece = c[..., l * l : (l + 1) * (l + 1)]
                out[k] = piece if out[k] is None else out[k] + piece
        blocks = [
            (o if o is not None else jnp.zeros((e, mul, ir.dim), dtype)).reshape(e, mul * ir.dim)
            for o, (mul, ir) in zip(out, spec.irreps_out, strict=True)
        ]
        return jnp.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]

    floats = 0
    for product in products:
        l1, l2, lo = product.lmax1, product.lmax2, product.lmax_out
        points = (l1 + l2 + lo + 2) ** 2 // 2  # about the grid's size
        u = max(spec.irreps_in1[i].mul for i in product.inputs1)
        v = max(spec.irreps_in2[j].mul for j in product.inputs2)
        floats += points * (u + v + (u * v if pairs else u)) * (3 if product.odd else 1)
    chunked = multilinear(
        lambda a, b, w: forward(a, b),
        (d1, d2, None, d_out),
        shared_weights=False,
        per_sample_floats=max(floats, 1),
        budget=plan.chunk_budgets(CPU_BUDGET),
    )
    run = chunked if plan.gaunt_multilinear else forward

    def kernel(x1, x2, weights=None):
        if weights is not None:
            raise ValueError(f"method {method!r} takes no weights; pass weights=None")
        x1, x2 = jnp.asarray(x1), jnp.asarray(x2)
        for name, x, d, irreps in (
            ("x1", x1, d1, spec.irreps_in1),
            ("x2", x2, d2, spec.irreps_in2),
        ):
            if x.ndim == 0 or x.shape[-1] != d:
                raise ValueError(
                    f"{name} must have shape (..., {d}) for irreps {irreps}, got {tuple(x.shape)}"
                )
        dtype = jnp.result_type(x1, x2)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.result_type(float)
        leading = jnp.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
        e = math.prod(leading)
        if d_out == 0 or not products or e == 0:
            return jnp.zeros(leading + (d_out,), dtype)
        x1 = jnp.broadcast_to(x1.astype(dtype), leading + (d1,)).reshape(e, d1)
        x2 = jnp.broadcast_to(x2.astype(dtype), leading + (d2,)).reshape(e, d2)
        return run(x1, x2).reshape(leading + (d_out,))

    return kernel
