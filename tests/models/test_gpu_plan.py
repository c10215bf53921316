"""The models' default plan on the accelerator: the force-training step of MACE and NequIP,
lowered for CUDA and for TPU on this CPU machine (``jax.export``), holds no chunk loop; lowered
for the CPU, the unfused SO(2) convolution keeps its cache chunks (so the check can fail)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import pytest

from equitens.models.build import build_model
from equitens.tp.plan import Plan

NODES, EDGES = 64, 1 << 14  # enough edges for several CPU chunks


def _force_training_gradient(model):
    """The gradient w.r.t. the weights of ``E^2 + |F|^2``: training on forces (second order)."""
    graph = jraph.GraphsTuple(
        nodes={"positions": jnp.zeros((NODES, 3)), "species": jnp.zeros((NODES,), jnp.int32)},
        edges={},
        globals={},
        senders=jnp.zeros((EDGES,), jnp.int32),
        receivers=jnp.zeros((EDGES,), jnp.int32),
        n_node=jnp.array([NODES]),
        n_edge=jnp.array([EDGES]),
    )

    def energy(params, positions):
        return model.apply(params, graph._replace(nodes={**graph.nodes, "positions": positions}))

    def loss(params, positions):
        e, forces = jax.value_and_grad(lambda p: energy(params, p).sum())(positions)
        return e**2 + jnp.sum(forces**2)

    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), graph)
    return jax.grad(loss), (params, jax.ShapeDtypeStruct((NODES, 3), jnp.float32))


def _loops(fn, args, platform: str) -> int:
    return (
        jax.export.export(jax.jit(fn), platforms=[platform])(*args)
        .mlir_module()
        .count("stablehlo.while")
    )


@pytest.mark.parametrize("name, conv_method", [("mace", "so2"), ("mace", "cg"), ("nequip", "so2")])
def test_force_training_step_has_no_chunk_loop_on_gpu(name, conv_method):
    config = {"name": name, "conv_method": conv_method, "num_channels": 8, "lmax": 2}
    model = build_model({"model": config}, (1, 8), [0.0, 0.0])
    fn, args = _force_training_gradient(model)
    assert _loops(fn, args, "cuda") == 0
    if conv_method == "so2":  # the CPU plan of the unfused interaction: edges in cache chunks
        unfused = {**config, "plan": {"interaction": "unfused"}}
        fn, args = _force_training_gradient(build_model({"model": unfused}, (1, 8), [0.0, 0.0]))
        assert _loops(fn, args, "cpu") > 0


@pytest.mark.parametrize("name, conv_method", [("mace", "so2"), ("mace", "cg"), ("nequip", "so2")])
@pytest.mark.parametrize("backend, platform", [("gpu", "cuda"), ("tpu", "tpu")])
def test_the_interaction_an_accelerator_traces_has_no_chunk_loop(
    name, conv_method, backend, platform
):
    """The interaction ``"auto"`` picks when traced on ``backend`` (here traced on the CPU, so it
    is named explicitly), lowered for that platform: on TPU the XLA path runs unchunked."""
    interaction = Plan().interaction_for(backend)
    config = {"name": name, "conv_method": conv_method, "num_channels": 8, "lmax": 2}
    config["plan"] = {"interaction": interaction}
    fn, args = _force_training_gradient(build_model({"model": config}, (1, 8), [0.0, 0.0]))
    assert _loops(fn, args, platform) == 0


@pytest.mark.parametrize("name", ["mace", pytest.param("nequip", marks=pytest.mark.slow)])
def test_models_with_the_fused_interaction_equal_the_unfused(name):
    """``model.plan.interaction=pallas`` (interpret mode here) and the default (the XLA form on
    the CPU): energies, forces, stress and the parameter gradient of a force loss equal those of
    ``interaction=unfused`` on a padded batch (float64)."""
    import numpy as np

    from equitens.models import predict
    from tests.models._graphs import bulk_cell, ethanol
    from tests.models.test_models import CONFIGS, E0, padded
    from tests.models.test_small_default_runs import (
        SPECIES_Z,
        TWO_SMALL_INTERACTIONS,
        _random_params,
        force_loss_gradient,
    )

    config = {**CONFIGS[name], **TWO_SMALL_INTERACTIONS, "num_channels": 2}
    models = [
        build_model({"model": {**config, "plan": plan}, "dtype": "float64"}, SPECIES_Z, E0)
        for plan in ({"interaction": "unfused"}, {"interaction": "pallas"}, {})
    ]
    graph = padded(ethanol(), bulk_cell())
    params = _random_params(models[0], graph)

    unfused, *fused = (jax.jit(lambda p, g, m=m: predict(m, p, g))(params, graph) for m in models)
    assert np.abs(unfused["forces"]).max() > 1e-3
    for out in fused:
        for key in ("energy", "forces", "stress"):
            np.testing.assert_allclose(out[key], unfused[key], rtol=1e-11, atol=1e-11)
    reference, *grads = (
        jax.tree_util.tree_leaves(force_loss_gradient(m, params, graph)) for m in models
    )
    for leaves in grads:
        for a, b in zip(reference, leaves, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10)
