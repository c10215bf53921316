"""Flax **nnx** modules: the twins of :mod:`equitens.nn.linen`, with the same API.

The arguments have the same names, meanings and defaults as the linen modules (see
:mod:`equitens.nn.linen` for the conventions): the output irreps are the only positional argument,
everything else is keyword-only, ``internal_weights`` says who owns a tensor product's weights and
``param_dtype`` is float32 by default. The one difference is flax's: nnx builds parameters
eagerly, so the input irreps (``irreps_in``, ``irreps_in1``, ``irreps_in2``) are required at
construction, and ``rngs`` is the source of the initial weights.

Spec building, weight initialisation and the apply functions are shared with linen
(:mod:`equitens.nn.linear`, :mod:`equitens.nn.tensor_product`): parameter names and shapes are the
same (``w``, and ``b`` for biased layers), so ``module.w.value = linen_params["params"]["w"]``
moves weights between the flavours, and the initial weights have the same distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
from flax import nnx

from equitens.nn.gate import gate
from equitens.nn.linear import (
    LinearSpec,
    _check_species,
    init_linear_biases,
    init_linear_weights,
    linear,
)
from equitens.nn.tensor_product import (
    apply_tensor_product,
    as_irreps_array,
    channelwise_spec,
    check_weights,
    fully_connected_spec,
    init_tensor_product_weights,
)
from equitens.so3.irreps import IntoIrreps

__all__ = ["Linear", "TensorProduct", "FullyConnectedTensorProduct", "Gate"]


class Linear(nnx.Module):
    """Irreps-wise linear layer (nnx), optionally with per-species weights.

    Same arguments, computation, parameters and values as :class:`equitens.nn.linen.Linear`,
    with ``irreps_in`` required.

    Args:
        irreps_out: requested output irreps (unreachable irreps are dropped, as in e3nn).
        irreps_in: keyword-only; input irreps (any chunking of them is accepted at call time).
        num_species: number of weight sets; then ``__call__`` needs ``species``.
        biases: learned bias on the ``0e`` outputs (initialised to zero).
        gradient_normalization: ``"path"`` (e3nn-jax's default) or ``"element"``.
        param_dtype: dtype of the parameters.
        rngs: random generators for the initialization.

    Attributes:
        spec: the :class:`~equitens.nn.linear.LinearSpec`.
        irreps_in: the input irreps (:class:`equitens.Irreps`).
        irreps_out: the output irreps (reachable part of the requested ones).

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> from flax import nnx
        >>> layer = Linear("16x0e + 2x1o", irreps_in="8x0e + 4x1o", biases=True, rngs=nnx.Rngs(0))
        >>> x = e3nn.normal("8x0e + 4x1o", jax.random.PRNGKey(0), (10,))
        >>> layer(x).irreps, layer.w.shape, layer.b.shape
        (16x0e+2x1o, (136,), (16,))
    """

    def __init__(
        self,
        irreps_out: IntoIrreps,
        *,
        irreps_in: IntoIrreps,
        num_species: int | None = None,
        biases: bool = False,
        gradient_normalization: str | float = "path",
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.spec = LinearSpec.create(
            irreps_in, irreps_out, biases=biases, gradient_normalization=gradient_normalization
        )
        self.irreps_in = self.spec.irreps_in
        self.irreps_out = self.spec.irreps_out
        self.num_species = num_species
        self.w = nnx.Param(init_linear_weights(rngs.params(), self.spec, num_species, param_dtype))
        self.b = (
            nnx.Param(init_linear_biases(None, self.spec, num_species, param_dtype))
            if biases
            else None
        )

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
        return linear(self.spec, self.w[...], x, None if self.b is None else self.b[...], species)


class TensorProduct(nnx.Module):
    """Channelwise (``"uvu"``) tensor product (nnx); see :class:`equitens.nn.linen.TensorProduct`.

    Same arguments as the linen module, with ``irreps_in1`` and ``irreps_in2`` required.

    Args:
        irreps_out: output irreps; each entry has the multiplicity of the ``x1`` entries feeding it.
        irreps_in1: keyword-only; irreps of ``x1``.
        irreps_in2: irreps of ``x2``.
        internal_weights: own a parameter ``w`` of shape ``(weight_numel,)``; if False, weights
            are passed per sample at call time.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the internal weights.
        rngs: random generators, needed with internal weights.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> tp = TensorProduct("4x0e + 4x1o", irreps_in1="4x0e + 4x1o", irreps_in2="0e + 1o",
        ...     internal_weights=False)
        >>> tp.weight_numel
        16
        >>> x = e3nn.normal("4x0e + 4x1o", jax.random.PRNGKey(0), (6,))
        >>> sh = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (6,))
        >>> tp(x, sh, jax.numpy.ones((6, 16))).irreps
        4x0e+4x1o
    """

    def __init__(
        self,
        irreps_out: IntoIrreps,
        *,
        irreps_in1: IntoIrreps,
        irreps_in2: IntoIrreps,
        internal_weights: bool = True,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs | None = None,
    ) -> None:
        self.spec = channelwise_spec(
            irreps_in1, irreps_in2, irreps_out, path_normalization, irrep_normalization, method
        )
        self.irreps_in1 = self.spec.irreps_in1
        self.irreps_in2 = self.spec.irreps_in2
        self.irreps_out = self.spec.irreps_out
        self.weight_numel = self.spec.weight_numel
        self.internal_weights = bool(internal_weights)
        if internal_weights:
            if rngs is None:
                raise ValueError(
                    "TensorProduct: internal weights need rngs=nnx.Rngs(...); or build it with "
                    "internal_weights=False to pass the weights at call time"
                )
            self.w = nnx.Param(init_tensor_product_weights(rngs.params(), self.spec, param_dtype))
        else:
            self.w = None

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
            weights: per-sample weights ``(..., weight_numel)``; required if and only if the
                module was built with ``internal_weights=False``.

        Returns:
            ``e3nn_jax.IrrepsArray`` of irreps ``irreps_out``.
        """
        check_weights("TensorProduct", self.internal_weights, weights, self.weight_numel)
        x1 = as_irreps_array(x1, self.spec.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.spec.irreps_in2, "x2")
        return apply_tensor_product(
            self.spec, x1, x2, self.w[...] if self.internal_weights else weights
        )


