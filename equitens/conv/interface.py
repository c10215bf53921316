"""One interface for the edge convolutions of message passing, whatever the tensor-product family.

A message is ``conv(x_sender, edge_vectors, weights)``: the tensor product of the sender's
features with the spherical harmonics of the edge, weighted per edge (by a radial network).
:func:`edge_convolution` builds it for a ``method`` (``"cg"``, and the families that register
themselves with :func:`register_conv_method`); a model switches family by that one argument.
Each method documents its weight shape (``weight_numel`` per edge) and which paths it covers
(``description``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from equitens.so3.irreps import Irreps
from equitens.tp.plan import DEFAULT_PLAN, Plan, as_plan

__all__ = [
    "EdgeConvolution",
    "available_conv_methods",
    "edge_convolution",
    "register_conv_method",
    "sh_irreps",
]

_BUILDERS: dict[str, Callable] = {}


def sh_irreps(lmax: int) -> Irreps:
    """The irreps of an edge's spherical harmonics, ``0e + 1o + 2e + ...`` up to degree ``lmax``.

    The one definition every edge convolution uses (``Irreps.spherical_harmonics`` of a polar
    vector); multiply by ``mul`` for ``mul`` copies of each degree.

    Examples:
        >>> sh_irreps(2)
        1x0e+1x1o+1x2e
        >>> 4 * sh_irreps(1)
        4x0e+4x1o
    """
    return Irreps.spherical_harmonics(lmax)


def common_multiplicity(irreps_in: Irreps, irreps_out: Irreps, method: str, reason: str) -> int:
    """The one multiplicity ``C`` of every entry of ``irreps_in`` and ``irreps_out``.

    For the families that work channel by channel (``"so2"``, ``"cp"``, ``"gaunt_grid"``).

    Args:
        irreps_in: irreps of the sender features.
        irreps_out: irreps of the messages.
        method: the family (for the error message).
        reason: why it needs one multiplicity (for the error message).

    Returns:
        ``C``.

    Raises:
        ValueError: when the multiplicities differ; the message says how to fix it.

    Examples:
        >>> common_multiplicity(Irreps("4x0e + 4x1o"), Irreps("4x1o"), "so2", "it is channelwise")
        4
    """
    muls = {mul for mul, _ in irreps_in} | {mul for mul, _ in irreps_out}
    if len(muls) != 1:
        raise ValueError(
            f"the {method!r} convolution needs one multiplicity ({reason}): every entry of "
            f"irreps_in ({irreps_in}) and irreps_out ({irreps_out}) needs the same multiplicity, "
            f"got {sorted(muls)}; use e.g. '64x0e + 64x1o' for both, or equalise them with a "
            "Linear layer"
        )
    return muls.pop()


@dataclasses.dataclass(frozen=True, eq=False)
class EdgeConvolution:
    """A built edge convolution: ``conv(x, edge_vectors, weights, key=None) -> messages``.

    Attributes:
        irreps_in: irreps of the sender features ``x`` (e3nn's mul_ir layout).
        irreps_out: irreps of the messages.
        lmax: highest degree of the edge's spherical harmonics.
        method: the family that evaluates it.
        weight_numel: per-edge weights the method needs (the radial network's output size).
        description: which paths the method covers and how its weights are laid out.
        apply: ``apply(x, edge_vectors, weights, key) -> messages`` on 2-d arrays.
        plan: how its kernels run (:class:`~equitens.tp.plan.Plan`).
        fused: ``fused(x, senders, receivers, edge_vectors, weights, backend)``, the fused
            interaction (:meth:`aggregate`), for the methods that have one; else ``None``.
    """

    irreps_in: Irreps
    irreps_out: Irreps
    lmax: int
    method: str
    weight_numel: int
    description: str
    apply: Callable = dataclasses.field(repr=False)
    plan: Plan = DEFAULT_PLAN
    fused: Callable | None = dataclasses.field(default=None, repr=False)

    def __call__(self, x, edge_vectors, weights, *, key: jax.Array | None = None) -> jax.Array:
        """Messages of shape ``(E, irreps_out.dim)``.

        Args:
            x: sender features, ``(E, irreps_in.dim)``.
            edge_vectors: ``(E, 3)``, receiver-to-sender or sender-to-receiver as the model
                defines it (any length; zero-length padding edges give finite values and
                gradients).
            weights: per-edge weights, ``(E, weight_numel)``.
            key: optional PRNG key (methods with a random roll angle use it; others ignore it).
        """
        x, edge_vectors, weights = (jnp.asarray(a) for a in (x, edge_vectors, weights))
        self._check(x, edge_vectors, weights, x.shape[0])
        return self.apply(x, edge_vectors, weights, key)

    def aggregate(
        self, x, senders, receivers, edge_vectors, weights, *, key: jax.Array | None = None
    ) -> jax.Array:
        """The messages summed into their receivers: the interaction of message passing.

        ``out[n] = sum_{e: receivers[e] = n} conv(x[senders[e]], edge_vectors[e], weights[e])``,
        evaluated as the plan's ``interaction`` says: ``"unfused"`` (gather, this convolution,
        ``segment_sum``) or one fused kernel per pass (``"pallas"``, ``"xla"``; methods that have
        one, see :mod:`equitens.tp.interaction`); by default the XLA form on the CPU and
        ``"unfused"`` on GPU/TPU (:meth:`~equitens.tp.plan.Plan.interaction_for`).

        Args:
            x: node features, ``(N, irreps_in.dim)``.
            senders: ``(E,)`` int, the node each edge reads.
            receivers: ``(E,)`` int, the node each edge writes (out-of-range indices, as
                ``segment_sum``'s, are dropped).
            edge_vectors: ``(E, 3)``.
            weights: per-edge weights, ``(E, weight_numel)``.
            key: optional PRNG key, as for ``__call__``.

        Returns:
            ``(N, irreps_out.dim)``.

        Raises:
            ValueError: for wrong shapes, or a fused plan for a method without a fused kernel.

        Examples:
            >>> import jax.numpy as jnp
            >>> conv = edge_convolution("2x0e + 2x1o", "2x0e + 2x1o", lmax=1)
            >>> x, vectors = jnp.ones((3, 8)), jnp.ones((4, 3))
            >>> senders, receivers = jnp.array([0, 1, 2, 2]), jnp.array([1, 2, 0, 1])
            >>> conv.aggregate(x, senders, receivers, vectors, jnp.ones((4, 8))).shape
            (3, 8)
        """
        x, edge_vectors, weights = (jnp.asarray(a) for a in (x, edge_vectors, weights))
        senders, receivers = jnp.asarray(senders), jnp.asarray(receivers)
        if senders.shape != receivers.shape or senders.ndim != 1:
            raise ValueError(
                f"senders and receivers must be 1-d of the same length, got shapes "
                f"{tuple(senders.shape)} and {tuple(receivers.shape)}"
            )
        self._check(x, edge_vectors, weights, senders.shape[0], nodes=True)
        mode = self.plan.interaction_for(jax.default_backend())
        if mode == "unfused" or (self.plan.interaction == "auto" and self.fused is None):
            messages = self.apply(x[senders], edge_vectors, weights, key)
            return jax.ops.segment_sum(messages, receivers, num_segments=x.shape[0])
        if self.fused is None:
            raise ValueError(
                f"plan interaction={mode!r} needs a fused kernel, which the {self.method!r} "
                f"convolution of {self.irreps_in} -> {self.irreps_out} does not have (the "
                "'cg' and 'so2' methods have one when every irreps entry has one "
                "multiplicity); use interaction='unfused' or 'auto'"
            )
        return self.fused(x, senders, receivers, edge_vectors, weights, mode)

    def _check(self, x, edge_vectors, weights, edges: int, nodes: bool = False) -> None:
        expected = (
            ("x", x, self.irreps_in.dim, f"irreps_in {self.irreps_in}"),
            ("edge_vectors", edge_vectors, 3, "Cartesian (x, y, z)"),
            ("weights", weights, self.weight_numel, f"weight_numel of method {self.method!r}"),
        )
        for name, array, size, why in expected:
            rows = "num_nodes" if nodes and name == "x" else "num_edges"
            if array.ndim != 2 or array.shape[1] != size:
                raise ValueError(
                    f"{name} must have shape ({rows}, {size}) ({why}), got {tuple(array.shape)}"
                )
        counts = (edge_vectors.shape[0], weights.shape[0]) + (() if nodes else (x.shape[0],))
        if any(count != edges for count in counts):
            names = "edge_vectors and weights" + ("" if nodes else " and x")
            raise ValueError(
                f"{names} need one row per edge ({edges}), got {', '.join(str(c) for c in counts)}"
            )


def register_conv_method(name: str, builder: Callable) -> None:
    """Register an edge-convolution family.

    Args:
        name: the ``method`` string.
        builder: ``builder(irreps_in, irreps_out, lmax, **options) -> EdgeConvolution``; it
            raises a ``ValueError`` for what it cannot build.

    Examples:
        >>> "cg" in available_conv_methods()
        True
    """
    _BUILDERS[name] = builder


def available_conv_methods() -> tuple[str, ...]:
    """The registered edge-convolution methods, sorted.

    Examples:
        >>> "cg" in available_conv_methods()
        True
    """
    return tuple(sorted(_BUILDERS))


@functools.cache
def _build(
    method: str, irreps_in: Irreps, irreps_out: Irreps, lmax: int, plan: Plan, options: tuple
):
    return _BUILDERS[method](irreps_in, irreps_out, lmax, plan=plan, **dict(options))


def edge_convolution(
    irreps_in, irreps_out, lmax: int, *, method: str = "cg", plan=None, **options
) -> EdgeConvolution:
    """Build (cached) the edge convolution ``x (x) Y(edge)`` of a family.

    Args:
        irreps_in: irreps of the sender features.
        irreps_out: requested irreps of the messages (see each method for what it can reach).
        lmax: highest degree of the edge's spherical harmonics.
        method: the family, one of :func:`available_conv_methods`.
        plan: how its kernels run: a :class:`~equitens.tp.plan.Plan`, a mapping of its fields
            or a ``"key=value,..."`` string; ``None``: the backend-aware default (chunked for the
            CPU cache when lowered for the CPU, unchunked on GPU/TPU).
        **options: method-specific options (hashable values).

    Returns:
        The :class:`EdgeConvolution`.

    Examples:
        >>> import jax.numpy as jnp
        >>> conv = edge_convolution("4x0e + 4x1o", "4x0e + 4x1o + 4x1e", lmax=2)
        >>> conv.weight_numel
        24
        >>> x, vectors = jnp.ones((5, 16)), jnp.ones((5, 3))
        >>> conv(x, vectors, jnp.ones((5, conv.weight_numel))).shape
        (5, 28)
    """
    if method not in _BUILDERS:
        raise ValueError(
            f"unknown edge-convolution method {method!r}; available methods: "
            f"{', '.join(repr(m) for m in available_conv_methods())}"
        )
    if not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative int, got {lmax!r}")
    key = tuple(sorted(options.items()))
    return _build(method, Irreps(irreps_in), Irreps(irreps_out), lmax, as_plan(plan), key)
