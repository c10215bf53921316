"""Stand-ins with the interfaces of the data and models contract, for testing the training code
on its own: a flax pair potential, ``predict`` by autodiff (forces and strain stress), random
small molecules labelled by a reference pair potential, and a padded loader.
"""

from __future__ import annotations

from types import SimpleNamespace

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np

from equitens.train.datasets import Datasets

SPECIES = (1, 8)
E0 = np.array([-1.0, -3.0])


def _edge_vectors(graph):
    pos = graph.nodes["positions"]
    vec = pos[graph.receivers] - pos[graph.senders]
    edge_graph = jnp.repeat(
        jnp.arange(graph.n_edge.shape[0]), graph.n_edge, total_repeat_length=vec.shape[0]
    )
    cell = graph.globals["cell"].astype(vec.dtype)[edge_graph]
    return vec + jnp.einsum("ei,eij->ej", graph.edges["unit_shifts"].astype(vec.dtype), cell)


class PairPotential(nn.Module):
    """E = sum_i E0[z_i] + sum_edges a[z_s] a[z_r] exp(-b r) (zero-length edges give 0)."""

    atomic_energies: tuple[float, ...]
    num_species: int = 2

    @nn.compact
    def __call__(self, graph):
        a = self.param("a", nn.initializers.ones, (self.num_species,), jnp.float32)
        b = self.param("b", nn.initializers.constant(1.0), (), jnp.float32)
        vec = _edge_vectors(graph)
        r2 = jnp.sum(vec**2, -1)
        mask = r2 > 0
        r = jnp.sqrt(jnp.where(mask, r2, 1.0))
        z = graph.nodes["species"]
        pair = jnp.where(mask, a[z[graph.senders]] * a[z[graph.receivers]] * jnp.exp(-b * r), 0.0)
        n_graph = graph.n_node.shape[0]
        edge_graph = jnp.repeat(jnp.arange(n_graph), graph.n_edge, total_repeat_length=r.shape[0])
        node_graph = jnp.repeat(jnp.arange(n_graph), graph.n_node, total_repeat_length=z.shape[0])
        e0 = jnp.asarray(self.atomic_energies, pair.dtype)[z]
        energy = jax.ops.segment_sum(pair, edge_graph, n_graph) + jax.ops.segment_sum(
            e0, node_graph, n_graph
        )
        return energy * (graph.globals["weight"] > 0)


def build_model(config, species, atomic_energies):
    return PairPotential(tuple(float(e) for e in atomic_energies), len(species.atomic_numbers))


def predict(model, params, graph, compute_stress=True):
    def energy_fn(positions, strain):
        deform = jnp.eye(3, dtype=positions.dtype) + strain
        node_graph = jnp.repeat(
            jnp.arange(graph.n_node.shape[0]),
            graph.n_node,
            total_repeat_length=positions.shape[0],
        )
        pos = jnp.einsum("ni,nij->nj", positions, deform[node_graph])
        cell = jnp.einsum("gij,gjk->gik", graph.globals["cell"], deform)
        g = graph._replace(
            nodes={**graph.nodes, "positions": pos}, globals={**graph.globals, "cell": cell}
        )
        energies = model.apply(params, g)
        return jnp.sum(energies), energies

    positions = graph.nodes["positions"]
    strain = jnp.zeros((graph.n_node.shape[0], 3, 3), positions.dtype)
    (_, energies), (de_dpos, de_dstrain) = jax.value_and_grad(
        energy_fn, argnums=(0, 1), has_aux=True
    )(positions, strain)
    out = {"energy": energies, "forces": -de_dpos}
    if compute_stress:
        volume = jnp.abs(jnp.linalg.det(graph.globals["cell"]))
        safe = jnp.where(volume > 0, volume, 1.0)
        out["stress"] = jnp.where(volume[:, None, None] > 0, de_dstrain / safe[:, None, None], 0.0)
    return out


