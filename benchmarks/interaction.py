"""Interaction benchmark: the message-passing layer (gather, edge convolution, scatter), end to end.

Run ``python -m benchmarks.interaction [--small]`` from the repository root. The workload is the
interaction of a NequIP/MACE layer (issue 10): ``N`` nodes (default 10 000) with ``C`` channels
(default 64) of every degree ``0..L`` (``Cx0e + Cx1o + Cx2e + ...``), ``E`` edges (default
300 000) with random senders and receivers, the spherical harmonics ``0..L`` of the edge vectors,
per-edge weights ``(E, weight_numel)`` (as a radial network gives), and

    out = segment_sum(conv(x[senders], vectors, weights), receivers, N)

with output irreps equal to the input irreps. Modes:

* ``fwd``: ``out``;
* ``fwd+bwd``: the gradients of ``sum(out**2)/2`` w.r.t. ``x``, ``vectors`` and ``weights``;
* ``double``: training on forces, the gradients w.r.t. ``x`` and ``weights`` of ``sum(F**2)``
  with ``F = d(sum(out**2)/2)/d vectors``.

Implementations (``--methods``, default all):

* ``cg``, ``so2``, ``gaunt_grid``, ``cp``: ``equitens.conv.edge_convolution(..., method=...)``,
  each under every ``--plan`` (repeatable; ``default`` or ``key=value,...`` of
  :class:`equitens.tp.plan.Plan`), through ``EdgeConvolution.aggregate``: ``--plan
  interaction=pallas`` times the fused interaction (one Pallas kernel per pass; on a CPU it runs
  in interpret mode, which checks it but says nothing of its speed), ``interaction=xla`` its XLA
  form;
* ``e3nn``: e3nn-jax's CG convolution (legacy ``FunctionalTensorProduct`` with the ``"uvu"``
  instructions of the same paths, ``vmap``-ed over edges, and e3nn's spherical harmonics), as
  ``e3nn-cg`` in :mod:`benchmarks.conv`;
* ``cue``: cuequivariance-jax's channelwise tensor product (``segmented_polynomial``, method
  ``uniform_1d`` with its own gather/scatter on a GPU with ``cuequivariance_ops_jax``, else the
  pure-JAX ``naive`` method with a JAX gather and ``segment_sum``), its one-output-block-per-path
  result summed per irrep afterwards (inside the timed function), its own spherical harmonics.
  Skipped, with the reason printed, when ``cuequivariance_jax`` does not import.

Before timing, every case is checked in the mode being timed (values and every gradient):
``cg`` under another plan, ``e3nn`` and ``cue`` against the equitens ``cg`` result with the same
weights; ``so2`` with the weights :func:`equitens.conv.so2_weights_from_cg` maps them to (the so2
weights that make it the cg convolution; the weights' gradient is pulled back through that linear
map); ``cue`` with its paths matched to cg's (a permutation and one scale per path, calibrated
once, in float64); ``cp`` against its exact evaluation (``exact=True``; the tolerance allows its
CP factors' error, ``--cp-tol``); ``gaunt_grid`` (rank-1 weights of its own) only for shape,
finite and non-zero values. Graphs of at most :data:`CHECK_ON_TIMED_MAX_EDGES` edges are checked
on the timed inputs with the timed executable, larger ones on a graph of :data:`CHECK_NODES` nodes
and :data:`CHECK_EDGES` edges. The references' results are computed once per (L, mode) and shared
by the run's workers through a temporary directory. A case that fails its check is not timed.

For every (implementation, plan, L, mode): the median time and inter-quartile range after warm-up,
the compile time, the peak memory (:func:`benchmarks.timing.memory_analysis`) and the achieved
bandwidth: the bytes of the minimal memory traffic (every input read once, every output written
once; see :func:`minimal_bytes`) over the median time, next to the copy bandwidth of the device
measured in the same run. Each case runs in its own subprocess under ``--timeout`` seconds
(``--isolate``: or one per implementation and plan, ``--small``'s default, or none). The
JSON goes to ``benchmarks/results/interaction-<UTC time>.json``; the table gives the ratios
``e3nn time / time`` and ``cue time / time`` per L and mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks._workloads import (
    DEFAULT_PLAN_LABEL,
    cue_method,
    cue_unavailable,
    e3nn_cg_message,
    irreps_string,
    plan_labels,
    plan_of,
    python_module_cmd,
    run_case,
    run_cases,
    text_table,
)

MODES = ("fwd", "fwd+bwd", "double")
EQUITENS_METHODS = ("cg", "so2", "gaunt_grid", "cp")
BASELINES = ("e3nn", "cue")
CHECK_ON_TIMED_MAX_EDGES = 20_000
"""Cases with at most this many edges are checked on their timed inputs, with the timed
executable; larger ones on a graph of ``CHECK_NODES`` nodes and ``CHECK_EDGES`` edges."""
CHECK_NODES, CHECK_EDGES = 16, 96

TOLERANCES = {
    "float32": {"fwd": 1e-4, "fwd+bwd": 1e-3, "double": 3e-3},
    "float64": {"fwd": 1e-9, "fwd+bwd": 1e-9, "double": 1e-9},
}
"""Largest ``max|a - b| / max|b|`` of a check, per dtype and mode (per output leaf). Float32
gradients w.r.t. the edge vectors go through the edge frames (so2) and sums over many paths: the
tolerances leave room for that rounding; a broken implementation is off by O(1)."""

SMALL = {"nodes": 500, "edges": 5000, "channels": 16, "L": "1,2", "repeats": 3, "copy_mib": 64}
"""``--small``: a CPU run of every method and mode in about two minutes."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Settings of the implementations that are not the workload's size.

    Attributes:
        cp_tol: relative Frobenius error of the CP factors (``method="cp"``).
        cue_method: ``segmented_polynomial`` method of ``cue``: ``"auto"`` (``"uniform_1d"`` on a
            GPU with ``cuequivariance_ops_jax``, else ``"naive"``), ``"naive"`` (with a JAX
            gather and ``segment_sum``), ``"naive_indexed"`` (``"naive"`` given the indices, as
            ``"uniform_1d"`` is: its code path, on any platform) or ``"uniform_1d"``.
    """

    cp_tol: float = 1e-3
    cue_method: str = "auto"


@dataclasses.dataclass(frozen=True)
class Built:
    """One implementation of the interaction, built for a size.

    Attributes:
        fn: ``fn(x, vectors, weights, senders, receivers) -> out`` of shape ``(N, dim)``.
        weight_numel: weights per edge.
        reference: the implementation the check compares with (``"cg"``, ``"cp_exact"``) or
            None (only a smoke check: shape, finite, non-zero).
        from_reference: ``(E, reference weight_numel) -> (E, weight_numel)``: the weights with
            which ``fn`` equals the reference; None: the same weights.
        note: what the implementation is (in the JSON).
    """

    fn: Callable[..., Any]
    weight_numel: int
    reference: str | None = "cg"
    from_reference: Callable[[Any], Any] | None = None
    note: str = ""


Builder = Callable[[int, int, int, str, Options], Built]
"""``builder(L, C, N, plan, options) -> Built``."""


def _gathered(message: Callable[..., Any], N: int) -> Callable[..., Any]:
    """``message(x_sender, vectors, weights)`` -> the interaction with gather and segment_sum."""
    import jax

    def fn(x, vectors, weights, senders, receivers):
        return jax.ops.segment_sum(message(x[senders], vectors, weights), receivers, N)

    return fn


def _equitens(method: str, **extra: Any) -> Builder:
    def build(L: int, C: int, N: int, plan: str, options: Options) -> Built:
        import jax.numpy as jnp

        import equitens.conv  # noqa: F401  (registers every method)
        from equitens.conv import edge_convolution, so2_weights_from_cg

        irreps = irreps_string(L, C)
        kwargs = dict(extra)
        if method == "cp" and not kwargs.get("exact"):
            kwargs["tol"] = options.cp_tol
        conv = edge_convolution(irreps, irreps, L, method=method, plan=plan_of(plan), **kwargs)
        reference, from_reference = "cg", None
        if method == "so2":
            from_reference = lambda w: so2_weights_from_cg(irreps, irreps, L, w)  # noqa: E731
            # its cached float64 map is built outside any trace (building it under jit fails)
            so2_weights_from_cg(irreps, irreps, L, jnp.zeros((1, _cg_numel(L, C))))
        elif method == "cp":
            reference = None if kwargs.get("exact") else "cp_exact"
        elif method == "gaunt_grid":
            reference = None

        def fn(x, vectors, weights, senders, receivers):  # as the plan's interaction says
            return conv.aggregate(x, senders, receivers, vectors, weights)

        return Built(fn, conv.weight_numel, reference, from_reference, conv.description)

    return build


def _cg_numel(L: int, C: int) -> int:
    from equitens.conv import edge_convolution

    irreps = irreps_string(L, C)
    return edge_convolution(irreps, irreps, L, method="cg").weight_numel


def _e3nn(L: int, C: int, N: int, plan: str, options: Options) -> Built:
    message, numel = e3nn_cg_message(L, C)
    note = "e3nn_jax.legacy.FunctionalTensorProduct 'uvu', vmapped over edges"
    return Built(_gathered(message, N), numel, "cg", note=note)


def _cue_interaction(L: int, C: int, N: int, method: str) -> tuple[Callable[..., Any], int]:
    """cuequivariance-jax's interaction: ``(fn(x, vectors, weights, senders, receivers), numel)``.

    Features arrive in e3nn's mul_ir layout and are transposed to cue's ir_mul (``N`` rows, before
    the gather); the descriptor writes one ``(C, ir)`` block per path, summed per irrep and
    transposed back after the scatter (``N`` rows). All of it is inside the timed function.
    """
    import cuequivariance as cue
    import cuequivariance_jax as cuex
    import jax
    import jax.numpy as jnp

    irreps = cue.Irreps("O3", irreps_string(L, C))
    descriptor = cue.descriptors.channelwise_tensor_product(
        irreps, cue.Irreps("O3", irreps_string(L, 1)), irreps
    )
    descriptor = descriptor.squeeze_modes().flatten_coefficient_modes()
    poly = descriptor.polynomial
    path_irreps = descriptor.outputs[0].irreps  # one (C, ir) block per path, ir_mul layout
    vector_irreps = cue.Irreps("O3", "1o")

    def to_ir_mul(x):
        parts, start = [], 0
        for mul, ir in irreps:
            block = x[:, start : start + mul * ir.dim]
            parts.append(block.reshape(-1, mul, ir.dim).transpose(0, 2, 1).reshape(len(x), -1))
            start += mul * ir.dim
        return jnp.concatenate(parts, axis=1)

    def sum_paths(out):  # (N, paths in ir_mul) -> (N, irreps in mul_ir)
        sums: dict[Any, Any] = {}
        start = 0
        for mul, ir in path_irreps:
            block = out[:, start : start + mul * ir.dim].reshape(-1, ir.dim, mul)
            sums[ir] = block if ir not in sums else sums[ir] + block
            start += mul * ir.dim
        return jnp.concatenate(
            [sums[ir].transpose(0, 2, 1).reshape(len(out), -1) for _, ir in irreps], axis=1
        )

    def fn(x, vectors, weights, senders, receivers):
        y = cuex.spherical_harmonics(
            list(range(L + 1)), cuex.RepArray(vector_irreps, vectors, cue.ir_mul)
        ).array
        xs = to_ir_mul(x)
        size = poly.outputs[0].size
        if method == "naive":  # its index support is ~3x slower than a JAX gather on the CPU
            (out,) = cuex.segmented_polynomial(
                poly,
                [weights, xs[senders], y],
                [jax.ShapeDtypeStruct((len(vectors), size), x.dtype)],
                method=method,
            )
            out = jax.ops.segment_sum(out, receivers, N)
        else:  # gather and scatter inside the kernel
            (out,) = cuex.segmented_polynomial(
                poly,
                [weights, xs, y],
                [jax.ShapeDtypeStruct((N, size), x.dtype)],
                indices=[None, senders, None, receivers],
                method=method.removesuffix("_indexed"),
            )
        return sum_paths(out)

    return fn, poly.inputs[0].size


def _cue(L: int, C: int, N: int, plan: str, options: Options) -> Built:
    import cuequivariance_jax as cuex
    import jax.numpy as jnp

    method = cue_method(options.cue_method)
    fn, numel = _cue_interaction(L, C, N, method)
    perm, scale = _cue_calibration(L, C)

    def from_reference(w):  # cg weights (E, paths x C) -> cue weights (E, paths x C)
        w = w.reshape(len(w), len(perm), C)[:, perm, :] * jnp.asarray(scale, w.dtype)[:, None]
        return w.reshape(len(w), numel)

    note = (
        f"cuequivariance-jax {getattr(cuex, '__version__', '?')} channelwise_tensor_product, "
        f"segmented_polynomial(method={method!r}), per-path outputs summed per irrep"
    )
    return Built(fn, numel, "cg", from_reference, note)


@functools.cache
def _cue_calibration(L: int, C: int):
    """Which cg path and scale each cue path is: ``w_cue[:, k] = scale[k] * w_cg[:, perm[k]]``.

    Both put one weight per (path, channel), path-major; they differ in the order of the paths
    and in their normalisation. Each path's message is computed alone (one-hot path weights) by
    both, in float64 with cue's ``"naive"`` method, and matched.

    Raises:
        ValueError: when a cue path is no multiple of any cg path (then cue is not timed).
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    with jax.enable_x64(True):
        cg_numel = _cg_numel(L, C)
        n_paths, per = cg_numel // C, 2
        E = n_paths * per
        keys = jax.random.split(jax.random.PRNGKey(7), 2)
        # the same `per` edges for every path
        x = jax.random.normal(keys[0], (per, C * (L + 1) ** 2), jnp.float64)
        v = jax.random.normal(keys[1], (per, 3), jnp.float64)
        x, v = jnp.tile(x, (n_paths, 1)), jnp.tile(v, (n_paths, 1))
        onehot = jnp.repeat(jnp.eye(n_paths, dtype=jnp.float64), per, axis=0)  # edges of path k
        w = jnp.repeat(onehot, C, axis=1)
        identity = jnp.arange(E)
        # each edge's message alone: a graph of E nodes, edge e from node e to node e
        cue_fn, _ = _cue_interaction(L, C, E, "naive")
        a = np.asarray(cue_fn(x, v, w, identity, identity)).reshape(n_paths, -1)
        cg_fn = _equitens("cg")(L, C, E, DEFAULT_PLAN_LABEL, Options()).fn
        b = np.asarray(cg_fn(x, v, w, identity, identity)).reshape(n_paths, -1)
    perm, scale = np.zeros(n_paths, int), np.zeros(n_paths)
    for k in range(n_paths):
        for q in range(n_paths):
            s = float(a[k] @ b[q] / max(a[k] @ a[k], 1e-300))
            if np.abs(s * a[k] - b[q]).max() <= 1e-8 * max(np.abs(b[q]).max(), 1e-300):
                perm[k], scale[k] = q, s
                break
        else:
            raise ValueError(f"cue path {k} is not a multiple of any cg path")
    if sorted(perm) != list(range(n_paths)):
        raise ValueError(f"cue paths match cg paths {sorted(perm)}, not one each")
    return perm, scale


