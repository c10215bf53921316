"""Small, default-run versions of capabilities whose full checks are marked slow (float64).

Each test keeps what makes its slow counterpart able to fail, at the smallest size that does:

- MACE with the ``gaunt_grid``, ``so2`` and ``cp`` convolutions (the slow version:
  ``tests/models/test_models.py::test_mace_with_other_convolution_families``, lmax 2): two
  interactions with ``hidden_lmax = 1``, so that the second convolution takes vector features
  (the first one only ever sees scalars, which reach the ``m = 0`` blocks of the SO(2)
  convolution only);
- the parameter gradient of a force loss (slow: ``..._lmax2``, the test model at lmax 2 with two
  interactions): two interactions at lmax 1 and one channel. With one interaction (the other
  default-run test) the sender features of the convolution do not depend on the positions, so
  the double backward never carries a cotangent for them; here it does;
- ``check_grads`` to second order of the ``"dense"`` symmetric contraction (slow:
  ``tests/models/test_symmetric_contraction.py::test_gradients_first_and_second_order[dense]``)
  on one channel of ``0e + 1o`` at correlation 3.

The float32 model against float64 (slow for NequIP in ``test_models.py``) runs by default for
the default MACE and NequIP in ``test_float32_default_precision.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from equitens.models import build_model, predict
from equitens.nn.symmetric_contraction import SymmetricContractionSpec, symmetric_contraction
from tests.models._graphs import bulk_cell, ethanol, transform
from tests.models.test_models import CONFIGS, E0, _second_order, padded

SPECIES_Z = (1, 6, 8)
TWO_SMALL_INTERACTIONS = {  # hidden_lmax 1: vector sender features in the second interaction
    "lmax": 1,
    "hidden_lmax": 1,
    "num_interactions": 2,
    "num_channels": 1,
    "correlation": 2,
}


def _random_params(model, graph):
    """Random weights of the right shapes: no block stays at a special (e.g. zero) initial value."""
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), graph)
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    return tree.unflatten(
        [0.7 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys, strict=True)]
    )


def force_loss_gradient(model, params, graph):
    """The parameter gradient of ``sum(E^2) + sum(F^2)``: training on forces (second order)."""

    def loss(p):
        out = predict(model, p, graph)
        return jnp.sum(out["energy"] ** 2) + jnp.sum(out["forces"] ** 2)

    return jax.jit(jax.grad(loss))(params)


# Symmetry errors allowed, relative to the largest force (stress): rounding for the exact families;
# the CP convolution replaces the shared CG tensor by a rank-R fit of relative error <= 1e-6
# (4.9e-7 for 0e + 1o -> 0e + 1o at lmax 1), and its symmetry holds to that approximation
# (observed 1e-9 of the largest force).
SYMMETRY_TOLERANCE = {"gaunt_grid": 1e-10, "so2": 1e-10, "cp": 1e-7}


@pytest.mark.parametrize("method", ["gaunt_grid", "so2", "cp"])
def test_mace_with_other_convolution_families_small(method, monkeypatch, tmp_path):
    from equitens.conv import available_conv_methods

    assert method in available_conv_methods()
    monkeypatch.setenv("EQUITENS_CACHE", str(tmp_path))  # cp: fitted factors go here, not ~/.cache
    config = {**CONFIGS["mace"], **TWO_SMALL_INTERACTIONS, "num_channels": 2}
    model = build_model(
        {"model": {**config, "conv_method": method}, "dtype": "float64"}, SPECIES_Z, E0
    )
    graph = padded(ethanol(), bulk_cell())
    params = _random_params(model, graph)  # the shapes come from a traced init (jax.eval_shape)
    run = jax.jit(lambda p, g: predict(model, p, g))
    ref = {k: np.asarray(v) for k, v in run(params, graph).items()}
    forces, stress = np.abs(ref["forces"]).max(), np.abs(ref["stress"]).max()
    assert forces > 1e-3 and stress > 1e-5
    rotation = Rotation.random(random_state=5).as_matrix()
    for q in (rotation, -np.eye(3), -rotation):
        out = {k: np.asarray(v) for k, v in run(params, transform(graph, q)).items()}
        tol = SYMMETRY_TOLERANCE[method]
        np.testing.assert_allclose(out["energy"], ref["energy"], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(out["forces"], ref["forces"] @ q.T, rtol=0, atol=tol * forces)
        np.testing.assert_allclose(
            out["stress"], q @ ref["stress"] @ q.T, rtol=0, atol=tol * stress
        )


@pytest.mark.parametrize("name", ["mace", "nequip"])
def test_second_order_gradients_of_force_loss_two_interactions(name):
    model = build_model(
        {"model": {**CONFIGS[name], **TWO_SMALL_INTERACTIONS}, "dtype": "float64"}, SPECIES_Z, E0
    )
    graph = padded(ethanol(), bulk_cell())
    _second_order(model, _random_params(model, graph), graph)


def test_dense_symmetric_contraction_second_order_gradients():
    spec = SymmetricContractionSpec.create("1x0e + 1x1o", "1x0e + 1x1o", 3)
    keys = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(keys[0], (2, spec.irreps_in.dim), jnp.float64)
    w = jax.random.normal(keys[1], (2, spec.weight_numel), jnp.float64)
    species = jnp.array([0, 1])
    f = jax.jit(lambda x, w: symmetric_contraction(spec, w, x, species, "dense"))
    assert float(jnp.abs(f(x, w)).max()) > 1e-2
    check_grads(f, (x, w), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)
