"""Radial part of a message: Bessel basis of the edge length, polynomial envelope, radial MLP.

A message-passing potential weights each edge's tensor product by a learned function of the
edge length ``r``. The length is first expanded in a smooth basis that vanishes at the cutoff:

- :func:`bessel_basis`: ``sqrt(2 / c) sin(n pi r / c) / r`` for ``n = 1..num_basis``, the
  radial eigenfunctions of the Laplacian in a ball of radius ``c`` (DimeNet, NequIP, MACE); it is
  finite at ``r = 0`` (limit ``sqrt(2 / c) n pi / c``) with finite derivatives of every order;
- :func:`polynomial_envelope`: ``1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``
  with ``x = r / c`` (DimeNet's envelope as MACE uses it), equal to 1 at 0 and to 0 at the
  cutoff together with its first two derivatives, and 0 beyond;
- :func:`radial_embedding`: their product, ``(..., num_basis)``;
- :class:`RadialMLP`: a bias-free SiLU perceptron from the embedding to the per-edge weights
  of an edge convolution. Without biases its output is 0 wherever the embedding is 0, so edges
  at or beyond the cutoff (and masked padding edges) carry no message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["RadialMLP", "bessel_basis", "polynomial_envelope", "radial_embedding"]


def _check_cutoff(cutoff: float) -> float:
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"cutoff must be a positive finite length (Angstrom), got {cutoff!r}")
    return float(cutoff)


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _as_lengths(r: jax.Array) -> jax.Array:
    """``r`` as an array of a floating dtype (integer lengths become the default float)."""
    r = jnp.asarray(r)
    if not jnp.issubdtype(r.dtype, jnp.floating):
        r = r.astype(jnp.result_type(float))
    return r


def bessel_basis(r: jax.Array, cutoff: float, num_basis: int = 8) -> jax.Array:
    """Bessel radial basis ``sqrt(2 / c) sin(n pi r / c) / r``, ``n = 1..num_basis``.

    Args:
        r: edge lengths, any shape ``(...)``, non-negative.
        cutoff: the cutoff radius ``c``.
        num_basis: number of basis functions.

    Returns:
        Array of shape ``(..., num_basis)`` in the dtype of ``r``; at ``r = 0`` the finite limit
        ``sqrt(2 / c) n pi / c`` (with finite derivatives).

    Examples:
        >>> import jax.numpy as jnp
        >>> bessel_basis(jnp.array([0.0, 2.5]), cutoff=5.0, num_basis=2).round(4).tolist()
        [[0.3974, 0.7948], [0.253, 0.0]]
    """
    cutoff = _check_cutoff(cutoff)
    _check_positive_int("num_basis", num_basis)
    r = _as_lengths(r)
    n = jnp.arange(1, num_basis + 1, dtype=r.dtype) * (np.pi / cutoff)
    prefactor = np.sqrt(2.0 / cutoff)
    r = r[..., None]
    positive = r > 0
    r_safe = jnp.where(positive, r, 1.0)
    # sin(k r) / r: the limit k at r = 0; near 0 sin(k r)/r = k (1 - (k r)^2 / 6 + ...) is smooth,
    # and the where() keeps the gradient of the unused branch finite.
    value = jnp.where(positive, jnp.sin(n * r_safe) / r_safe, n)
    return prefactor * value


def polynomial_envelope(r: jax.Array, cutoff: float, p: int = 5) -> jax.Array:
    """Smooth cutoff envelope ``1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)``.

    ``x = r / cutoff``; the envelope is 1 at ``r = 0``, decreases to 0 at the cutoff where its
    first and second derivatives vanish too, and is 0 beyond.

    Args:
        r: edge lengths, any shape.
        cutoff: the cutoff radius.
        p: the polynomial degree (MACE uses 5, NequIP 6).

    Returns:
        Array of the shape and dtype of ``r``.

    Examples:
        >>> import jax.numpy as jnp
        >>> polynomial_envelope(jnp.array([0.0, 2.5, 5.0, 6.0]), cutoff=5.0).round(4).tolist()
        [1.0, 0.7734, 0.0, 0.0]
    """
    cutoff = _check_cutoff(cutoff)
    _check_positive_int("the envelope degree p", p)
    r = _as_lengths(r)
    x = r / cutoff
    value = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return jnp.where(x < 1.0, value, 0.0)


def radial_embedding(r: jax.Array, cutoff: float, num_basis: int = 8, p: int = 5) -> jax.Array:
    """The Bessel basis times the polynomial envelope: ``(..., num_basis)``.

    Args:
        r: edge lengths.
        cutoff: the cutoff radius.
        num_basis: number of Bessel functions.
        p: degree of the envelope.

    Returns:
        Array of shape ``r.shape + (num_basis,)``; exactly 0 for ``r >= cutoff``.

    Examples:
        >>> import jax.numpy as jnp
        >>> radial_embedding(jnp.array([1.0, 5.0]), 5.0, num_basis=3).shape
        (2, 3)
    """
    return bessel_basis(r, cutoff, num_basis) * polynomial_envelope(r, cutoff, p)[..., None]


class RadialMLP(nn.Module):
    """Bias-free perceptron ``embedding -> per-edge weights`` with SiLU between layers.

    Each hidden layer is ``silu(x W / sqrt(fan_in))`` with unit-normal ``W`` (the scale is in the
    forward pass, as in e3nn's ``FullyConnectedNet``); the last layer has no activation.

    Attributes:
        hidden: sizes of the hidden layers.
        num_out: size of the output (the edge convolution's ``weight_numel``).
        param_dtype: dtype of the weights.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> mlp = RadialMLP(hidden=(16, 16), num_out=5)
        >>> x = jnp.ones((3, 8))
        >>> mlp.apply(mlp.init(jax.random.PRNGKey(0), x), x).shape
        (3, 5)
    """

    hidden: Sequence[int] = (64, 64, 64)
    num_out: int = 1
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Apply the perceptron to ``x`` of shape ``(..., num_basis)``."""
        sizes = tuple(self.hidden) + (self.num_out,)
        for i, size in enumerate(sizes):
            fan_in = x.shape[-1]
            w = self.param(f"w{i}", nn.initializers.normal(1.0), (fan_in, size), self.param_dtype)
            x = x @ w.astype(x.dtype) / np.sqrt(fan_in)
            if i < len(sizes) - 1:
                x = jax.nn.silu(x) * _SILU_NORM
        return x


# 1 / sqrt(E[silu(z)^2]) for z ~ N(0, 1): keeps the second moment of the hidden layers near 1.
_SILU_NORM = 1.6765