IMPLEMENTATIONS: dict[str, Builder] = {
    "cg": _equitens("cg"),
    "so2": _equitens("so2"),
    "gaunt_grid": _equitens("gaunt_grid"),
    "cp": _equitens("cp"),
    "e3nn": _e3nn,
    "cue": _cue,
}
"""``--methods`` name -> builder. The first four run under every ``--plan``."""

REFERENCES: dict[str, Builder] = {"cg": _equitens("cg"), "cp_exact": _equitens("cp", exact=True)}


def uses_plan(impl: str) -> bool:
    """Whether an implementation runs under the ``--plan`` options (the equitens methods)."""
    return impl not in BASELINES


# ---------------------------------------------------------------------------------- workload


def make_inputs(N: int, E: int, dim: int, weight_numel: int, dtype: Any, seed: int = 0):
    """``(x, vectors, weights, senders, receivers)``: random features, edges and weights.

    The same arguments give the same arrays in every process (the checks rely on it).

    Args:
        N: nodes.
        E: edges (random senders and receivers in ``[0, N)``, int32).
        dim: feature dimension.
        weight_numel: weights per edge.
        dtype: of the floats.
        seed: PRNG seed.
    """
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    return (
        jax.random.normal(keys[0], (N, dim), dtype),
        jax.random.normal(keys[1], (E, 3), dtype),
        jax.random.normal(keys[2], (E, weight_numel), dtype),
        jax.random.randint(keys[3], (E,), 0, N, jnp.int32),
        jax.random.randint(keys[4], (E,), 0, N, jnp.int32),
    )


