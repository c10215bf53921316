"""Flax **nnx** modules: the twins of :mod:`equitens.nn.linen`.

nnx builds parameters eagerly, so the input irreps are constructor arguments. Parameter names and
shapes are those of the linen modules (``w``, and ``b`` for biased layers), so
``module.w.value = linen_params["params"]["w"]`` moves weights between the flavours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
from flax import nnx

from equitens.nn.gate import gate
from equitens.nn.linear import LinearSpec, _check_species, linear
from equitens.nn.tensor_product import (
    apply_tensor_product,
    as_irreps_array,
    channelwise_spec,
    fully_connected_spec,
)

__all__ = ["Linear", "TensorProduct", "FullyConnectedTensorProduct", "Gate"]


def _normal(rngs: nnx.Rngs, shape: tuple[int, ...], std, dtype: Any) -> jax.Array:
    return jax.random.normal(rngs.params(), shape, dtype) * jnp.asarray(std, dtype)


class Linear(nnx.Module):
    """Irreps-wise linear layer (nnx), optionally with per-species weights.

    Same computation, parameters and values as :class:`equitens.nn.linen.Linear`.

    Args:
        irreps_in: input irreps (any chunking of them is accepted at call time).
        irreps_out: requested output irreps (unreachable irreps are dropped, as in e3nn).
        num_species: number of weight sets; then ``__call__`` needs ``species``.
        biases: learned bias on the ``0e`` outputs (initialised to zero).
        gradient_normalization: ``"path"`` (e3nn-jax's default) or ``"element"``.
        param_dtype: dtype of the parameters.
        rngs: random generators for the initialization.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> from flax import nnx
        >>> layer = Linear("8x0e + 4x1o", "16x0e + 2x1o", biases=True, rngs=nnx.Rngs(0))
        >>> x = e3nn.normal("8x0e + 4x1o", jax.random.PRNGKey(0), (10,))
        >>> layer(x).irreps, layer.w.shape, layer.b.shape
        (16x0e+2x1o, (136,), (16,))
    """

    def __init__(
        self,
        irreps_in: Any,
        irreps_out: Any,
        *,
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
        lead = () if num_species is None else (num_species,)
        self.w = nnx.Param(_normal(rngs, lead + (self.spec.weight_numel,), self.spec.init_std(), param_dtype))
        self.b = nnx.Param(jnp.zeros(lead + (self.spec.bias_numel,), param_dtype)) if biases else None

    def __call__(self, x: e3nn.IrrepsArray | jax.Array, species: jax.Array | None = None) -> e3nn.IrrepsArray:
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

    Args:
        irreps_in1: irreps of ``x1``.
        irreps_in2: irreps of ``x2``.
        irreps_out: output irreps; each entry has the multiplicity of the ``x1`` entries feeding it.
        internal_weights: own a parameter ``w`` of shape ``(weight_numel,)``; if False, weights
            are passed per sample at call time.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the internal weights.
        rngs: random generators, needed with internal weights.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> tp = TensorProduct("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", internal_weights=False)
        >>> tp.weight_numel
        16
        >>> x = e3nn.normal("4x0e + 4x1o", jax.random.PRNGKey(0), (6,))
        >>> sh = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (6,))
        >>> tp(x, sh, jax.numpy.ones((6, 16))).irreps
        4x0e+4x1o
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        irreps_out: Any,
        *,
        internal_weights: bool = True,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs | None = None,
    ) -> None:
        self.spec = channelwise_spec(
            e3nn.Irreps(irreps_in1),
            e3nn.Irreps(irreps_in2),
            e3nn.Irreps(irreps_out),
            path_normalization,
            irrep_normalization,
            method,
        )
        self.weight_numel = self.spec.weight_numel
        if internal_weights:
            if rngs is None:
                raise ValueError("TensorProduct: internal weights need rngs=nnx.Rngs(...)")
            self.w = nnx.Param(_normal(rngs, (self.weight_numel,), 1.0, param_dtype))
        else:
            self.w = None

    def __call__(
        self, x1: e3nn.IrrepsArray | jax.Array, x2: e3nn.IrrepsArray | jax.Array, weights: jax.Array | None = None
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
        if self.w is not None and weights is not None:
            raise ValueError("TensorProduct: this module owns its weights; build it with internal_weights=False")
        if self.w is None and weights is None:
            raise ValueError(f"TensorProduct: pass per-sample weights of shape (..., {self.weight_numel})")
        x1 = as_irreps_array(x1, self.spec.irreps_in1, "x1")
        x2 = as_irreps_array(x2, self.spec.irreps_in2, "x2")
        return apply_tensor_product(self.spec, x1, x2, self.w[...] if weights is None else weights)


class FullyConnectedTensorProduct(nnx.Module):
    """Fully connected (``"uvw"``) tensor product with internal weights (nnx).

    See :class:`equitens.nn.linen.FullyConnectedTensorProduct`.

    Args:
        irreps_in1: irreps of ``x1``.
        irreps_in2: irreps of ``x2``.
        irreps_out: output irreps; every entry must be reachable from the inputs.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: tensor-product family (``"cg"``, ...).
        param_dtype: dtype of the weights.
        rngs: random generators for the initialization.

    Examples:
        >>> import jax, e3nn_jax as e3nn
        >>> from flax import nnx
        >>> tp = FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o", "3x0e + 3x1e", rngs=nnx.Rngs(0))
        >>> x = e3nn.normal("2x0e + 2x1o", jax.random.PRNGKey(0), (5,))
        >>> y = e3nn.normal("0e + 1o", jax.random.PRNGKey(1), (5,))
        >>> tp(x, y).shape
        (5, 12)
    """

    def __init__(
        self,
        irreps_in1: Any,
        irreps_in2: Any,
        irreps_out: Any,
        *,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
        param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.spec = fully_connected_spec(
            e3nn.Irreps(irreps_in1),
            e3nn.Irreps(irreps_in2),
            e3nn.Irreps(irreps_out),
            path_normalization,
            irrep_normalization,
            method,
        )
        self.weight_numel = self.spec.weight_numel
        self.w = nnx.Param(_normal(rngs, (self.weight_numel,), 1.0, param_dtype))

    def __call__(self, x1: e3nn.IrrepsArray | jax.Array, x2: e3nn.IrrepsArray | jax.Array) -> e3nn.IrrepsArray:
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
        return gate(x, self.even_act, self.odd_act, self.even_gate_act, self.odd_gate_act, self.normalize_act)
