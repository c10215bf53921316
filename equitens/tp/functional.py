"""Drop-in replacements for ``e3nn_jax.tensor_product`` and ``e3nn_jax.elementwise_tensor_product``.

Both take and return ``e3nn_jax.IrrepsArray`` and give the same output irreps, in the same order,
with the same values as e3nn-jax (with its default ``irrep_normalization="component"``), but run
one fused kernel per call, chosen by ``method``.
"""

from __future__ import annotations

import jax.numpy as jnp

from equitens.so3.irreps import Irreps
from equitens.tp.registry import check_method, tensor_product_kernel
from equitens.tp.spec import TensorProductSpec

__all__ = ["tensor_product", "elementwise_tensor_product"]


def _as_irreps_array(x, name: str):
    import e3nn_jax as e3nn

    if isinstance(x, e3nn.IrrepsArray):
        return x
    try:
        return e3nn.as_irreps_array(x)
    except Exception as error:  # re-raised with context
        raise ValueError(
            f"{name} must be an e3nn_jax.IrrepsArray (or an array of scalars), got "
            f"{type(x).__name__}; wrap arrays with e3nn_jax.IrrepsArray(irreps, array)"
        ) from error


def _dtype(x, y):
    dtype = jnp.result_type(x.dtype, y.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    return dtype


def _regroup(array: jnp.ndarray, irreps: Irreps) -> tuple[jnp.ndarray, Irreps]:
    """Sort the entries of an array by irrep and merge equal neighbours (e3nn's ``regroup``)."""
    order = irreps.sort().inv
    if list(order) != list(range(len(irreps))):
        starts = [0]
        for mul, ir in irreps:
            starts.append(starts[-1] + mul * ir.dim)
        pieces = [array[..., starts[i] : starts[i + 1]] for i in order if irreps[i].mul > 0]
        array = jnp.concatenate(pieces, axis=-1) if pieces else array[..., :0]
    return array, irreps.regroup()


def tensor_product(
    x, y, filter_ir_out=None, method: str = "cg", *, irrep_normalization: str = "component"
):
    """Tensor product of all channel pairs, reduced into irreps: ``e3nn_jax.tensor_product``.

    The inputs are regrouped (sorted, equal irreps merged), every pair of entries
    ``(u x ir1, v x ir2)`` gives ``u * v`` copies of each irrep in ``ir1 * ir2``, and the output
    is regrouped: the same irreps, order and values as e3nn-jax.

    Args:
        x: first input, an ``e3nn_jax.IrrepsArray``.
        y: second input, an ``e3nn_jax.IrrepsArray``; leading shapes broadcast.
        filter_ir_out: keep only these output irreps (a string, an irrep or a list); None keeps all.
        method: the kernel family (see :func:`~equitens.tp.registry.available_methods`).
        irrep_normalization: ``"component"`` (e3nn-jax's default), ``"norm"`` or ``"none"``.

    Returns:
        An ``e3nn_jax.IrrepsArray`` of the regrouped output irreps.

    Examples:
        >>> import e3nn_jax as e3nn, jax.numpy as jnp
        >>> x = e3nn.IrrepsArray("2x0e + 1o", jnp.arange(5.0))
        >>> y = e3nn.IrrepsArray("0o + 2o", jnp.arange(6.0))
        >>> tensor_product(x, y).irreps
        2x0o+2x1e+1x2e+2x2o+1x3e
    """
    import e3nn_jax as e3nn

    check_method(method)
    x = _as_irreps_array(x, "x")
    y = _as_irreps_array(y, "y")
    dtype = _dtype(x, y)
    a, irreps1 = _regroup(x.array.astype(dtype), Irreps(x.irreps))
    b, irreps2 = _regroup(y.array.astype(dtype), Irreps(y.irreps))
    spec = TensorProductSpec.full(
        irreps1, irreps2, filter_ir_out, irrep_normalization=irrep_normalization, method=method
    )
    out = tensor_product_kernel(spec)(a, b)
    return e3nn.IrrepsArray(spec.irreps_out.simplify().to_e3nn(), out)


def _align(irreps1: Irreps, irreps2: Irreps) -> tuple[Irreps, Irreps]:
    """Split entries so both irreps have the same multiplicities entry by entry (no data moves)."""
    a = [(mul, ir) for mul, ir in irreps1]
    b = [(mul, ir) for mul, ir in irreps2]
    i = 0
    while i < min(len(a), len(b)):
        (m1, ir1), (m2, ir2) = a[i], b[i]
        if m1 < m2:
            b[i : i + 1] = [(m1, ir2), (m2 - m1, ir2)]
        elif m2 < m1:
            a[i : i + 1] = [(m2, ir1), (m1 - m2, ir1)]
        i += 1
    return Irreps(a), Irreps(b)


def elementwise_tensor_product(
    x, y, filter_ir_out=None, method: str = "cg", *, irrep_normalization: str = "component"
):
    """Tensor product of matching channels: ``e3nn_jax.elementwise_tensor_product``.

    Channel ``i`` of ``x`` is multiplied with channel ``i`` of ``y`` (entries are split so the
    multiplicities align); the output irreps are neither sorted nor merged, as in e3nn-jax.

    Args:
        x: first input, an ``e3nn_jax.IrrepsArray``.
        y: second input with the same number of irreps (``x.irreps.num_irreps``).
        filter_ir_out: keep only these output irreps (a string, an irrep or a list); None keeps all.
        method: the kernel family (see :func:`~equitens.tp.registry.available_methods`).
        irrep_normalization: ``"component"`` (e3nn-jax's default), ``"norm"`` or ``"none"``.

    Returns:
        An ``e3nn_jax.IrrepsArray``.

    Examples:
        >>> import e3nn_jax as e3nn, jax.numpy as jnp
        >>> x = e3nn.IrrepsArray("2x0e + 1o", jnp.arange(5.0))
        >>> y = e3nn.IrrepsArray("1e + 0o + 0o", jnp.arange(5.0))
        >>> z = elementwise_tensor_product(x, y)
        >>> z.irreps, bool(jnp.allclose(z.array, jnp.array([0.0, 0.0, 0.0, 3.0, 8.0, 12.0, 16.0])))
        (1x1e+1x0o+1x1e, True)
    """
    import e3nn_jax as e3nn

    check_method(method)
    x = _as_irreps_array(x, "x")
    y = _as_irreps_array(y, "y")
    irreps1, irreps2 = Irreps(x.irreps), Irreps(y.irreps)
    if irreps1.num_irreps != irreps2.num_irreps:
        raise ValueError(
            f"elementwise_tensor_product needs inputs with the same number of irreps, got "
            f"{irreps1} ({irreps1.num_irreps}) and {irreps2} ({irreps2.num_irreps}); use "
            "tensor_product for all channel pairs"
        )
    irreps1, irreps2 = _align(irreps1, irreps2)
    dtype = _dtype(x, y)
    spec = TensorProductSpec.elementwise(
        irreps1, irreps2, filter_ir_out, irrep_normalization=irrep_normalization, method=method
    )
    out = tensor_product_kernel(spec)(x.array.astype(dtype), y.array.astype(dtype))
    return e3nn.IrrepsArray(spec.irreps_out.to_e3nn(), out)