def mode_fn(fn: Callable[..., Any], mode: str) -> Callable[..., Any]:
    """The timed function of a mode, of ``(x, vectors, weights, senders, receivers)``."""
    from benchmarks import timing

    if mode == "fwd":
        return fn
    if mode == "fwd+bwd":
        return timing.fwd_bwd(fn, (0, 1, 2))
    if mode == "double":
        return timing.forces_double_bwd(fn, wrt=1, argnums=(0, 2))
    raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


def minimal_bytes(mode: str, inputs: tuple, out_nbytes: int) -> int:
    """Bytes of the minimal memory traffic of one call: every input read once, every output
    written once.

    * ``fwd``: read ``x``, ``vectors``, ``weights``, ``senders``, ``receivers``; write ``out``;
    * ``fwd+bwd``: also read the cotangent of ``out`` (its size) and write the gradients of
      ``x``, ``vectors`` and ``weights``;
    * ``double``: read the inputs, write the gradients of ``x`` and ``weights``.

    Args:
        mode: one of :data:`MODES`.
        inputs: ``(x, vectors, weights, senders, receivers)``.
        out_nbytes: bytes of ``out``.

    Example:
        >>> import numpy as np
        >>> a = lambda *shape: np.zeros(shape, np.float32)
        >>> inputs = (a(10, 4), a(20, 3), a(20, 8), a(20).astype(np.int32), a(20).astype(np.int32))
        >>> minimal_bytes("fwd", inputs, 160), minimal_bytes("fwd+bwd", inputs, 160)
        (1360, 2560)
    """
    x, v, w, _, _ = inputs
    read = sum(int(a.nbytes) for a in inputs)
    if mode == "fwd":
        return read + out_nbytes
    if mode == "fwd+bwd":
        return read + 2 * out_nbytes + int(x.nbytes + v.nbytes + w.nbytes)
    return read + int(x.nbytes + w.nbytes)


