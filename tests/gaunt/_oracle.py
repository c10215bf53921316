"""Independent oracles for the Gaunt tests: path-by-path numpy contractions with exact tensors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3 import gaunt


def natural(lmax: int, mul: int = 1, pseudo: bool = False) -> str:
    """``mul x 0e + mul x 1o + ...`` (or the other sector ``0o + 1e + ...``)."""
    return " + ".join(f"{mul}x{l}{'eo'[(l + pseudo) % 2]}" for l in range(lmax + 1))


def rand(shape, seed: int, dtype=jnp.float64):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype)


def blocks(x: np.ndarray, irreps) -> list[np.ndarray]:
    out, start = [], 0
    for mul, ir in irreps:
        out.append(x[..., start : start + mul * ir.dim].reshape(x.shape[:-1] + (mul, ir.dim)))
        start += mul * ir.dim
    return out


def contract(spec, x1, x2, tensor=None) -> np.ndarray:
    """``out[i_out] += T(l1, l2, l3)`` contraction per path, channels as the spec's mode says.

    ``tensor(l1, l2, l3)`` defaults to ``equitens.gaunt`` (the Gaunt semantics).
    """
    tensor = tensor or gaunt
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    b1, b2 = blocks(x1, spec.irreps_in1), blocks(x2, spec.irreps_in2)
    lead = x1.shape[:-1]
    out = [np.zeros(lead + (mul, ir.dim)) for mul, ir in spec.irreps_out]
    for p in spec.paths:
        (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(p)
        t = np.asarray(tensor(ir1.l, ir2.l, ir3.l))
        a, b = b1[p.i_in1], b2[p.i_in2]
        if spec.channel_mode == "uvuv":
            c = np.einsum("...ui,...vj,ijk->...uvk", a, b, t).reshape(lead + (-1, ir3.dim))
        else:
            c = np.einsum("...ui,...uj,ijk->...uk", a, b, t)
        out[p.i_out] += c
    return np.concatenate([o.reshape(lead + (-1,)) for o in out], axis=-1)
