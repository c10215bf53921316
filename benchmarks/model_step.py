"""Training-step time of equitens' MACE against the same architecture built from e3nn-jax ops
and from cuequivariance-jax ops.

One step = energy and forces of a batch (forces by a gradient), an energy + force loss, its
gradient with respect to the parameters (a second derivative), and an optax Adam update; jitted.
The three models have the same hyper-parameters and the same blocks (embedding, linear up, edge
convolution weighted by a radial MLP of a Bessel embedding, scatter-sum, linear to the atomic
basis, symmetric contraction of correlation ``nu`` with per-species weights, linear, per-species
skip, linear / MLP readouts), with equitens' ``RadialMLP`` and ``edge_features`` in all three:

* ``equitens``: :class:`equitens.models.MACE` (``--product-algorithm``, default the model's own);
* ``e3nn`` (:class:`E3nnMACE`): ``e3nn.spherical_harmonics``, ``e3nn.tensor_product`` (messages
  weighted per irrep chunk, as mace-jax does), ``e3nn.scatter_sum``, ``e3nn.flax.Linear`` and
  iterated ``e3nn.tensor_product`` for the product basis;
* ``cue`` (:class:`CueMACE`): cuequivariance descriptors run by
  ``cuequivariance_jax.segmented_polynomial``: ``channelwise_tensor_product`` for the convolution,
  ``symmetric_contraction`` (per-species weights through the polynomial's indexing) for the
  product basis, ``linear`` for the linears, ``cuex.spherical_harmonics``; method ``uniform_1d``
  (CUDA kernels, gather and scatter inside) on a GPU with ``cuequivariance_ops_jax``, else
  ``naive`` (``--cue-method``). Its features stay in cue's ``ir_mul`` layout throughout (the
  boundaries are scalars, the same in both layouts, so there is no transpose to time). Skipped,
  with the reason printed, when cuequivariance-jax does not import. Before it is timed, its
  energy must be invariant and its forces equivariant under a random rotation, in float64
  (``--check-frames`` frames; relative errors printed, tolerance :data:`CHECK_TOL`).

All are timed in the same process, one after the other, on the same batch:

    python benchmarks/model_step.py --data ../shared/data/ethanol/train.xyz --batch 10

Writes ``benchmarks/results/model_step-<time>.json`` (``--out``) and prints a table: parameter
count, step time (median, min, IQR), compile time, peak memory (``memory_analysis``) and
``equitens/x``, the equitens step time over each model's (below 1: equitens is faster).
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

from benchmarks._workloads import cue_method, text_table
from benchmarks.timing import benchmark, write_json
from equitens.models import build_model, predict
from equitens.models.blocks import edge_features, graph_energy, hidden_irreps
from equitens.nn.radial import RadialMLP
from equitens.so3.irreps import Irreps


class _BaselineHyper(nn.Module):
    """The hyper-parameters both baseline MACEs share with equitens' MACE."""

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


class E3nnMACE(_BaselineHyper):
    """MACE from e3nn-jax operations (the baseline); same hyper-parameters as equitens' MACE."""

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


