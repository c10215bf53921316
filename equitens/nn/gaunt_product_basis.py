"""MACE's product basis from Gaunt products: products of spherical functions on one grid.

The Clebsch-Gordan product basis (:mod:`equitens.nn.symmetric_contraction`) couples the channel
``A[c]`` with itself coupling by coupling. Here each channel's atomic basis
``A[c] = 0e + 1o + 2e + ...`` is read as a function on the sphere,
``f_c(n) = sum_{l, m} A[c]_{lm} Y_{lm}(n)``, and its polynomials are *point-wise products* of such
functions ("The Price of Freedom", Xie et al. 2025; Luo et al. 2024 for the Fourier form):

1. **mix** (per species, per channel, per degree): ``num_mixes`` chains ``k`` of ``ν_max`` factor
   functions ``f_{k,i} = sum_l u[z, k, i, l, c] A[c]_l Y_l`` (``u`` learnable);
2. **one transform** of all factors to the grid (:func:`~equitens.so3.s2grid.to_s2grid` on the
   Gauss-Legendre x uniform grid of :func:`~equitens.tp.gaunt.grid.grid_for_power`, exact for the
   highest product; or the folded 2D-Fourier torus of :mod:`equitens.tp.gaunt.fourier`);
3. **products on the grid**, features staying there: ``g_{k,1} = f_{k,1}``,
   ``g_{k,ν} = g_{k,ν-1} f_{k,ν}``;
4. **one projection per degree** ``ν = 2..ν_max`` back to the harmonics up to the output ``L``:
   ``T_ν^k = P_{<= L}(g_{k,ν})`` (:func:`~equitens.so3.s2grid.from_s2grid`), exact;
5. the **per-species, per-channel contraction** as in the CG basis, ``(1, 0)`` naming ``A``:
   ``B[n, c, L] = W[z, (1, 0), c, L] A[n, c, L] + sum_{ν, k} W[z, (ν, k), c, L] T_ν^k[n, c, L]``.

Why products of *distinct, learnably mixed* factors: the plain power ``P_L(f^ν)`` (Luo et al.)
gives one fixed polynomial per ``(ν, L)``, whose coefficients on the couplings
``(l_1, ..., l_ν) -> L`` are the Gaunt constants. Weighting each degree of each factor makes the
coefficient of a coupling a free (learnable) polynomial in the ``u``, so as ``u`` varies the
products span *every* Gaunt coupling ``P_L(Y_{l_1} ... Y_{l_ν})`` of ``ν`` degrees of ``A``
(the count per ``(ν, L)`` is :func:`equitens.analysis.product_basis_expressivity`). Distinct
factors (rather than one mixed function raised to a power, as in the weighted Gaunt MACE of
"The Price of Freedom") make the reachable coefficients symmetric tensors of rank up to ``ν``
instead of rank 1, at the same cost: one transform of ``ν_max`` factors, the products, one
projection per degree. Each chain gives one polynomial per ``(ν, L)``; ``num_mixes`` chains give
``num_mixes`` of them, mixed by the output weights. Mixing weights are per species and channel,
like MACE's: every step is equivariant because the weights multiply whole irreps.

**Parity.** A scalar function on the sphere carries the parity ``(-1)^l`` of each degree, so the
atomic basis must have natural parity (``0e, 1o, 2e, 3o, ...``, as MACE's has; an unnatural input
is refused with a clear error). Point-wise products of natural functions are natural, and have no
antisymmetric (odd, ``l_1 + l_2 + L`` odd) couplings: with ``"gaunt_grid"`` and
``"gaunt_fourier"`` an output of the other parity (``1e``, ``0o``, ...) is not reachable and is
refused with a clear error naming ``"vector_gaunt"`` and ``"cg"``.

**Odd couplings** (``method="vector_gaunt"``). The vector Gaunt product
``V(p, q) = n . (grad_S p x grad_S q)`` (:mod:`equitens.tp.gaunt.vector`) is the odd coupling of
two functions, a *pseudo-scalar* function (parity ``-(-1)^l``). Each chain then carries a natural
function ``g`` and a pseudo one ``h`` (``h_1 = 0``) on the grid:
``g_ν = g_{ν-1} f_ν + α_ν V(h_{ν-1}, f_ν)`` and ``h_ν = h_{ν-1} f_ν + β_ν V(g_{ν-1}, f_ν)``, with
learnable ``α, β`` per species, chain and channel. Natural outputs are read from ``g``, the others
(``1e``, ``2o``, ``0o``, ...) from ``h``. The surface gradients of ``g_{ν-1}`` and ``h_{ν-1}``
(``ν >= 3``) are sampled from their coefficients, projected on their full band, so the grid is
exact for twice that band too. This reaches the antisymmetric couplings the scalar products miss
(and nearly all of CG's polynomials; :func:`equitens.analysis.compare_product_bases`), at several
times the scalar cost. Blocks whose polynomials are identically zero (an antisymmetric
self-coupling such as ``a_1 x a_1``) are kept, as in the CG basis.

Exact (to rounding) and equivariant for any weights; O(L^3) per channel and degree with the
m-blocked transforms (dense O(L^4) matrices are faster at MACE sizes and ``"auto"`` picks them).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from equitens.nn.product_basis_inputs import checked_inputs
from equitens.so3.irreps import IntoIrreps, Irrep, Irreps
from equitens.so3.layout import split_blocks
from equitens.so3.s2grid import S2Grid, from_s2grid, to_s2grid
from equitens.tp.gaunt.grid import grid_for_power

__all__ = [
    "GAUNT_PRODUCT_METHODS",
    "GauntProductBasisSpec",
    "gaunt_product_basis",
]

GAUNT_PRODUCT_METHODS = ("gaunt_grid", "gaunt_fourier", "vector_gaunt")
"""The methods of the Gaunt product basis: the spherical grid, the 2D-Fourier torus, and the
spherical grid with the vector products (odd couplings)."""

_HIGHEST = jax.lax.Precision.HIGHEST


def _natural(ir: Irrep) -> bool:
    return ir.p == (-1) ** ir.l


def _couple(left, right, odd: bool) -> set[int]:
    """Degrees of the (scalar or vector) Gaunt products of degrees ``left`` and ``right``."""
    out = set()
    for l1 in left:
        for l2 in right:
            if odd and (l1 == 0 or l2 == 0):  # a constant has no surface gradient
                continue
            for l3 in range(abs(l1 - l2), l1 + l2 + 1):
                if (l1 + l2 + l3) % 2 == int(odd):
                    out.add(l3)
    return out


def _reachable(degrees: tuple[int, ...], power: int, vector: bool) -> tuple[frozenset, frozenset]:
    """Degrees reachable at ``power`` in the natural and in the pseudo sector.

    Scalar products only: the natural degrees ``L`` with a non-zero Gaunt coupling
    ``P_L(Y_{l_1} ... Y_{l_power})`` (built pairwise: triangle, even sum). With the vector
    products (``vector``): ``g' = g f + V(h, f)`` and ``h' = h f + V(g, f)``, ``V`` odd.
    """
    natural, pseudo = set(degrees), set()
    for _ in range(power - 1):
        natural, pseudo = (
            _couple(natural, degrees, False)
            | (_couple(pseudo, degrees, True) if vector else set()),
            (_couple(pseudo, degrees, False) | _couple(natural, degrees, True))
            if vector
            else set(),
        )
    return frozenset(natural), frozenset(pseudo)


@dataclasses.dataclass(frozen=True)
class GauntProductBasisSpec:
    """Static description of a Gaunt product basis (hashable; build with :meth:`create`).

    Attributes:
        irreps_in: the atomic basis ``A``: natural parities, distinct degrees, one multiplicity.
        irreps_out: the output irreps (distinct, the same multiplicity; natural parities unless
            ``method="vector_gaunt"``).
        correlation: the highest polynomial degree ``ν``.
        method: ``"gaunt_grid"``, ``"gaunt_fourier"`` or ``"vector_gaunt"``.
        num_mixes: chains of mixed factors (polynomials per ``(ν, L)`` for ``ν >= 2``).
        blocks: per output entry, the ``(ν, chain)`` pairs that feed it, in weight order
            (``(1, 0)`` is ``A`` itself).
        max_power: the highest ``ν`` computed (``1``: no products at all).
    """

    irreps_in: Irreps
    irreps_out: Irreps
    correlation: int
    method: str
    num_mixes: int
    blocks: tuple[tuple[tuple[int, int], ...], ...]
    max_power: int

    @classmethod
    def create(
        cls,
        irreps_in: IntoIrreps,
        irreps_out: IntoIrreps,
        correlation: int,
        *,
        method: str = "gaunt_grid",
        num_mixes: int = 1,
    ) -> GauntProductBasisSpec:
        """Build the spec, checking that the irreps can be served by Gaunt products.

        Args:
            irreps_in: irreps of ``A``, e.g. ``"8x0e + 8x1o + 8x2e"`` (natural parity, distinct
                degrees, the same multiplicity for all).
            irreps_out: output irreps with the same multiplicity, e.g. ``"8x0e + 8x1o"``.
            correlation: highest degree, ``>= 1``.
            method: ``"gaunt_grid"`` (spherical grid), ``"gaunt_fourier"`` (2D Fourier) or
                ``"vector_gaunt"`` (spherical grid with the odd couplings).
            num_mixes: chains of mixed factors, ``>= 1``.

        Returns:
            The spec.

        Raises:
            ValueError: for unnatural parities, unreachable outputs, or bad arguments; the
                message says what to use instead.

        Examples:
            >>> spec = GauntProductBasisSpec.create("4x0e + 4x1o + 4x2e", "4x0e + 4x1o", 3)
            >>> spec
            GauntProductBasisSpec(4x0e+4x1o+4x2e -> 4x0e+4x1o, correlation=3, gaunt_grid, 1 mix, \
polynomials per output {0e: 3, 1o: 3}, 60 weights/species)
            >>> spec.grid
            S2Grid(n_beta=4, n_alpha=8)
        """
        irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        if method not in GAUNT_PRODUCT_METHODS:
            raise ValueError(
                f"the Gaunt product basis needs method in {GAUNT_PRODUCT_METHODS}, got {method!r}"
            )
        if isinstance(correlation, bool) or not isinstance(correlation, int) or correlation < 1:
            raise ValueError(
                f"correlation must be an int >= 1 (MACE uses 1..3), got {correlation!r}"
            )
        if isinstance(num_mixes, bool) or not isinstance(num_mixes, int) or num_mixes < 1:
            raise ValueError(f"num_mixes must be an int >= 1, got {num_mixes!r}")
        muls = {mul for mul, _ in irreps_in} | {mul for mul, _ in irreps_out}
        if len(irreps_in) == 0 or len(irreps_out) == 0 or len(muls) != 1 or 0 in muls:
            raise ValueError(
                f"a product basis needs the same nonzero multiplicity (channels) for every irrep "
                f"of its input and output, got {irreps_in} -> {irreps_out}; write e.g. "
                "'8x0e + 8x1o + 8x2e' -> '8x0e + 8x1o'"
            )
        vector = method == "vector_gaunt"
        for name, irreps in (("irreps_in", irreps_in), ("irreps_out", irreps_out)):
            unnatural = [str(ir) for _, ir in irreps if not _natural(ir)]
            if unnatural and name == "irreps_in":
                raise ValueError(
                    f"{method} product basis: irreps_in {irreps} has irreps of unnatural parity "
                    f"({', '.join(unnatural)}): each channel of A is a function on the sphere, "
                    "whose degree-l part has parity (-1)^l (0e, 1o, 2e, ...), so these cannot be "
                    "represented; use natural-parity irreps for A (MACE's atomic basis is "
                    "natural) or method='cg'"
                )
            if unnatural and not vector:
                raise ValueError(
                    f"{method} product basis: irreps_out {irreps} has irreps of unnatural parity "
                    f"({', '.join(unnatural)}): point-wise products of natural functions are "
                    "natural (no antisymmetric couplings), so these are not reachable; use "
                    "method='vector_gaunt' (odd couplings) or method='cg'"
                )
            degrees = [ir.l for _, ir in irreps]
            if len(set(degrees)) != len(degrees) and name == "irreps_in":
                raise ValueError(
                    f"{method} product basis: {name} {irreps} repeats a degree; each channel is "
                    f"one function with one block per degree (use {irreps.simplify()})"
                )
            if len({ir for _, ir in irreps}) != len(irreps):
                raise ValueError(
                    f"{method} product basis: {name} {irreps} repeats an irrep; "
                    f"use {irreps.simplify()}"
                )
        degrees = tuple(ir.l for _, ir in irreps_in)
        reach = {nu: _reachable(degrees, nu, vector) for nu in range(2, correlation + 1)}
        blocks = []
        for mul, ir in irreps_out:
            sector = 0 if _natural(ir) else 1
            feeding = [(1, 0)] if ir in [i for _, i in irreps_in] else []
            feeding += [
                (nu, k)
                for nu in range(2, correlation + 1)
                if ir.l in reach[nu][sector]
                for k in range(num_mixes)
            ]
            if not feeding:
                raise ValueError(
                    f"the output {mul}x{ir} is not reachable from {irreps_in} by {method} "
                    f"products of degree <= {correlation}; remove it from irreps_out or raise the "
                    "correlation"
                )
            blocks.append(tuple(feeding))
        max_power = max(nu for feeding in blocks for nu, _ in feeding)
        return cls(irreps_in, irreps_out, correlation, method, num_mixes, tuple(blocks), max_power)

    @property
    def num_channels(self) -> int:
        """The common multiplicity ``C``."""
        return self.irreps_in[0].mul

    @property
    def lmax_in(self) -> int:
        """The largest degree of ``A``."""
        return max(ir.l for _, ir in self.irreps_in)

    @property
    def lmax_out(self) -> int:
        """The largest output degree."""
        return max(ir.l for _, ir in self.irreps_out)

    @property
    def output_numel(self) -> int:
        """Output weights per species: one per (feeding block, channel) of every output entry."""
        return sum(len(b) for b in self.blocks) * self.num_channels

    @property
    def factor_numel(self) -> int:
        """Factor weights per species: ``num_mixes * max_power * len(irreps_in) * C`` (0 when
        no product is computed)."""
        if self.max_power < 2:
            return 0
        return self.num_mixes * self.max_power * len(self.irreps_in) * self.num_channels

    @property
    def odd_numel(self) -> int:
        """Weights of the vector products (``"vector_gaunt"`` only): per chain and channel,
        ``β_2, (α_ν, β_ν)`` for ``ν = 3..max_power``, in
        ``g_ν = g_{ν-1} f_ν + α_ν V(h_{ν-1}, f_ν)`` and ``h_ν = h_{ν-1} f_ν + β_ν V(g_{ν-1}, f_ν)``.
        """
        if self.method != "vector_gaunt" or self.max_power < 2:
            return 0
        return self.num_mixes * (2 * self.max_power - 3) * self.num_channels

    @property
    def mix_numel(self) -> int:
        """Weights before the contraction: the factor weights, then the odd ones."""
        return self.factor_numel + self.odd_numel

    @property
    def weight_numel(self) -> int:
        """Weights per species: the output weights, then the mixing weights."""
        return self.output_numel + self.mix_numel

    @property
    def grid(self) -> S2Grid:
        """The spherical grid (``"gaunt_grid"``, ``"vector_gaunt"``): exact for the projections of
        ``g_max_power`` onto ``L <= lmax_out`` and, with vector products, of ``g_ν`` and ``h_ν``
        onto their full band ``ν lmax_in`` (``ν < max_power``, for their surface gradients).

        Examples:
            >>> GauntProductBasisSpec.create("2x0e + 2x1o", "2x0e", 2).grid
            S2Grid(n_beta=2, n_alpha=3)
            >>> GauntProductBasisSpec.create("2x0e + 2x1o", "2x0e", 3, method="vector_gaunt").grid
            S2Grid(n_beta=3, n_alpha=5)
        """
        grid = grid_for_power(self.lmax_in, self.max_power, self.lmax_out)
        if self.method == "vector_gaunt" and self.max_power >= 3:
            full = 2 * (self.max_power - 1) * self.lmax_in
            if full > grid.exact_degree:
                return S2Grid.exact_for(full)
        return grid

    def weight_init_std(self) -> np.ndarray:
        """Standard deviation of the default normal initialisation.

        Output weights: ``1/sqrt(#blocks)`` per output, as the CG basis. Factor weights:
        ``1/sqrt(sum_l (2l+1))``, so a factor of a unit-variance ``A`` has unit variance on the
        sphere (component normalisation) and the products stay of order one. Odd weights: the
        inverse root-mean-square of ``sqrt(l (l + 1))`` over the components of ``A`` (the size of
        a surface gradient), so that ``V(g, f)`` is of the order of ``g f``.

        Examples:
            >>> spec = GauntProductBasisSpec.create("1x0e + 1x1o", "1x0e", 2)
            >>> spec.weight_init_std().round(3).tolist()
            [0.707, 0.707, 0.5, 0.5, 0.5, 0.5]
        """
        out = [np.full(len(b) * self.num_channels, len(b) ** -0.5) for b in self.blocks]
        dims = [(ir.dim, ir.l * (ir.l + 1)) for _, ir in self.irreps_in]
        factor_std = sum(d for d, _ in dims) ** -0.5
        gradient = (sum(d * g for d, g in dims) / sum(d for d, _ in dims)) ** 0.5
        odd_std = 1.0 / max(gradient, 1.0)
        return np.concatenate(
            out + [np.full(self.factor_numel, factor_std), np.full(self.odd_numel, odd_std)]
        )

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{ir}: {len(b)}" for (_, ir), b in zip(self.irreps_out, self.blocks, strict=True)
        )
        mixes = f"{self.num_mixes} mix" + ("es" if self.num_mixes > 1 else "")
        return (
            f"GauntProductBasisSpec({self.irreps_in} -> {self.irreps_out}, correlation="
            f"{self.correlation}, {self.method}, {mixes}, polynomials per output {{{counts}}}, "
            f"{self.weight_numel} weights/species)"
        )


# ------------------------------------------------------------------------------ transforms

_SQRT_4PI = math.sqrt(4 * math.pi)


@functools.cache
def _fourier_tables(lmax: int, lg: int, lout: int) -> tuple[np.ndarray, np.ndarray]:
    """The folded-torus sampling and projection matrices of :mod:`equitens.tp.gaunt.fourier`, in
    component normalisation: ``samples = c @ S``, ``coefficients = samples @ B``."""
    from equitens.tp.gaunt.fourier import _dense_tables

    sample = _dense_tables(lmax, lg, lout)[0] * _SQRT_4PI  # c_integral = sqrt(4 pi) c_component
    back = _dense_tables(lmax, lg, lout)[1] / _SQRT_4PI
    sample.setflags(write=False)
    back.setflags(write=False)
    return sample, back


def _transforms(spec: GauntProductBasisSpec, transform: str):
    """``(sample, project)``: coefficients ``(..., (lmax_in + 1)^2)`` -> values ``(..., P)`` ->
    coefficients ``(..., (lmax_out + 1)^2)``, both in component normalisation."""
    lmax, lout = spec.lmax_in, spec.lmax_out
    if spec.method == "gaunt_grid":
        grid = spec.grid

        def sample(c):
            with jax.default_matmul_precision("float32"):
                v = to_s2grid(c, lmax, grid, "component", method=transform)
            return v.reshape(v.shape[:-2] + (-1,))

        def project(v):
            v = v.reshape(v.shape[:-1] + (grid.n_beta, grid.n_alpha))
            with jax.default_matmul_precision("float32"):
                return from_s2grid(v, lout, grid, "component", method=transform)

        return sample, project
    # gaunt_fourier: the folded torus grid of the band-limit max_power * lmax (no aliasing)
    s, b = _fourier_tables(lmax, spec.max_power * lmax, lout)

    def sample_fourier(c):
        return jnp.matmul(c, jnp.asarray(s, c.dtype), precision=_HIGHEST)

    def project_fourier(v):
        return jnp.matmul(v, jnp.asarray(b, v.dtype), precision=_HIGHEST)

    return sample_fourier, project_fourier


# ------------------------------------------------------------------------------ the basis


def _coefficients(x: jax.Array, irreps: Irreps, lmax: int) -> jax.Array:
    """mul_ir ``(N, dim)`` -> ``(N, C, (lmax + 1)^2)`` l-major, zeros at missing degrees."""
    by_degree = {ir.l: b for b, (_, ir) in zip(split_blocks(x, irreps), irreps, strict=True)}
    n, channels = x.shape[0], irreps[0].mul
    parts = [
        by_degree[l] if l in by_degree else jnp.zeros((n, channels, 2 * l + 1), x.dtype)
        for l in range(lmax + 1)
    ]
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


@functools.cache
def _degree_expansion(irreps: Irreps, lmax: int) -> np.ndarray:
    """``E[i, j] = 1`` where l-major component ``j`` has the degree of entry ``i`` of ``irreps``:
    per-entry weights ``@ E`` are per-component weights (a matrix product: its derivatives are
    matrix products too, where a gather would differentiate to a scatter)."""
    entry = {ir.l: i for i, (_, ir) in enumerate(irreps)}
    out = np.zeros((len(irreps), (lmax + 1) ** 2))
    for l in range(lmax + 1):
        if l in entry:
            out[entry[l], l * l : (l + 1) ** 2] = 1.0
    out.setflags(write=False)
    return out


@functools.cache
def _gradient_sampling(band: int, n_beta: int, n_alpha: int) -> np.ndarray:
    """``M[d, (j, p)]``: ``c @ M`` samples the tangent vector ``L f`` of ``f = sum_d c_d Y_d``
    in a tangent frame ``(t_1, t_2)``, ``t_1 x t_2 = n``, at each grid point.

    ``L = n x grad`` (the real angular momentum) acts on coefficients by the block-diagonal real
    generators ``so3_generators(l)`` (the same for any per-degree normalisation); composed with
    the component-normalised harmonics at the grid points and projected on the frame, so the
    surface gradient of a function is one matrix product and ``n . (L p x L q)`` is
    ``(L p)_1 (L q)_2 - (L p)_2 (L q)_1``: two components per function instead of three.
    """
    from equitens.so3.generators import so3_generators
    from equitens.so3.s2grid import s2grid_matrix

    grid = S2Grid(n_beta, n_alpha)
    dim = (band + 1) ** 2
    gens = np.zeros((3, dim, dim))
    for l in range(band + 1):
        gens[:, l * l : (l + 1) ** 2, l * l : (l + 1) ** 2] = so3_generators(l)
    y = s2grid_matrix(band, grid, "component").reshape(-1, dim)  # (P, D)
    n = grid.points.reshape(-1, 3)  # Gauss-Legendre nodes: never at the poles (+-y)
    t1 = np.array([0.0, 1.0, 0.0]) - n[:, 1:2] * n
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    frame = np.stack([t1, np.cross(n, t1)], axis=1)  # (P, 2, 3), t1 x t2 = n
    out = np.einsum("ied,pe,pji->djp", gens, y, frame).reshape(dim, -1)
    out.setflags(write=False)
    return out


def _vector_chain(spec: GauntProductBasisSpec, factors, odd, transform: str) -> jax.Array:
    """The chains with vector products (:mod:`equitens.tp.gaunt.vector`), on ``spec.grid``.

    ``g_1 = f_1``, ``h_1 = 0``; ``g_ν = g_{ν-1} f_ν + α_ν V(h_{ν-1}, f_ν)``,
    ``h_ν = h_{ν-1} f_ν + β_ν V(g_{ν-1}, f_ν)``, ``V(p, q) = n . (L p x L q)`` (the vector Gaunt
    product, odd couplings: ``h`` is a pseudo-scalar function). ``L g`` is sampled from the
    coefficients of ``g`` (projected on its full band, exact on ``spec.grid``) by one dense
    matrix product (:func:`_gradient_sampling`).

    Returns:
        ``(2 (P - 1), N, K C, (lmax_out + 1)^2)``: ``g_2..g_P`` then ``h_2..h_P``, projected.
    """
    grid, lmax, p = spec.grid, spec.lmax_in, spec.max_power
    dtype = factors.dtype

    def sample(c, band):
        with jax.default_matmul_precision("float32"):
            v = to_s2grid(c, band, grid, "component", method=transform)
        return v.reshape(v.shape[:-2] + (-1,))

    def project(v, band):
        v = v.reshape(v.shape[:-1] + (grid.n_beta, grid.n_alpha))
        with jax.default_matmul_precision("float32"):
            return from_s2grid(v, band, grid, "component", method=transform)

    def gradient(c, band):  # L f in the tangent frame, (..., 2, points): one matrix product
        m = jnp.asarray(_gradient_sampling(band, grid.n_beta, grid.n_alpha), dtype)
        return jnp.matmul(c, m, precision=_HIGHEST).reshape(c.shape[:-1] + (2, -1))

    def cross(la, lb):  # n . (la x lb) of tangent vectors, point by point
        return la[..., 0, :] * lb[..., 1, :] - la[..., 1, :] * lb[..., 0, :]

    values, grads = sample(factors, lmax), gradient(factors, lmax)  # (P, N, KC, [3,] points)
    g, h, lg = values[0], None, grads[0]
    gs, hs = [], []
    for i in range(1, p):
        f, lf = values[i], grads[i]
        if i == 1:
            g, h = g * f, odd[..., 0, None] * cross(lg, lf)
        else:
            band = i * lmax  # g_i and h_i have band <= i lmax
            lg, lh = gradient(project(g, band), band), gradient(project(h, band), band)
            alpha, beta = odd[..., 2 * i - 3, None], odd[..., 2 * i - 2, None]
            g, h = g * f + alpha * cross(lh, lf), h * f + beta * cross(lg, lf)
        gs.append(g)
        hs.append(h)
    return project(jnp.stack(gs + hs), spec.lmax_out)


def gaunt_product_basis(
    spec: GauntProductBasisSpec,
    weights: jax.Array,
    x: jax.Array,
    species: jax.Array,
    *,
    transform: str = "auto",
) -> jax.Array:
    """Apply the Gaunt product basis (see the module docstring).

    Args:
        spec: the :class:`GauntProductBasisSpec`.
        weights: ``(num_species, spec.weight_numel)``: the output weights (per output entry,
            ``(block, channel)``), then the factor weights ``(chain, factor, entry of A,
            channel)``, then (``"vector_gaunt"``) the odd weights ``(chain, [β_2, α_3, β_3, ...],
            channel)``.
        x: the atomic basis, ``(N, irreps_in.dim)`` in e3nn's mul_ir layout, component
            normalisation (``f_c = sum A_lm Y_lm`` with ``sum_m Y_lm^2 = 2l + 1``).
        species: ``(N,)`` integer species indices into the rows of ``weights``.
        transform: the spherical-grid transform of ``"gaunt_grid"`` and ``"vector_gaunt"``
            (:attr:`equitens.tp.plan.Plan.s2_transform`: ``"auto"``, ``"dense"``, ``"dft"``,
            ``"fft"``); ``"gaunt_fourier"`` uses the dense folded-torus tables.

    Returns:
        ``(N, irreps_out.dim)`` in mul_ir layout.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> spec = GauntProductBasisSpec.create("1x0e + 1x1o", "1x0e", correlation=2)
        >>> w = jnp.array([[0.0, 1.0, 1.0, 0.0, 0.0, 1.0]])  # T_2 = P_0(a0 * (a1 . Y_1))
        >>> x = jnp.array([[2.0, 0.5, -1.0, 3.0]])
        >>> out = gaunt_product_basis(spec, w, x, jnp.array([0]))
        >>> bool(np.isclose(out[0, 0], 0.0))  # the mean of Y_1 over the sphere is zero
        True
        >>> w = jnp.array([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]])  # T_2 = P_0((a1 . Y_1)^2) = |a1|^2
        >>> float(gaunt_product_basis(spec, w, x, jnp.array([0]))[0, 0])
        10.25
    """
    x, weights = checked_inputs("gaunt_product_basis", spec, x, weights)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    n, channels = x.shape[0], spec.num_channels
    onehot = jax.nn.one_hot(species, weights.shape[0], dtype=x.dtype)
    w = jnp.matmul(onehot, weights.astype(x.dtype), precision=_HIGHEST)  # (N, weight_numel)

    lmax = spec.lmax_in
    a = _coefficients(x, spec.irreps_in, lmax)  # (N, C, (lmax + 1)^2)
    products = None
    if spec.max_power >= 2:
        k, p, e = spec.num_mixes, spec.max_power, len(spec.irreps_in)
        # factor-major layout (P, N, K * C, ...), chains as extra channels: each factor and each
        # power is one contiguous slab, and every transform one matrix product
        mix = w[:, spec.output_numel : spec.output_numel + spec.factor_numel]
        mix = mix.reshape(n, k, p, e, channels)
        mix = jnp.transpose(mix, (2, 0, 1, 4, 3)).reshape(p, n, k * channels, e)
        expand = jnp.asarray(_degree_expansion(spec.irreps_in, lmax), x.dtype)
        mix = jnp.matmul(mix, expand, precision=_HIGHEST)  # (P, N, K * C, (lmax + 1)^2)
        factors = (jnp.tile(a, (1, k, 1)) if k > 1 else a)[None] * mix
        if spec.method == "vector_gaunt":
            odd = w[:, spec.output_numel + spec.factor_numel :].reshape(n, k, 2 * p - 3, channels)
            odd = jnp.swapaxes(odd, -1, -2).reshape(n, k * channels, 2 * p - 3)
            products = _vector_chain(spec, factors, odd, transform)  # g_2.., then h_2..
        else:
            sample, project = _transforms(spec, transform)
            values = sample(factors)  # (P, N, K * C, points): one transform of every factor
            g, powers = values[0], []
            for i in range(1, p):  # g_nu = g_{nu-1} f_nu, on the grid
                g = g * values[i]
                powers.append(g)
            products = project(jnp.stack(powers))  # (P - 1, N, K * C, (lout + 1)^2)

    start, out = 0, []
    for feeding, (_, ir) in zip(spec.blocks, spec.irreps_out, strict=True):
        lo, hi = ir.l**2, (ir.l + 1) ** 2
        stacked = jnp.stack(
            [
                a[..., lo:hi]
                if nu == 1
                else products[
                    nu - 2 + (0 if _natural(ir) else spec.max_power - 1),
                    :,
                    chain * channels : (chain + 1) * channels,
                    lo:hi,
                ]
                for nu, chain in feeding
            ],
            axis=1,
        )  # (N, blocks, C, 2L + 1)
        w_out = w[:, start : start + len(feeding) * channels].reshape(n, len(feeding), channels)
        start += len(feeding) * channels
        out.append(jnp.einsum("nkcd,nkc->ncd", stacked, w_out).reshape(n, -1))
    return jnp.concatenate(out, axis=-1) if len(out) > 1 else out[0]
