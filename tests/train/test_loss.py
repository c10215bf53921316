"""Weighted loss and error sums: values against numpy, padding and missing labels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from equitens.train.evaluate import loss_from_sums
from equitens.train.loss import LossWeights, errors_from_sums
from equitens.train.loss import error_sums as _error_sums
from equitens.train.loss import weighted_loss as _weighted_loss

from . import _standins as S

# compiled once per shape: eager evaluation compiles every small op (slow on a busy machine)
weighted_loss = jax.jit(_weighted_loss, static_argnums=2)
error_sums = jax.jit(_error_sums)


def _batch(graphs, pad_nodes, pad_edges, pad_graphs):
    return jraph.pad_with_graphs(jraph.batch_np(graphs), pad_nodes, pad_edges, pad_graphs)


def _prediction(batch, seed=0):
    rng = np.random.default_rng(seed)
    n, g = batch.nodes["positions"].shape[0], batch.n_node.shape[0]
    return {
        "energy": batch.globals["energy"] + rng.normal(size=g),
        "forces": batch.nodes["forces"] + rng.normal(size=(n, 3)),
        "stress": batch.globals["stress"] + rng.normal(size=(g, 3, 3)),
    }


def _graphs():
    graphs = S.make_molecules(3, seed=3)
    # the second graph has no force labels and a stress label
    g = graphs[1]
    graphs[1] = g._replace(
        globals={
            **g.globals,
            "forces_weight": np.zeros(1),
            "stress": np.full((1, 3, 3), 0.5),
            "stress_weight": np.ones(1),
        }
    )
    return graphs


def test_loss_matches_numpy_and_ignores_padding_and_missing_labels():
    graphs = _graphs()
    batch = _batch(graphs, 40, 60, 5)
    pred = _prediction(batch)
    weights = LossWeights(energy=2.0, forces=3.0, stress=5.0)
    loss, terms = weighted_loss(pred, batch, weights)

    e_terms, f_terms, s_terms = [], [], []
    start = 0
    for i, g in enumerate(graphs):
        n = int(g.n_node[0])
        e_terms.append(((pred["energy"][i] - g.globals["energy"][0]) / n) ** 2)
        if g.globals["forces_weight"][0]:
            f_terms.extend(np.mean((pred["forces"][start : start + n] - g.nodes["forces"]) ** 2, 1))
        if g.globals["stress_weight"][0]:
            s_terms.append(np.mean((pred["stress"][i] - g.globals["stress"][0]) ** 2))
        start += n
    assert float(terms["energy"]) == pytest.approx(np.mean(e_terms), rel=1e-12)
    assert float(terms["forces"]) == pytest.approx(np.mean(f_terms), rel=1e-12)
    assert float(terms["stress"]) == pytest.approx(np.mean(s_terms), rel=1e-12)
    expected = 2 * np.mean(e_terms) + 3 * np.mean(f_terms) + 5 * np.mean(s_terms)
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_padding_does_not_change_the_loss():
    graphs = _graphs()
    small, large = _batch(graphs, 20, 60, 4), _batch(graphs, 50, 90, 9)
    weights = LossWeights(1.0, 10.0, 1.0)

    def pred(batch):  # same predictions on the real entries, garbage on padding
        p = _prediction(batch, seed=1)
        real_nodes = sum(int(g.n_node[0]) for g in graphs)
        ref = _prediction(small, seed=7)
        p["energy"][:3], p["forces"][:real_nodes] = ref["energy"][:3], ref["forces"][:real_nodes]
        p["stress"][:3] = ref["stress"][:3]
        return p

    a = weighted_loss(pred(small), small, weights)[0]
    b = weighted_loss(pred(large), large, weights)[0]
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_stress_is_ignored_without_stress_weight():
    batch = _batch(_graphs(), 40, 60, 5)
    pred = _prediction(batch)
    del pred["stress"]
    _, terms = weighted_loss(pred, batch, LossWeights(1.0, 1.0, 0.0))
    assert float(terms["stress"]) == 0.0


def test_no_labels_gives_zero_loss_and_finite_gradients():
    graphs = [
        g._replace(
            globals={**g.globals, "energy_weight": np.zeros(1), "forces_weight": np.zeros(1)}
        )
        for g in S.make_molecules(2)
    ]
    batch = _batch(graphs, 20, 30, 3)
    pred = _prediction(batch)

    def f(scale):
        p = {k: v * scale for k, v in pred.items()}
        return _weighted_loss(p, batch, LossWeights(1.0, 1.0, 1.0))[0]

    value, grad = jax.jit(jax.value_and_grad(f))(1.0)
    assert float(value) == 0.0
    assert np.isfinite(float(grad))


def test_error_sums_give_mae_and_rmse_like_numpy():
    graphs = _graphs()
    batch = _batch(graphs, 40, 60, 5)
    pred = _prediction(batch)
    errors = errors_from_sums(jax.device_get(error_sums(pred, batch)))
    de = pred["energy"][:3] - batch.globals["energy"][:3]
    n = batch.n_node[:3]
    assert errors["energy_mae"] == pytest.approx(np.mean(np.abs(de)))
    assert errors["energy_rmse"] == pytest.approx(np.sqrt(np.mean(de**2)))
    assert errors["energy_per_atom_mae"] == pytest.approx(np.mean(np.abs(de / n)))
    mask = np.repeat([1, 0, 1], n).astype(bool)  # graph 1 has no forces
    df = (pred["forces"][: n.sum()] - batch.nodes["forces"][: n.sum()])[mask]
    assert errors["forces_mae"] == pytest.approx(np.mean(np.abs(df)))
    assert errors["forces_rmse"] == pytest.approx(np.sqrt(np.mean(df**2)))
    ds = pred["stress"][1] - batch.globals["stress"][1]
    assert errors["stress_mae"] == pytest.approx(np.mean(np.abs(ds)))


def test_loss_from_sums_equals_the_loss_of_one_big_batch():
    graphs = _graphs()
    batch = _batch(graphs, 40, 60, 5)
    pred = _prediction(batch)
    weights = LossWeights(2.0, 3.0, 5.0)
    loss, _ = weighted_loss(pred, batch, weights)
    sums = jax.device_get(error_sums(pred, batch))
    assert loss_from_sums(sums, weights) == pytest.approx(float(loss), rel=1e-12)


def test_loss_is_jittable():
    batch = _batch(_graphs(), 40, 60, 5)
    pred = _prediction(batch)
    eager = _weighted_loss(pred, batch, LossWeights())[0]
    jitted = weighted_loss(pred, batch, LossWeights())[0]
    assert float(jnp.abs(eager - jitted)) < 1e-12
