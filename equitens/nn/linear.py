"""Irreps-wise linear map: mixes the channels of each irrep type, never the irreps themselves.

The semantics and normalization are those of ``e3nn_jax.flax.Linear`` (with e3nn-jax's default
configuration), so that a model ported from e3nn-jax gives the same values with the same weights:

* the input irreps are regrouped (sorted, equal irreps merged, empty chunks dropped);
* the output irreps are simplified (adjacent equal irreps merged) and every output irrep that
  does not occur in the input is dropped (Schur's lemma: no equivariant map reaches it);
* every output irrep ``ir`` receives ``sum_u x[u] W[u, v] / sqrt(mul_in(ir))``.

The weights of a :class:`LinearSpec` live in one flat vector (``weight_numel`` entries, one
``(mul_in, mul_out)`` row-major block per irrep type, in sorted irrep order, see
:meth:`LinearSpec.weight_blocks`) and,
with biases, a second flat vector of ``bias_numel`` entries (one per ``0e`` output channel).
The flax modules in :mod:`equitens.nn.linen` and :mod:`equitens.nn.nnx` own these vectors,
create them with :func:`init_linear_weights` and :func:`init_linear_biases` and call
:func:`linear`; both flavours share this code, so they agree by construction.

Irreps arguments accept anything :class:`equitens.Irreps` accepts (strings, ``equitens.Irreps``,
``e3nn_jax.Irreps``, lists of ``(mul, ir)``); specs store :class:`equitens.Irreps`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.irreps import IntoIrreps, Irrep, Irreps

__all__ = [
    "LinearSpec",
    "init_linear_biases",
    "init_linear_weights",
    "linear",
    "linear_input_irreps",
]

_SCALAR = Irrep("0e")


def _parse_gradient_normalization(value: str | float) -> float:
    if isinstance(value, str):
        table = {"element": 0.0, "path": 1.0}
        if value not in table:
            raise ValueError(
                "gradient_normalization must be 'element', 'path' or a float in [0, 1], "
                f"got {value!r}"
            )
        return table[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"gradient_normalization must be 'element', 'path' or a float in [0, 1], got {value!r}"
        )
    return float(value)


@dataclasses.dataclass(frozen=True)
class LinearSpec:
    """Static description of an irreps-wise linear map (hashable, usable as a jit static argument).

    Build it with :meth:`LinearSpec.create`, which applies e3nn-jax's simplification rules.

    Attributes:
        irreps_in: the input irreps exactly as the caller's arrays are laid out.
        irreps_out: the output irreps (simplified, restricted to irreps present in the input).
        biases: whether the ``0e`` outputs get a learned bias.
        gradient_normalization: ``0.0`` ("element": the ``1/sqrt(mul_in)`` factor is in the
            initialization) or ``1.0`` ("path": it is in the forward pass), or in between.
    """

    irreps_in: Irreps
    irreps_out: Irreps
    biases: bool = False
    gradient_normalization: float = 1.0

    @classmethod
    def create(
        cls,
        irreps_in: IntoIrreps,
        irreps_out: IntoIrreps,
        *,
        biases: bool = False,
        gradient_normalization: str | float = "path",
    ) -> LinearSpec:
        """The spec of a linear map from ``irreps_in`` to (the reachable part of) ``irreps_out``.

        Args:
            irreps_in: input irreps, in the order of the input array's last axis.
            irreps_out: requested output irreps; irreps absent from the input are dropped and
                adjacent equal irreps merged, exactly as ``e3nn_jax.flax.Linear`` does.
            biases: add a learned bias to the ``0e`` outputs.
            gradient_normalization: ``"path"`` (e3nn-jax's default: weights initialised with unit
                variance, ``1/sqrt(mul_in)`` applied in the forward pass), ``"element"`` (the factor
                is in the initialization instead) or a float in ``[0, 1]`` interpolating.

        Returns:
            The spec.

        Examples:
            >>> spec = LinearSpec.create("2x0e + 1o + 0e", "3x0e + 2x1o + 1e")
            >>> spec.irreps_out  # 1e is unreachable from the input
            3x0e+2x1o
            >>> spec.weight_numel  # 0e: 3x3, 1o: 1x2
            11
        """
        irreps_in = Irreps(irreps_in)
        irreps_out = Irreps(irreps_out).simplify()
        present = {ir for mul, ir in irreps_in if mul > 0}
        irreps_out = Irreps(
            [(mul, ir) for mul, ir in irreps_out if ir in present and mul > 0]
        ).simplify()
        return cls(
            irreps_in=irreps_in,
            irreps_out=irreps_out,
            biases=bool(biases),
            gradient_normalization=_parse_gradient_normalization(gradient_normalization),
        )

    @functools.cached_property
    def _layout(
        self,
    ) -> tuple[tuple[Irrep, int, tuple[int, ...], tuple[int, ...], int, int], ...]:
        # One entry per irrep type reached by the map, in sorted irrep order (e3nn's regroup):
        # (ir, mul_in, input chunk indices, output chunk indices, mul_out, weight offset)
        offset = 0
        layout = []
        for ir in sorted({ir for mul, ir in self.irreps_in if mul > 0}):
            ins = tuple(i for i, (mul, ir_i) in enumerate(self.irreps_in) if ir_i == ir and mul > 0)
            outs = tuple(i for i, (_, ir_o) in enumerate(self.irreps_out) if ir_o == ir)
            if not outs:
                continue
            mul_in = sum(self.irreps_in[i].mul for i in ins)
            mul_out = sum(self.irreps_out[i].mul for i in outs)
            layout.append((ir, mul_in, ins, outs, mul_out, offset))
            offset += mul_in * mul_out
        return tuple(layout)

    @property
    def weight_numel(self) -> int:
        """Number of weights (one ``(mul_in, mul_out)`` block per irrep type)."""
        return sum(mul_in * mul_out for _, mul_in, _, _, mul_out, _ in self._layout)

    @property
    def bias_numel(self) -> int:
        """Number of biases: the ``0e`` output channels if ``biases`` else 0."""
        if not self.biases:
            return 0
        return sum(mul for mul, ir in self.irreps_out if ir == _SCALAR)

    def weight_blocks(self) -> tuple[tuple[str, tuple[int, int]], ...]:
        """The blocks of the flat weight vector, in order.

        Returns:
            ``(irrep, (mul_in, mul_out))`` per irrep type; block ``k`` occupies the next
            ``mul_in * mul_out`` entries of the flat vector, row-major.

        Examples:
            >>> LinearSpec.create("2x0e + 1o", "0e + 3x1o").weight_blocks()
            (('0e', (2, 1)), ('1o', (1, 3)))
        """
        return tuple((str(ir), (mul_in, mul_out)) for ir, mul_in, _, _, mul_out, _ in self._layout)

    def init_std(self) -> np.ndarray:
        """Per-weight standard deviation of the default normal initialization.

        Returns:
            float64 array of shape ``(weight_numel,)``: ``mul_in ** (-(1 - g) / 2)`` for each
            block, with ``g`` the gradient normalization (so all ones for ``"path"``).

        Examples:
            >>> import numpy as np
            >>> std = LinearSpec.create("4x0e", "0e", gradient_normalization="element").init_std()
            >>> std.shape, bool(np.allclose(std, 0.5))  # 4 ** -0.5
            ((4,), True)
        """
        parts = [
            np.full(mul_in * mul_out, mul_in ** (-(1.0 - self.gradient_normalization) / 2))
            for _, mul_in, _, _, mul_out, _ in self._layout
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    def __repr__(self) -> str:
        return (
            f"LinearSpec({self.irreps_in} -> {self.irreps_out}, {self.weight_numel} weights"
            f"{f', {self.bias_numel} biases' if self.biases else ''})"
        )


def _leading(num_species: int | None) -> tuple[int, ...]:
    return () if num_species is None else (num_species,)


def init_linear_weights(
    key: jax.Array, spec: LinearSpec, num_species: int | None = None, dtype: Any = jnp.float32
) -> jax.Array:
    """The default weights of a linear layer: standard normal times :meth:`LinearSpec.init_std`.

    The signature is that of flax's ``Module.param`` initializers followed by their arguments, so
    linen calls ``self.param("w", init_linear_weights, spec, num_species, dtype)`` and nnx
    ``init_linear_weights(rngs.params(), spec, num_species, dtype)``: both flavours draw their
    initial weights from the same distribution.

    Args:
        key: a ``jax.random`` key.
        spec: the layer's spec.
        num_species: number of weight sets (per-species weights), or None for one set.
        dtype: dtype of the weights.

    Returns:
        ``(weight_numel,)``, or ``(num_species, weight_numel)`` with ``num_species``.

    Examples:
        >>> import jax
        >>> spec = LinearSpec.create("4x0e", "2x0e")
        >>> init_linear_weights(jax.random.PRNGKey(0), spec, num_species=3).shape
        (3, 8)
    """
    shape = _leading(num_species) + (spec.weight_numel,)
    return jax.random.normal(key, shape, dtype) * jnp.asarray(spec.init_std(), dtype)


def init_linear_biases(
    key: jax.Array | None,
    spec: LinearSpec,
    num_species: int | None = None,
    dtype: Any = jnp.float32,
) -> jax.Array:
    """The default biases of a linear layer: zeros (``key`` is unused; it keeps flax's signature).

    Args:
        key: ignored (None is fine).
        spec: the layer's spec.
        num_species: number of bias sets, or None for one set.
        dtype: dtype of the biases.

    Returns:
        Zeros of shape ``(bias_numel,)``, or ``(num_species, bias_numel)``.
    """
    del key
    return jnp.zeros(_leading(num_species) + (spec.bias_numel,), dtype)


def linear_input_irreps(declared: IntoIrreps | None, x: e3nn.IrrepsArray | jax.Array) -> Irreps:
    """The input irreps of a layer: the declared ones, else those of an ``IrrepsArray`` input.

    Args:
        declared: the layer's ``irreps_in`` (None: infer from ``x``).
        x: the input.

    Returns:
        The irreps as :class:`equitens.Irreps`.

    Raises:
        ValueError: if nothing is declared and ``x`` is a plain array.

    Examples:
        >>> import jax.numpy as jnp, e3nn_jax as e3nn
        >>> linear_input_irreps(None, e3nn.IrrepsArray("2x0e", jnp.ones(2)))
        2x0e
        >>> linear_input_irreps("0e + 1o", jnp.ones(4))
        1x0e+1x1o
    """
    if declared is not None:
        return Irreps(declared)
    if isinstance(x, e3nn.IrrepsArray):
        return Irreps(x.irreps)
    raise ValueError(
        "Linear: pass an e3nn_jax.IrrepsArray, or declare irreps_in=... to use plain arrays"
    )


def _check_input(spec: LinearSpec, x: e3nn.IrrepsArray | jax.Array) -> tuple[LinearSpec, jax.Array]:
    """The input as a plain array, and the spec re-laid for its chunking if that differs."""
    if isinstance(x, e3nn.IrrepsArray):
        irreps = Irreps(x.irreps)
        if irreps != spec.irreps_in:
            if irreps.regroup() != spec.irreps_in.regroup():
                raise ValueError(
                    f"linear: the input has irreps {irreps} but the layer expects "
                    f"{spec.irreps_in}; pass an input with these irreps (any chunking) or build "
                    "the layer for the input's irreps"
                )
            spec = dataclasses.replace(spec, irreps_in=irreps)  # same weights, other chunking
        return spec, x.array
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] != spec.irreps_in.dim:
        raise ValueError(
            f"linear: the input's last axis must have size irreps_in.dim={spec.irreps_in.dim} "
            f"({spec.irreps_in}), got shape {x.shape}"
        )
    return spec, x


def _check_species(num_species: int | None, species: jax.Array | None) -> None:
    """Module-level check: species are given if and only if the layer has per-species weights."""
    if num_species is None and species is not None:
        raise ValueError(
            "species were given but the layer has no per-species weights; set num_species=..."
        )
    if num_species is not None and species is None:
        raise ValueError(
            f"the layer has num_species={num_species} weight sets: pass species=... (integers)"
        )


def linear(
    spec: LinearSpec,
    weights: jax.Array,
    x: e3nn.IrrepsArray | jax.Array,
    biases: jax.Array | None = None,
    species: jax.Array | None = None,
) -> e3nn.IrrepsArray:
    """Apply an irreps-wise linear map.

    Args:
        spec: the static description (see :meth:`LinearSpec.create`).
        weights: flat weights of shape ``(weight_numel,)``, or ``(num_species, weight_numel)``
            together with ``species``.
        x: input of shape ``(..., irreps_in.dim)``: an ``e3nn_jax.IrrepsArray`` whose irreps equal
            ``spec.irreps_in`` up to chunking (same ``regroup()``), or a plain array laid out
            exactly as ``spec.irreps_in`` (e3nn's mul_ir layout).
        biases: ``(bias_numel,)`` (or ``(num_species, bias_numel)`` with ``species``); required
            if and only if ``spec.biases``.
        species: optional integer array broadcastable to ``x.shape[:-1]``: sample ``n`` uses
            weight set ``species[n]`` (MACE's element-dependent linear). Indices outside
            ``[0, num_species)`` select no weights and give zero output.

    Returns:
        ``e3nn_jax.IrrepsArray`` of irreps ``spec.irreps_out`` (as ``e3nn_jax.Irreps``, the type
        an ``IrrepsArray`` holds) and shape ``(..., irreps_out.dim)``, in the dtype of ``x``.

    Examples:
        >>> import jax.numpy as jnp, e3nn_jax as e3nn
        >>> spec = LinearSpec.create("2x0e + 1o", "0e + 1o")
        >>> x = e3nn.IrrepsArray("2x0e + 1o", jnp.array([1.0, 3.0, 0.0, 2.0, 0.0]))
        >>> y = linear(spec, jnp.ones(spec.weight_numel), x)  # 0e: (1+3)/sqrt(2), 1o: unchanged
        >>> y.irreps, bool(jnp.allclose(y.array, jnp.array([8**0.5, 0.0, 2.0, 0.0])))
        (1x0e+1x1o, True)
    """
    spec, array = _check_input(spec, x)
    dtype = array.dtype if jnp.issubdtype(array.dtype, jnp.floating) else jnp.result_type(float)
    array = array.astype(dtype)
    weights = jnp.asarray(weights)
    per_species = species is not None
    expected = (spec.weight_numel,)
    if per_species:
        if weights.ndim != 2 or weights.shape[1:] != expected:
            raise ValueError(
                "linear: with species, weights must have shape "
                f"(num_species, {spec.weight_numel}), "
                f"got {weights.shape}"
            )
        species = jnp.asarray(species)
        if not jnp.issubdtype(species.dtype, jnp.integer):
            raise ValueError(f"linear: species must be an integer array, got dtype {species.dtype}")
    elif weights.shape != expected:
        raise ValueError(
            f"linear: weights must have shape ({spec.weight_numel},), got {weights.shape}"
            + ("; pass species=... to use per-species weights" if weights.ndim == 2 else "")
        )
    if spec.biases != (biases is not None):
        raise ValueError(
            "linear: biases must be given if and only if spec.biases is True "
            f"(spec.biases={spec.biases}, biases given: {biases is not None})"
        )

    batch = array.shape[:-1]
    if per_species:
        try:
            batch = jnp.broadcast_shapes(batch, species.shape)
        except ValueError:
            raise ValueError(
                f"linear: species of shape {species.shape} does not broadcast with the batch "
                f"shape {array.shape[:-1]}"
            ) from None
        array = jnp.broadcast_to(array, batch + array.shape[-1:])
        onehot = jax.nn.one_hot(jnp.broadcast_to(species, batch), weights.shape[0], dtype=dtype)
    weights = weights.astype(dtype)
    g = spec.gradient_normalization

    in_slices = spec.irreps_in.slices()
    out_chunks: list[jax.Array | None] = [None] * len(spec.irreps_out)
    for ir, mul_in, ins, outs, mul_out, offset in spec._layout:
        x_ir = jnp.concatenate(
            [
                array[..., in_slices[i]].reshape(batch + (spec.irreps_in[i].mul, ir.dim))
                for i in ins
            ],
            axis=-2,
        )  # (..., mul_in, d)
        scale = mul_in ** (-g / 2)
        if per_species:
            w = weights[:, offset : offset + mul_in * mul_out].reshape(-1, mul_in, mul_out)
            y = jnp.einsum("...s,...ui,suv->...vi", onehot, x_ir, w)
        else:
            w = weights[offset : offset + mul_in * mul_out].reshape(mul_in, mul_out)
            y = jnp.einsum("...ui,uv->...vi", x_ir, w)
        y = scale * y
        start = 0
        for i in outs:
            mul = spec.irreps_out[i].mul
            out_chunks[i] = y[..., start : start + mul, :]
            start += mul

    if biases is not None:
        biases = jnp.asarray(biases).astype(dtype)
        if biases.shape[-1:] != (spec.bias_numel,) or biases.ndim != (2 if per_species else 1):
            raise ValueError(
                "linear: biases must have shape "
                f"{'(num_species, ' if per_species else '('}{spec.bias_numel},), "
                f"got {biases.shape}"
            )
        start = 0
        for i, (mul, ir) in enumerate(spec.irreps_out):
            if ir != _SCALAR:
                continue
            b = biases[..., start : start + mul]
            if per_species:
                b = onehot @ b
            out_chunks[i] = out_chunks[i] + b[..., None]
            start += mul

    flat = [c.reshape(batch + (-1,)) for c in out_chunks]
    out = jnp.concatenate(flat, axis=-1) if flat else jnp.zeros(batch + (0,), dtype)
    return e3nn.IrrepsArray(spec.irreps_out.to_e3nn(), out)
