"""Shared helpers of the nn tests: random inputs and O(3) actions, oracles from e3nn-jax."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import expm
from scipy.spatial.transform import Rotation

from equitens.so3.generators import so3_generators


def random_input(irreps, key: int, shape: tuple[int, ...] = (7,)) -> e3nn.IrrepsArray:
    """A float64 IrrepsArray of standard normal entries."""
    irreps = e3nn.Irreps(irreps)
    array = jax.random.normal(jax.random.PRNGKey(key), shape + (irreps.dim,), jnp.float64)
    return e3nn.IrrepsArray(irreps, array)


def orthogonal_matrices(key: int) -> list[np.ndarray]:
    """A random rotation, the inversion, and a random improper rotation (float64)."""
    rotation = Rotation.random(random_state=key).as_matrix()
    return [rotation, -np.eye(3), -rotation]


def wigner_d(l: int, rotation: np.ndarray) -> np.ndarray:
    """Wigner matrix of a proper rotation: ``expm(theta * n . G)`` from equitens' generators."""
    rotvec = Rotation.from_matrix(rotation).as_rotvec()
    d = expm(np.einsum("a,aij->ij", rotvec, so3_generators(l)))
    if l == 1:  # the real basis is (x, y, z): D^1(R) = R, a check of the convention
        np.testing.assert_allclose(d, rotation, atol=1e-12)
    return d


def act(x: e3nn.IrrepsArray, matrix: np.ndarray) -> e3nn.IrrepsArray:
    """The action of an O(3) matrix (rotation times optional inversion) on an IrrepsArray."""
    det = np.linalg.det(matrix)
    rotation = matrix * np.sign(det)
    chunks = []
    for (mul, ir), sl in zip(x.irreps, x.irreps.slices(), strict=True):
        block = x.array[..., sl].reshape(x.shape[:-1] + (mul, ir.dim))
        d = wigner_d(ir.l, rotation) * (ir.p if det < 0 else 1)
        chunks.append(jnp.einsum("ij,...uj->...ui", d, block).reshape(x.shape[:-1] + (-1,)))
    return e3nn.IrrepsArray(x.irreps, jnp.concatenate(chunks, -1) if chunks else x.array)


def e3nn_linear_to_flat(params: dict, irreps_in, blocks, num_species: int | None = None):
    """Convert the parameters of ``e3nn_jax.flax.Linear`` to equitens' flat ``(w, b)`` vectors.

    e3nn names its weights ``w[i_in,i_out] MULxIR,MULxIR`` (one per pair of regrouped input
    entry and simplified output entry); equitens has one ``(mul_in, mul_out)`` block per irrep,
    whose columns are e3nn's output entries of that irrep in order.
    """
    lead = () if num_species is None else (num_species,)
    weights, biases = {}, []
    for name in sorted(params, key=lambda n: tuple(int(i) for i in n[2 : n.index("]")].split(","))):
        value = params[name]
        if name.startswith("b["):
            biases.append(value)
            continue
        ir = str(e3nn.Irreps(name.split(" ")[1].split(",")[0])[0].ir)
        weights.setdefault(ir, []).append(value)
    flat = [jnp.concatenate(weights[ir], axis=-1).reshape(lead + (-1,)) for ir, _ in blocks]
    w = jnp.concatenate(flat, axis=-1) if flat else jnp.zeros(lead + (0,))
    b = jnp.concatenate(biases, axis=-1) if biases else jnp.zeros(lead + (0,))
    return w, b
