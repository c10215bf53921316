"""Pieces shared by the potentials: irreps bookkeeping, edge features, message passing, energies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from equitens.conv import edge_convolution
from equitens.models.graph import edge_mask, edge_vectors, graph_mask, node_graph_index
from equitens.nn.radial import RadialMLP, radial_embedding
from equitens.so3.irreps import IntoIrreps, Irrep, Irreps
from equitens.tp.plan import DEFAULT_PLAN, Plan

__all__ = [
    "MessagePassing",
    "edge_features",
    "graph_energy",
    "hidden_irreps",
    "reachable_irreps",
]


def hidden_irreps(channels: int, lmax: int, both_parities: bool = False) -> Irreps:
    """``C x 0e + C x 1o + C x 2e + ...`` to ``lmax`` (``both_parities``: also ``1e, 2o, ...``).

    Examples:
        >>> hidden_irreps(4, 2)
        4x0e+4x1o+4x2e
        >>> hidden_irreps(4, 1, both_parities=True)
        4x0e+4x1o+4x1e
    """
    out = []
    for l in range(lmax + 1):
        natural = 1 if l % 2 == 0 else -1
        out.append((channels, Irrep(l, natural)))
        if both_parities and l > 0:
            out.append((channels, Irrep(l, -natural)))
    return Irreps(out)


def reachable_irreps(
    irreps: Irreps, lmax_sh: int, lmax_out: int, channels: int, keep: IntoIrreps | None = None
) -> Irreps:
    """The irreps ``x (x) Y_{0..lmax_sh}`` reaches up to ``lmax_out``, ``channels`` each, sorted.

    ``keep``: only the irreps of these (a message of irreps the next layer does not read is
    wasted work, and some families cannot produce every parity).

    Examples:
        >>> reachable_irreps(Irreps("2x0e"), 2, 2, 2)
        2x0e+2x1o+2x2e
        >>> reachable_irreps(Irreps("2x0e"), 2, 2, 2, keep="0e + 2e + 3o")
        2x0e+2x2e
    """
    found = {
        ir3
        for _, ir1 in irreps
        for _, ir2 in Irreps.spherical_harmonics(lmax_sh)
        for ir3 in ir1 * ir2
        if ir3.l <= lmax_out
    }
    if keep is not None:
        found &= {ir for _, ir in Irreps(keep)}
    return Irreps([(channels, ir) for ir in sorted(found)])


def edge_features(graph: jraph.GraphsTuple, cutoff: float, num_basis: int, p: int):
    """Edge vectors, their padding mask and radial embedding (zero on padding edges).

    Args:
        graph: a batch.
        cutoff: the cutoff radius.
        num_basis: number of Bessel functions.
        p: degree of the polynomial envelope.

    Returns:
        ``(vectors (E, 3), mask (E,), embedding (E, num_basis))``.

    Examples:
        >>> import numpy as np, jraph
        >>> g = jraph.GraphsTuple(nodes={"positions": np.array([[0.0, 0, 0], [1.0, 0, 0]])},
        ...     edges={}, globals={}, senders=np.array([0, 0]), receivers=np.array([1, 0]),
        ...     n_node=np.array([2]), n_edge=np.array([2]))
        >>> vectors, mask, emb = edge_features(g, 5.0, 4, 5)
        >>> mask.tolist(), emb.shape, float(abs(emb[1]).sum())
        ([1.0, 0.0], (2, 4), 0.0)
    """
    vectors = edge_vectors(graph)
    mask = edge_mask(vectors)
    r2 = jnp.sum(vectors * vectors, axis=-1)
    r = jnp.sqrt(jnp.where(mask > 0, r2, 1.0))  # safe at zero length: no NaN gradient
    return vectors, mask, radial_embedding(r, cutoff, num_basis, p) * mask[:, None]


class MessagePassing(nn.Module):
    """``sum_{edges j->i} conv(h_j, r_ij, R(|r_ij|)) / avg_num_neighbors``: the equivariant message.

    Attributes:
        irreps_in: irreps of the node features.
        irreps_out: irreps of the messages (each reachable, multiplicity of the input).
        lmax: degree of the edge's spherical harmonics.
        conv_method: the edge-convolution family (``"cg"``, ``"so2"``, ...).
        radial_mlp: hidden sizes of the radial network.
        avg_num_neighbors: the normalisation of the sum.
        param_dtype: dtype of the weights.
        plan: how the convolution's kernels run (:class:`~equitens.tp.plan.Plan`).
    """

    irreps_in: IntoIrreps
    irreps_out: IntoIrreps
    lmax: int
    conv_method: str
    radial_mlp: Sequence[int]  # no defaults here: the models' hyper-parameters are the source
    avg_num_neighbors: float
    param_dtype: Any = jnp.float32
    plan: Plan = DEFAULT_PLAN

    @nn.compact
    def __call__(self, h, senders, receivers, vectors, mask, embedding) -> jax.Array:
        """Messages summed into the receivers, ``(N, irreps_out.dim)``."""
        conv = edge_convolution(
            self.irreps_in, self.irreps_out, self.lmax, method=self.conv_method, plan=self.plan
        )
        weights = RadialMLP(
            tuple(self.radial_mlp), conv.weight_numel, self.param_dtype, name="radial"
        )(embedding)
        weights = weights * mask[:, None]  # padding edges: exactly zero messages
        summed = conv.aggregate(
            h, senders, receivers, vectors.astype(h.dtype), weights.astype(h.dtype)
        )
        return summed / self.avg_num_neighbors


def graph_energy(
    graph: jraph.GraphsTuple,
    node_energy: jax.Array,
    atomic_energies: Sequence[float],
    scale: Sequence[float] | float,
    shift: Sequence[float] | float,
) -> jax.Array:
    """Per-graph energy ``sum_nodes E0[z] + scale[z] * e + shift[z]``, zero for padding graphs.

    Args:
        graph: the batch (for species, node counts and the padding mask).
        node_energy: ``(N,)`` the network's output per node.
        atomic_energies: ``E0`` per species.
        scale: per-species scale (one number: the same for every species).
        shift: per-species shift (one number: the same for every species).

    Returns:
        ``(G,)`` energies.

    Examples:
        >>> import numpy as np, jax.numpy as jnp, jraph
        >>> g = jraph.GraphsTuple(
        ...     nodes={"positions": np.zeros((3, 3)), "species": np.array([0, 1, 0])},
        ...     edges={}, globals={"weight": np.array([1.0, 0.0])}, senders=None, receivers=None,
        ...     n_node=np.array([2, 1]), n_edge=np.array([0, 0]))
        >>> graph_energy(g, jnp.ones(3), [-1.0, -2.0], [2.0, 2.0], [0.5, 0.5]).tolist()
        [2.0, 0.0]
    """
    species = jnp.asarray(graph.nodes["species"])
    dtype = node_energy.dtype
    table = jnp.asarray(atomic_energies, dtype)
    e0 = table[species]
    scale, shift = (
        jnp.broadcast_to(jnp.asarray(value, dtype), table.shape)[species]
        for value in (scale, shift)
    )
    per_node = e0 + scale * node_energy + shift
    num_graphs = jnp.shape(graph.n_node)[0]
    energies = jax.ops.segment_sum(per_node, node_graph_index(graph), num_segments=num_graphs)
    return energies * graph_mask(graph, dtype)
