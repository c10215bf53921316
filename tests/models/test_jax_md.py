"""JAX MD energy functions (:mod:`equitens.jax_md`) against the ASE calculator, in float64.

The same model gives the same energy and forces through a JAX MD neighbour list as through the
calculator's graph: in free space (every pair listed, also those beyond the cutoff, which the
envelope must silence), in a periodic box (minimum image) and in fractional coordinates, for the
Dense, Sparse and OrderedSparse formats. The neighbour lists here are built by hand in JAX MD's
layout; with jax-md installed (``pip install 'equitens[jax-md]'``), its own lists, an NVE run,
the guide page's example (``"jax_md.md"``) and ``benchmarks/md_step.py`` are checked too.
"""

from __future__ import annotations

import dataclasses

import ase.io
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.md.velocitydistribution import Stationary

from equitens import data

try:
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # ASE < 3.26
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
from equitens.calculator import EquitensCalculator
from equitens.jax_md import init_params, neighbor_edges, neighbor_energy_fn, run_steps
from equitens.models import build_model


@dataclasses.dataclass(frozen=True)
class _Format:
    name: str


@jax.tree_util.register_pytree_node_class
class _Neighbors:
    """A neighbour list in JAX MD's layout (its ``idx``, and ``format`` as static data, as
    ``jax_md.partition.NeighborList``), padded with ``N``."""

    def tree_flatten(self):
        return (self.idx,), self.format

    @classmethod
    def tree_unflatten(cls, fmt, children):
        neighbors = cls.__new__(cls)
        neighbors.idx, neighbors.format = children[0], fmt
        return neighbors

    def __init__(self, pairs: np.ndarray, n: int, fmt: str, padding: int = 3):
        self.format = _Format(fmt)
        receivers, senders = pairs
        if fmt == "OrderedSparse":
            keep = receivers < senders
            receivers, senders = receivers[keep], senders[keep]
        if fmt == "Dense":
            width = max(np.bincount(receivers, minlength=n).max(), 1) + padding
            idx = np.full((n, width), n)
            for i in range(n):
                row = senders[receivers == i]
                idx[i, : len(row)] = row
            self.idx = jnp.asarray(idx)
        else:
            pad = np.full((2, padding), n)
            self.idx = jnp.asarray(np.concatenate([np.stack([receivers, senders]), pad], axis=1))


def _all_pairs(n: int) -> np.ndarray:
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return np.stack([i, j])


def _model(numbers, energies, cutoff, lmax=2, interactions=2):
    config = {
        "model": {
            "name": "mace",
            "cutoff": cutoff,
            "num_channels": 4,
            "lmax": lmax,
            "correlation": 2,
            "num_interactions": interactions,
            "radial_mlp": [8],
        }
    }
    return build_model(config, numbers, energies)


def _compare(atoms, numbers, cutoff, displacement, R, scale=1.0, formats=None):
    """Energy and forces of the calculator and of the JAX MD function agree (forces / scale:
    with fractional coordinates the gradient is taken with respect to R / scale)."""
    model = _model(numbers, [-1.0 * k for k in range(1, len(numbers) + 1)], cutoff)
    params = EquitensCalculator.init_params(model, atoms, numbers, cutoff, jax.random.PRNGKey(3))
    params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
    atoms.calc = EquitensCalculator(model, params, numbers, cutoff)
    species = jnp.asarray(atoms.calc.table.index(atoms.numbers))
    energy = neighbor_energy_fn(model, params, species, displacement)
    expected_e, expected_f = atoms.get_potential_energy(), atoms.get_forces()
    assert np.abs(expected_f).max() > 1e-3
    for fmt in ("Sparse", "OrderedSparse", "Dense") if formats is None else formats:
        neighbors = _Neighbors(_all_pairs(len(atoms)), len(atoms), fmt)
        e, g = jax.jit(jax.value_and_grad(energy))(R, neighbors)
        np.testing.assert_allclose(float(e), expected_e, rtol=0, atol=1e-10)
        np.testing.assert_allclose(-np.asarray(g) / scale, expected_f, rtol=0, atol=1e-10)
    return energy


