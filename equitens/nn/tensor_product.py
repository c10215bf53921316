"""Glue between ``e3nn_jax.IrrepsArray`` and the tensor-product kernels of :mod:`equitens.tp`.

The flax modules :class:`equitens.nn.linen.TensorProduct`,
:class:`equitens.nn.linen.FullyConnectedTensorProduct` (and their :mod:`equitens.nn.nnx`
twins) build a :class:`~equitens.tp.spec.TensorProductSpec` with :func:`channelwise_spec` or
:func:`fully_connected_spec`, either own the flat weight vector (``internal_weights=True``,
created by :func:`init_tensor_product_weights`) or receive it at call time
(``internal_weights=False``, checked by :func:`check_weights`), and call
:func:`apply_tensor_product`, which checks the inputs against the spec, runs the spec's kernel and
wraps the result. Both flavours call these functions, so they agree by construction.

Irreps arguments accept anything :class:`equitens.Irreps` accepts (strings, ``equitens.Irreps``,
``e3nn_jax.Irreps``, lists of ``(mul, ir)``); the specs hold :class:`equitens.Irreps`.
"""

from __future__ import annotations

import functools
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp

from equitens.so3.irreps import IntoIrreps, Irreps
from equitens.tp.registry import tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = [
    "apply_tensor_product",
    "as_irreps_array",
    "channelwise_spec",
    "fully_connected_spec",
    "init_tensor_product_weights",
    "check_weights",
]


def as_irreps_array(
    x: e3nn.IrrepsArray | jax.Array, irreps: IntoIrreps | None, name: str = "input"
) -> e3nn.IrrepsArray:
    """Check ``x`` against the expected irreps, wrapping a plain array if irreps are known.

    Args:
        x: an ``e3nn_jax.IrrepsArray``, or a plain array of shape ``(..., irreps.dim)`` when
            ``irreps`` is given.
        irreps: the expected irreps, or None to accept any ``IrrepsArray``.
        name: the argument's name, used in error messages.

    Returns:
        ``x`` as an ``e3nn_jax.IrrepsArray``.

    Examples:
        >>> import jax.numpy as jnp
        >>> as_irreps_array(jnp.ones(4), "0e + 1o").irreps
        1x0e+1x1o
    """
    expected = None if irreps is None else Irreps(irreps)
    if isinstance(x, e3nn.IrrepsArray):
        if expected is not None and Irreps(x.irreps) != expected:
            raise ValueError(
                f"{name} has irreps {x.irreps} but the module was declared with {expected}; "
                f"pass an input of irreps {expected} (use .rechunk / .regroup) or change the "
                "declaration"
            )
        return x
    if expected is None:
        raise ValueError(
            f"{name} is a plain array of shape {jnp.shape(x)}: pass an e3nn_jax.IrrepsArray, or "
            "declare the input irreps on the module"
        )
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] != expected.dim:
        raise ValueError(
            f"{name} of shape {x.shape} does not match irreps {expected}: the last axis must have "
            f"size {expected.dim}"
        )
    return e3nn.IrrepsArray(expected.to_e3nn(), x)


def channelwise_spec(
    irreps_in1: IntoIrreps,
    irreps_in2: IntoIrreps,
    irreps_out: IntoIrreps,
    path_normalization: str = "element",
    irrep_normalization: str = "component",
    method: str = "cg",
) -> TensorProductSpec:
    """The ``"uvu"`` spec of :class:`equitens.nn.linen.TensorProduct` (cached).

    Args:
        irreps_in1: irreps of the first input (e.g. node features).
        irreps_in2: irreps of the second input (e.g. spherical harmonics of the edge vector).
        irreps_out: irreps of the output; each entry has the multiplicity of the input-1 entries
            that feed it.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: the tensor-product family (``"cg"``, ...).

    Returns:
        The spec; ``spec.weight_numel`` is the size of the per-sample weights to provide.

    Examples:
        >>> spec = channelwise_spec("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o")
        >>> spec.weight_numel, spec.irreps_out
        (32, 8x0e+8x1o)
    """
    return _cached_spec(
        "channelwise",
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        Irreps(irreps_out),
        path_normalization,
        irrep_normalization,
        method,
    )


def fully_connected_spec(
    irreps_in1: IntoIrreps,
    irreps_in2: IntoIrreps,
    irreps_out: IntoIrreps,
    path_normalization: str = "element",
    irrep_normalization: str = "component",
    method: str = "cg",
) -> TensorProductSpec:
    """The ``"uvw"`` spec of :class:`equitens.nn.linen.FullyConnectedTensorProduct` (cached).

    Args:
        irreps_in1: irreps of the first input.
        irreps_in2: irreps of the second input.
        irreps_out: irreps of the output; every entry must be reachable from the inputs.
        path_normalization: ``"element"`` or ``"path"``.
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: the tensor-product family (``"cg"``, ...).

    Returns:
        The spec.

    Examples:
        >>> spec = fully_connected_spec("2x0e + 2x1o", "0e + 1o", "3x0e + 3x1o")
        >>> spec.weight_numel
        24
    """
    return _cached_spec(
        "fully_connected",
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        Irreps(irreps_out),
        path_normalization,
        irrep_normalization,
        method,
    )


@functools.lru_cache(maxsize=512)
def _cached_spec(
    constructor: str,
    in1: Irreps,
    in2: Irreps,
    out: Irreps,
    path_normalization: str,
    irrep_normalization: str,
    method: str,
) -> TensorProductSpec:
    """``TensorProductSpec.<constructor>(in1, in2, out, ...)``, built once per argument set."""
    return getattr(TensorProductSpec, constructor)(
        in1,
        in2,
        out,
        path_normalization=path_normalization,
        irrep_normalization=irrep_normalization,
        method=method,
    )