def make_graph(positions, species_index, cutoff, energy=None, forces=None):
    n = len(positions)
    senders, receivers = [], []
    for i in range(n):
        for j in range(n):
            if i != j and np.linalg.norm(positions[i] - positions[j]) < cutoff:
                senders.append(i)
                receivers.append(j)
    e = len(senders)
    return jraph.GraphsTuple(
        nodes={
            "positions": np.asarray(positions, float),
            "species": np.asarray(species_index, np.int32),
            "forces": np.zeros((n, 3)) if forces is None else np.asarray(forces, float),
        },
        edges={"unit_shifts": np.zeros((e, 3))},
        senders=np.asarray(senders, np.int32),
        receivers=np.asarray(receivers, np.int32),
        n_node=np.array([n], np.int32),
        n_edge=np.array([e], np.int32),
        globals={
            "energy": np.array([0.0 if energy is None else energy]),
            "stress": np.zeros((1, 3, 3)),
            "cell": np.zeros((1, 3, 3)),
            "weight": np.ones(1),
            "energy_weight": np.array([0.0 if energy is None else 1.0]),
            "forces_weight": np.array([0.0 if forces is None else 1.0]),
            "stress_weight": np.zeros(1),
        },
    )


REFERENCE_A = np.array([0.8, 1.5])
REFERENCE_B = 0.7


def reference_labels(positions, species, cutoff):
    """Energy and forces of the reference pair potential, in closed form (numpy)."""
    energy = float(np.sum(E0[species]))
    forces = np.zeros_like(positions)
    for i in range(len(positions)):
        for j in range(len(positions)):
            d = positions[j] - positions[i]
            r = np.linalg.norm(d)
            if i == j or r >= cutoff:
                continue
            term = REFERENCE_A[species[i]] * REFERENCE_A[species[j]] * np.exp(-REFERENCE_B * r)
            energy += term
            forces[i] -= REFERENCE_B * term * d / r  # -d(term)/dx_i, term counted for i->j
            forces[j] += REFERENCE_B * term * d / r
    return energy, forces


def make_molecules(count, seed=0, cutoff=4.0):
    """Random molecules of 2-5 atoms (atoms at least 0.8 A apart), with reference labels."""
    rng = np.random.default_rng(seed)
    graphs = []
    while len(graphs) < count:
        n = int(rng.integers(2, 6))
        positions = rng.normal(scale=1.0, size=(n, 3))
        distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        if np.min(distances + 10 * np.eye(n)) < 0.8:
            continue
        species = rng.integers(0, 2, size=n)
        energy, forces = reference_labels(positions, species, cutoff)
        graphs.append(make_graph(positions, species, cutoff, energy, forces))
    return graphs


class Loader:
    """Padded batches of fixed size (one bucket), shuffled by seed."""

    def __init__(self, graphs, batch_size, shuffle, seed):
        self.graphs, self.batch_size = list(graphs), batch_size
        self.shuffle, self.seed = shuffle, seed
        self.n_node = batch_size * max(int(g.n_node[0]) for g in self.graphs) + 1
        self.n_edge = batch_size * max(int(g.n_edge[0]) for g in self.graphs) + 1

    def __len__(self):
        return -(-len(self.graphs) // self.batch_size)

    def __iter__(self):
        order = np.arange(len(self.graphs))
        if self.shuffle:
            order = np.random.default_rng(self.seed).permutation(order)
        for start in range(0, len(order), self.batch_size):
            chunk = [self.graphs[i] for i in order[start : start + self.batch_size]]
            yield jraph.pad_with_graphs(
                jraph.batch_np(chunk), self.n_node, self.n_edge, self.batch_size + 1
            )


def datasets(n_train=12, n_valid=4, n_test=4, seed=0):
    graphs = make_molecules(n_train + n_valid + n_test, seed)
    return Datasets(
        graphs[:n_train],
        graphs[n_train : n_train + n_valid],
        graphs[n_train + n_valid :],
        SimpleNamespace(atomic_numbers=SPECIES),
        E0,
    )


def factories(data=None):
    data = data or datasets()
    return {
        "prepare_data": lambda config: data,
        "build_model": build_model,
        "predict": predict,
        "make_loader": Loader,
    }


def tiny_config(tmp_path, **sections):
    config = {
        "name": "run",
        "output_dir": str(tmp_path),
        "data": {"batch_size": 4, "eval_batch_size": 4},
        "optimizer": {"learning_rate": 0.05, "warmup_steps": 2, "ema_decay": 0.9},
        "training": {"epochs": 2, "progress": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config
