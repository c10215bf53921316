"""MACE and NequIP: symmetry, padding, forces and stress against finite differences, 2nd order."""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from equitens.models import build_model, predict
from tests.models._graphs import (
    CUTOFF,
    SPECIES,
    batch,
    bulk_cell,
    ethanol,
    graph_from_atoms,
    transform,
)

CONFIGS = {
    "mace": {
        "name": "mace",
        "cutoff": CUTOFF,
        "num_channels": 8,
        "lmax": 2,
        "correlation": 3,
        "num_interactions": 2,
        "radial_mlp": [16],
        "avg_num_neighbors": 8.0,
        "scale": [1.0, 2.0, 0.5],
        "shift": [0.1, -0.2, 0.3],
    },
    "nequip": {
        "name": "nequip",
        "cutoff": CUTOFF,
        "num_channels": 8,
        "lmax": 2,
        "num_interactions": 2,
        "radial_mlp": [16],
        "avg_num_neighbors": 8.0,
    },
}
SMALL = {
    "lmax": 1,
    "num_interactions": 1,
    "num_channels": 4,
}  # for the tests that compile a second derivative
E0 = np.array([-13.6, -1029.0, -2041.0])
BUCKET = (24, 128, 3)  # every batch is padded to this size: one compilation per model


def padded(*atoms_list):
    return batch(*(graph_from_atoms(a, CUTOFF, SPECIES) for a in atoms_list), pad=BUCKET)


@functools.cache
def setup(name: str, dtype: str = "float64", small: bool = False):
    model = build_model(
        {"model": {**CONFIGS[name], **(SMALL if small else {})}, "dtype": dtype}, (1, 6, 8), E0
    )
    graph = padded(ethanol(), bulk_cell())
    if dtype == "float32":  # the float64 parameters, cast (no second initialisation to compile)
        params = jax.tree_util.tree_map(
            lambda p: p.astype(jnp.float32), setup(name, "float64", small)[1]
        )
        return model, params, graph, jax.jit(lambda p, g: predict(model, p, g))
    # random weights of the right shapes (eval_shape traces init without compiling it): no block
    # stays at a special (e.g. zero) initial value
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), graph)
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = tree.unflatten(
        [0.7 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys, strict=True)]
    )
    run = jax.jit(lambda p, g: predict(model, p, g))
    return model, params, graph, run


