"""NequIP: E(3)-equivariant interatomic potential with gated interactions (Batzner et al. 2022).

One interaction maps node features ``h`` to

    ``h' = Gate(Linear(sum_j conv(Linear(h)_j, r_ij, R(|r_ij|)) / avg_num_neighbors) + SC_z(h))``

where the convolution's family is the ``conv_method`` option, ``R`` is a radial MLP of the Bessel
embedding, ``SC_z`` is the species-dependent self-connection (a linear map per species) and the
gate applies SiLU to the scalars and sigmoid gates to the other irreps. The features are
``C x (0e + 1o + 1e + 2e + 2o + ...)`` up to ``lmax`` (with ``parity=False``, only the natural
parities ``0e + 1o + 2e``), restricted to what the convolution can reach. After the last
interaction two linear maps read out an atomic energy from the scalars, and
``E_i = E0[z_i] + scale[z_i] * e_i + shift[z_i]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import e3nn_jax as e3nn
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
from equitens.nn.gate import gate
from equitens.nn.linen import Linear
from equitens.so3.irreps import Irrep, Irreps
from equitens.tp.plan import DEFAULT_PLAN, Plan

__all__ = ["NequIP"]


class NequIP(nn.Module):
    """The NequIP potential: ``apply(params, graph) -> (G,)`` energies.

    The defaults below are the single source of the NequIP hyper-parameters: ``build_model``
    (:data:`equitens.models.NEQUIP_DEFAULTS`) and ``equitens train`` read them from this class.

    Attributes:
        num_species: number of species.
        atomic_energies: ``E0`` per species (eV).
        cutoff: cutoff radius (Angstrom).
        num_channels: channels ``C`` of every irrep.
        lmax: degree of the edge spherical harmonics and of the features.
        parity: features of both parities (``1e``, ``2o``, ...) besides the natural ones.
        num_interactions: number of interactions.
        num_radial_basis: Bessel functions of the edge length.
        envelope_p: degree of the polynomial envelope (NequIP uses 6).
        radial_mlp: hidden sizes of the radial MLP.
        avg_num_neighbors: normalisation of the message sum.
        conv_method: edge-convolution family (``"cg"``, ...).
        plan: how the edge-convolution kernels run (:class:`~equitens.tp.plan.Plan`; default:
            chunked for the CPU cache on CPU, unchunked on GPU/TPU, chosen when compiled).
        scale: per-species scale of the network's atomic energies.
        shift: per-species shift.
        param_dtype: dtype of the weights.

    Examples:
        >>> import jax, numpy as np, jraph
        >>> model = NequIP(num_species=1, atomic_energies=(-1.0,), cutoff=3.0, num_channels=4,
        ...     lmax=1, num_interactions=1, radial_mlp=(8,))
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
    parity: bool = True
    num_interactions: int = 2
    num_radial_basis: int = 8
    envelope_p: int = 6
    radial_mlp: Sequence[int] = (32, 32)
    avg_num_neighbors: float = 1.0
    conv_method: str = "cg"
    plan: Plan = DEFAULT_PLAN
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
        features = hidden_irreps(c, self.lmax, both_parities=self.parity)

        for t in range(self.num_interactions):
            # messages of irreps the features do not hold are useless
            irreps_msg = reachable_irreps(irreps_h, self.lmax, self.lmax, c, keep=features)
            # the gated irreps: the features the message reaches
            gated = Irreps(
                [
                    (mul, ir)
                    for mul, ir in features
                    if ir.l > 0 and any(ir == i for _, i in irreps_msg)
                ]
            )
            num_gates = sum(mul for mul, _ in gated)
            irreps_gate_in = Irreps([(c + num_gates, Irrep(0, 1))] + list(gated))
            h_up = Linear(irreps_h, irreps_in=irreps_h, param_dtype=dtype, name=f"linear_up_{t}")(
                h
            ).array
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
            x = Linear(irreps_gate_in, irreps_in=irreps_msg, param_dtype=dtype, name=f"linear_{t}")(
                messages
            ).array
            skip = Linear(
                irreps_gate_in,
                irreps_in=irreps_h,
                num_species=self.num_species,
                param_dtype=dtype,
                name=f"self_connection_{t}",
            )(h, species)
            x = x + _embed(skip, irreps_gate_in)
            out = gate(e3nn.IrrepsArray(irreps_gate_in.to_e3nn(), x), even_act=jax.nn.silu)
            h, irreps_h = out.array, Irreps(out.irreps)

        scalars = h[:, :c]
        irreps_readout = f"{max(c // 2, 1)}x0e"
        hidden = Linear(irreps_readout, irreps_in=f"{c}x0e", param_dtype=dtype, name="readout_0")(
            scalars
        )
        out = Linear("0e", irreps_in=irreps_readout, param_dtype=dtype, name="readout_1")(hidden)
        return graph_energy(graph, out.array[:, 0], self.atomic_energies, self.scale, self.shift)


def _embed(x: e3nn.IrrepsArray, irreps: Irreps) -> jax.Array:
    """Lay ``x`` out as ``irreps`` (distinct irreps), zeros for the irreps ``x`` lacks."""
    irreps_x = Irreps(x.irreps)
    chunks = {ir: x.array[..., sl] for (_, ir), sl in zip(irreps_x, irreps_x.slices(), strict=True)}
    batch = x.shape[:-1]
    parts = [chunks.get(ir, jnp.zeros(batch + (mul * ir.dim,), x.dtype)) for mul, ir in irreps]
    return jnp.concatenate(parts, axis=-1)