def test_free_space_molecule_matches_the_calculator():
    frames = ase.io.read(data.default_dataset_path("molecule"), index=":20")
    atoms = [a for a in frames if len(a) > 1][0]
    lengths = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    cutoff = 2.5
    assert lengths.max() > cutoff  # pairs beyond the cutoff are listed too
    _compare(atoms, (1, 6, 8), cutoff, lambda a, b: a - b, jnp.asarray(atoms.positions))


def _copper():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))  # 32 atoms, box 7.2 A
    atoms.rattle(0.1, seed=1)
    atoms.wrap()
    return atoms, 7.2


def test_periodic_box_and_fractional_coordinates_match_the_calculator():
    atoms, box = _copper()
    cutoff = 3.4  # below half the box: the minimum image is the only image in range

    def periodic(a, b):
        d = a - b
        return d - box * jnp.round(d / box)

    _compare(atoms, (29,), cutoff, periodic, jnp.asarray(atoms.positions))

    def fractional(a, b):
        d = a - b
        return box * (d - jnp.round(d))

    _compare(
        atoms,
        (29,),
        cutoff,
        fractional,
        jnp.asarray(atoms.positions / box),
        scale=box,
        formats=("Sparse",),
    )


def test_padding_and_bad_input():
    model = _model((1,), [0.0], 3.0, lmax=1, interactions=1)
    R = jnp.array([[0.0, 0, 0], [0.8, 0, 0], [0.0, 0.9, 0]])
    species = jnp.zeros(3, int)
    neighbors = _Neighbors(_all_pairs(3), 3, "Sparse", padding=5)
    params = init_params(model, jax.random.PRNGKey(0), R, neighbors, species, lambda a, b: a - b)
    energy = neighbor_energy_fn(model, params, species, lambda a, b: a - b)
    fewer = _Neighbors(_all_pairs(3), 3, "Sparse", padding=1)
    assert float(energy(R, neighbors)) == pytest.approx(float(energy(R, fewer)), abs=1e-12)
    hessian = jax.jit(jax.jacrev(jax.grad(energy)))(R, neighbors)  # through the padding too
    assert np.all(np.isfinite(hessian))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        energy(R[:, :2], neighbors)
    with pytest.raises(ValueError, match="one entry per atom"):
        energy(R[:2], neighbors)
    neighbors.format = _Format("Triangular")
    with pytest.raises(ValueError, match="unknown neighbour-list format 'Triangular'"):
        neighbor_edges(neighbors, 3)


def test_with_jax_md_itself():
    """jax-md's own neighbour list (receivers first in ``idx``), and a short NVE run on the
    device that conserves the energy."""
    jax_md = pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    from jax_md import partition, quantity, simulate, space

    atoms, box = _copper()
    cutoff = 3.4
    displacement, shift = space.periodic(box)
    energy = _compare(atoms, (29,), cutoff, displacement, jnp.asarray(atoms.positions), formats=())
    R = jnp.asarray(atoms.positions)
    expected = atoms.get_potential_energy()
    for fmt in (partition.Sparse, partition.OrderedSparse, partition.Dense):
        neighbor_fn = partition.neighbor_list(
            displacement, box, r_cutoff=cutoff, dr_threshold=0.4, format=fmt
        )
        neighbors = neighbor_fn.allocate(R)
        assert float(energy(R, neighbors)) == pytest.approx(expected, abs=1e-10)

    neighbor_fn = partition.neighbor_list(displacement, box, cutoff, 0.4, format=partition.Sparse)
    init, apply = simulate.nve(energy, shift, dt=1e-3)
    state = init(jax.random.PRNGKey(0), R, mass=63.5, kT=0.01, neighbor=neighbor_fn.allocate(R))

    def total(state, neighbors):
        kinetic = quantity.kinetic_energy(momentum=state.momentum, mass=state.mass)
        return energy(state.position, neighbors) + kinetic

    run = run_steps(apply, 100)
    neighbors = neighbor_fn.allocate(R)
    start = total(state, neighbors)
    state, neighbors = run(state, neighbors)
    assert not neighbors.did_buffer_overflow
    assert float(jnp.max(jnp.abs(state.position - R))) > 1e-4  # the atoms moved
    assert float(total(state, neighbors)) == pytest.approx(float(start), abs=1e-5)
    assert jax_md is not None


