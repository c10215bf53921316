"""The results ``tests/test_compile_settings.py`` compares between XLA compile settings.

Kept apart from the test module so that a subprocess can import it without the root
``conftest.py`` (which would add the fast compile flags to its ``XLA_FLAGS``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from equitens.conv import edge_convolution
from equitens.models import build_model, predict
from equitens.so3 import angles_to_matrix, spherical_harmonics, wigner_D
from equitens.tp.plan import Plan


def _mace_outputs() -> dict[str, np.ndarray]:
    from tests.models._graphs import bulk_cell, ethanol
    from tests.models.test_models import CONFIGS, E0, padded
    from tests.models.test_small_default_runs import (
        SPECIES_Z,
        TWO_SMALL_INTERACTIONS,
        _random_params,
        force_loss_gradient,
    )

    config = {**CONFIGS["mace"], **TWO_SMALL_INTERACTIONS, "num_channels": 2}
    model = build_model({"model": config, "dtype": "float64"}, SPECIES_Z, E0)
    graph = padded(ethanol(), bulk_cell())
    params = _random_params(model, graph)
    out = jax.jit(lambda p: predict(model, p, graph))(params)
    gradient = jax.tree_util.tree_leaves(force_loss_gradient(model, params, graph))
    outputs = {f"mace_{key}": out[key] for key in ("energy", "forces", "stress")}
    outputs |= {f"mace_force_loss_grad_{i}": g for i, g in enumerate(gradient)}
    return outputs


def _pallas_interaction_outputs() -> dict[str, np.ndarray]:
    """The double backward of the Pallas interaction (interpret mode on the CPU) at L = 1; the
    MACE model above runs the XLA form, the CPU default."""
    conv = edge_convolution(
        "2x0e + 2x1o + 2x1e", "2x0e + 2x0o + 2x1o + 2x1e", 1, plan=Plan(interaction="pallas")
    )
    keys = jax.random.split(jax.random.PRNGKey(3), 5)
    x = jax.random.normal(keys[0], (6, conv.irreps_in.dim))
    vectors = jax.random.normal(keys[1], (17, 3))
    weights = jax.random.normal(keys[2], (17, conv.weight_numel))
    senders = jax.random.randint(keys[3], (17,), 0, 6)
    receivers = jax.random.randint(keys[4], (17,), 0, 6)

    def energy(x, v, w):
        return jnp.sum(conv.aggregate(x, senders, receivers, v, w) ** 2) / 2

    def force_loss(x, v, w):
        return jnp.sum(jax.grad(energy, 1)(x, v, w) ** 2)

    grad_x, grad_w = jax.jit(jax.grad(force_loss, (0, 2)))(x, vectors, weights)
    return {"pallas_double_backward_x": grad_x, "pallas_double_backward_w": grad_w}


def _so3_outputs() -> dict[str, np.ndarray]:
    vectors = jax.random.normal(jax.random.PRNGKey(4), (12, 3))
    rotation = angles_to_matrix(0.4, 1.1, -0.7)
    return {
        "sh_8": jax.jit(lambda v: spherical_harmonics(8, v, True))(vectors),
        "wigner_4": jax.jit(lambda r: wigner_D(4, r))(rotation),
        "wigner_4_jacobian": jax.jit(jax.jacrev(lambda r: wigner_D(4, r)))(rotation),
    }


def outputs() -> dict[str, np.ndarray]:
    """Every checked result, as NumPy arrays (float64)."""
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
    values = _mace_outputs() | _pallas_interaction_outputs() | _so3_outputs()
    return {key: np.asarray(value) for key, value in values.items()}
