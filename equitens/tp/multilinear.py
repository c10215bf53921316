"""Fast derivatives of any order for kernels that are linear in each of their arguments.

A tensor product ``out = f(x1, x2, w)`` is linear in ``x1``, in ``x2`` and in ``w`` separately, so
``F(x1, x2, w, g) = <g, f(x1, x2, w)>`` is a multilinear form of its *slots* ``(x1, x2, w, g)``
(``(x1, x2, g)`` for an unweighted product). Every derivative of every order is then a *slot
contraction*: the gradient of ``F`` with respect to one slot, given the others,

    slot(s; others) = dF / d(slot s),

and the vector-Jacobian product of ``slot(s; ...)`` with respect to another slot ``t``, for the
cotangent ``c``, is ``slot(t; ...)`` with ``c`` put in slot ``s``. :func:`multilinear` wraps a
forward function in ``jax.custom_vjp`` rules built on that identity:

- the backward pass computes every first derivative in one pass over the samples (one fused
  computation per chunk);
- the double backward (training on forces) is, per chunk, JAX's own second-order derivative of
  that pass, again one fused computation; where the family gives an explicit contraction for
  every input slot it is instead the sum of those contractions (the slot expansion below), since
  JAX's derivative of explicit contractions transposes their column slices into pads (measured
  1.2-1.4x slower for the unrolled CG kernels);
- third and higher orders expand into slot contractions, each differentiable again.

On a CPU every pass runs over chunks of samples (``jax.lax.map``) so that the intermediates of a
chunk stay in cache, which matters more than the arithmetic there; on GPU and TPU a pass is one
unchunked computation (the chunk size is chosen per platform when the kernel is lowered, see
:mod:`equitens.tp.plan`). The residuals saved between passes are the inputs only, never a
whole-batch intermediate. A family writes its forward; it may also give
explicit slot contractions (its transposed index structure) when JAX's linear transpose of the
forward is slow.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

__all__ = ["multilinear"]


@dataclasses.dataclass(frozen=True, eq=False)
class _Form:
    """The static description of a multilinear form: hashed by identity (one per kernel)."""

    forward: Callable  # forward(x1, x2, w) on one chunk: (C, d1), (C, d2), (C, nw) | (nw,) | None
    dims: tuple  # (d1, d2, nw or None, d_out)
    shared_weights: bool
    chunk_sizes: tuple  # ((platform, samples per chunk or None), ..., ("default", ...))
    fuse_gradients: bool = True
    slot_functions: tuple = ()  # ((slot, fn(x1, x2, w, g) -> array), ...): explicit contractions
    linear_in_x2: bool = True  # False: f is not linear in x2 (slot expansions do not apply)

    @property
    def weighted(self) -> bool:
        return self.dims[2] is not None

    @property
    def slots(self) -> tuple[int, ...]:
        return (0, 1, 2, 3) if self.weighted else (0, 1, 3)

    def chunk_shape(self, slot: int, chunk: int) -> tuple[int, ...]:
        if slot == 2 and self.shared_weights:
            return (self.dims[2],)
        return (chunk, self.dims[slot])

    def chunk_fn(self, slot: int) -> Callable:
        """``fn(operands) -> slot value`` on one chunk; ``operands`` maps every other slot."""
        explicit = dict(self.slot_functions)
        if slot in explicit:
            fn = explicit[slot]
            if slot == 2 and self.shared_weights:  # explicit functions give per-sample weights
                return lambda ops: fn(ops.get(0), ops.get(1), None, ops.get(3)).sum(axis=0)
            return lambda ops: fn(ops.get(0), ops.get(1), ops.get(2), ops.get(3))
        if slot == 3:
            return lambda ops: self.forward(ops[0], ops[1], ops.get(2))

        def transpose(ops):
            g = ops[3]
            chunk = g.shape[0]
            primal = jax.ShapeDtypeStruct(self.chunk_shape(slot, chunk), g.dtype)

            def linear(t):
                args = dict(ops)
                args[slot] = t
                return self.forward(args[0], args[1], args.get(2))

            return jax.linear_transpose(linear, primal)(g)[0]

        return transpose

    @property
    def explicit(self) -> bool:
        """Whether every input slot has an explicit contraction (its own index structure)."""
        explicit = dict(self.slot_functions)
        return all(s in explicit for s in self.slots if s != 3)

    def gradient_fn(self) -> Callable:
        """``fn(operands) -> (d x1, d x2[, d w])`` on one chunk: all first derivatives at once."""
        inputs = [s for s in self.slots if s != 3]
        if self.explicit:
            functions = [self.chunk_fn(s) for s in inputs]

            def explicit_gradients(ops):
                return tuple(
                    fn({t: a for t, a in ops.items() if t != s})
                    for s, fn in zip(inputs, functions, strict=True)
                )

            return explicit_gradients

        def gradients(ops):
            primals = [ops[0], ops[1]] + ([ops[2]] if self.weighted else [])

            def forward(*a):
                return self.forward(a[0], a[1], a[2] if self.weighted else None)

            _, vjp = jax.vjp(forward, *primals)
            return vjp(ops[3])

        return gradients


def _is_weights(key) -> bool:
    """Whether an operand key is the weight slot (2) or a cotangent for it (("c", 2))."""
    return key == 2 or key == ("c", 2)


def _map_chunks(form: _Form, fn: Callable, operands: dict, shared_out: tuple[bool, ...]):
    """Apply ``fn`` over the samples, chunked as the lowering platform's plan says; outputs
    flagged in ``shared_out`` are summed over the samples."""
    n = _samples(form, operands)
    # a chunk that holds every sample is no chunk: then no platform needs its own branch
    sizes = {p: None if size is None or size >= n else size for p, size in form.chunk_sizes}
    if len(set(sizes.values())) == 1:
        return _map_fixed(sizes["default"], fn, form, operands, shared_out)
    keys = list(operands)

    def branch(size):
        def run(values):
            ops = dict(zip(keys, values, strict=True))
            return _map_fixed(size, fn, form, ops, shared_out)

        return run

    per_platform = {p: branch(size) for p, size in sizes.items() if p != "default"}
    values = [operands[k] for k in keys]
    return tuple(
        jax.lax.platform_dependent(values, default=branch(sizes["default"]), **per_platform)
    )


def _per_sample(form: _Form, operands: dict) -> dict:
    """The operands with one row per sample (all but shared weights and their cotangents)."""
    return {s: a for s, a in operands.items() if not (_is_weights(s) and form.shared_weights)}


def _samples(form: _Form, operands: dict) -> int:
    """The number of samples (the leading axis of the per-sample operands)."""
    return max(a.shape[0] for a in _per_sample(form, operands).values())


def _map_fixed(chunk: int | None, fn: Callable, form: _Form, operands: dict, shared_out):
    """Apply ``fn`` chunk by chunk (``chunk`` samples each; ``None``: all at once)."""
    per_sample = _per_sample(form, operands)
    shared = {s: a for s, a in operands.items() if s not in per_sample}
    n = max(a.shape[0] for a in per_sample.values())
    if chunk is None or n <= chunk:
        return tuple(fn({**per_sample, **shared}))
    count = -(-n // chunk)
    padded = count * chunk

    def split(a):
        if padded != n:
            a = jnp.pad(a, [(0, padded - n)] + [(0, 0)] * (a.ndim - 1))
        return a.reshape((count, chunk) + a.shape[1:])

    keys = list(per_sample)
    stacked = tuple(split(per_sample[s]) for s in keys)

    def body(xs):
        return fn({**dict(zip(keys, xs, strict=True)), **shared})

    outs = jax.lax.map(body, stacked)
    results = []
    for out, is_shared in zip(outs, shared_out, strict=True):
        results.append(out.sum(axis=0) if is_shared else out.reshape((padded,) + out.shape[2:])[:n])
    return tuple(results)


def _barrier(values: tuple) -> tuple:
    """Materialise a contraction's results: XLA must not fuse (and so duplicate) their
    computation into each consumer, which measured up to 12x slower for the unrolled kernels."""
    return tuple(jax.lax.optimization_barrier(tuple(values)))


def _evaluate(form: _Form, slot: int, operands: dict) -> jax.Array:
    """The slot contraction over all samples, chunk by chunk."""
    fn = form.chunk_fn(slot)
    n = _samples(form, operands)
    if n == 0:
        return jnp.zeros(form.chunk_shape(slot, 0), next(iter(operands.values())).dtype)
    shared_out = (slot == 2 and form.shared_weights,)
    return _barrier(_map_chunks(form, lambda ops: (fn(ops),), operands, shared_out))[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _slot(form: _Form, slot: int, *operands):
    others = [s for s in form.slots if s != slot]
    return _evaluate(form, slot, dict(zip(others, operands, strict=True)))


def _is_zero(x) -> bool:
    return isinstance(x, SymbolicZero)


def _slot_fwd(form: _Form, slot: int, *operands):
    operands = tuple(op.value for op in operands)
    return _slot(form, slot, *operands), operands


def _slot_bwd(form: _Form, slot: int, operands, cotangent):
    others = [s for s in form.slots if s != slot]
    if _is_zero(cotangent):
        return tuple(jnp.zeros_like(op) for op in operands)
    full = dict(zip(others, operands, strict=True))
    full[slot] = cotangent
    fused = form.fuse_gradients or not form.linear_in_x2
    if slot == 3 and fused:  # the forward: every first derivative in one pass
        return _grads(form, *[full[s] for s in form.slots])
    grads = []
    for target in others:
        args = [full[s] for s in form.slots if s != target]
        grads.append(_slot(form, target, *args))
    return tuple(grads)


_slot.defvjp(_slot_fwd, _slot_bwd, symbolic_zeros=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _grads(form: _Form, *operands):
    """``(dF/dx1, dF/dx2[, dF/dw])`` given every slot, in one chunked pass."""
    inputs = [s for s in form.slots if s != 3]
    full = dict(zip(form.slots, operands, strict=True))
    if full[3].shape[0] == 0:
        return tuple(jnp.zeros_like(full[s]) for s in inputs)
    shared_out = tuple(s == 2 and form.shared_weights for s in inputs)
    return _barrier(_map_chunks(form, form.gradient_fn(), full, shared_out))


def _grads_fwd(form: _Form, *operands):
    operands = tuple(op.value for op in operands)
    return _grads(form, *operands), operands


def _second_terms(form: _Form, operands, cotangents) -> tuple:
    """The vector-Jacobian product of ``_grads``, term by term with slot contractions.

    ``G = sum_s <c_s, dF/ds> = sum_s F(slot s := c_s)``, so
    ``dG/dr = sum_{s != r} dF/dr (slot s := c_s)``. Every term is a ``_slot`` (differentiable to
    any order); ``None`` marks a zero cotangent.
    """
    full = dict(zip(form.slots, operands, strict=True))
    inputs = [s for s in form.slots if s != 3]
    cts = dict(zip(inputs, cotangents, strict=True))
    result = []
    for r in form.slots:
        total = None
        for s in inputs:
            if s == r or cts[s] is None:
                continue
            args = dict(full)
            args[s] = cts[s]
            value = _slot(form, r, *[args[t] for t in form.slots if t != r])
            total = value if total is None else total + value
        result.append(jnp.zeros_like(full[r]) if total is None else total)
    return tuple(result)


def _grads_bwd(form: _Form, operands, cotangents):
    present = tuple(not _is_zero(c) for c in cotangents)
    if not any(present):
        return tuple(jnp.zeros_like(op) for op in operands)
    if form.explicit and form.linear_in_x2:
        # JAX's autodiff of explicit contractions transposes their column slices into pads;
        # the slot expansion reuses the contractions themselves (see the module docstring)
        return _second_terms(form, operands, tuple(None if _is_zero(c) else c for c in cotangents))
    cts = tuple(c for c, p in zip(cotangents, present, strict=True) if p)
    return _second(form, present, *operands, *cts)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _second(form: _Form, present: tuple, *arrays):
    """``_grads_bwd`` in one chunked pass: JAX's second-order autodiff of the chunk forward.

    Its own derivatives (third order) are the slot expansion of :func:`_second_terms`, or,
    for a forward that is not linear in ``x2``, JAX's autodiff of this pass.
    """
    return _second_pass(form, present, *arrays)


def _second_pass(form: _Form, present: tuple, *arrays):
    """The computation of :func:`_second`, without its derivative rule."""
    n = len(form.slots)
    full = dict(zip(form.slots, arrays[:n], strict=True))
    inputs = [s for s in form.slots if s != 3]
    keys = [s for s, p in zip(inputs, present, strict=True) if p]
    cts = dict(zip(keys, arrays[n:], strict=True))
    gradient = form.gradient_fn()

    def chunk(ops):
        primal = {s: ops[s] for s in form.slots}
        tangent = tuple(ops[("c", s)] if s in cts else jnp.zeros_like(ops[s]) for s in inputs)
        _, vjp = jax.vjp(
            lambda *a: gradient(dict(zip(form.slots, a, strict=True))),
            *[primal[s] for s in form.slots],
        )
        return vjp(tangent)

    if full[3].shape[0] == 0:
        return tuple(jnp.zeros_like(full[s]) for s in form.slots)
    operands = {**full, **{("c", s): c for s, c in cts.items()}}
    shared_out = tuple(s == 2 and form.shared_weights for s in form.slots)
    return _barrier(_map_chunks(form, chunk, operands, shared_out))


def _second_fwd(form: _Form, present: tuple, *arrays):
    arrays = tuple(a.value for a in arrays)
    return _second(form, present, *arrays), arrays


def _second_bwd(form: _Form, present: tuple, arrays, cotangents):
    outputs = arrays[: len(form.slots)]
    cts = tuple(
        jnp.zeros_like(a) if _is_zero(c) else c for c, a in zip(cotangents, outputs, strict=True)
    )
    if not form.linear_in_x2:  # no slot expansion: JAX's autodiff of the chunked pass
        _, vjp = jax.vjp(lambda *a: _second_pass(form, present, *a), *arrays)
        return vjp(cts)
    n = len(form.slots)
    inputs = [s for s in form.slots if s != 3]
    keys = [s for s, p in zip(inputs, present, strict=True) if p]

    def terms(*a):
        cts = dict(zip(keys, a[n:], strict=True))
        return _second_terms(form, a[:n], tuple(cts.get(s) for s in inputs))

    _, vjp = jax.vjp(terms, *arrays)
    return vjp(cts)


_second.defvjp(_second_fwd, _second_bwd, symbolic_zeros=True)


_grads.defvjp(_grads_fwd, _grads_bwd, symbolic_zeros=True)


def _chunk_size(per_sample_floats: int, budget: int | None) -> int | None:
    """A power of two of samples whose intermediates fill about ``budget`` floats (None: all)."""
    if budget is None:
        return None
    size = max(1, budget // max(1, per_sample_floats))
    return max(8, 2 ** int(math.floor(math.log2(size))))


def multilinear(
    forward: Callable,
    dims: tuple[int, int, int | None, int],
    *,
    shared_weights: bool,
    per_sample_floats: int,
    budget: int | None | tuple = 1 << 18,
    fuse_gradients: bool = True,
    slot_functions: dict[int, Callable] | None = None,
    linear_in_x2: bool = True,
) -> Callable:
    """Wrap a chunk forward ``f(x1, x2, w)`` into a kernel with fast derivatives of every order.

    Args:
        forward: ``f(x1, x2, w) -> out`` on 2-d arrays ``(C, d1)``, ``(C, d2)``, weights
            ``(C, nw)`` (per sample) or ``(nw,)`` (shared) or ``None`` (unweighted), returning
            ``(C, d_out)``. It must be linear in each argument and built from transposable ops.
        dims: ``(d1, d2, nw, d_out)``, with ``nw=None`` for an unweighted product.
        shared_weights: whether the weights are one vector shared by all samples.
        per_sample_floats: an estimate of the floats of intermediates per sample (sets the chunk).
        budget: floats of intermediates per chunk (about a CPU cache's worth), ``None`` for a
            single unchunked pass, or per lowering platform
            ``(("cpu", floats), ("default", None))`` as :meth:`equitens.tp.plan.Plan.chunk_budgets`
            gives (the platform is chosen when the kernel is lowered).
        fuse_gradients: compute the first derivatives of the forward in one chunked pass.
        slot_functions: optional explicit contractions ``{slot: fn(x1, x2, w, g)}`` for slots 0
            (``x1``), 1 (``x2``), 2 (``w``), with ``None`` in the target slot; the others are
            linear transposes of ``forward``.
        linear_in_x2: ``False`` when ``forward`` is linear in ``x1`` and ``w`` but not in
            ``x2`` (e.g. rotations by per-sample matrices applied twice, as in the SO(2)
            convolution): the first two orders keep their fused passes, and higher orders are
            JAX's autodiff of the second-order pass instead of slot contractions.

    Returns:
        ``kernel(x1, x2, w) -> out`` on ``(E, d1)``, ``(E, d2)``, ``(E, nw) | (nw,) | None``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> def f(x1, x2, w):  # out[e] = x1[e] * x2[e], a bilinear product
        ...     return x1 * x2
        >>> kernel = multilinear(f, (1, 1, None, 1), shared_weights=False, per_sample_floats=1)
        >>> x = jnp.arange(3.0)[:, None]
        >>> jax.grad(lambda x: kernel(x, x, None).sum())(x)[:, 0].tolist()
        [0.0, 2.0, 4.0]
    """
    budgets = budget if isinstance(budget, tuple) else (("default", budget),)
    if not budgets or budgets[-1][0] != "default":
        raise ValueError(f"a per-platform budget must end with a 'default' entry, got {budget!r}")
    form = _Form(
        forward,
        tuple(dims),
        shared_weights,
        tuple((p, _chunk_size(per_sample_floats, b)) for p, b in budgets),
        fuse_gradients,
        tuple(sorted((slot_functions or {}).items())),
        linear_in_x2,
    )

    def kernel(x1, x2, w=None):
        operands = (x1, x2) if not form.weighted else (x1, x2, w)
        return _slot(form, 3, *operands)

    return kernel