def init_tensor_product_weights(
    key: jax.Array, spec: TensorProductSpec, dtype: Any = jnp.float32
) -> jax.Array:
    """The default internal weights of a tensor product: standard normal, ``(weight_numel,)``.

    The signature is that of flax's ``Module.param`` initializers followed by their arguments
    (linen: ``self.param("w", init_tensor_product_weights, spec, dtype)``; nnx:
    ``init_tensor_product_weights(rngs.params(), spec, dtype)``): both flavours draw their initial
    weights from the same distribution.

    Args:
        key: a ``jax.random`` key.
        spec: the tensor product.
        dtype: dtype of the weights.

    Returns:
        ``(spec.weight_numel,)`` standard normal entries.
    """
    return jax.random.normal(key, (spec.weight_numel,), dtype)


def check_weights(
    module: str, internal_weights: bool, weights: jax.Array | None, weight_numel: int
) -> None:
    """Check the call-time ``weights`` against the module's weight ownership.

    A module built with ``internal_weights=True`` owns a parameter ``w`` and takes no weights at
    call time; with ``internal_weights=False`` the weights (e.g. per edge, from a radial MLP) are
    required at call time.

    Args:
        module: the module's name, for the messages.
        internal_weights: whether the module owns its weights.
        weights: the weights given at call time, or None.
        weight_numel: the size of the last axis of the weights, for the messages.

    Raises:
        ValueError: with the fix, if the weights are given to a module that owns its weights or
            missing for one that does not.

    Examples:
        >>> check_weights("TensorProduct", False, None, 16)
        Traceback (most recent call last):
        ...
        ValueError: TensorProduct: built with internal_weights=False, it needs per-sample
        weights of shape (..., 16) at call time
    """
    if internal_weights and weights is not None:
        raise ValueError(
            f"{module}: this module owns its weights (internal_weights=True); build it with "
            "internal_weights=False to pass weights at call time"
        )
    if not internal_weights and weights is None:
        raise ValueError(
            f"{module}: built with internal_weights=False, it needs per-sample weights of shape "
            f"(..., {weight_numel}) at call time"
        )


def apply_tensor_product(
    spec: TensorProductSpec,
    x1: e3nn.IrrepsArray,
    x2: e3nn.IrrepsArray,
    weights: jax.Array | None = None,
) -> e3nn.IrrepsArray:
    """Evaluate a tensor-product spec on ``e3nn_jax.IrrepsArray`` inputs.

    Args:
        spec: the tensor product.
        x1: first input, irreps ``spec.irreps_in1``, shape ``(..., irreps_in1.dim)``.
        x2: second input, irreps ``spec.irreps_in2``; leading axes broadcast with ``x1``'s.
        weights: ``(..., spec.weight_numel)`` (per sample, broadcasting with the inputs' leading
            axes, or shared with shape ``(weight_numel,)``); None if and only if the spec is
            unweighted.

    Returns:
        ``e3nn_jax.IrrepsArray`` of irreps ``spec.irreps_out``, in the inputs' dtype.

    Examples:
        >>> import jax.numpy as jnp, e3nn_jax as e3nn
        >>> spec = channelwise_spec("2x0e", "1o", "2x1o")
        >>> x1 = e3nn.IrrepsArray("2x0e", jnp.array([1.0, 2.0]))
        >>> x2 = e3nn.IrrepsArray("1o", jnp.array([0.0, 0.0, 1.0]))
        >>> y = apply_tensor_product(spec, x1, x2, jnp.ones(2))
        >>> y.irreps, bool(jnp.allclose(y.array, jnp.array([0.0, 0.0, 1.0, 0.0, 0.0, 2.0])))
        (2x1o, True)
    """
    for name, x, irreps in (("x1", x1, spec.irreps_in1), ("x2", x2, spec.irreps_in2)):
        if not isinstance(x, e3nn.IrrepsArray):
            raise ValueError(f"{name} must be an e3nn_jax.IrrepsArray, got {type(x).__name__}")
        if Irreps(x.irreps) != Irreps(irreps):
            raise ValueError(
                f"{name} has irreps {x.irreps} but the tensor product expects {Irreps(irreps)}"
            )
    try:
        batch = jnp.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    except ValueError:
        raise ValueError(
            f"the leading axes of x1 {x1.shape[:-1]} and x2 {x2.shape[:-1]} do not broadcast"
        ) from None
    if spec.weighted:
        if weights is None:
            raise ValueError(
                f"this tensor product needs weights of shape (..., {spec.weight_numel})"
            )
        weights = jnp.asarray(weights)
        if weights.ndim == 0 or weights.shape[-1] != spec.weight_numel:
            raise ValueError(
                f"weights must have shape (..., {spec.weight_numel}) (spec.weight_numel), "
                f"got {weights.shape}"
            )
        try:
            jnp.broadcast_shapes(batch, weights.shape[:-1])
        except ValueError:
            raise ValueError(
                f"the leading axes of the weights {weights.shape[:-1]} do not broadcast with the "
                f"inputs' {batch}"
            ) from None
    elif weights is not None:
        raise ValueError("this tensor product has no weights; pass weights=None")
    dtype = jnp.result_type(x1.dtype, x2.dtype)
    kernel = tensor_product_kernel(spec)
    out = kernel(
        x1.array.astype(dtype),
        x2.array.astype(dtype),
        None if weights is None else weights.astype(dtype),
    )
    return e3nn.IrrepsArray(Irreps(spec.irreps_out).to_e3nn(), out)
