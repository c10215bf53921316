"""MACE: higher-order equivariant message passing (Batatia et al., NeurIPS 2022).

One interaction ``t`` maps node features ``h`` to new features:

1. ``A = Linear(sum_j conv(Linear(h)_j, r_ij, R(|r_ij|)) / avg_num_neighbors)``: the atomic
   basis, ``C x (0e + 1o + 2e + ...)`` up to ``lmax``; the edge convolution's family is the
   ``conv_method`` option and ``R`` a radial MLP of the Bessel embedding. The convolution only
   computes these natural-parity irreps (the others would be dropped by the linear map), so
   families without the odd paths (``"gaunt_grid"``) serve MACE too;
2. ``B = SymmetricContraction(A, species)``: the product basis, polynomials of degree
   ``1..correlation`` of each channel of ``A`` with per-species weights: CG products
   (``product_method="cg"``, :mod:`equitens.nn.symmetric_contraction`) or the Gaunt product
   basis, products of spherical functions on one grid (``"gaunt_grid"``, ``"gaunt_fourier"``,
   ``"vector_gaunt"`` with the odd couplings; :mod:`equitens.nn.gaunt_product_basis`);
3. ``h' = Linear(B) + Linear_z(h)``: a species-dependent skip connection (from the second
   interaction on).

The hidden features are ``C x (0e + 1o + ...)`` up to ``hidden_lmax``, scalars only after the
last interaction. Each interaction's scalars are read out (linearly, and through a small
SiLU perceptron after the last), summed, then ``E_i = E0[z_i] + scale[z_i] * e_i + shift[z_i]``
and the energy of a graph is the sum over its nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from equitens.models.blocks import (
    MessagePassing,
    edge_features,
    graph_energy,
    hidden_irreps,
    reachable_irreps,
)
from equitens.nn.linen import Linear
from equitens.nn.symmetric_contraction import SymmetricContraction
from equitens.so3.irreps import Irreps
from equitens.tp.plan import DEFAULT_PLAN, Plan

__all__ = ["MACE"]


class MACE(nn.Module):
    """The MACE potential: ``apply(params, graph) -> (G,)`` energies.

    The defaults below are the single source of the MACE hyper-parameters: ``build_model``
    (:data:`equitens.models.MACE_DEFAULTS`) and ``equitens train`` read them from this class.

    Attributes:
        num_species: number of species (rows of the per-species weights).
        atomic_energies: ``E0`` per species (eV), added to each atom's energy.
        cutoff: cutoff radius (Angstrom).
        num_channels: channels ``C`` of every irrep.
        lmax: degree of the edge spherical harmonics and of the atomic basis ``A``.
        hidden_lmax: degree of the hidden features between interactions.
        correlation: highest degree of the product basis (1..3 usual).
        num_interactions: number of interactions.
        num_radial_basis: Bessel functions of the edge length.
        envelope_p: degree of the polynomial envelope.
        radial_mlp: hidden sizes of the radial MLP.
        readout_mlp: hidden size of the last, nonlinear readout.
        avg_num_neighbors: normalisation of the message sum.
        conv_method: edge-convolution family (``"cg"``, ``"so2"``, ...).
        plan: how the edge-convolution kernels run (:class:`~equitens.tp.plan.Plan`; default:
            chunked for the CPU cache on CPU, unchunked on GPU/TPU, chosen when compiled).
        product_method: family of the product basis: ``"cg"`` (every coupling), ``"gaunt_grid"``,
            ``"gaunt_fourier"`` or ``"vector_gaunt"`` (the Gaunt product basis: products of
            spherical functions; ``"vector_gaunt"`` with the odd couplings).
        product_algorithm: ``"auto"`` (default: ``"kernel"`` for ``"cg"``, ``"gaunt"`` for
            the Gaunt methods), ``"blocked"``, ``"dense"``, ``"kernel"`` or ``"gaunt"`` (see
            :mod:`equitens.nn.symmetric_contraction`).
        product_mixes: chains of mixed factors of the Gaunt product basis (its polynomials per
            degree and output irrep; unused by ``"cg"``).
        scale: per-species scale of the network's atomic energies.
        shift: per-species shift.
        param_dtype: dtype of the weights (float32 or float64).

    Examples:
        >>> import jax, numpy as np, jraph
        >>> model = MACE(num_species=1, atomic_energies=(-1.0,), cutoff=3.0, num_channels=4,
        ...     lmax=1, correlation=2, num_interactions=1, radial_mlp=(8,))
        >>> g = jraph.GraphsTuple(nodes={"positions": np.array([[0.0, 0, 0], [1.0, 0.2, 0]]),
        ...     "species": np.array([0, 0])}, edges={}, globals={}, senders=np.array([0, 1]),
        ...     receivers=np.array([1, 0]), n_node=np.array([2]), n_edge=np.array([2]))
        >>> params = jax.jit(model.init)(jax.random.PRNGKey(0), g)
        >>> jax.jit(model.apply)(params, g).shape
        (1,)
    """

    num_species: int
    atomic_energies: Sequence[float]
    cutoff: float = 4.0
    num_channels: int = 16
    lmax: int = 2
    hidden_lmax: int = 1
    correlation: int = 3
    num_interactions: int = 2
    num_radial_basis: int = 8
    envelope_p: int = 5
    radial_mlp: Sequence[int] = (32, 32)
    readout_mlp: int = 16
    avg_num_neighbors: float = 1.0
    conv_method: str = "cg"
    plan: Plan = DEFAULT_PLAN
    product_method: str = "cg"
    product_algorithm: str = "auto"
    product_mixes: int = 1
    scale: Sequence[float] | float = 1.0
    shift: Sequence[float] | float = 0.0
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jax.Array:
        """Energies ``(G,)`` of the graphs of a batch (0 for padding graphs)."""
        dtype = self.param_dtype
        species = jnp.asarray(graph.nodes["species"])
        vectors, mask, embedding = edge_features(
            graph, self.cutoff, self.num_radial_basis, self.envelope_p
        )
        embedding = embedding.astype(dtype)
        c = self.num_channels
        table = self.param("embedding", nn.initializers.normal(1.0), (self.num_species, c), dtype)
        h = table[species]
        irreps_h = Irreps(f"{c}x0e")
        irreps_a = hidden_irreps(c, self.lmax)
        node_energy = jnp.zeros(species.shape, dtype)

        for t in range(self.num_interactions):
            last = t == self.num_interactions - 1
            irreps_out = Irreps(f"{c}x0e") if last else hidden_irreps(c, self.hidden_lmax)
            h_up = Linear(irreps_h, irreps_in=irreps_h, param_dtype=dtype, name=f"linear_up_{t}")(
                h
            ).array
            # only the messages the atomic basis uses (natural parity): the odd-parity paths would
            # be dropped by the linear map to A, and some families (Gaunt) cannot produce them
            irreps_msg = reachable_irreps(irreps_h, self.lmax, self.lmax, c, keep=irreps_a)
            messages = MessagePassing(
                irreps_h,
                irreps_msg,
                self.lmax,
                self.conv_method,
                tuple(self.radial_mlp),
                self.avg_num_neighbors,
                dtype,
                plan=self.plan,
                name=f"message_{t}",
            )(h_up, graph.senders, graph.receivers, vectors, mask, embedding)
            a = Linear(irreps_a, irreps_in=irreps_msg, param_dtype=dtype, name=f"linear_a_{t}")(
                messages
            ).array
            b = SymmetricContraction(
                irreps_out,
                irreps_in=irreps_a,
                correlation=self.correlation,
                num_species=self.num_species,
                method=self.product_method,
                algorithm=self.product_algorithm,
                num_mixes=self.product_mixes,
                plan=self.plan,
                param_dtype=dtype,
                name=f"product_{t}",
            )(a, species)
            new_h = Linear(
                irreps_out, irreps_in=irreps_out, param_dtype=dtype, name=f"linear_b_{t}"
            )(b).array
            if t > 0:
                new_h = (
                    new_h
                    + Linear(
                        irreps_out,
                        irreps_in=irreps_h,
                        num_species=self.num_species,
                        param_dtype=dtype,
                        name=f"skip_{t}",
                    )(h, species).array
                )
            h, irreps_h = new_h, irreps_out
            scalars = h[:, :c]  # the 0e block comes first
            if last:
                hidden = Linear(
                    f"{self.readout_mlp}x0e",
                    irreps_in=f"{c}x0e",
                    param_dtype=dtype,
                    name=f"readout_{t}_0",
                )(scalars)
                hidden = jax.nn.silu(hidden.array)
                out = Linear(
                    "0e",
                    irreps_in=f"{self.readout_mlp}x0e",
                    param_dtype=dtype,
                    name=f"readout_{t}_1",
                )(hidden)
            else:
                out = Linear("0e", irreps_in=f"{c}x0e", param_dtype=dtype, name=f"readout_{t}")(
                    scalars
                )
            node_energy = node_energy + out.array[:, 0]

        return graph_energy(graph, node_energy, self.atomic_energies, self.scale, self.shift)