class CueMACE(_BaselineHyper):
    """MACE from cuequivariance-jax operations; same hyper-parameters as equitens' MACE.

    Every equivariant operation is a cuequivariance descriptor run by
    ``cuequivariance_jax.segmented_polynomial``: ``descriptors.channelwise_tensor_product`` for
    the edge convolution (one weight per path and channel from the same radial MLP of the same
    Bessel embedding, only the natural-parity messages the atomic basis keeps, one output block
    per path as e3nn-jax's messages; ``1 / avg_num_neighbors`` folded into the descriptor),
    ``descriptors.symmetric_contraction`` of degrees ``1..correlation`` for the product basis
    (weights per species and channel, gathered per node by the polynomial's indexing),
    ``descriptors.linear`` for every linear (the per-species skip with its weights gathered per
    node) and ``cuex.spherical_harmonics``.

    The features stay in cue's ``ir_mul`` layout from end to end: the model's boundaries (the
    species embedding, the scalar readouts, the harmonics of multiplicity 1) are the same arrays
    in ``ir_mul`` and ``mul_ir``, so no transpose is needed anywhere.

    Attributes:
        method: ``segmented_polynomial`` method of the convolution and the product basis:
            ``"uniform_1d"`` (CUDA kernel; gather, scatter and the per-species weights inside the
            kernel), ``"naive"`` (pure JAX, with a JAX gather, ``segment_sum`` and ``w[species]``)
            or ``"naive_indexed"`` (``"naive"`` given the indices, as ``"uniform_1d"`` is). The
            linears always run ``"naive"`` (``uniform_1d`` takes one mode; a linear has two).
    """

    method: str = "naive"

    @nn.compact
    def __call__(self, graph):
        import cuequivariance as cue
        import cuequivariance_jax as cuex

        species = graph.nodes["species"]
        vectors, mask, embedding = edge_features(graph, self.cutoff, self.num_radial_basis, 5)
        c = self.num_channels
        irreps = lambda text: cue.Irreps("O3", str(text))  # noqa: E731
        vectors = cuex.RepArray(irreps("1o"), vectors, cue.ir_mul)
        sh = cuex.spherical_harmonics(list(range(self.lmax + 1)), vectors).array  # (E, dim)
        table = self.param("embedding", nn.initializers.normal(1.0), (self.num_species, c))
        h, irreps_h = table[species], irreps(f"{c}x0e")  # scalars: ir_mul == mul_ir
        irreps_sh = irreps(Irreps.spherical_harmonics(self.lmax))
        irreps_a = irreps(hidden_irreps(c, self.lmax))
        node_energy = jnp.zeros(species.shape, embedding.dtype)
        for t in range(self.num_interactions):
            last = t == self.num_interactions - 1
            irreps_out = irreps(f"{c}x0e" if last else hidden_irreps(c, self.hidden_lmax))
            h_up = self._linear(h, irreps_h, irreps_h, f"linear_up_{t}")
            messages, irreps_msg = self._convolution(
                h_up, irreps_h, sh, irreps_sh, irreps_a, graph, embedding, mask
            )
            a = self._linear(messages, irreps_msg, irreps_a, f"linear_a_{t}")
            b = self._product(a, species, irreps_a, irreps_out, t)
            new_h = self._linear(b, irreps_out, irreps_out, f"linear_b_{t}")
            if t > 0:
                new_h = new_h + self._linear(h, irreps_h, irreps_out, f"skip_{t}", species)
            h, irreps_h = new_h, irreps_out
            scalars = h[:, :c]  # the 0e block comes first, (1, c): the same in both layouts
            if last:
                mlp = irreps(f"{self.readout_mlp}x0e")
                hidden = self._linear(scalars, irreps(f"{c}x0e"), mlp, f"readout_{t}_0")
                out = self._linear(jax.nn.silu(hidden), mlp, irreps("0e"), f"readout_{t}_1")
            else:
                out = self._linear(scalars, irreps(f"{c}x0e"), irreps("0e"), f"readout_{t}")
            node_energy = node_energy + out[:, 0]
        one = (1.0,) * self.num_species
        zero = (0.0,) * self.num_species
        return graph_energy(graph, node_energy, self.atomic_energies, one, zero)

    def _run(self, poly, inputs, rows, indices=None, method="naive"):
        """``segmented_polynomial`` of one output of ``rows`` rows in the inputs' dtype."""
        import cuequivariance_jax as cuex

        dtype = jnp.result_type(*inputs)
        (out,) = cuex.segmented_polynomial(
            poly,
            list(inputs),
            [jax.ShapeDtypeStruct((rows, poly.outputs[0].size), dtype)],
            indices=indices,
            method=method,
        )
        return out

    def _linear(self, x, irreps_in, irreps_out, name, species=None):
        """``descriptors.linear`` (``ir_mul``); per-species weights when ``species`` is given."""
        import cuequivariance as cue

        poly = cue.descriptors.linear(irreps_in, irreps_out).polynomial
        numel = poly.inputs[0].size
        if species is None:
            w = self.param(name, nn.initializers.normal(1.0), (numel,))
            return self._run(poly, [w, x], len(x))
        w = self.param(name, nn.initializers.normal(1.0), (self.num_species, numel))
        return self._run(poly, [w[species], x], len(x))

    def _convolution(self, h, irreps_h, sh, irreps_sh, irreps_a, graph, embedding, mask):
        """Channelwise tensor product of ``h[senders]`` and the harmonics, summed per receiver."""
        import cuequivariance as cue

        keep = [ir for _, ir in irreps_a]  # natural parity only: what the atomic basis keeps
        descriptor = cue.descriptors.channelwise_tensor_product(irreps_h, irreps_sh, keep, True)
        descriptor = descriptor.squeeze_modes().flatten_coefficient_modes()
        poly = (descriptor * (1.0 / self.avg_num_neighbors)).polynomial
        irreps_msg = descriptor.outputs[0].irreps  # one block of C channels per path
        weights = RadialMLP(self.radial_mlp, poly.inputs[0].size)(embedding) * mask[:, None]
        weights = weights.astype(h.dtype)
        n = len(h)
        senders, receivers = graph.senders, graph.receivers
        if self.method == "naive":  # a JAX gather and segment_sum (cue's indexing is slower here)
            out = self._run(poly, [weights, h[senders], sh], len(senders))
            return jax.ops.segment_sum(out, receivers, num_segments=n), irreps_msg
        indices = [None, senders, None, receivers]  # gather and scatter inside the kernel
        method = self.method.removesuffix("_indexed")
        return self._run(poly, [weights, h, sh], n, indices, method), irreps_msg

    def _product(self, a, species, irreps_a, irreps_out, t):
        """``descriptors.symmetric_contraction`` of degrees ``1..correlation``, per species."""
        import cuequivariance as cue

        degrees = tuple(range(1, self.correlation + 1))
        descriptor = cue.descriptors.symmetric_contraction(irreps_a, irreps_out, degrees)
        poly = descriptor.polynomial
        numel = poly.inputs[0].size  # (reduced basis elements x channels)
        w = self.param(f"product_{t}", nn.initializers.normal(1.0), (self.num_species, numel))
        if self.method == "naive":
            return self._run(poly, [w[species], a], len(a))
        method = self.method.removesuffix("_indexed")
        return self._run(poly, [w, a], len(a), [species, None, None], method)


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