def numpy_out(out):
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_energy_invariant_forces_stress_equivariant(name):
    model, params, graph, run = setup(name)
    ref = numpy_out(run(params, graph))
    assert np.all(np.isfinite(ref["energy"])) and np.abs(ref["forces"]).max() > 1e-3
    assert (
        np.abs(ref["stress"][1]).max() > 1e-4 and np.abs(ref["stress"][0]).max() == 0
    )  # molecule: no stress
    assert (
        ref["energy"][2] == 0 and np.abs(ref["forces"][13:]).max() == 0
    )  # the padding graph and nodes
    rotation = Rotation.random(random_state=3).as_matrix()
    for q in (rotation, -np.eye(3), -rotation):
        out = numpy_out(run(params, transform(graph, q, translation=np.array([0.3, -1.2, 2.0]))))
        np.testing.assert_allclose(out["energy"], ref["energy"], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(out["forces"], ref["forces"] @ q.T, atol=1e-10)
        np.testing.assert_allclose(out["stress"], q @ ref["stress"] @ q.T, atol=1e-10)


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_padding_changes_nothing(name):
    """Ethanol alone (15 padding nodes, 72 padding edges) equals ethanol batched with a cell."""
    model, params, graph, run = setup(name)
    ref = numpy_out(run(params, graph))
    alone = padded(ethanol())
    out = numpy_out(run(params, alone))
    n = 9
    np.testing.assert_allclose(out["energy"][0], ref["energy"][0], rtol=1e-13)
    np.testing.assert_array_equal(out["energy"][1:], 0.0)
    np.testing.assert_allclose(out["forces"][:n], ref["forces"][:n], atol=1e-11)
    np.testing.assert_array_equal(out["forces"][n:], 0.0)
    np.testing.assert_array_equal(out["stress"], 0.0)


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_energy_is_extensive_in_the_batch(name):
    """Each graph's energy is independent of the other graphs of the batch."""
    model, params, graph, run = setup(name)
    ref = numpy_out(run(params, graph))
    alone = numpy_out(run(params, padded(bulk_cell())))
    np.testing.assert_allclose(alone["energy"][0], ref["energy"][1], rtol=1e-13)
    np.testing.assert_allclose(alone["forces"][:4], ref["forces"][9:13], atol=1e-11)
    np.testing.assert_allclose(alone["stress"][0], ref["stress"][1], atol=1e-12)


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_forces_are_finite_differences_of_energy(name):
    model, params, graph, run = setup(name)
    forces = np.asarray(run(params, graph)["forces"])

    def energy(r):
        return float(
            run(params, graph._replace(nodes={**graph.nodes, "positions": r}))["energy"].sum()
        )

    rng = np.random.default_rng(0)
    r0 = np.asarray(graph.nodes["positions"])
    h = 1e-5
    for _ in range(4):
        d = rng.normal(size=r0.shape)
        fd = (energy(r0 + h * d) - energy(r0 - h * d)) / (2 * h)
        np.testing.assert_allclose(-np.sum(forces * d), fd, rtol=1e-6, atol=1e-7)


def _strained(atoms, eps):
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return atoms


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_stress_is_finite_difference_under_strain(name):
    """ASE convention: sigma = (1/V) dE/d eps, energies of strained cells rebuilt from scratch."""
    model, params, graph, run = setup(name)
    atoms = bulk_cell()
    stress = np.asarray(run(params, padded(atoms))["stress"][0])

    def energy(a):
        return float(run(params, padded(a))["energy"][0])

    volume = atoms.get_volume()
    h = 1e-5
    for i, j in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:
        eps = np.zeros((3, 3))
        eps[i, j] = eps[j, i] = h
        e_plus, e_minus = energy(_strained(atoms, eps)), energy(_strained(atoms, -eps))
        derivative = (e_plus - e_minus) / (2 * h)  # d E / d eps along eps_ij (+ eps_ji)
        expected = derivative / volume / (2 if i != j else 1)
        np.testing.assert_allclose(stress[i, j], expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_second_order_gradients_of_force_loss(name):
    """d/dparams of a force loss (a gradient of a gradient) is finite, matches finite differences.

    On a one-interaction lmax=1 variant of the test model: the second derivative of the lmax=2
    convolution takes ~20 s to compile on a loaded 2-core machine (the slow test below covers it).
    """
    _second_order(*setup(name, small=True)[:3])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_second_order_gradients_of_force_loss_lmax2(name):
    _second_order(*setup(name)[:3])


def _second_order(model, params, graph):
    target = jnp.asarray(np.random.default_rng(1).normal(size=graph.nodes["positions"].shape))

    def loss(p):
        out = predict(model, p, graph, compute_stress=False)
        return jnp.sum((out["forces"] - target) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    grads = value_and_grad(params)[1]
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves)
    assert sum(float(jnp.abs(x).sum()) for x in leaves) > 0
    direction = jax.tree_util.tree_map(
        lambda x: jax.random.normal(jax.random.PRNGKey(x.size), x.shape, x.dtype), params
    )
    h = 1e-5

    def shifted(s):
        return jax.tree_util.tree_map(lambda p, d: p + s * h * d, params, direction)

    fd = (float(value_and_grad(shifted(1))[0]) - float(value_and_grad(shifted(-1))[0])) / (2 * h)
    analytic = sum(
        float(jnp.sum(g * d))
        for g, d in zip(leaves, jax.tree_util.tree_leaves(direction), strict=True)
    )
    np.testing.assert_allclose(analytic, fd, rtol=1e-5)


@pytest.mark.parametrize("name", ["mace", pytest.param("nequip", marks=pytest.mark.slow)])
def test_float32_agrees_with_float64(name):
    _, params64, graph, run64 = setup(name, small=True)
    model32, params32, _, run32 = setup(name, "float32", small=True)
    graph32 = graph._replace(
        nodes={**graph.nodes, "positions": graph.nodes["positions"].astype(np.float32)},
        globals={**graph.globals, "cell": graph.globals["cell"].astype(np.float32)},
    )

    def energy_forces(model):
        return jax.jit(lambda p, g: predict(model, p, g, compute_stress=False))

    out32 = numpy_out(energy_forces(model32)(params32, graph32))
    out64 = numpy_out(energy_forces(setup(name, small=True)[0])(params64, graph))
    assert out32["energy"].dtype == np.float32 and out32["forces"].dtype == np.float32
    np.testing.assert_allclose(out32["energy"], out64["energy"], rtol=1e-5)
    scale = np.abs(out64["forces"]).max()
    np.testing.assert_allclose(out32["forces"], out64["forces"], atol=1e-4 * scale)


def test_edges_beyond_the_cutoff_carry_nothing():
    """A neighbour list built with a longer cutoff gives the same energies and forces."""
    model, params, graph, run = setup("mace")
    near = batch(graph_from_atoms(ethanol(), CUTOFF, SPECIES), pad=BUCKET)
    far_graph = graph_from_atoms(ethanol(), CUTOFF + 1.0, SPECIES)
    assert far_graph.n_edge[0] > near.n_edge[0]
    far = batch(far_graph, pad=BUCKET)
    a, b = numpy_out(run(params, near)), numpy_out(run(params, far))
    np.testing.assert_allclose(b["energy"], a["energy"], rtol=1e-13)
    np.testing.assert_allclose(b["forces"], a["forces"], atol=1e-11)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"name": "schnet"}, "unknown model name 'schnet'"),
        ({"name": "mace", "num_chanels": 8}, "did you mean 'num_channels'"),
        ({"name": "mace", "conv_method": "nope"}, "conv_method 'nope' is not available"),
        ({"name": "mace", "correlation": 0}, "model.correlation must be >= 1"),
        ({"name": "mace", "cutoff": -1.0}, "model.cutoff must be a positive number"),
        ({"name": "mace", "lmax": 1, "hidden_lmax": 2}, "must not exceed model.lmax"),
        ({"name": "mace", "scale": [1.0, 2.0]}, "one number per species (3)"),
        ({"name": "nequip", "num_layers": 2}, "unknown nequip hyper-parameter model.num_layers"),
    ],
)
def test_bad_configuration_is_a_clear_error(section, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model({"model": section}, (1, 6, 8), E0)


def test_keys_of_the_other_model_are_ignored():
    """One configuration file can switch model.name (the training defaults hold MACE's keys)."""
    model = build_model(
        {"model": {"name": "nequip", "correlation": 2, "hidden_lmax": 1}}, (1, 6, 8), E0
    )
    assert type(model).__name__ == "NequIP"


def test_bad_atomic_energies_is_a_clear_error():
    with pytest.raises(ValueError, match="atomic_energies must be 3 finite numbers"):
        build_model({"model": {"name": "mace"}}, (1, 6, 8), [0.0, 1.0])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gaunt_grid", "so2", "cp"])
def test_mace_with_other_convolution_families(method):
    """MACE only asks the convolution for natural-parity messages, which every family reaches.

    The exact families are equivariant to rounding. CP is equivariant only to its fit: its
    factors reach a relative Frobenius error of at most ``tol`` (``cp_edge_convolution``'s
    default), which bounds each message's equivariance error by ``2 tol |x| |Y|``. Its outputs
    are held to ``10 tol`` of their largest entry (a broken equivariance is off by the outputs'
    own scale).
    """
    from equitens.conv import available_conv_methods
    from equitens.conv.cp import cp_edge_convolution

    assert method in available_conv_methods()  # every family ships with equitens
    model = build_model(
        {"model": {**CONFIGS["mace"], "conv_method": method}, "dtype": "float64"}, (1, 6, 8), E0
    )
    graph = padded(ethanol(), bulk_cell())
    params = jax.jit(model.init)(jax.random.PRNGKey(0), graph)
    run = jax.jit(lambda p, g: predict(model, p, g))
    ref = numpy_out(run(params, graph))
    q = -Rotation.random(random_state=5).as_matrix()
    out = numpy_out(run(params, transform(graph, q)))
    expected = {
        "energy": ref["energy"],
        "forces": ref["forces"] @ q.T,
        "stress": q @ ref["stress"] @ q.T,
    }
    cp_tol = inspect.signature(cp_edge_convolution).parameters["tol"].default
    for key, atol in {"energy": 1e-9, "forces": 1e-9, "stress": 1e-10}.items():
        if method == "cp":
            atol = 10 * cp_tol * np.abs(expected[key]).max()
        rtol = 1e-12 if key == "energy" else 1e-7
        np.testing.assert_allclose(out[key], expected[key], rtol=rtol, atol=atol, err_msg=key)
