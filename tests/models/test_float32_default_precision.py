"""The default models in float32 at DEFAULT matmul precision, as users train and run them.

Every other test runs with x64 and "highest" matmul precision (conftest.py). Here the default MACE
(``build_model({"model": {"name": "mace"}}, ...)``) and the default NequIP are evaluated with
float32 parameters and inputs inside ``jax.default_matmul_precision("default")``, on a molecule
and a periodic cell (realistic distances, padding included), and checked for

- symmetry: energies invariant, forces equivariant under a random rotation, the inversion and an
  improper rotation (plus a translation), to float32 tolerances;
- agreement with the float64 model with the same parameters (the float32 ones, cast exactly) on
  the same float32-representable positions, evaluated at "highest" precision.

Bounds (observed on the 2-core CPU, where DEFAULT float32 matmuls are full float32, over 12
random rotations, each also with the inversion and as an improper rotation; margin ~10x):

- energies: relative ``1e-6`` of the total energy, i.e. about 8 float32 ulps. The total is
  dominated by the isolated-atom energies ``E0`` (~4000 eV here, so one ulp is 5e-4 eV): observed
  8e-8 relative against float64, and 0 to 1 ulp between rotated copies. An energy error of
  this size is what float32 totals carry anyway; the sharper symmetry check is on the forces.
- forces: absolute ``2e-5 * max |F|`` against float64 (observed up to 1.7e-6 for MACE, 1.1e-6
  for NequIP) and ``5e-5 * max |F|`` between rotated copies (observed up to 5.2e-6 for MACE,
  1.1e-6 for NequIP): each float32 run rounds through two interaction blocks and a gradient.

On accelerators DEFAULT precision may use reduced-precision matmul units (TF32 on recent NVIDIA
GPUs, ~1e-3 relative), which these CPU bounds do not cover.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from scipy.spatial.transform import Rotation

from equitens.models import build_model, predict
from tests.models._graphs import SPECIES, batch, ethanol, graph_from_atoms, transform

E0 = np.array([-13.6, -1029.0, -2041.0])  # H, C, O: realistic magnitudes of the total energy
ENERGY_RTOL = 1e-6
FORCES_VS_FLOAT64 = 2e-5  # times max |F|
FORCES_EQUIVARIANCE = 5e-5  # times max |F|


def _periodic_cell():
    """A rattled 2x1x1 diamond supercell with one C replaced by O and H (periodic, ~1.5 A bonds)."""
    atoms = bulk("C", "diamond", a=3.57).repeat((2, 1, 1))
    atoms.set_chemical_symbols(["C", "O", "C", "H"])
    atoms.rattle(0.05, seed=1)
    return atoms


def _graph(cutoff: float, dtype):
    graphs = [graph_from_atoms(a, cutoff, SPECIES) for a in (ethanol(), _periodic_cell())]
    edges = sum(int(g.n_edge[0]) for g in graphs)
    graph = batch(*graphs, pad=(16, edges + 8, 3))  # a padding graph, 3 padding nodes and edges
    positions = np.asarray(graph.nodes["positions"], np.float32).astype(dtype)  # same values
    cell = np.asarray(graph.globals["cell"], np.float32).astype(dtype)
    return graph._replace(
        nodes={**graph.nodes, "positions": positions}, globals={**graph.globals, "cell": cell}
    )


@functools.cache
def _setup(name: str):
    """The float32 model and parameters (initialised as a user would), and the float64 copy."""
    model32 = build_model({"model": {"name": name}}, (1, 6, 8), E0)
    model64 = build_model({"model": {"name": name}, "dtype": "float64"}, (1, 6, 8), E0)
    graph32 = _graph(model32.cutoff, np.float32)
    params32 = jax.jit(model32.init)(jax.random.PRNGKey(0), graph32)
    params64 = jax.tree.map(lambda p: p.astype(jnp.float64), params32)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params32))
    run32 = jax.jit(lambda p, g: predict(model32, p, g, compute_stress=False))
    run64 = jax.jit(lambda p, g: predict(model64, p, g, compute_stress=False))
    return run32, params32, graph32, run64, params64, _graph(model32.cutoff, np.float64)


def _float32(run, params, graph):
    with jax.default_matmul_precision("default"):
        out = run(params, graph)
    assert out["energy"].dtype == jnp.float32 and out["forces"].dtype == jnp.float32
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_float32_agrees_with_float64(name):
    run32, params32, graph32, run64, params64, graph64 = _setup(name)
    out32 = _float32(run32, params32, graph32)
    out64 = {k: np.asarray(v) for k, v in run64(params64, graph64).items()}
    assert out64["energy"].dtype == np.float64
    energy, forces = out64["energy"][:2], out64["forces"]
    assert np.abs(energy).min() > 100 and out64["energy"][2] == 0  # two real graphs, one padding
    scale = np.abs(forces).max()
    assert 0.1 < scale < 1e3 and np.abs(forces[13:]).max() == 0  # padding nodes: no force
    np.testing.assert_allclose(out32["energy"], out64["energy"], rtol=ENERGY_RTOL, atol=0)
    np.testing.assert_allclose(out32["forces"], forces, rtol=0, atol=FORCES_VS_FLOAT64 * scale)


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_float32_energy_invariant_forces_equivariant(name):
    run32, params32, graph32, *_ = _setup(name)
    ref = _float32(run32, params32, graph32)
    scale = np.abs(ref["forces"]).max()
    rotation = Rotation.random(random_state=7).as_matrix()
    for q in (rotation, -np.eye(3), -rotation):
        moved = transform(graph32, q, translation=np.array([0.3, -1.2, 2.0]))
        moved = moved._replace(
            nodes={**moved.nodes, "positions": moved.nodes["positions"].astype(np.float32)},
            globals={**moved.globals, "cell": moved.globals["cell"].astype(np.float32)},
        )
        out = _float32(run32, params32, moved)
        np.testing.assert_allclose(out["energy"], ref["energy"], rtol=ENERGY_RTOL, atol=0)
        np.testing.assert_allclose(
            out["forces"], ref["forces"] @ q.T, rtol=0, atol=FORCES_EQUIVARIANCE * scale
        )