# ------------------------------------------------------------------------------------ checks


def smoke(value: Any) -> tuple[bool, float, str]:
    """Sanity of a result without a reference: non-empty, finite, not identically zero."""
    import jax
    import numpy as np

    leaves = [np.asarray(a) for a in jax.tree.leaves(value)]
    if not leaves or any(a.size == 0 for a in leaves):
        return False, math.inf, "empty output"
    if not all(np.all(np.isfinite(a)) for a in leaves):
        return False, math.inf, "non-finite output"
    if any(not np.any(a) for a in leaves):
        return False, math.inf, "an output is identically zero"
    return True, math.nan, ""


def _reference_numel(built: Built, L: int, C: int, options: Options) -> int:
    if built.reference is None:
        return built.weight_numel
    return REFERENCES[built.reference](L, C, 1, DEFAULT_PLAN_LABEL, options).weight_numel


def draw_inputs(built: Built, ref_numel: int, N: int, E: int, dim: int, dtype: Any, seed: int):
    """The inputs of a case and the reference's weights they come from.

    Weights are drawn in the reference's layout (``ref_numel`` per edge) and mapped with
    ``built.from_reference``, so the same run both checks and times the implementation.

    Returns:
        ``((x, vectors, weights, senders, receivers), reference weights)``.
    """
    x, v, w_ref, s, r = make_inputs(N, E, dim, ref_numel, dtype, seed)
    w = w_ref if built.from_reference is None else built.from_reference(w_ref)
    if w.shape != (E, built.weight_numel):
        raise ValueError(f"weights of shape {w.shape}, expected {(E, built.weight_numel)}")
    return (x, v, w, s, r), w_ref