MODELS = ("equitens", "e3nn", "cue")
CHECK_TOL = 1e-9
"""Largest relative error of the cue model's rotation check (float64): energy ``max|E(Rx) - E(x)|
/ max|E(x)|`` and forces ``max|F(Rx) - F(x) R^T| / max|F(x)|``; a broken layout is off by O(1)."""


def cue_import_error() -> str | None:
    """Why cuequivariance-jax cannot be used here (its import error), or None when it imports."""
    try:
        import cuequivariance  # noqa: F401
        import cuequivariance_jax  # noqa: F401
    except Exception as error:  # ImportError, or a broken install
        return f"{type(error).__name__}: {error} (pip install cuequivariance cuequivariance-jax)"
    return None


def _batch(configs, table, cutoff, dtype):
    from equitens.data import graph_from_configuration

    graphs = [graph_from_configuration(c, cutoff, table, dtype=dtype) for c in configs]
    batch = jraph.batch_np(graphs)
    n, e = int(batch.n_node.sum()), int(batch.n_edge.sum())
    batch = jraph.pad_with_graphs(batch, n + 1, e + 1, len(graphs) + 1)
    return jax.tree_util.tree_map(jnp.asarray, batch), n, e


def rotation_check(model, configs, table, cutoff, seed=0) -> dict:
    """Energy invariance and force equivariance of ``model`` under a random rotation, in float64.

    The model is initialised and evaluated in float64 (its parameters cast to float64) on a batch
    of ``configs`` and on the same batch with every position rotated by a random proper rotation
    ``R``.

    Returns:
        ``{"energy_err", "force_err", "ok"}``: the relative errors (see :data:`CHECK_TOL`) and
        whether both are below it.
    """
    with jax.enable_x64(True):
        batch, _, _ = _batch(configs, table, cutoff, np.float64)
        params = jax.jit(model.init)(jax.random.PRNGKey(1), batch)
        params = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64), params)
        predict_fn = jax.jit(lambda p, g: _e3nn_predict(model, p, g))
        q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
        rot = q * np.sign(np.diag(r))  # Haar-random orthogonal ...
        rot = rot * np.linalg.det(rot)  # ... and proper
        positions = batch.nodes["positions"]
        rotated = batch._replace(nodes={**batch.nodes, "positions": positions @ rot.T})
        a, b = predict_fn(params, batch), predict_fn(params, rotated)
        e_err = float(jnp.abs(b["energy"] - a["energy"]).max() / jnp.abs(a["energy"]).max())
        f_err = float(jnp.abs(b["forces"] - a["forces"] @ rot.T).max() / jnp.abs(a["forces"]).max())
    return {"energy_err": e_err, "force_err": f_err, "ok": max(e_err, f_err) < CHECK_TOL}