def test_jax_md_stress_is_minus_the_calculator_stress():
    """Through ``space.periodic_general`` (a strained, rattled copper box in fractional
    coordinates), JAX MD's ``quantity.stress`` differentiates the energy function with respect
    to the box: it equals the calculator's stress with JAX MD's sign (the opposite of ASE's)."""
    pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    from jax_md import partition, quantity, space

    atoms, _ = _copper()
    atoms.set_cell(atoms.cell * [1.0, 1.02, 0.98], scale_atoms=True)
    box = jnp.asarray(np.array(atoms.cell).T)  # JAX MD: lattice vectors are columns
    displacement, _ = space.periodic_general(box, fractional_coordinates=True)
    cutoff = 3.4
    fractional = jnp.asarray(atoms.get_scaled_positions())
    energy = _compare(atoms, (29,), cutoff, displacement, fractional, formats=())
    neighbor_fn = partition.neighbor_list(
        displacement, box, cutoff, 0.3, format=partition.Sparse, fractional_coordinates=True
    )
    neighbors = neighbor_fn.allocate(fractional)
    expected = atoms.get_stress(voigt=False)
    assert np.abs(expected).max() > 1e-4
    assert float(energy(fractional, neighbors)) == pytest.approx(
        atoms.get_potential_energy(), abs=1e-10
    )
    stress = quantity.stress(energy, fractional, box, neighbor=neighbors)
    np.testing.assert_allclose(np.asarray(stress), -expected, rtol=0, atol=1e-12)


def _copper_checkpoint(folder, atoms, cutoff):
    """A checkpoint of an untrained copper MACE, as ``equitens train`` writes one (float64)."""
    from equitens.train import load_config
    from equitens.train.checkpoint import save_checkpoint

    overrides = ["dtype=float64", f"model.cutoff={cutoff}", "model.num_channels=4"]
    overrides += ["model.lmax=1", "model.num_interactions=1", "model.radial_mlp=[8]"]
    overrides += ["model.avg_num_neighbors=12.0", "model.scale=1.0", "model.shift=0.0"]
    config = load_config(overrides=overrides)
    model = build_model(config, (29,), [-3.0])
    params = EquitensCalculator.init_params(model, atoms, (29,), cutoff, jax.random.PRNGKey(5))
    state = {
        "config": config,
        "params": params,
        "species": np.array([29]),
        "atomic_energies": np.array([-3.0]),
    }
    return save_checkpoint(folder / "cu.ckpt", state)


