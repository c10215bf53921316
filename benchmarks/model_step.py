"""Training-step time of equitens' MACE against the same architecture built from e3nn-jax ops.

One step = energy and forces of a batch (forces by a gradient), an energy + force loss, its
gradient with respect to the parameters (a second derivative), and an optax Adam update; jitted.
Both models have the same hyper-parameters and the same blocks (embedding, linear up, edge
convolution weighted by a radial MLP of a Bessel embedding, scatter-sum, linear to the atomic
basis, symmetric contraction of correlation ``nu`` with per-species weights, linear, per-species
skip, linear / MLP readouts); the e3nn-jax model uses ``e3nn.spherical_harmonics``,
``e3nn.tensor_product`` (messages weighted per irrep chunk, as mace-jax does),
``e3nn.scatter_sum``, ``e3nn.flax.Linear`` and iterated ``e3nn.tensor_product`` for the product
basis. Both are timed in the same process, one after the other, on the same batch.

    python benchmarks/model_step.py --data ../shared/data/ethanol/train.xyz --batch 10

Writes ``benchmarks/results/model_step-<time>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import benchmark, write_json
from equitens.models import build_model, predict
from equitens.models.blocks import edge_features, graph_energy, hidden_irreps
from equitens.nn.radial import RadialMLP


class E3nnMACE(nn.Module):
    """MACE from e3nn-jax operations (the baseline); same hyper-parameters as equitens' MACE."""

    num_species: int
    atomic_energies: tuple
    cutoff: float
    num_channels: int = 32
    lmax: int = 2
    hidden_lmax: int = 1
    correlation: int = 3
    num_interactions: int = 2
    num_radial_basis: int = 8
    radial_mlp: tuple = (64, 64, 64)
    readout_mlp: int = 16
    avg_num_neighbors: float = 1.0

    @nn.compact
    def __call__(self, graph):
        species = graph.nodes["species"]
        vectors, mask, embedding = edge_features(graph, self.cutoff, self.num_radial_basis, 5)
        c = self.num_channels
        sh = e3nn.spherical_harmonics(
            e3nn.Irreps.spherical_harmonics(self.lmax),
            vectors,
            normalize=True,
            normalization="component",
        )
        table = self.param("embedding", nn.initializers.normal(1.0), (self.num_species, c))
        h = e3nn.IrrepsArray(f"{c}x0e", table[species])
        irreps_a = hidden_irreps(c, self.lmax).to_e3nn()
        node_energy = jnp.zeros(species.shape)
        for t in range(self.num_interactions):
            last = t == self.num_interactions - 1
            irreps_out = (
                e3nn.Irreps(f"{c}x0e") if last else hidden_irreps(c, self.hidden_lmax).to_e3nn()
            )
            h_up = e3nn.flax.Linear(h.irreps)(h)
            reach = [e3nn.Irrep(l, p) for l in range(self.lmax + 1) for p in (1, -1)]
            messages = e3nn.tensor_product(h_up[graph.senders], sh, filter_ir_out=reach).regroup()
            mix = RadialMLP(self.radial_mlp, messages.irreps.num_irreps)(embedding) * mask[:, None]
            messages = messages * mix
            summed = (
                e3nn.scatter_sum(messages, dst=graph.receivers, output_size=h.shape[0])
                / self.avg_num_neighbors
            )
            a = e3nn.flax.Linear(irreps_a)(summed)
            b = self._product(a, species, irreps_out, t)
            new_h = e3nn.flax.Linear(irreps_out)(b)
            if t > 0:
                new_h = new_h + e3nn.flax.Linear(irreps_out, num_indexed_weights=self.num_species)(
                    species, h
                )
            h = new_h
            scalars = h.filter(keep="0e")
            if last:
                hidden = e3nn.flax.Linear(f"{self.readout_mlp}x0e")(scalars)
                out = e3nn.flax.Linear("0e")(
                    e3nn.IrrepsArray(hidden.irreps, jax.nn.silu(hidden.array))
                )
            else:
                out = e3nn.flax.Linear("0e")(scalars)
            node_energy = node_energy + out.array[:, 0]
        one = (1.0,) * self.num_species
        zero = (0.0,) * self.num_species
        return graph_energy(graph, node_energy, self.atomic_energies, one, zero)

    def _product(self, a, species, irreps_out, t):
        c = self.num_channels
        x = a.mul_to_axis(c)  # (N, C, 0e + 1o + 2e)
        targets = [ir for _, ir in irreps_out]
        lmax_keep = max(ir.l for ir in targets) + self.lmax
        degrees = [x]
        for nu in range(2, self.correlation + 1):
            keep = (
                targets
                if nu == self.correlation
                else [e3nn.Irrep(l, p) for l in range(lmax_keep + 1) for p in (1, -1)]
            )
            degrees.append(e3nn.tensor_product(degrees[-1], x, filter_ir_out=keep).regroup())
        outputs = []
        for ir in targets:
            chunks = [d.filter(keep=[ir]) for d in degrees]
            chunks = [ch for ch in chunks if ch.irreps.dim > 0]
            stacked = e3nn.concatenate(chunks, axis=-1).regroup()  # (N, C, K x ir)
            k = stacked.irreps.num_irreps
            w = self.param(f"w_{t}_{ir}", nn.initializers.normal(k**-0.5), (self.num_species, k, c))
            arr = stacked.array.reshape(stacked.shape[:-1] + (k, ir.dim))
            outputs.append(
                jnp.einsum("nckd,nkc->ncd", arr, w[species]).reshape(arr.shape[0], c * ir.dim)
            )
        return e3nn.IrrepsArray(irreps_out, jnp.concatenate(outputs, axis=-1))


