"""A product-basis method that the chosen algorithm would ignore is an error, not a no-op."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from equitens.models.build import build_model
from equitens.nn.symmetric_contraction import SymmetricContraction


@pytest.mark.parametrize("algorithm", ["blocked", "dense"])
def test_non_cg_method_with_a_cg_only_algorithm_is_refused(algorithm):
    layer = SymmetricContraction(
        "4x0e + 4x1o",
        irreps_in="4x0e + 4x1o + 4x2e",
        correlation=2,
        num_species=1,
        method="gaunt_grid",
        algorithm=algorithm,
    )
    with pytest.raises(ValueError, match="algorithm='kernel'"):
        layer.init(jax.random.PRNGKey(0), jnp.ones((3, 36)), jnp.zeros(3, int))
    with pytest.raises(ValueError, match="model.product_algorithm=kernel"):
        config = {"name": "mace", "product_method": "gaunt_grid", "product_algorithm": algorithm}
        build_model({"model": config}, (1,), [0.0])


def test_gaunt_product_basis_differs_from_cg():
    """With the kernel algorithm the method is used: Gaunt products (even couplings only, Gaunt
    coefficients) give another product basis than CG for the same weights."""
    x, z = jax.random.normal(jax.random.PRNGKey(1), (3, 36)), jnp.zeros(3, int)
    outputs = []
    for method in ("cg", "gaunt_grid"):
        layer = SymmetricContraction(
            "4x0e + 4x1o",
            irreps_in="4x0e + 4x1o + 4x2e",
            correlation=2,
            num_species=1,
            method=method,
            algorithm="kernel",
        )
        params = layer.init(jax.random.PRNGKey(0), x, z)
        outputs.append((params["params"]["w"].shape, layer.apply(params, x, z)))
    (shape_cg, out_cg), (shape_gaunt, out_gaunt) = outputs
    assert shape_cg != shape_gaunt or not jnp.allclose(out_cg, out_gaunt)
