"""Flax **linen** modules: thin wrappers that own the weights and call the pure functions.

* :class:`Linear` -> :func:`equitens.nn.linear.linear`
* :class:`TensorProduct` and :class:`FullyConnectedTensorProduct` ->
  :func:`equitens.nn.tensor_product.apply_tensor_product`
* :class:`Gate` -> :func:`equitens.nn.gate.gate`

The same modules exist for flax nnx in :mod:`equitens.nn.nnx`, with the same parameter names and
shapes, so weights move between the two flavours unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp

from equitens.nn.gate import gate
from equitens.nn.linear import LinearSpec, _check_species, linear
from equitens.nn.tensor_product import (
    apply_tensor_product,
    as_irreps_array,
    channelwise_spec,
    fully_connected_spec,
)

__all__ = ["Linear", "TensorProduct", "FullyConnectedTensorProduct", "Gate"]


def _scaled_normal(std) -> Callable:
    """Initializer: standard normal times ``std`` (broadcast over the last axis)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)

    return init


def _float_dtype(*arrays) -> Any:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


class Linear(nn.Module):
    """Irreps-wise linear layer (e3nn's ``Linear``), optionally with per-species weights.

    Same values as ``e3nn_jax.flax.Linear(irreps_out, biases=biases)`` with the same weights
    (see :func:`equitens.nn.linear.linear` for the semantics and weight layout).

    Parameters: ``"w"`` of shape ``(weight_numel,)`` (``(num_species, weight_numel)`` with
    ``num_species``) and, with ``biases``, ``"b"`` of shape ``(bias_numel,)`` (resp.
    ``(num_species, bias_numel)``).

    Attributes:
        irreps_out: requested output irreps (unreachable irreps are dropped, as in e3nn).
        irreps_in: expected input irreps; if given, plain arrays are accepted and an
            ``IrrepsArray`` of other irreps is an error. If None, taken from the input.
        num_species: number of weight sets; then ``__call__`` needs ``species``.
        biases: learned bias on the ``0e`` outputs (initialised to zero).
        gradient_normalization: ``"path"`` (e3nn-jax's default) or ``"element"``.
        param_dtype: dtype of the parameters; None uses the input's dtype (as e3nn-jax does).

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("8x0e + 4x1o", jax.random.PRNGKey(0), (10,))
        >>> layer = Linear("16x0e + 2x1o + 3x2e", num_species=3)
        >>> species = jax.numpy.arange(10) % 3
        >>> params = layer.init(jax.random.PRNGKey(1), x, species)
        >>> layer.apply(params, x, species).irreps  # 2e is unreachable
        16x0e+2x1o
        >>> weights = params["params"]
        >>> weights["w"].shape
        (3, 136)
    """

    irreps_out: Any
    irreps_in: Any = None
    num_species: int | None = None
    biases: bool = False
    gradient_normalization: str | float = "path"
    param_dtype: Any = None

    @nn.compact
    def __call__(self, x: e3nn.IrrepsArray | jax.Array, species: jax.Array | None = None) -> e3nn.IrrepsArray:
        """Apply the layer.

        Args:
            x: input of shape ``(..., irreps_in.dim)``.
            species: integer array broadcastable to ``x.shape[:-1]``, required if and only if
                ``num_species`` is set.

        Returns:
            ``e3nn_jax.IrrepsArray`` of shape ``(..., irreps_out.dim)``.
        """
        if self.irreps_in is not None:
            irreps_in = e3nn.Irreps(self.irreps_in)
        elif isinstance(x, e3nn.IrrepsArray):
            irreps_in = x.irreps
        else:
            raise ValueError("Linear: pass an e3nn_jax.IrrepsArray or declare irreps_in to use plain arrays")
        _check_species(self.num_species, species)
        spec = LinearSpec.create(
            irreps_in, self.irreps_out, biases=self.biases, gradient_normalization=self.gradient_normalization
        )
        dtype = self.param_dtype or _float_dtype(x.dtype)
        lead = () if self.num_species is None else (self.num_species,)
        w = self.param("w", _scaled_normal(spec.init_std()), lead + (spec.weight_numel,), dtype)
        b = self.param("b", nn.initializers.zeros, lead + (spec.bias_numel,), dtype) if self.biases else None
        return linear(spec, w, x, b, species)


