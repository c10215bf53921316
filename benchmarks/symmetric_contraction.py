"""Second-order step of the MACE product basis, per algorithm and family, and of one CG edge
convolution; optionally a full MACE training step per product-basis family.

The workload is what training on forces does to a layer: the gradient with respect to the
weights of the squared gradient with respect to the input. Median of 10 jitted calls after one
compile, float32. Rows: the CG product basis with each algorithm (``dense``, ``blocked``,
``kernel``) and the Gaunt product basis (``gaunt_grid``, ``gaunt_fourier``, ``vector_gaunt``;
products of mixed spherical functions on one grid, :mod:`equitens.nn.gaunt_product_basis`);
``layouts``: the first product ``A (x) A`` alone, unrolled, in the mul_ir and ir_mul layouts
(forward, and the gradient of the squared gradient of a linear readout of it).

    python benchmarks/symmetric_contraction.py --nodes 91 --channels 32 --edges 1500
    python benchmarks/symmetric_contraction.py --lmax 3 --channels 64 --skip kernel,conv
    python benchmarks/symmetric_contraction.py --lmax 3 --channels 64 --skip kernel,conv \
        --model-step ../shared/data/ethanol/train.xyz

``--model-step`` times one jitted MACE training step (energies, forces by a gradient, an
energy + force loss, its parameter gradient, an Adam update; ``benchmarks/model_step.py``) on the
first ``--batch`` frames of an extxyz file, for ``product_method`` ``cg`` (``blocked``),
``gaunt_grid``, ``gaunt_fourier`` and ``vector_gaunt``, with the same other hyper-parameters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from equitens.conv import edge_convolution
from equitens.nn.symmetric_contraction import product_basis_spec, symmetric_contraction
from equitens.nn.vanishing_blocks import evaluated_products
from equitens.so3.layout import mul_ir_to_ir_mul
from equitens.tp.plan import Plan
from equitens.tp.registry import tensor_product_kernel

# (label, method, algorithm) of the product-basis rows
ROWS = (
    ("dense", "cg", "dense"),
    ("blocked", "cg", "blocked"),
    ("kernel", "cg", "kernel"),
    ("gaunt_grid", "gaunt_grid", "gaunt"),
    ("gaunt_fourier", "gaunt_fourier", "gaunt"),
    ("vector_gaunt", "vector_gaunt", "gaunt"),
)


def _time(f, *args, repeats=10):
    f = jax.jit(f)
    start = time.perf_counter()
    jax.block_until_ready(f(*args))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)), compile_s


def _natural(c: int, lmax: int) -> str:
    return "+".join(f"{c}x{l}{'eo'[l % 2]}" for l in range(lmax + 1))


def product_basis_rows(args) -> None:
    c, n = args.channels, args.nodes
    rows = [
        (label + (f" K={k}" if algorithm == "gaunt" else ""), method, algorithm, k)
        for label, method, algorithm in ROWS
        if label not in args.skip
        for k in (args.mixes if algorithm == "gaunt" else [1])
    ]
    for label, method, algorithm, mixes in rows:
        spec = product_basis_spec(
            _natural(c, args.lmax),
            _natural(c, args.lmax_out),
            args.correlation,
            method,
            algorithm,
            mixes,
        )
        x = jax.random.normal(jax.random.PRNGKey(0), (n, spec.irreps_in.dim))
        std = jnp.asarray(spec.weight_init_std(), jnp.float32)
        w = jax.random.normal(jax.random.PRNGKey(1), (3, spec.weight_numel)) * std
        species = jnp.arange(n) % 3

        def step(x, w, spec=spec, algorithm=algorithm, species=species):
            def inner(x, w):
                return jnp.sum(symmetric_contraction(spec, w, x, species, algorithm) ** 2)

            return jax.grad(lambda w: jnp.sum(jax.grad(inner)(x, w) ** 2))(w)

        median, compile_s = _time(step, x, w)
        print(
            f"product basis {label:18s} {median * 1e3:8.2f} ms   compile {compile_s:5.1f} s   "
            f"{spec.weight_numel} weights/species",
            flush=True,
        )


def layout_rows(args) -> None:
    """The first product ``A (x) A`` of the basis, unrolled, in each layout: forward and the
    second-order step (the ``layouts`` rows; the basis runs in ir_mul where it can)."""
    spec = product_basis_spec(
        _natural(args.channels, args.lmax),
        _natural(args.channels, args.lmax_out),
        args.correlation,
        "cg",
    )
    product = evaluated_products(spec)[0]
    plan = Plan(cg_algorithm="sparse")
    x = jax.random.normal(jax.random.PRNGKey(5), (args.nodes, product.irreps_in2.dim))
    readout = jax.random.normal(jax.random.PRNGKey(6), (args.nodes, product.irreps_out.dim))
    for layout in ("mul_ir", "ir_mul"):
        kernel = tensor_product_kernel(product, plan, layout)
        a = x if layout == "mul_ir" else mul_ir_to_ir_mul(x, product.irreps_in2)

        def second_order(a, kernel=kernel):
            def energy(a):  # a linear readout of T_2, as the weights of the basis are
                return jnp.sum(kernel(a, a) * readout)

            return jax.grad(lambda a: jnp.sum(jax.grad(energy)(a) ** 2))(a)

        forward, _ = _time(lambda a, kernel=kernel: kernel(a, a), a, repeats=20)
        median, compile_s = _time(second_order, a)
        print(
            f"A (x) A unrolled, {layout}  forward {forward * 1e3:6.2f} ms   2nd order "
            f"{median * 1e3:7.2f} ms   compile {compile_s:5.1f} s   "
            f"({len(product.paths)} paths)",
            flush=True,
        )


def conv_row(args) -> None:
    c = args.channels
    conv = edge_convolution(f"{c}x0e+{c}x1o", f"{c}x0e+{c}x1o+{c}x1e+{c}x2e+{c}x2o", 2)
    h = jax.random.normal(jax.random.PRNGKey(2), (args.edges, 4 * c))
    v = jax.random.normal(jax.random.PRNGKey(3), (args.edges, 3))
    weights = jax.random.normal(jax.random.PRNGKey(4), (args.edges, conv.weight_numel))

    def conv_step(h, v, weights):
        def inner(h, v, weights):
            return jnp.sum(conv(h, v, weights) ** 2)

        return jax.grad(
            lambda w: sum(jnp.sum(g**2) for g in jax.grad(inner, argnums=(0, 1))(h, v, w))
        )(weights)

    median, compile_s = _time(conv_step, h, v, weights)
    print(f"edge convolution (cg)        {median * 1e3:8.2f} ms   compile {compile_s:5.1f} s")


def model_step_rows(args) -> None:
    import optax

    from benchmarks.model_step import _batch, train_step_fn
    from equitens.data import SpeciesTable, read_extxyz
    from equitens.models import build_model, predict

    configs = read_extxyz(args.model_step, index=f":{args.batch}")
    table = SpeciesTable.from_configurations(configs)
    batch, n, e = _batch(configs, table, args.cutoff, np.float32)
    print(f"MACE training step: {n} nodes, {e} edges, lmax {args.lmax}, {args.channels} channels")
    runs = [
        (method, k)
        for method in ("cg", "gaunt_grid", "gaunt_fourier", "vector_gaunt")
        if f"mace_{method}" not in args.skip
        for k in (args.mixes if method != "cg" else [1])
    ]
    for method, mixes in runs:
        hyper = {
            "name": "mace",
            "num_channels": args.channels,
            "lmax": args.lmax,
            "hidden_lmax": args.lmax_out,
            "correlation": args.correlation,
            "num_interactions": 2,
            "avg_num_neighbors": e / n,
            "cutoff": args.cutoff,
            "radial_mlp": (64, 64, 64),
            "product_method": method,
            "product_mixes": mixes,
        }
        model = build_model({"model": hyper}, table, np.zeros(len(table)))
        params = jax.jit(model.init)(jax.random.PRNGKey(0), batch)
        optimizer = optax.adam(1e-3)
        step = train_step_fn(model, predict, optimizer)
        median, compile_s = _time(step, params, optimizer.init(params), batch, repeats=7)
        print(
            f"MACE step, product_method {method:14s}"
            + (f" K={mixes}" if method != "cg" else "    ")
            + f" {median * 1e3:8.1f} ms   "
            f"compile {compile_s:5.1f} s",
            flush=True,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=91)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--edges", type=int, default=1500)
    parser.add_argument("--correlation", type=int, default=3)
    parser.add_argument("--lmax", type=int, default=2, help="degree of the atomic basis A")
    parser.add_argument("--lmax-out", type=int, default=1, help="degree of the outputs")
    parser.add_argument(
        "--mixes", default="1", help="chains of the Gaunt basis, comma-separated: one row each"
    )
    parser.add_argument(
        "--skip",
        default="",
        help="rows to skip, comma-separated: dense, blocked, kernel, gaunt_grid, gaunt_fourier, "
        "vector_gaunt, layouts, conv, mace_cg, mace_gaunt_grid, mace_gaunt_fourier, "
        "mace_vector_gaunt",
    )
    parser.add_argument("--model-step", default=None, help="extxyz file: time MACE steps too")
    parser.add_argument("--batch", type=int, default=10, help="frames of --model-step")
    parser.add_argument("--cutoff", type=float, default=5.0)
    args = parser.parse_args(argv)
    args.skip = set(filter(None, args.skip.split(",")))
    args.mixes = [int(k) for k in args.mixes.split(",")]
    product_basis_rows(args)
    if "layouts" not in args.skip:
        layout_rows(args)
    if "conv" not in args.skip:
        conv_row(args)
    if args.model_step:
        model_step_rows(args)


if __name__ == "__main__":
    main()