def pull_back(value: Any, mode: str, built: Built, w_ref: Any) -> Any:
    """A mode's result with the weights' gradient taken w.r.t. the reference's weights.

    ``from_reference`` is linear: its vector-Jacobian product (the chain rule) turns the gradient
    w.r.t. the implementation's weights into the reference's, so a result computed with the
    implementation's own weights compares with the reference's.
    """
    import jax

    if mode == "fwd" or built.from_reference is None:
        return value
    _, vjp = jax.vjp(built.from_reference, w_ref)
    index = 2 if mode == "fwd+bwd" else 1  # (dx, dv, dw) or (dx, dw)
    value = list(value)
    value[index] = vjp(value[index])[0]
    return tuple(value)


_REFERENCE_VALUES: dict[tuple, list] = {}


def reference_value(
    ref: str,
    L: int,
    C: int,
    N: int,
    E: int,
    mode: str,
    dtype: str,
    seed: int,
    cache_dir: str | None = None,
    value: Any = None,
) -> list:
    """The reference's result of a mode on the inputs of :func:`make_inputs` (numpy leaves).

    Memoised in this process and, with ``cache_dir``, on disk for the other workers of the run:
    each reference is compiled once per (L, mode) and size, not once per case.

    Args:
        ref: a key of :data:`REFERENCES`.
        L, C, N, E, mode, dtype, seed: the case's degree, channels, size, mode, dtype, seed.
        cache_dir: a directory shared by the run's workers, or None.
        value: the reference's result when the caller just computed it (stored, returned).
    """
    import os

    import jax
    import jax.numpy as jnp
    import numpy as np

    key = (ref, L, C, N, E, mode, dtype, seed)
    if key in _REFERENCE_VALUES and value is None:
        return _REFERENCE_VALUES[key]
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, "-".join(map(str, key)).replace("+", "_") + ".npz")
    if value is None and path and os.path.exists(path):
        with np.load(path) as data:
            leaves = [data[f"a{i}"] for i in range(len(data.files))]
    else:
        if value is None:
            jdtype = jnp.float64 if dtype == "float64" else jnp.float32
            built = REFERENCES[ref](L, C, N, DEFAULT_PLAN_LABEL, Options())
            inputs = make_inputs(N, E, C * (L + 1) ** 2, built.weight_numel, jdtype, seed)
            value = jax.jit(mode_fn(built.fn, mode))(*inputs)
        leaves = [np.asarray(a) for a in jax.tree.leaves(value)]
        if path:
            tmp = f"{path}.{os.getpid()}.npz"
            np.savez(tmp, **{f"a{i}": a for i, a in enumerate(leaves)})
            os.replace(tmp, path)  # atomic: a concurrent reader sees all or nothing
    _REFERENCE_VALUES[key] = leaves
    return leaves