class FullyConnectedTensorProduct(nnx.Module):
    """Fully connected (``"uvw"``) tensor product with internal weights (nnx).

    See :class:`equitens.nn.linen.FullyConnectedTensorProduct`: same arguments, with
    ``irreps_in1`` and ``irreps_in2`` required.

    Args:
        irreps_out: output irreps; every entry must be reachable from the inputs.
        irreps_in1: keyword-only; irreps of ``x1``.
        irreps_in2: irreps of ``x2``.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the weights.
        rngs: random generators for the initialization.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> from flax import nnx
        >>> tp = FullyConnectedTensorProduct(
        ...     "3x0e + 3x1e", irreps_in1="2x0e + 2x1o", irreps_in2="0e + 1o", rngs=nnx.Rngs(0))
        >>> x = e3nn.normal("2x0e + 2x1o", jax.random.PRNGKey(0), (5,))
        >>> y = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (5,))
        >>> tp(x, y).shape
        (5, 12)
    """

    def __init__(
        self,
        irreps_out: IntoIrreps,
        *,
        irreps_in1: IntoIrreps,
        irreps_in2: IntoIrreps,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.spec = fully_connected_spec(
            irreps_in1, irreps_in2, irreps_out, path_normalization, irrep_normalization, method
        )
        self.irreps_in1 = self.spec.irreps_in1
        self.irreps_in2 = self.spec.irreps_in2
        self.irreps_out = self.spec.irreps_out
        self.weight_numel = self.spec.weight_numel
        self.w = nnx.Param(init_tensor_product_weights(rngs.params(), self.spec, param_dtype))

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
        x1 = as_irreps_array(x1, self.spec.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.spec.irreps_in2, "x2")
        return apply_tensor_product(self.spec, x1, x2, self.w[...])


class Gate(nnx.Module):
    """Gate nonlinearity (nnx, no parameters); same values as ``e3nn_jax.gate``.

    Args:
        even_act: activation of the even activated scalars.
        odd_act: activation of the odd activated scalars.
        even_gate_act: activation of the even gates.
        odd_gate_act: activation of the odd gates.
        normalize_act: normalize the activations to unit second moment.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> x = e3nn.normal("4x0e + 2x0e + 2x1o", jax.random.PRNGKey(0))
        >>> Gate()(x).irreps
        4x0e+2x1o
    """

    def __init__(
        self,
        even_act: Callable[[jax.Array], jax.Array] = jax.nn.gelu,
        odd_act: Callable[[jax.Array], jax.Array] = e3nn.soft_odd,
        even_gate_act: Callable[[jax.Array], jax.Array] = jax.nn.sigmoid,
        odd_gate_act: Callable[[jax.Array], jax.Array] = jnp.tanh,
        normalize_act: bool = True,
    ) -> None:
        self.even_act = even_act
        self.odd_act = odd_act
        self.even_gate_act = even_gate_act
        self.odd_gate_act = odd_gate_act
        self.normalize_act = normalize_act

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
