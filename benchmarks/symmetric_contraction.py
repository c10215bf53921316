"""Second-order step of the MACE product basis, per algorithm, and of one CG edge convolution.

The workload is what training on forces does to a layer: the gradient with respect to the
weights of the squared gradient with respect to the input. Median of 10 jitted calls after one
compile, float32.

    python benchmarks/symmetric_contraction.py --nodes 91 --channels 32 --edges 1500
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
from equitens.nn.symmetric_contraction import (
    ALGORITHMS,
    SymmetricContractionSpec,
    symmetric_contraction,
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=91)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--edges", type=int, default=1500)
    parser.add_argument("--correlation", type=int, default=3)
    args = parser.parse_args(argv)
    c, n = args.channels, args.nodes
    spec = SymmetricContractionSpec.create(
        f"{c}x0e+{c}x1o+{c}x2e", f"{c}x0e+{c}x1o", args.correlation
    )
    x = jax.random.normal(jax.random.PRNGKey(0), (n, spec.irreps_in.dim))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, spec.weight_numel))
    species = jnp.arange(n) % 3
    for algorithm in ALGORITHMS:

        def step(x, w, algorithm=algorithm):
            def inner(x, w):
                return jnp.sum(symmetric_contraction(spec, w, x, species, algorithm) ** 2)

            return jax.grad(lambda w: jnp.sum(jax.grad(inner)(x, w) ** 2))(w)

        median, compile_s = _time(step, x, w)
        print(
            f"product basis {algorithm:8s} {median * 1e3:8.2f} ms   compile {compile_s:5.1f} s",
            flush=True,
        )
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
    print(f"edge convolution (cg)  {median * 1e3:8.2f} ms   compile {compile_s:5.1f} s")


if __name__ == "__main__":
    main()