def check(
    case: Case,
    built: Built,
    value: Any,
    w_ref: Any,
    size: tuple[int, int],
    seed: int,
    options: Options,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Compare one implementation's result with its reference's, in the mode to be timed.

    Args:
        case: the case.
        built: the implementation, built for ``size``.
        value: its result on ``draw_inputs(built, ..., *size, seed=seed)``.
        w_ref: the reference weights those inputs came from.
        size: ``(nodes, edges)`` of the inputs.
        seed: their seed.
        options: the implementations' settings.
        cache_dir: where the run's workers share reference results.

    Returns:
        ``{"check_ok", "check_err", "check"}``: whether it passed, the worst relative error (None
        for a smoke check) and a sentence saying against what.
    """
    from benchmarks import timing

    N, E = size
    ok, err, why = smoke(value)
    dim = case.channels * (case.L + 1) ** 2
    shape = getattr(value, "shape", None) if case.mode == "fwd" else None
    if ok and shape is not None and tuple(shape) != (N, dim):
        ok, why = False, f"output shape {tuple(shape)}, expected {(N, dim)}"
    if built.reference is None or not ok:
        what = "smoke only (own weighting, no reference)"
        return {"check_ok": ok, "check_err": None, "check": f"{what}: {why or 'finite, non-zero'}"}
    value = pull_back(value, case.mode, built, w_ref)
    args = (case.L, case.channels, N, E, case.mode, case.dtype, seed, cache_dir)
    if (case.impl, case.plan, built.reference) == ("cg", DEFAULT_PLAN_LABEL, "cg"):
        reference_value(built.reference, *args, value=value)  # shared with the other cases
        return {"check_ok": True, "check_err": 0.0, "check": "the reference (finite, non-zero)"}
    expected = reference_value(built.reference, *args)
    rtol = TOLERANCES[case.dtype][case.mode]
    if built.reference == "cp_exact":
        rtol = max(rtol, 30 * options.cp_tol)
    ok, err, why = timing.compare(value, expected, rtol)
    mapped = " (weights mapped)" if built.from_reference is not None else ""
    return {
        "check_ok": ok,
        "check_err": err if math.isfinite(err) else None,
        "check": f"vs {built.reference}{mapped}: "
        + (f"max rel err {err:.1e} <= {rtol:.0e}" if ok else why),
    }


# ------------------------------------------------------------------------------ measurements


@dataclasses.dataclass(frozen=True)
class Case:
    """One measurement: an implementation under a plan, a size and a mode."""

    impl: str
    plan: str
    L: int
    mode: str
    nodes: int
    edges: int
    channels: int
    dtype: str = "float32"
    repeats: int = 5

    def ident(self) -> dict[str, Any]:
        """The fields that identify the case in the records."""
        return {"impl": self.impl, "plan": self.plan, "L": self.L, "mode": self.mode}


def measure(case: Case, options: Options, cache_dir: str | None = None) -> dict[str, Any]:
    """Check, then time one case in this process.

    The check runs on the timed inputs with the timed executable when the graph has at most
    :data:`CHECK_ON_TIMED_MAX_EDGES` edges, else on a graph of :data:`CHECK_NODES` nodes and
    :data:`CHECK_EDGES` edges (one more compilation).

    Args:
        case: what to measure.
        options: the implementations' settings.
        cache_dir: a directory where the run's workers share the references' results.

    Returns:
        Its record: the case, the check (``check_ok``, ``check_err``, ``check``, ``check_size``),
        and when the check passed ``median_ms``, ``iqr_ms``, ``min_ms``, ``compile_s``,
        ``peak_bytes``, ``memory``, ``bytes_min`` and ``gbps``; ``status`` is ``"ok"`` or
        ``"check failed: ..."``.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks import timing

    record: dict[str, Any] = {
        **case.ident(),
        "nodes": case.nodes,
        "edges": case.edges,
        "channels": case.channels,
        "dtype": case.dtype,
    }
    if case.impl == "cue":
        record["cue_method"] = cue_method(options.cue_method)
    jdtype = jnp.float64 if case.dtype == "float64" else jnp.float32
    dim = case.channels * (case.L + 1) ** 2
    on_timed = case.edges <= CHECK_ON_TIMED_MAX_EDGES
    compiled = inputs = built = None
    try:
        built = IMPLEMENTATIONS[case.impl](case.L, case.channels, case.nodes, case.plan, options)
        ref_numel = _reference_numel(built, case.L, case.channels, options)
        inputs, w_ref = draw_inputs(built, ref_numel, case.nodes, case.edges, dim, jdtype, 0)
        size, seed = (case.nodes, case.edges), 0
        if on_timed:
            compiled, compile_s = timing.compile_timed(mode_fn(built.fn, case.mode), *inputs)
            check_built, check_inputs, check_w, check_fn = built, inputs, w_ref, compiled
        else:
            size, seed = (CHECK_NODES, CHECK_EDGES), 1
            build = IMPLEMENTATIONS[case.impl]
            check_built = build(case.L, case.channels, CHECK_NODES, case.plan, options)
            check_inputs, check_w = draw_inputs(check_built, ref_numel, *size, dim, jdtype, seed)
            check_fn = jax.jit(mode_fn(check_built.fn, case.mode))
        value = jax.block_until_ready(check_fn(*check_inputs))
        record.update(check(case, check_built, value, check_w, size, seed, options, cache_dir))
    except Exception as error:  # a builder that cannot serve the case, a broken kernel, ...
        record.update(check_ok=False, check_err=None, check=f"{type(error).__name__}: {error}")
        size = None
    record["check_size"] = size
    if not record["check_ok"]:
        record["status"] = "check failed: " + record["check"][:300]
        return record
    if compiled is None:
        compiled, compile_s = timing.compile_timed(mode_fn(built.fn, case.mode), *inputs)
    m = timing.measure_compiled(compiled, compile_s, *inputs, repeats=case.repeats, warmup=1)
    out_nbytes = case.nodes * dim * jnp.dtype(jdtype).itemsize
    nbytes = minimal_bytes(case.mode, inputs, out_nbytes)
    record.update(m.as_dict())
    record.update(
        weight_numel=built.weight_numel,
        bytes_min=nbytes,
        gbps=nbytes / m.median_s / 1e9,
        note=built.note[:300],
        backend=jax.default_backend(),
        status="ok",
    )
    return record


def _measure_or_error(case: Case, options: Options) -> dict[str, Any]:
    """:func:`measure` in this process, a failure recorded as an ``error`` status."""
    try:
        return measure(case, options)
    except Exception as error:
        return {**case.ident(), "status": f"error: {type(error).__name__}: {error}"[:400]}


def _setup_jax(dtype: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")
    jax.config.update("jax_default_matmul_precision", "highest")  # no silent TF32


def _cases(args: argparse.Namespace, impl: str) -> list[Case]:
    plans = args.plan if uses_plan(impl) else [DEFAULT_PLAN_LABEL]
    return [
        Case(impl, plan, L, mode, args.nodes, args.edges, args.channels, args.dtype, args.repeats)
        for plan in plans
        for L in args.L
        for mode in args.modes
    ]


def _worker(args: argparse.Namespace) -> None:
    """Cases of one implementation (or the copy bandwidth) in this subprocess.

    Prints one ``RECORD {json}`` line per case, in the order of :func:`_cases`.
    """
    _setup_jax(args.dtype)
    if args.worker == "copy":
        from benchmarks import timing

        records = [timing.copy_bandwidth(int(args.copy_mib * 2**20))]
    else:
        records = (measure(c, _options(args), args.check_cache) for c in _cases(args, args.worker))
    for record in records:
        print("RECORD " + json.dumps(record, default=str), flush=True)


def _options(args: argparse.Namespace) -> Options:
    return Options(cp_tol=args.cp_tol, cue_method=args.cue_method)


def _worker_cmd(
    args: argparse.Namespace, what: str, cases: list[Case] = (), cache_dir: str | None = None
) -> list[str]:
    cmd = [
        "--worker", what, "--nodes", str(args.nodes), "--edges", str(args.edges),
        "--channels", str(args.channels), "--dtype", args.dtype, "--repeats", str(args.repeats),
        "--cp-tol", str(args.cp_tol), "--cue-method", args.cue_method,
        "--copy-mib", str(args.copy_mib),
    ]  # fmt: skip
    if cases:
        for plan in dict.fromkeys(c.plan for c in cases):
            cmd += ["--plan", plan]
        cmd += ["--L", ",".join(dict.fromkeys(str(c.L) for c in cases))]
        cmd += ["--modes", ",".join(dict.fromkeys(c.mode for c in cases))]
    if cache_dir:
        cmd += ["--check-cache", cache_dir]
    return python_module_cmd("benchmarks.interaction", *cmd)


# ---------------------------------------------------------------------------------- the table


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def format_table(records: list[dict[str, Any]], copy_gbps: float | None) -> str:
    """One row per (L, mode, implementation, plan): times, memory, bandwidth and ratios.

    ``e3nn/x`` and ``cue/x`` are the e3nn and cue times of the same L and mode over the row's
    time (above 1: the row is faster); ``%copy`` is the achieved bandwidth over the measured copy
    bandwidth.
    """
    head = [
        "L",
        "mode",
        "impl",
        "plan",
        "ms",
        "IQR ms",
        "compile s",
        "peak MiB",
        "GB/s",
        "%copy",
        "e3nn/x",
        "cue/x",
        "check / status",
    ]
    order = {m: i for i, m in enumerate(MODES)}
    records = sorted(records, key=lambda r: (r["L"], order.get(r["mode"], 9)))
    base = {(r["impl"], r["L"], r["mode"]): r.get("median_ms") for r in records}
    rows = []
    for r in records:
        t = r.get("median_ms")
        e3nn, cue = base.get(("e3nn", r["L"], r["mode"])), base.get(("cue", r["L"], r["mode"]))
        peak = r.get("peak_bytes")
        gbps = r.get("gbps")
        status = r.get("status", "-")
        rows.append(
            [
                str(r["L"]),
                r["mode"],
                r["impl"],
                r["plan"] if uses_plan(r["impl"]) else "",
                _num(t, ".3f"),
                _num(r.get("iqr_ms"), ".3f"),
                _num(r.get("compile_s"), ".2f"),
                _num(None if peak is None else peak / 2**20, ".1f"),
                _num(gbps, ".2f"),
                _num(100 * gbps / copy_gbps if gbps and copy_gbps else None, ".0f"),
                _num(e3nn / t if e3nn and t else None, ".2f"),
                _num(cue / t if cue and t else None, ".2f"),
                (r.get("check", "") if status == "ok" else status)[:60],
            ]
        )
    return text_table(head, rows, left=4)


# ------------------------------------------------------------------------------ command line


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``python -m benchmarks.interaction --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.interaction", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="N=500, E=5000, C=16, L=1,2, 3 repeats: a CPU run in about 2 minutes; "
        "explicit flags still override",
    )
    parser.add_argument("--nodes", type=int, default=None, help="N (default 10000)")
    parser.add_argument("--edges", type=int, default=None, help="E (default 300000)")
    parser.add_argument("--channels", type=int, default=None, help="C (default 64)")
    parser.add_argument("--L", default=None, help="comma-separated degrees (default 1,2,3,4)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"among {','.join(MODES)}")
    parser.add_argument(
        "--methods", default=None, help=f"among {','.join(IMPLEMENTATIONS)} (default all)"
    )
    parser.add_argument(
        "--plan",
        action="append",
        default=None,
        help="a kernel plan for the equitens methods: 'default' or "
        "'key=value,...' (e.g. 'chunk=none'; see equitens.tp.plan.Plan); repeat "
        "the flag to compare plans, one row group each (default: the default "
        "plan)",
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 10)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument(
        "--cp-tol", type=float, default=1e-3, help="CP relative Frobenius tolerance"
    )
    parser.add_argument(
        "--cue-method",
        default="auto",
        choices=("auto", "naive", "naive_indexed", "uniform_1d"),
        help="segmented_polynomial method of cue (auto: uniform_1d on a GPU with "
        "cuequivariance_ops_jax, else naive; naive_indexed: naive with cue's own gather/scatter, "
        "uniform_1d's code path)",
    )
    parser.add_argument(
        "--copy-mib",
        type=float,
        default=None,
        help="MiB of the array copied to measure the bandwidth (default 256)",
    )
    parser.add_argument(
        "--isolate",
        default=None,
        choices=("case", "impl", "none"),
        help="case: each (implementation, plan, L, mode) in its own subprocess (default); impl: "
        "one subprocess per implementation and plan (--small's default: saves the start-up and "
        "reference compilations); none: everything in this process, no timeout (tests, "
        "debugging)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="JSON path (default benchmarks/results/interaction-<UTC time>.json)",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--check-cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.isolate is None:
        args.isolate = "impl" if args.small else "case"
    defaults = {
        "nodes": 10_000,
        "edges": 300_000,
        "channels": 64,
        "L": "1,2,3,4",
        "repeats": 10,
        "copy_mib": 256,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, SMALL[key] if args.small else value)
    args.L = [int(v) for v in _csv(str(args.L))]
    args.modes = _csv(args.modes)
    args.methods = _csv(args.methods) if args.methods else list(IMPLEMENTATIONS)
    for name, given, known in (
        ("mode", args.modes, MODES),
        ("method", args.methods, IMPLEMENTATIONS),
    ):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; choose among {', '.join(known)}")
    try:
        args.plan = plan_labels(args.plan)
    except (ValueError, TypeError) as error:
        parser.error(f"--plan: {error}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark: check and time every case, print the table, write the JSON.

    Args:
        argv: command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        ``{"records", "copy", "json"}``: the records, the copy bandwidth and the path written.
    """
    args = parse_args(argv)
    if args.worker:
        _worker(args)
        return {}
    if args.isolate == "none":  # this process's settings, restored afterwards
        import jax

        with jax.enable_x64(args.dtype == "float64"), jax.default_matmul_precision("highest"):
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    options = _options(args)
    in_process = args.isolate == "none"
    methods = list(args.methods)
    skipped: dict[str, str] = {}
    if "cue" in methods:
        reason = cue_unavailable()
        if reason:
            print(f"cue skipped: cuequivariance-jax does not import: {reason}", flush=True)
            skipped["cue"] = reason
            methods.remove("cue")

    if in_process:
        from benchmarks import timing

        copy = timing.copy_bandwidth(int(args.copy_mib * 2**20))
    else:
        copy = run_case(_worker_cmd(args, "copy"), args.timeout, {})
    copy_gbps = copy.get("gbps")
    print(f"copy bandwidth: {_num(copy_gbps, '.2f')} GB/s ({args.copy_mib:g} MiB array)")
    print(
        f"N={args.nodes} E={args.edges} C={args.channels} L={args.L} {args.dtype}, "
        f"isolation: {args.isolate}",
        flush=True,
    )

    # batches of cases, each run by one process; the cg cases first: their results are the
    # reference of the other checks, shared through the cache directory
    if args.isolate == "impl":
        batches = []
        for impl in methods:
            cases = _cases(args, impl)
            batches += [
                [c for c in cases if c.plan == p] for p in dict.fromkeys(c.plan for c in cases)
            ]
    else:
        everything = [c for impl in methods for c in _cases(args, impl)]
        order = {m: i for i, m in enumerate(args.modes)}
        everything.sort(key=lambda c: (args.L.index(c.L), order[c.mode]))  # stable: impl order
        batches = [[c] for c in everything]
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="interaction-check-") as cache_dir:
        for batch in batches:
            if in_process:
                done = [_measure_or_error(c, options) for c in batch]
            else:
                cmd = _worker_cmd(args, batch[0].impl, batch, cache_dir)
                done = run_cases(cmd, args.timeout * len(batch), [c.ident() for c in batch])
            for case, record in zip(batch, done, strict=True):
                records.append(record)
                t = record.get("median_ms")
                label = case.impl + (
                    f" [{case.plan}]" if uses_plan(case.impl) and len(args.plan) > 1 else ""
                )
                print(
                    f"L={case.L} {case.mode:8s} {label:24s} "
                    + (
                        f"{t:10.3f} ms  compile {record['compile_s']:.1f} s  "
                        f"{record['gbps']:.2f} GB/s"
                        if t
                        else record["status"][:160]
                    ),
                    flush=True,
                )
    for impl, reason in skipped.items():
        records.append(
            {
                "impl": impl,
                "plan": DEFAULT_PLAN_LABEL,
                "L": None,
                "mode": None,
                "status": f"skipped: {reason}",
            }
        )
    from benchmarks import timing

    table = format_table([r for r in records if r["L"] is not None], copy_gbps)
    path = timing.write_json(
        records,
        args.out,
        name="interaction",
        copy_bandwidth=copy,
        nodes=args.nodes,
        edges=args.edges,
        channels=args.channels,
        L=args.L,
        modes=args.modes,
        methods=args.methods,
        plans=args.plan,
        dtype=args.dtype,
        repeats=args.repeats,
        cp_tol=args.cp_tol,
        cue_method=args.cue_method,
        skipped=skipped,
        isolate=args.isolate,
        check={
            "on_timed_inputs_up_to_edges": CHECK_ON_TIMED_MAX_EDGES,
            "else_nodes_edges": [CHECK_NODES, CHECK_EDGES],
            "tolerances": TOLERANCES[args.dtype],
        },
        wall_s=time.perf_counter() - start,
    )
    print()
    print(table)
    print(
        f"copy bandwidth {_num(copy_gbps, '.2f')} GB/s; wrote {path} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return {"records": records, "copy": copy, "json": str(path)}


if __name__ == "__main__":
    main(sys.argv[1:])
