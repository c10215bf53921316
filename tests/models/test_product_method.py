"""The product-basis method and algorithm: ``auto`` picks the method's own basis, and a method that
the chosen algorithm would ignore is an error, not a no-op."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from equitens.models.build import build_model
from equitens.nn.symmetric_contraction import (
    GauntProductBasisSpec,
    SymmetricContraction,
    SymmetricContractionSpec,
    product_basis_spec,
    resolve_algorithm,
    symmetric_contraction,
)

IRREPS_A = "4x0e + 4x1o + 4x2e"


def _layer(method, algorithm):
    return SymmetricContraction(
        "4x0e + 4x1o",
        irreps_in=IRREPS_A,
        correlation=2,
        num_species=1,
        method=method,
        algorithm=algorithm,
    )


@pytest.mark.parametrize(
    ("method", "algorithm", "expected"),
    [
        ("cg", "auto", "kernel"),
        ("cg", "blocked", "blocked"),
        ("gaunt_grid", "auto", "gaunt"),
        ("gaunt_fourier", "auto", "gaunt"),
        ("vector_gaunt", "auto", "gaunt"),
        ("gaunt_grid", "kernel", "kernel"),
        ("cg", "dense", "dense"),
    ],
)
def test_auto_resolves_per_method(method, algorithm, expected):
    assert resolve_algorithm(method, algorithm) == expected


@pytest.mark.parametrize("algorithm", ["blocked", "dense"])
def test_non_cg_method_with_a_cg_only_algorithm_is_refused(algorithm):
    with pytest.raises(ValueError, match="would be ignored.*algorithm='auto'.*algorithm='kernel'"):
        _layer("gaunt_grid", algorithm).init(
            jax.random.PRNGKey(0), jnp.ones((3, 36)), jnp.zeros(3, int)
        )
    with pytest.raises(ValueError, match="model.product_algorithm=auto.*product_algorithm=kernel"):
        config = {"name": "mace", "product_method": "gaunt_grid", "product_algorithm": algorithm}
        build_model({"model": config}, (1,), [0.0])


def test_the_gaunt_algorithm_needs_a_gaunt_method():
    with pytest.raises(ValueError, match="needs method 'gaunt_grid', 'gaunt_fourier' or"):
        _layer("cg", "gaunt").init(jax.random.PRNGKey(0), jnp.ones((3, 36)), jnp.zeros(3, int))
    with pytest.raises(ValueError, match="needs method 'gaunt_grid'"):
        build_model({"model": {"name": "mace", "product_algorithm": "gaunt"}}, (1,), [0.0])
    spec = SymmetricContractionSpec.create(IRREPS_A, "4x0e", 2)
    with pytest.raises(ValueError, match="needs a GauntProductBasisSpec"):
        symmetric_contraction(
            spec, jnp.ones((1, spec.weight_numel)), jnp.ones((2, 36)), [0, 0], "gaunt"
        )


def test_vector_gaunt_has_both_bases():
    """``auto``: the Gaunt product basis with vector products; ``kernel``: the CG-structured
    couplings with Gaunt and vector-Gaunt constants."""
    for algorithm in ("auto", "kernel"):
        config = {"name": "mace", "product_method": "vector_gaunt", "product_algorithm": algorithm}
        assert build_model({"model": config}, (1,), [0.0]).product_algorithm == algorithm
    spec = product_basis_spec(IRREPS_A, "4x0e + 4x1e", 3, "vector_gaunt")
    assert isinstance(spec, GauntProductBasisSpec) and spec.odd_numel > 0
    with pytest.raises(ValueError, match="unnatural parity.*method='vector_gaunt'"):
        product_basis_spec(IRREPS_A, "4x0e + 4x1e", 3, "gaunt_grid")


def test_each_algorithm_builds_its_basis():
    assert isinstance(product_basis_spec(IRREPS_A, "4x0e", 2, "gaunt_grid"), GauntProductBasisSpec)
    kernel = product_basis_spec(IRREPS_A, "4x0e", 2, "gaunt_grid", "kernel")
    assert isinstance(kernel, SymmetricContractionSpec)
    assert kernel.products[0].method == "gaunt_grid"


def test_the_gaunt_families_differ_from_cg():
    """Gaunt couplings with Gaunt constants (kernel) and the Gaunt product basis (auto) are other
    product bases than CG."""
    x, z = jax.random.normal(jax.random.PRNGKey(1), (3, 36)), jnp.zeros(3, int)
    outputs = []
    for method, algorithm in (("cg", "auto"), ("gaunt_grid", "kernel"), ("gaunt_grid", "auto")):
        layer = _layer(method, algorithm)
        params = layer.init(jax.random.PRNGKey(0), x, z)
        outputs.append((params["params"]["w"].shape, layer.apply(params, x, z)))
    for shape, out in outputs[1:]:
        assert shape != outputs[0][0] or not jnp.allclose(out, outputs[0][1])