def _e3nn_predict(model, params, graph):
    def energy(r):
        e = model.apply(params, graph._replace(nodes={**graph.nodes, "positions": r}))
        return e.sum(), e

    g, e = jax.grad(energy, has_aux=True)(graph.nodes["positions"])
    return {"energy": e, "forces": -g}


def train_step_fn(model, prediction, optimizer):
    def loss(params, graph):
        out = prediction(model, params, graph)
        w = graph.globals["weight"]
        n = jnp.maximum(graph.n_node, 1)
        e_loss = jnp.sum(w * ((out["energy"] - graph.globals["energy"]) / n) ** 2) / jnp.sum(w)
        f_loss = jnp.mean((out["forces"] - graph.nodes["forces"]) ** 2)
        return e_loss + 10.0 * f_loss

    def step(params, opt_state, graph):
        value, grads = jax.value_and_grad(loss)(params, graph)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/ethanol/train.xyz")
    )
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--lmax", type=int, default=2)
    parser.add_argument("--correlation", type=int, default=3)
    parser.add_argument("--interactions", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["equitens", "e3nn"], default=None)
    parser.add_argument(
        "--product-algorithm", choices=["dense", "blocked", "kernel"], default="blocked"
    )
    args = parser.parse_args(argv)

    from equitens.data import SpeciesTable, graph_from_configuration, read_extxyz

    configs = read_extxyz(args.data, index=f":{args.batch}")
    table = SpeciesTable.from_configurations(configs)
    graphs = [graph_from_configuration(c, args.cutoff, table, dtype=np.float32) for c in configs]
    batch = jraph.batch_np(graphs)
    n, e = int(batch.n_node.sum()), int(batch.n_edge.sum())
    batch = jraph.pad_with_graphs(batch, n + 1, e + 1, len(graphs) + 1)
    batch = jax.tree_util.tree_map(jnp.asarray, batch)
    e0 = np.zeros(len(table))
    avg = e / n
    hyper = {
        "num_channels": args.channels,
        "lmax": args.lmax,
        "hidden_lmax": 1,
        "correlation": args.correlation,
        "num_interactions": args.interactions,
        "avg_num_neighbors": avg,
        "cutoff": args.cutoff,
        "radial_mlp": (64, 64, 64),  # explicit: both models, whatever the library default
    }
    models = {
        "equitens": (
            build_model(
                {"model": {"name": "mace", "product_algorithm": args.product_algorithm, **hyper}},
                table,
                e0,
            ),
            predict,
        ),
        "e3nn": (
            E3nnMACE(len(table), tuple(e0), **{k: v for k, v in hyper.items()}),
            lambda m, p, g: _e3nn_predict(m, p, g),
        ),
    }
    optimizer = optax.adam(1e-3)
    records = []
    for name, (model, prediction) in models.items():
        if args.only and name != args.only:
            continue
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
        opt_state = optimizer.init(params)
        step = train_step_fn(model, prediction, optimizer)
        m = benchmark(step, params, opt_state, batch, repeats=args.repeats, warmup=1)
        count = sum(x.size for x in jax.tree_util.tree_leaves(params))
        records.append({"model": name, "num_params": count, **m.as_dict()})
        print(
            f"{name:9s} params {count:8d}  step {m.median_s * 1e3:9.1f} ms "
            f"(min {m.min_s * 1e3:.1f})  compile {m.compile_s:.1f} s",
            flush=True,
        )
    if len(records) == 2:
        ratio = records[1]["median_ms"] / records[0]["median_ms"]
        print(f"e3nn-jax / equitens step time: {ratio:.2f}x")
    path = write_json(records, name="model_step", batch=args.batch, nodes=n, edges=e, **hyper)
    print("wrote", path)


if __name__ == "__main__":
    main()