def test_run_md_in_a_periodic_cell(tmp_path):
    """``run_md`` (``equitens md --engine jax-md``) in a strained periodic cell: the first frame
    has the calculator's energy and forces (JAX MD's fractional coordinates give Cartesian forces
    and positions back), and NVE conserves the energy over 40 steps."""
    pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    from equitens.jax_md import run_md

    atoms, _ = _copper()
    atoms.set_cell(atoms.cell * [1.0, 1.02, 0.98], scale_atoms=True)
    checkpoint = _copper_checkpoint(tmp_path, atoms, 3.4)
    frames = []
    end = run_md(
        checkpoint,
        atoms,
        steps=40,
        ensemble="nve",
        timestep_fs=1.0,
        temperature_K=300,
        interval=10,
        write_frame=frames.append,
    )
    assert len(frames) == 5 and end is frames[-1]
    reference = atoms.copy()
    reference.calc = EquitensCalculator.from_checkpoint(checkpoint)
    first = frames[0]
    np.testing.assert_allclose(first.positions, atoms.positions, atol=1e-10)
    np.testing.assert_allclose(first.get_forces(), reference.get_forces(), atol=1e-10)
    assert first.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-9)
    drawn = atoms.copy()  # the momenta of the ASE engine, the same seed
    thermalize_momenta(drawn, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(drawn)
    np.testing.assert_allclose(first.get_momenta(), drawn.get_momenta(), atol=1e-6)
    step = end.get_scaled_positions(wrap=False) - atoms.get_scaled_positions(wrap=False)
    moved = np.abs((step - np.round(step)) @ np.asarray(atoms.cell)).max()  # minimum image
    assert 1e-3 < moved < 1.0
    totals = [f.get_total_energy() for f in frames]
    assert max(totals) - min(totals) < 1e-3
    langevin = run_md(checkpoint, atoms, steps=20, ensemble="langevin", interval=10)
    assert np.all(np.isfinite(langevin.positions))
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic in all three directions or in none"):
        run_md(checkpoint, atoms, steps=1)


def test_the_guide_page_and_the_benchmark(tmp_path, monkeypatch):
    """``docs/guide/jax_md.md`` prints what it says (it trains a short run into ``runs/``), and
    ``benchmarks/md_step.py`` times that run with both integrators."""
    pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    from benchmarks import md_step
    from tests._docs import GUIDE, check_examples

    monkeypatch.chdir(tmp_path)
    namespace = check_examples(GUIDE / "jax_md.md")
    structure = tmp_path / "start.xyz"
    ase.io.write(structure, namespace["atoms"])
    result = md_step.main(
        [
            "--checkpoint",
            str(namespace["run"]["run_dir"]),
            "--structure",
            str(structure),
            "--steps",
            "50",
            "--out",
            str(tmp_path / "md.json"),
        ]
    )
    methods = [record["method"] for record in result["records"]]
    assert methods == ["ase", "jax_md"]
    assert all(record["step_ms"] > 0 for record in result["records"])
    assert abs(result["records"][1]["energy_drift_eV"]) < 0.01


def test_run_md_at_constant_pressure(tmp_path):
    """``run_md(ensemble="npt")`` (JAX MD's ``npt_nose_hoover``): the cell moves, and every
    frame (its cell, Cartesian positions, energy and forces) is what the calculator gives on
    that frame; a free-space structure is refused."""
    pytest.importorskip("jax_md", reason="jax-md is not installed (pip install jax-md)")
    from equitens.jax_md import run_md

    atoms, _ = _copper()
    checkpoint = _copper_checkpoint(tmp_path, atoms, 3.4)
    frames = []
    npt = {"ensemble": "npt", "timestep_fs": 1.0, "pressure_GPa": 1.0, "barostat_fs": 100.0}
    run_md(checkpoint, atoms, steps=20, interval=10, write_frame=frames.append, **npt)
    assert len(frames) == 3
    assert abs(frames[-1].get_volume() - atoms.get_volume()) > 1e-3 * atoms.get_volume()
    calc = EquitensCalculator.from_checkpoint(checkpoint)
    for frame in frames:
        reference = frame.copy()
        reference.calc = calc
        assert frame.get_potential_energy() == pytest.approx(
            reference.get_potential_energy(), abs=1e-9
        )
        np.testing.assert_allclose(frame.get_forces(), reference.get_forces(), atol=1e-9)
    free = atoms.copy()
    free.pbc = False
    with pytest.raises(ValueError, match="'npt' needs a cell periodic in all three directions"):
        run_md(checkpoint, free, steps=1, ensemble="npt")
    # the untrained model pulls the cell in: past 20 steps it is narrower than twice the
    # cutoff, where JAX MD's nearest-image pairs miss neighbours; the run stops and says so
    with pytest.raises(ValueError, match=r"after \d+ steps the cell's widths are"):
        run_md(checkpoint, atoms, steps=200, interval=10, **npt)
    with pytest.raises(ValueError, match="at the start the cell's widths are"):
        run_md(checkpoint, bulk("Cu", "fcc", a=3.6, cubic=True), steps=1)  # 3.6 A wide