def format_table(records: list[dict]) -> str:
    """One row per model: parameters, step times, compile time, peak memory, equitens / model."""
    head = ["model", "params", "step ms", "min ms", "IQR ms", "compile s", "peak MiB"]
    head += ["equitens/x", "status"]
    rows = []
    for r in records:
        peak, ratio = r.get("peak_bytes"), r.get("equitens_ratio")
        cells = [r["model"], str(r.get("num_params", "-"))]
        for key, spec in (("median_ms", ".1f"), ("min_ms", ".1f"), ("iqr_ms", ".1f")):
            cells.append(_num(r.get(key), spec))
        cells.append(_num(r.get("compile_s"), ".1f"))
        cells.append(_num(None if peak is None else peak / 2**20, ".1f"))
        cells.append(_num(ratio, ".2f"))
        cells.append(r.get("status", "ok")[:70])
        rows.append(cells)
    return text_table(head, rows, left=1)


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv=None) -> dict:
    """Check and time the models, print the table, write the JSON.

    Returns:
        ``{"records", "json"}``: one record per model and the path written.
    """
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
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
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, among {','.join(MODELS)} (default all; cue is skipped, with the "
        "reason printed, when cuequivariance-jax does not import)",
    )
    parser.add_argument("--only", choices=MODELS, default=None, help="just this model")
    parser.add_argument(
        "--product-algorithm",
        choices=["auto", "dense", "blocked", "kernel"],
        default="auto",
        help="the equitens MACE's product basis (auto: the model's default, kernel for cg)",
    )
    parser.add_argument(
        "--cue-method",
        default="auto",
        choices=("auto", "naive", "naive_indexed", "uniform_1d"),
        help="segmented_polynomial method of the cue model's convolution and product basis (auto: "
        "uniform_1d on a GPU with cuequivariance_ops_jax, else naive; naive_indexed: naive "
        "given the indices, uniform_1d's code path)",
    )
    parser.add_argument(
        "--check-frames",
        type=int,
        default=2,
        help="frames of the cue model's float64 rotation check (0: no check)",
    )
    parser.add_argument(
        "--plan",
        default="default",
        help="kernel plan of the equitens model: 'default' or 'key=value,...' of "
        "equitens.tp.plan.Plan (e.g. 'interaction=pallas' for the fused interaction)",
    )
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose among {', '.join(MODELS)}")

    from equitens.data import SpeciesTable, read_extxyz

    configs = read_extxyz(args.data, index=f":{args.batch}")
    table = SpeciesTable.from_configurations(configs)
    batch, n, e = _batch(configs, table, args.cutoff, np.float32)
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
        "radial_mlp": (64, 64, 64),  # explicit: every model, whatever the library default
    }
    skipped: dict[str, str] = {}
    cue_info: dict = {}
    if "cue" in names:
        reason = cue_import_error()
        if reason:
            skipped["cue"] = reason
            print(f"cue skipped: cuequivariance-jax does not import: {reason}", flush=True)
    e3nn_prediction = lambda m, p, g: _e3nn_predict(m, p, g)  # noqa: E731
    models = {
        "equitens": lambda: (
            build_model(
                {
                    "model": {
                        "name": "mace",
                        "product_algorithm": args.product_algorithm,
                        "plan": {} if args.plan == "default" else args.plan,
                        **hyper,
                    }
                },
                table,
                e0,
            ),
            predict,
        ),
        "e3nn": lambda: (E3nnMACE(len(table), tuple(e0), **hyper), e3nn_prediction),
        "cue": lambda: (
            CueMACE(len(table), tuple(e0), **hyper, method=cue_info["method"]),
            e3nn_prediction,
        ),
    }
    optimizer = optax.adam(1e-3)
    records = []
    print(
        f"{len(configs)} frames, {n} nodes, {e} edges; C={args.channels} lmax={args.lmax} "
        f"correlation={args.correlation} interactions={args.interactions}",
        flush=True,
    )
    for name in names:
        if name in skipped:
            records.append({"model": name, "status": f"skipped: {skipped[name]}"})
            continue
        record: dict = {"model": name}
        if name == "cue":
            import cuequivariance_jax as cuex

            cue_info["method"] = record["cue_method"] = cue_method(args.cue_method)
            record["cue_version"] = cuex.__version__
        model, prediction = models[name]()
        if name == "cue" and args.check_frames > 0:
            frames = configs[: args.check_frames]
            check = rotation_check(model, frames, table, args.cutoff)
            record["check"] = check
            print(
                f"cue rotation check (float64, {len(frames)} frames): energy "
                f"{check['energy_err']:.1e}, forces {check['force_err']:.1e} (relative; "
                f"tolerance {CHECK_TOL:.0e})",
                flush=True,
            )
            if not check["ok"]:
                record["status"] = "check failed: not equivariant"
                records.append(record)
                continue
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
        opt_state = optimizer.init(params)
        step = train_step_fn(model, prediction, optimizer)
        m = benchmark(step, params, opt_state, batch, repeats=args.repeats, warmup=1)
        count = sum(x.size for x in jax.tree_util.tree_leaves(params))
        record.update({"num_params": count, **m.as_dict(), "status": "ok"})
        records.append(record)
        peak = m.peak_bytes
        print(
            f"{name:9s} params {count:8d}  step {m.median_s * 1e3:9.1f} ms "
            f"(min {m.min_s * 1e3:.1f})  compile {m.compile_s:.1f} s  peak "
            + ("-" if peak is None else f"{peak / 2**20:.1f} MiB"),
            flush=True,
        )
    times = {r["model"]: r["median_ms"] for r in records if r.get("median_ms")}
    ratios = {}
    if "equitens" in times:
        for r in records:
            if r["model"] in times:
                r["equitens_ratio"] = times["equitens"] / times[r["model"]]
                if r["model"] != "equitens":
                    ratios[f"equitens/{r['model']}"] = r["equitens_ratio"]
    path = write_json(
        records,
        args.out,
        name="model_step",
        batch=args.batch,
        nodes=n,
        edges=e,
        **hyper,
        product_algorithm=args.product_algorithm,
        plan=args.plan,
        cue_method=cue_info.get("method", args.cue_method),
        ratios=ratios,
        skipped=skipped,
        check_tol=CHECK_TOL,
    )
    print()
    print(format_table(records))
    if "equitens" in times and "e3nn" in times:
        print(f"e3nn-jax / equitens step time: {times['e3nn'] / times['equitens']:.2f}x")
    if "equitens" in times and "cue" in times:
        print(
            f"cuequivariance-jax ({cue_info['method']}) / equitens step time: "
            f"{times['cue'] / times['equitens']:.2f}x"
        )
    print("wrote", path)
    return {"records": records, "json": str(path)}


if __name__ == "__main__":
    main()
