"""Flax **linen** modules: thin wrappers that own the weights and call the shared functions.

* :class:`Linear` -> :func:`equitens.nn.linear.linear`
* :class:`TensorProduct` and :class:`FullyConnectedTensorProduct` ->
  :func:`equitens.nn.tensor_product.apply_tensor_product`
* :class:`Gate` -> :func:`equitens.nn.gate.gate`

The linen and nnx (:mod:`equitens.nn.nnx`) modules have one API:

* the output irreps are the only positional argument (``Linear(irreps_out, ...)``, as
  ``e3nn_jax.flax.Linear``); every other argument is keyword-only, with the same names, meanings
  and defaults in both flavours, so a call cannot silently swap input and output irreps;
* the input irreps (``irreps_in``, ``irreps_in1``, ``irreps_in2``) are optional in linen, where
  flax infers shapes from the inputs at call time (declare them to accept plain arrays), and
  required in nnx, which builds its parameters at construction;
* ``internal_weights=True`` (the default) makes a tensor product own its weights ``w``;
  ``internal_weights=False`` takes them at call time (e.g. per edge, from a radial MLP);
* ``param_dtype`` is float32 by default (flax's default); the computation runs in the inputs'
  dtype;
* irreps arguments accept anything :class:`equitens.Irreps` accepts (strings,
  ``equitens.Irreps``, ``e3nn_jax.Irreps``, ...) and are stored as :class:`equitens.Irreps`;
  inputs and outputs are ``e3nn_jax.IrrepsArray``.

Spec building, weight initialisation and the apply functions live in :mod:`equitens.nn.linear`
and :mod:`equitens.nn.tensor_product`, shared by both flavours: parameter names, shapes, dtypes and
initial distributions are the same, so weights move between the flavours unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp

from equitens.nn.gate import gate
from equitens.nn.linear import (
    LinearSpec,
    _check_species,
    init_linear_biases,
    init_linear_weights,
    linear,
    linear_input_irreps,
)
from equitens.nn.tensor_product import (
    apply_tensor_product,
    as_irreps_array,
    channelwise_spec,
    check_weights,
    fully_connected_spec,
    init_tensor_product_weights,
)
from equitens.so3.irreps import IntoIrreps, Irreps

__all__ = ["Linear", "TensorProduct", "FullyConnectedTensorProduct", "Gate"]


def _store_irreps(module: nn.Module, *names: str) -> None:
    """Convert the named irreps attributes to :class:`equitens.Irreps` (None stays None)."""
    for name in names:
        value = getattr(module, name)
        if value is not None:
            object.__setattr__(module, name, Irreps(value))


class Linear(nn.Module):
    """Irreps-wise linear layer (e3nn's ``Linear``), optionally with per-species weights.

    Same values as ``e3nn_jax.flax.Linear(irreps_out, biases=biases)`` with the same weights
    (see :func:`equitens.nn.linear.linear` for the semantics and weight layout). The nnx twin is
    :class:`equitens.nn.nnx.Linear` (same arguments, ``irreps_in`` required).

    Parameters: ``"w"`` of shape ``(weight_numel,)`` (``(num_species, weight_numel)`` with
    ``num_species``) and, with ``biases``, ``"b"`` of shape ``(bias_numel,)`` (resp.
    ``(num_species, bias_numel)``).

    Attributes:
        irreps_out: requested output irreps (unreachable irreps are dropped, as in e3nn).
        irreps_in: keyword-only; expected input irreps. If given, plain arrays are accepted and
            an ``IrrepsArray`` of other irreps (up to chunking) is an error. If None, taken from
            the input.
        num_species: number of weight sets; then ``__call__`` needs ``species``.
        biases: learned bias on the ``0e`` outputs (initialised to zero).
        gradient_normalization: ``"path"`` (e3nn-jax's default) or ``"element"``.
        param_dtype: dtype of the parameters.

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

    irreps_out: IntoIrreps
    _: dataclasses.KW_ONLY
    irreps_in: IntoIrreps | None = None
    num_species: int | None = None
    biases: bool = False
    gradient_normalization: str | float = "path"
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        _store_irreps(self, "irreps_out", "irreps_in")
        super().__post_init__()

    @nn.compact
    def __call__(
        self, x: e3nn.IrrepsArray | jax.Array, species: jax.Array | None = None
    ) -> e3nn.IrrepsArray:
        """Apply the layer.

        Args:
            x: input of shape ``(..., irreps_in.dim)``.
            species: integer array broadcastable to ``x.shape[:-1]``, required if and only if
                ``num_species`` is set.

        Returns:
            ``e3nn_jax.IrrepsArray`` of shape ``(..., irreps_out.dim)``.
        """
        _check_species(self.num_species, species)
        spec = LinearSpec.create(
            linear_input_irreps(self.irreps_in, x),
            self.irreps_out,
            biases=self.biases,
            gradient_normalization=self.gradient_normalization,
        )
        w = self.param("w", init_linear_weights, spec, self.num_species, self.param_dtype)
        b = (
            self.param("b", init_linear_biases, spec, self.num_species, self.param_dtype)
            if self.biases
            else None
        )
        return linear(spec, w, x, b, species)


class TensorProduct(nn.Module):
    """Channelwise (``"uvu"``) tensor product, NequIP/MACE's message ``x1[u] (x) x2[v] -> out[u]``.

    ``out[u] = sum_paths sum_v w[path, u, v] c_path (x1[u] (x) x2[v])``. With
    ``internal_weights=True`` the module owns a parameter ``"w"`` of shape ``(weight_numel,)``
    initialised from a standard normal; with ``internal_weights=False`` the weights are given per
    sample at call time (``weights`` of shape ``(..., weight_numel)``, e.g. from a radial MLP of
    the edge length). ``weight_numel`` is
    ``equitens.nn.tensor_product.channelwise_spec(...).weight_numel``. The nnx twin is
    :class:`equitens.nn.nnx.TensorProduct`.

    Attributes:
        irreps_out: output irreps; each entry has the multiplicity of the ``x1`` entries feeding it.
        irreps_in1: keyword-only; expected irreps of ``x1`` (None: taken from the input).
        irreps_in2: expected irreps of ``x2`` (None: taken from the input).
        internal_weights: own the weights (True) or take them at call time (False).
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the internal weights.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("4x0e + 4x1o", jax.random.PRNGKey(0), (6,))
        >>> sh = e3nn.spherical_harmonics(
        ...     "0e + 1o", jax.random.normal(jax.random.PRNGKey(1), (6, 3)), True)
        >>> tp = TensorProduct("4x0e + 4x1o", internal_weights=False)
        >>> w = jax.numpy.ones((6, 16))  # per-edge weights
        >>> tp.apply({}, x, sh, w).irreps
        4x0e+4x1o
    """

    irreps_out: IntoIrreps
    _: dataclasses.KW_ONLY
    irreps_in1: IntoIrreps | None = None
    irreps_in2: IntoIrreps | None = None
    internal_weights: bool = True
    path_normalization: str = "element"
    irrep_normalization: str = "component"
    method: str = "cg"
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        _store_irreps(self, "irreps_out", "irreps_in1", "irreps_in2")
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        x1: e3nn.IrrepsArray | jax.Array,
        x2: e3nn.IrrepsArray | jax.Array,
        weights: jax.Array | None = None,
    ) -> e3nn.IrrepsArray:
        """Apply the tensor product.

        Args:
            x1: first input, ``(..., irreps_in1.dim)``.
            x2: second input, ``(..., irreps_in2.dim)``; leading axes broadcast.
            weights: per-sample weights ``(..., weight_numel)``; required if and only if
                ``internal_weights=False``.

        Returns:
            ``e3nn_jax.IrrepsArray`` of irreps ``irreps_out``.
        """
        x1 = as_irreps_array(x1, self.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.irreps_in2, "x2")
        spec = channelwise_spec(
            x1.irreps,
            x2.irreps,
            self.irreps_out,
            self.path_normalization,
            self.irrep_normalization,
            self.method,
        )
        check_weights("TensorProduct", self.internal_weights, weights, spec.weight_numel)
        if self.internal_weights:
            weights = self.param("w", init_tensor_product_weights, spec, self.param_dtype)
        return apply_tensor_product(spec, x1, x2, weights)


class FullyConnectedTensorProduct(nn.Module):
    """Fully connected (``"uvw"``) tensor product with internal weights (e3nn's class of this name).

    ``out[w] = sum_paths sum_uv W[path, u, v, w] c_path (x1[u] (x) x2[v])``; parameter ``"w"`` of
    shape ``(weight_numel,)`` in the path order and layout of e3nn's legacy
    ``FunctionalTensorProduct``, initialised from a standard normal. The nnx twin is
    :class:`equitens.nn.nnx.FullyConnectedTensorProduct`.

    Attributes:
        irreps_out: output irreps; every entry must be reachable from the inputs.
        irreps_in1: keyword-only; expected irreps of ``x1`` (None: taken from the input).
        irreps_in2: expected irreps of ``x2`` (None: taken from the input).
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the weights.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("2x0e + 2x1o", jax.random.PRNGKey(0), (5,))
        >>> y = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (5,))
        >>> tp = FullyConnectedTensorProduct("3x0e + 3x1e")
        >>> params = tp.init(jax.random.PRNGKey(2), x, y)
        >>> tp.apply(params, x, y).shape
        (5, 12)
    """

    irreps_out: IntoIrreps
    _: dataclasses.KW_ONLY
    irreps_in1: IntoIrreps | None = None
    irreps_in2: IntoIrreps | None = None
    path_normalization: str = "element"
    irrep_normalization: str = "component"
    method: str = "cg"
    param_dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        _store_irreps(self, "irreps_out", "irreps_in1", "irreps_in2")
        super().__post_init__()

    @nn.compact
    def __call__(
        self, x1: e3nn.IrrepsArray | jax.Array, x2: e3nn.IrrepsArray | jax.Array
    ) -> e3nn.IrrepsArray:
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
            self.irreps_out,
            self.path_normalization,
            self.irrep_normalization,
            self.method,
        )
        weights = self.param("w", init_tensor_product_weights, spec, self.param_dtype)
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
        return gate(
            x,
            self.even_act,
            self.odd_act,
            self.even_gate_act,
            self.odd_gate_act,
            self.normalize_act,
        )
