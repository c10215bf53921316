"""Memory layouts of irreps arrays, and zero-copy interop with ``e3nn_jax.IrrepsArray``.

An array of irreps ``"32x0e + 16x1o"`` has ``irreps.dim`` components on its last axis, one block
per term. Inside a block ``(mul, ir)`` there are two orders:

- **mul_ir** (e3nn's, equitens' public layout): the block is ``[mul, 2l+1]`` flattened, so the
  ``2l+1`` components of each copy are contiguous;
- **ir_mul**: the block is ``[2l+1, mul]`` flattened, so each component ``m`` is contiguous over
  the copies (convenient for kernels that apply the same operation to all copies).

Blocks with ``mul = 1`` or ``l = 0`` are the same in both layouts. The conversions are one static
gather on the last axis; their derivatives are reshapes and transposes (no scatter), so they are
cheap under ``jax.grad`` and differentiable to any order, in forward and reverse mode.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.irreps import Irreps

__all__ = ["mul_ir_to_ir_mul", "ir_mul_to_mul_ir", "from_e3nn", "to_e3nn"]


def _checked(array: Any, irreps: Any, caller: str) -> tuple[jax.Array, Irreps]:
    irreps = Irreps(irreps)
    array = jnp.asarray(array)
    if array.ndim == 0 or array.shape[-1] != irreps.dim:
        raise ValueError(
            f"{caller}: expected an array of shape (..., {irreps.dim}) for the irreps "
            f"{irreps!r} (last axis = irreps.dim), got shape {tuple(array.shape)}"
        )
    return array, irreps


# -- cutting arrays into pieces: helpers shared by the kernels (tp, conv, nn), not re-exported


def split_sizes(x: jax.Array, sizes: list[int], axis: int = -1) -> list[jax.Array]:
    """Cut one axis into consecutive pieces of the given sizes (``jax.lax.split``).

    Unlike slicing, whose transpose pads every piece to the full size and adds them (quadratic in
    the number of pieces), the transpose of a split is one concatenation: backward passes stay
    cheap.

    Examples:
        >>> import jax.numpy as jnp
        >>> [p.tolist() for p in split_sizes(jnp.arange(5), [2, 3])]
        [[0, 1], [2, 3, 4]]
    """
    if len(sizes) == 1:
        return [x]
    return list(jax.lax.split(x, sizes, axis=axis))


def concat(parts: list[jax.Array], axis: int = -1) -> jax.Array:
    """The inverse of :func:`split_sizes` (no copy for a single piece)."""
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def split_blocks(x: jax.Array, irreps: Irreps, layout: str = "mul_ir") -> list[jax.Array]:
    """``(..., irreps.dim)`` -> one array per entry: ``(..., mul, 2l+1)`` in the mul_ir layout,
    ``(..., 2l+1, mul)`` in the ir_mul layout.

    Examples:
        >>> import jax.numpy as jnp
        >>> [b.shape for b in split_blocks(jnp.zeros((5, 7)), Irreps("0e + 2x1o"))]
        [(5, 1, 1), (5, 2, 3)]
        >>> [b.shape for b in split_blocks(jnp.zeros((5, 7)), Irreps("0e + 2x1o"), "ir_mul")]
        [(5, 1, 1), (5, 3, 2)]
    """
    parts = split_sizes(x, [mul * ir.dim for mul, ir in irreps])
    return [
        part.reshape(part.shape[:-1] + ((mul, ir.dim) if layout == "mul_ir" else (ir.dim, mul)))
        for part, (mul, ir) in zip(parts, irreps, strict=True)
    ]


def _is_identity(irreps: Irreps) -> bool:
    return all(mul <= 1 or ir.l == 0 for mul, ir in irreps)


@functools.cache
def _gather_indices(irreps: Irreps, to_ir_mul: bool) -> np.ndarray:
    """Indices ``idx`` with ``output = input[..., idx]`` for the conversion (read-only)."""
    blocks = []
    for (mul, ir), block in zip(irreps, irreps.slices(), strict=True):
        source = np.arange(block.start, block.stop)
        shape = (mul, ir.dim) if to_ir_mul else (ir.dim, mul)
        blocks.append(source.reshape(shape).T.reshape(-1))
    dtype = np.int32 if irreps.dim < 2**31 else np.int64
    indices = np.concatenate(blocks or [np.zeros(0, np.int64)]).astype(dtype)
    indices.setflags(write=False)
    return indices


def _transpose_blocks(array: jax.Array, irreps: Irreps, to_ir_mul: bool) -> jax.Array:
    """The conversion as split, per-block transposes and concatenate (its transpose is the same)."""
    lead = array.shape[:-1]
    sizes = [mul_ir.dim for mul_ir in irreps]
    chunks = []
    for (mul, ir), chunk in zip(irreps, split_sizes(array, sizes), strict=True):
        if mul > 1 and ir.l > 0:
            shape = (mul, ir.dim) if to_ir_mul else (ir.dim, mul)
            chunk = jnp.swapaxes(chunk.reshape(lead + shape), -1, -2)
            chunk = chunk.reshape(lead + (mul * ir.dim,))
        chunks.append(chunk)
    return jnp.concatenate(chunks, axis=-1)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _permute(array: jax.Array, irreps: Irreps, to_ir_mul: bool) -> jax.Array:
    # One gather: as fast as a copy on CPU, where the per-block transposes are 2-3x slower.
    indices = _gather_indices(irreps, to_ir_mul)
    return array.at[..., indices].get(mode="promise_in_bounds", unique_indices=True)


@_permute.defjvp
def _permute_jvp(
    irreps: Irreps, to_ir_mul: bool, primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    # The tangent map is written with transposes so that its transpose (the backward pass) is
    # transposes too; the transpose of a gather would be a scatter-add, ~10x slower on CPU.
    (array,), (tangent,) = primals, tangents
    return _permute(array, irreps, to_ir_mul), _transpose_blocks(tangent, irreps, to_ir_mul)


def _convert(array: Any, irreps: Any, to_ir_mul: bool, caller: str) -> jax.Array:
    array, irreps = _checked(array, irreps, caller)
    if _is_identity(irreps):
        return array
    return _permute(array, irreps, to_ir_mul)


def mul_ir_to_ir_mul(array: Any, irreps: Any) -> jax.Array:
    """Convert an array from the mul_ir layout (e3nn's) to the ir_mul layout.

    Each block ``(mul, ir)`` of the last axis goes from ``[mul, 2l+1]`` to ``[2l+1, mul]``
    (flattened). ``irreps`` is static: call it inside ``jax.jit`` with a fixed irreps.

    Args:
        array: array of shape ``(..., irreps.dim)`` in the mul_ir layout.
        irreps: the irreps of the last axis (anything `Irreps` accepts).

    Returns:
        Array of the same shape and dtype in the ir_mul layout.

    Raises:
        ValueError: if the last axis is not ``irreps.dim`` long.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.arange(7)  # 1x0e + 2x1o: (s, x1, y1, z1, x2, y2, z2)
        >>> mul_ir_to_ir_mul(x, "0e + 2x1o")
        Array([0, 1, 4, 2, 5, 3, 6], dtype=int64)
    """
    return _convert(array, irreps, True, "mul_ir_to_ir_mul")


def ir_mul_to_mul_ir(array: Any, irreps: Any) -> jax.Array:
    """Convert an array from the ir_mul layout to the mul_ir layout (e3nn's).

    The inverse of `mul_ir_to_ir_mul`: each block ``(mul, ir)`` goes from ``[2l+1, mul]`` to
    ``[mul, 2l+1]`` (flattened).

    Args:
        array: array of shape ``(..., irreps.dim)`` in the ir_mul layout.
        irreps: the irreps of the last axis (anything `Irreps` accepts).

    Returns:
        Array of the same shape and dtype in the mul_ir layout.

    Raises:
        ValueError: if the last axis is not ``irreps.dim`` long.

    Examples:
        >>> import jax.numpy as jnp
        >>> ir_mul_to_mul_ir(jnp.array([0, 1, 4, 2, 5, 3, 6]), "0e + 2x1o")
        Array([0, 1, 2, 3, 4, 5, 6], dtype=int64)
    """
    return _convert(array, irreps, False, "ir_mul_to_mul_ir")


def _e3nn_jax() -> Any:
    import e3nn_jax

    return e3nn_jax


def from_e3nn(x: Any) -> tuple[jax.Array, Irreps]:
    """Unpack an ``e3nn_jax.IrrepsArray`` into its array (mul_ir layout) and its irreps.

    No copy is made: e3nn-jax's layout is equitens' public layout.

    Args:
        x: an ``e3nn_jax.IrrepsArray``.

    Returns:
        ``(x.array, Irreps(x.irreps))``.

    Raises:
        TypeError: if ``x`` is not an ``e3nn_jax.IrrepsArray``.

    Examples:
        >>> import e3nn_jax, jax.numpy as jnp
        >>> array, irreps = from_e3nn(e3nn_jax.IrrepsArray("0e + 1o", jnp.ones(4)))
        >>> array.shape, irreps
        ((4,), 1x0e+1x1o)
    """
    e3nn = _e3nn_jax()
    if not isinstance(x, e3nn.IrrepsArray):
        raise TypeError(
            f"from_e3nn expects an e3nn_jax.IrrepsArray, got {type(x).__name__}; "
            "a plain array has no irreps attached: keep its Irreps alongside it"
        )
    return x.array, Irreps(x.irreps)


def to_e3nn(array: Any, irreps: Any) -> Any:
    """Wrap an array in the mul_ir layout as an ``e3nn_jax.IrrepsArray`` (no copy).

    Args:
        array: array of shape ``(..., irreps.dim)`` in the mul_ir layout.
        irreps: the irreps of the last axis (anything `Irreps` accepts).

    Returns:
        The ``e3nn_jax.IrrepsArray`` with these irreps and this array.

    Raises:
        ValueError: if the last axis is not ``irreps.dim`` long.

    Examples:
        >>> import jax.numpy as jnp
        >>> to_e3nn(jnp.zeros((2, 4)), "0e + 1o").irreps
        1x0e+1x1o
    """
    array, irreps = _checked(array, irreps, "to_e3nn")
    return _e3nn_jax().IrrepsArray(irreps.to_e3nn(), array)