class TensorProduct(nn.Module):
    """Channelwise (``"uvu"``) tensor product: the NequIP/MACE message ``x1[u] (x) x2[v] -> out[u]``.

    ``out[u] = sum_paths sum_v w[path, u, v] c_path (x1[u] (x) x2[v])``. The weights are either
    given per sample (``weights`` of shape ``(..., weight_numel)``, e.g. from a radial MLP of the
    edge length) or, if ``weights`` is None, a parameter ``"w"`` of shape ``(weight_numel,)``
    initialised from a standard normal. ``weight_numel`` is
    ``equitens.nn.tensor_product.channelwise_spec(...).weight_numel``.

    Attributes:
        irreps_out: output irreps; each entry has the multiplicity of the ``x1`` entries feeding it.
        irreps_in1: expected irreps of ``x1`` (None: taken from the input).
        irreps_in2: expected irreps of ``x2`` (None: taken from the input).
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the internal weights; None uses the inputs' dtype.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("4x0e + 4x1o", jax.random.PRNGKey(0), (6,))
        >>> sh = e3nn.spherical_harmonics("0e + 1o", jax.random.normal(jax.random.PRNGKey(1), (6, 3)), True)
        >>> tp = TensorProduct("4x0e + 4x1o")
        >>> w = jax.numpy.ones((6, 16))  # per-edge weights
        >>> tp.apply(tp.init(jax.random.PRNGKey(2), x, sh, w), x, sh, w).irreps
        4x0e+4x1o
    """

    irreps_out: Any
    irreps_in1: Any = None
    irreps_in2: Any = None
    path_normalization: str = "element"
    irrep_normalization: str = "component"
    method: str = "cg"
    param_dtype: Any = None

    @nn.compact
    def __call__(
        self, x1: e3nn.IrrepsArray | jax.Array, x2: e3nn.IrrepsArray | jax.Array, weights: jax.Array | None = None
    ) -> e3nn.IrrepsArray:
        """Apply the tensor product.

        Args:
            x1: first input, ``(..., irreps_in1.dim)``.
            x2: second input, ``(..., irreps_in2.dim)``; leading axes broadcast.
            weights: per-sample weights ``(..., weight_numel)``, or None for internal weights.

        Returns:
            ``e3nn_jax.IrrepsArray`` of irreps ``irreps_out``.
        """
        x1 = as_irreps_array(x1, self.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.irreps_in2, "x2")
        spec = channelwise_spec(
            x1.irreps,
            x2.irreps,
            e3nn.Irreps(self.irreps_out),
            self.path_normalization,
            self.irrep_normalization,
            self.method,
        )
        if weights is None:
            dtype = self.param_dtype or _float_dtype(x1.dtype, x2.dtype)
            weights = self.param("w", nn.initializers.normal(1.0), (spec.weight_numel,), dtype)
        return apply_tensor_product(spec, x1, x2, weights)


class FullyConnectedTensorProduct(nn.Module):
    """Fully connected (``"uvw"``) tensor product with internal weights (e3nn's ``FullyConnectedTensorProduct``).

    ``out[w] = sum_paths sum_uv W[path, u, v, w] c_path (x1[u] (x) x2[v])``; parameter ``"w"`` of
    shape ``(weight_numel,)`` in the path order and layout of e3nn's legacy
    ``FunctionalTensorProduct``, initialised from a standard normal.

    Attributes:
        irreps_out: output irreps; every entry must be reachable from the inputs.
        irreps_in1: expected irreps of ``x1`` (None: taken from the input).
        irreps_in2: expected irreps of ``x2`` (None: taken from the input).
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the weights; None uses the inputs' dtype.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("2x0e + 2x1o", jax.random.PRNGKey(0), (5,))
        >>> y = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (5,))
        >>> tp = FullyConnectedTensorProduct("3x0e + 3x1e")
        >>> params = tp.init(jax.random.PRNGKey(2), x, y)
        >>> tp.apply(params, x, y).shape
        (5, 12)
    """

    irreps_out: Any
    irreps_in1: Any = None
    irreps_in2: Any = None
    path_normalization: str = "element"
    irrep_normalization: str = "component"
    method: str = "cg"
    param_dtype: Any = None

    @nn.compact
    def __call__(self, x1: e3nn.IrrepsArray | jax.Array, x2: e3nn.IrrepsArray | jax.Array) -> e3nn.IrrepsArray:
        """Apply the tensor product.

        Args:
            x1: first input, ``(..., irreps_in1.dim)``.
            x2: second input, ``(..., irreps_in2.dim)``; leading axes broadcast.

        Returns:
            ``e3nn_jax.IrrepsArray`` of irreps ``irreps_out``.
        """
        x1 = as_irreps_array(x1, self.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.irreps_in2, "x2")
        spec = fully_connected_spec(
            x1.irreps,
            x2.irreps,
            e3nn.Irreps(self.irreps_out),
            self.path_normalization,
            self.irrep_normalization,
            self.method,
        )
        dtype = self.param_dtype or _float_dtype(x1.dtype, x2.dtype)
        weights = self.param("w", nn.initializers.normal(1.0), (spec.weight_numel,), dtype)
        return apply_tensor_product(spec, x1, x2, weights)


class Gate(nn.Module):
    """Gate nonlinearity (no parameters); same values as ``e3nn_jax.gate`` with the same arguments.

    Attributes:
        even_act: activation of the even activated scalars.
        odd_act: activation of the odd activated scalars.
        even_gate_act: activation of the even gates.
        odd_gate_act: activation of the odd gates.
        normalize_act: normalize the activations to unit second moment.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("4x0e + 2x0e + 2x1o", jax.random.PRNGKey(0))
        >>> Gate().apply({}, x).irreps
        4x0e+2x1o
    """

    even_act: Callable[[jax.Array], jax.Array] = jax.nn.gelu
    odd_act: Callable[[jax.Array], jax.Array] = e3nn.soft_odd
    even_gate_act: Callable[[jax.Array], jax.Array] = jax.nn.sigmoid
    odd_gate_act: Callable[[jax.Array], jax.Array] = jnp.tanh
    normalize_act: bool = True

    def __call__(self, x: e3nn.IrrepsArray) -> e3nn.IrrepsArray:
        """Apply the gate.

        Args:
            x: input ``e3nn_jax.IrrepsArray``.

        Returns:
            The gated ``e3nn_jax.IrrepsArray``.
        """
        return gate(x, self.even_act, self.odd_act, self.even_gate_act, self.odd_gate_act, self.normalize_act)
