"""Argument checks shared by the product bases (:mod:`~equitens.nn.symmetric_contraction` and
:mod:`~equitens.nn.gaunt_product_basis`): node features and per-species weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["checked_inputs"]


def checked_inputs(caller: str, spec, x, weights) -> tuple[jax.Array, jax.Array]:
    """``x`` and ``weights`` as arrays, after checking their shapes against ``spec``.

    Args:
        caller: the function's name, to start the error message with.
        spec: a product-basis spec (it has ``irreps_in`` and ``weight_numel``).
        x: node features, ``(num_nodes, spec.irreps_in.dim)``.
        weights: per-species weights, ``(num_species, spec.weight_numel)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from equitens.nn.symmetric_contraction import SymmetricContractionSpec
        >>> spec = SymmetricContractionSpec.create("1x0e", "1x0e", correlation=2)
        >>> x, w = checked_inputs("demo", spec, jnp.ones((3, 1)), jnp.ones((1, spec.weight_numel)))
        >>> checked_inputs("demo", spec, jnp.ones((3, 2)), w)
        Traceback (most recent call last):
        ...
        ValueError: demo: x must have shape (num_nodes, 1) (1x0e), got (3, 2)
    """
    x = jnp.asarray(x)
    if x.ndim != 2 or x.shape[1] != spec.irreps_in.dim:
        raise ValueError(
            f"{caller}: x must have shape (num_nodes, {spec.irreps_in.dim}) "
            f"({spec.irreps_in}), got {tuple(x.shape)}"
        )
    weights = jnp.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != spec.weight_numel:
        raise ValueError(
            f"{caller}: weights must have shape (num_species, {spec.weight_numel}), "
            f"got {tuple(weights.shape)}"
        )
    return x, weights
