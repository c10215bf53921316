"""What MACE's product basis reaches, per family: independent polynomials per degree and irrep.

The product basis maps each channel of the atomic basis ``A`` to equivariant polynomials of
degree ``ν = 1..correlation``. For every ``(ν, L)`` three numbers compare the families
(:func:`product_basis_expressivity`, :func:`compare_product_bases`):

- ``upper_bound``: the dimension of *all* degree-``ν`` equivariant polynomial maps of one channel
  into ``L`` (the multiplicity of ``L`` in the symmetric power ``Sym^ν(A)``); the
  Clebsch-Gordan basis (``method="cg"``) reaches it;
- ``reachable``: the dimension of the span of the family's degree-``ν`` polynomials into ``L``
  as all its weights vary (its reachable couplings). The Gaunt product basis reaches the Gaunt
  couplings ``P_L(Y_{l_1} ... Y_{l_ν})`` only: no antisymmetric couplings, and one polynomial per
  multiset of degrees where CG has one per coupling tree;
- ``blocks``: how many polynomials one layer combines per channel with its free output weights
  (for the Gaunt basis: ``num_mixes`` per ``(ν, L)``, ``ν >= 2``, whose mixing weights move them
  inside the reachable span).

All three are computed numerically from the layer itself (float64 ranks over random inputs and,
for the Gaunt basis, random mixing weights), whatever its algorithm.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from equitens.nn.symmetric_contraction import (
    product_basis_spec,
    resolve_algorithm,
    symmetric_contraction,
)
from equitens.so3.irreps import Irrep, Irreps

__all__ = ["ProductBasisCount", "ProductBasisReport", "compare_product_bases"]
__all__ += ["product_basis_expressivity"]


@dataclasses.dataclass(frozen=True)
class ProductBasisCount:
    """Polynomials of degree ``nu`` into ``ir`` (see the module docstring).

    Attributes:
        nu: the degree.
        ir: the output irrep.
        reachable: dimension of the span of the family's polynomials (all weights varying).
        blocks: polynomials one layer combines per channel with its output weights.
        upper_bound: dimension of all equivariant polynomials (what CG reaches).
    """

    nu: int
    ir: Irrep
    reachable: int
    blocks: int
    upper_bound: int


@dataclasses.dataclass(frozen=True)
class ProductBasisReport:
    """The result of :func:`product_basis_expressivity`.

    Attributes:
        method: the family (``"cg"``, ``"gaunt_grid"``, ...).
        algorithm: the algorithm that ran (``"blocked"``, ``"gaunt"``, ...).
        num_mixes: chains of the Gaunt basis (1 for the others).
        weights_per_channel: weights per species and channel.
        counts: one :class:`ProductBasisCount` per ``(nu, ir)``, sorted.
    """

    method: str
    algorithm: str
    num_mixes: int
    weights_per_channel: int
    counts: tuple[ProductBasisCount, ...]

    def reachable(self, nu: int, ir) -> int:
        """The reachable dimension at degree ``nu`` into ``ir`` (0 if not listed)."""
        ir = Irrep(ir)
        return next((c.reachable for c in self.counts if c.nu == nu and c.ir == ir), 0)

    @property
    def missing(self) -> tuple[ProductBasisCount, ...]:
        """The ``(nu, ir)`` where the family reaches fewer polynomials than CG."""
        return tuple(c for c in self.counts if c.reachable < c.upper_bound)


def _one_channel(irreps) -> Irreps:
    return Irreps([(1, ir) for _, ir in Irreps(irreps)])


def _spec_or_none(irreps_in, ir, correlation, method, algorithm, num_mixes):
    """The spec serving one output irrep, or None where the family cannot reach it."""
    natural = ir.p == (-1) ** ir.l
    try:
        return product_basis_spec(
            irreps_in, Irreps([(1, ir)]), correlation, method, algorithm, num_mixes
        )
    except ValueError as error:
        text = str(error)
        if "not reachable" in text or ("unnatural parity" in text and not natural):
            return None
        raise


def _rank(columns: np.ndarray, rtol: float) -> int:
    """Numerical rank; singular values count below ``rtol`` times the largest one, and below
    ``rtol * sqrt(rows)`` (a polynomial of unit-variance inputs with entries of order one), so
    that columns that are zero up to rounding (e.g. ``a x a``) have rank 0."""
    if columns.size == 0:
        return 0
    s = np.linalg.svd(columns, compute_uv=False)
    return int(np.sum(s > rtol * max(s[0], np.sqrt(columns.shape[0]))))


def _columns_by_degree(spec, algorithm, x, seed, num_degrees) -> dict[int, tuple]:
    """Per degree ``nu``: ``(columns, blocks)``, the degree-``nu`` polynomials of a one-output spec
    as columns (flattened over samples and components), from one batched evaluation."""
    (feeding,) = spec.blocks
    numel, mix = spec.weight_numel, getattr(spec, "mix_numel", 0)
    rows, owner = [], []
    for k, (nu, _) in enumerate(feeding):
        draws = 1
        if mix and nu >= 2:  # random mixing weights: the span as they vary
            draws = 2 * math.comb(num_degrees + nu - 1, nu) + 4
        w = np.zeros((draws, numel))
        w[:, k] = 1.0
        if draws > 1:
            key = jax.random.fold_in(jax.random.PRNGKey(seed), k)
            w[:, numel - mix :] = np.asarray(jax.random.normal(key, (draws, mix), jnp.float64))
        rows.append(w)
        owner += [nu] * draws
    species = jnp.zeros(x.shape[0], int)

    def evaluate(w):
        return symmetric_contraction(spec, w[None], x, species, algorithm).reshape(-1)

    columns = np.asarray(jax.jit(jax.vmap(evaluate))(jnp.asarray(np.concatenate(rows)))).T
    owner = np.asarray(owner)
    return {
        nu: (columns[:, owner == nu], sum(d == nu for d, _ in feeding))
        for nu in set(owner.tolist())
    }


@functools.cache
def _ranks(irreps_in, ir, correlation, method, algorithm, num_mixes, seed, rtol):
    """``{nu: (rank, blocks)}`` of a family's one-output layer, or None where it cannot serve
    ``ir``; the random inputs depend on ``(irreps_in, ir, correlation, seed)`` only."""
    spec = _spec_or_none(irreps_in, ir, correlation, method, algorithm, num_mixes)
    if spec is None:
        return None
    bound_spec = _spec_or_none(irreps_in, ir, correlation, "cg", "auto", 1)
    samples = 24 + 2 * sum(len(f) for f in bound_spec.blocks) if bound_spec else 24
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(seed + 1), (samples, irreps_in.dim), jnp.float64)
        columns = _columns_by_degree(spec, algorithm, x, seed, len(irreps_in))
    return {nu: (_rank(c, rtol), blocks) for nu, (c, blocks) in columns.items()}


def product_basis_expressivity(
    irreps_in,
    irreps_out,
    correlation: int,
    method: str = "cg",
    *,
    algorithm: str = "auto",
    num_mixes: int = 1,
    seed: int = 0,
    rtol: float = 1e-9,
) -> ProductBasisReport:
    """Independent polynomials per ``(ν, L)`` of a product basis, against all of them (CG).

    Computed for one channel (the basis is channelwise), in float64 (x64 is enabled for the
    computation): the rank of each family's degree-``ν`` polynomials evaluated on random inputs,
    and for the Gaunt basis over random mixing weights too.

    Args:
        irreps_in: irreps of ``A`` (multiplicities ignored), e.g. ``"0e + 1o + 2e"``.
        irreps_out: output irreps (multiplicities ignored); those a family cannot reach count 0.
        correlation: highest degree.
        method: the family: ``"cg"``, ``"gaunt_grid"``, ``"gaunt_fourier"``, ...
        algorithm: the product-basis algorithm (``"auto"``: the family's own).
        num_mixes: chains of the Gaunt product basis.
        seed: random inputs and mixing weights (the counts are generic: any seed gives them).
        rtol: singular values below ``rtol`` times the largest count as zero.

    Returns:
        A :class:`ProductBasisReport`.

    Examples:
        >>> cg = product_basis_expressivity("0e + 1o + 2e", "0e + 1o", 3)
        >>> gaunt = product_basis_expressivity("0e + 1o + 2e", "0e + 1o", 3, "gaunt_grid")
        >>> [(c.nu, str(c.ir), c.reachable, c.upper_bound) for c in gaunt.counts if c.nu == 3]
        [(3, '0e', 5, 5), (3, '1o', 4, 5)]
        >>> cg.reachable(3, "1o"), [c.blocks for c in cg.counts if c.nu == 3]  # redundant blocks
        (5, [8, 14])
        >>> gaunt.missing  # a1 (x) a2 (x) a2 -> 1o through two antisymmetric couplings
        (ProductBasisCount(nu=3, ir=1o, reachable=4, blocks=1, upper_bound=5),)
    """
    irreps_in = _one_channel(irreps_in)
    outputs = sorted({ir for _, ir in Irreps(irreps_out)})
    counts, served = [], []
    for ir in outputs:
        bound = _ranks(irreps_in, ir, correlation, "cg", "auto", 1, seed, rtol)  # spans all
        own = _ranks(irreps_in, ir, correlation, method, algorithm, num_mixes, seed, rtol)
        if own is not None:
            served.append(ir)
        for nu in range(1, correlation + 1):
            upper = bound[nu][0] if bound and nu in bound else 0
            reachable, blocks = own[nu] if own and nu in own else (0, 0)
            if upper or reachable or blocks:
                counts.append(ProductBasisCount(nu, ir, reachable, blocks, upper))
    resolved = resolve_algorithm(method, algorithm)
    weights = 0
    if served:  # one layer serving every reachable output
        irreps = Irreps([(1, ir) for ir in served])
        spec = product_basis_spec(irreps_in, irreps, correlation, method, algorithm, num_mixes)
        weights = spec.weight_numel
    return ProductBasisReport(
        method=method,
        algorithm=resolved,
        num_mixes=num_mixes if resolved == "gaunt" else 1,
        weights_per_channel=weights,
        counts=tuple(sorted(counts, key=lambda c: (c.nu, c.ir))),
    )


def compare_product_bases(
    irreps_in,
    irreps_out,
    correlation: int,
    methods=("cg", "gaunt_grid"),
    *,
    num_mixes: int = 1,
) -> str:
    """A table of :func:`product_basis_expressivity` for several families, side by side.

    Each cell is ``reachable (blocks)``; the last column is the upper bound (all equivariant
    polynomials).

    Args:
        irreps_in: irreps of ``A``.
        irreps_out: output irreps.
        correlation: highest degree.
        methods: the families to compare.
        num_mixes: chains of the Gaunt product basis.

    Returns:
        The table, one line per ``(ν, L)`` and a last line with the weights per channel.

    Examples:
        >>> print(compare_product_bases("0e + 1o", "0e + 1o + 1e", 2))
        nu  L   cg     gaunt_grid  all
        1   0e  1 (1)  1 (1)       1
        1   1o  1 (1)  1 (1)       1
        2   0e  2 (2)  2 (1)       2
        2   1o  1 (1)  1 (1)       1
        2   1e  0 (1)  0 (0)       0
        weights/channel 6  8
    """
    reports = [
        product_basis_expressivity(irreps_in, irreps_out, correlation, m, num_mixes=num_mixes)
        for m in methods
    ]
    keys = sorted({(c.nu, c.ir) for r in reports for c in r.counts})
    header = ["nu", "L", *methods, "all"]
    lines = []
    for nu, ir in keys:
        cells, bound = [str(nu), str(ir)], 0
        for report in reports:
            count = next((c for c in report.counts if (c.nu, c.ir) == (nu, ir)), None)
            cells.append(f"{count.reachable} ({count.blocks})" if count else "0 (0)")
            bound = max(bound, count.upper_bound if count else 0)
        lines.append([*cells, str(bound)])
    widths = [max(len(row[i]) for row in [header, *lines]) + 2 for i in range(len(header))]
    text = [
        "".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *lines]
    ]
    text.append("weights/channel " + "  ".join(str(r.weights_per_channel) for r in reports))
    return "\n".join(text)
