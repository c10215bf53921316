"""How a kernel runs on each backend: explicit, hashable options in every kernel's cache key.

A :class:`Plan` says how the tensor-product and convolution kernels evaluate their math: whether
samples (edges) are processed in chunks and how large, which algorithm a family uses, whether the
first derivatives are fused into one pass. It never changes a result beyond rounding.

The best plan depends on the hardware the kernel is compiled for. On a CPU, processing a few edges
at a time (``jax.lax.map`` over chunks) keeps the intermediates in cache, which matters more than
the arithmetic; on a GPU or TPU that loop becomes tens of thousands of sequential tiny steps
(measured 50 to 100x slower for the SO(2) convolution on an H200). The default ``chunk="auto"``
therefore resolves *when the kernel is lowered*, with :func:`jax.lax.platform_dependent`: each
family's measured CPU budget when lowered for the CPU, a single unchunked pass for every other
platform (so ``jax.export`` for ``platforms=["cuda"]`` on a CPU machine gets the GPU plan).
The default message-passing interaction resolves when traced, by ``jax.default_backend()``
(:meth:`Plan.interaction_for`): the fused interaction's XLA form on the CPU, the unfused one
elsewhere.

Plans are frozen dataclasses: pass one per call (``tensor_product_kernel(spec, plan)``,
``edge_convolution(..., plan=plan)``), per model (``model.plan`` in a training config) or per
benchmark (``--plan chunk=none``).

Examples:
    >>> Plan()
    Plan(chunk='auto', fuse_gradients=True, cg_algorithm='auto', cg_sparse_terms='auto', \
gaunt_multilinear=True, s2_transform='auto', fourier_convolution='auto', interaction='auto')
    >>> Plan(chunk=None).chunk_budgets(1 << 16)
    (('default', None),)
    >>> Plan().chunk_budgets(1 << 16)
    (('cpu', 65536), ('default', None))
    >>> Plan.parse("chunk=none,cg_algorithm=dense")
    Plan(chunk=None, fuse_gradients=True, cg_algorithm='dense', cg_sparse_terms='auto', \
gaunt_multilinear=True, s2_transform='auto', fourier_convolution='auto', interaction='auto')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = ["DEFAULT_PLAN", "Plan", "as_plan"]

_CHOICES = {
    "cg_algorithm": ("auto", "dense", "sparse"),
    "s2_transform": ("auto", "fft", "dft", "dense"),
    "fourier_convolution": ("auto", "fft", "dft", "dense", "direct"),
    "interaction": ("auto", "unfused", "pallas", "xla"),
}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How kernels evaluate: chunking, algorithm and fusion (hashable; a kernel cache key).

    Attributes:
        chunk: floats of intermediates per chunk of samples. ``"auto"``: each family's measured
            CPU budget when lowered for the CPU, no chunks on GPU/TPU (chosen at lowering);
            ``None``: never chunk; a positive int: this budget on every platform.
        fuse_gradients: compute all first derivatives of a tensor product in one pass.
        cg_algorithm: Clebsch-Gordan algorithm, ``"auto"`` (m-selection sparsity for small
            products, dense above ``cg_sparse_terms`` terms), ``"dense"`` or ``"sparse"``
            (falls back to dense where sparsity does not apply).
        cg_sparse_terms: the most nonzero CG terms for which ``"auto"`` picks ``"sparse"``;
            ``"auto"``: per channel mode (:meth:`sparse_terms_for`).
        gaunt_multilinear: run Gaunt kernels through the multilinear derivative rules (fused
            first derivatives, chunkable passes); ``False``: plain JAX autodiff of the forward.
        s2_transform: spherical-grid transform, ``"auto"``, ``"fft"``, ``"dft"`` or ``"dense"``.
        fourier_convolution: 2D-Fourier Gaunt convolution, ``"auto"``, ``"fft"``, ``"dft"``,
            ``"dense"`` or ``"direct"``.
        interaction: how message passing gathers, convolves and scatters
            (:meth:`~equitens.conv.interface.EdgeConvolution.aggregate`): ``"unfused"`` (gather
            the senders' rows, the edge convolution, ``segment_sum``; chunked as ``chunk`` says),
            ``"pallas"`` (one fused kernel per pass, forward and every derivative, generated from
            the paths: Triton on GPU, interpret mode on the CPU, for tests), ``"xla"`` (the fused
            primitive's XLA form) or ``"auto"`` (:meth:`interaction_for`).
    """

    chunk: int | str | None = "auto"
    fuse_gradients: bool = True
    cg_algorithm: str = "auto"
    cg_sparse_terms: int | str = "auto"
    gaunt_multilinear: bool = True
    s2_transform: str = "auto"
    fourier_convolution: str = "auto"
    interaction: str = "auto"

    def __post_init__(self):
        chunk = self.chunk
        valid_int = isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0
        if not (chunk is None or chunk == "auto" or valid_int):
            raise ValueError(
                f"Plan.chunk must be 'auto', None (no chunks) or a positive number of floats, "
                f"got {chunk!r}"
            )
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"Plan.{name} must be one of {', '.join(map(repr, choices))}, "
                    f"got {getattr(self, name)!r}"
                )
        for name in ("fuse_gradients", "gaunt_multilinear"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Plan.{name} must be True or False, got {getattr(self, name)!r}")
        terms = self.cg_sparse_terms
        valid_terms = isinstance(terms, int) and not isinstance(terms, bool) and terms >= 0
        if not (terms == "auto" or valid_terms):
            raise ValueError(
                f"Plan.cg_sparse_terms must be 'auto' or a non-negative int, got {terms!r}"
            )

    def chunk_budgets(self, cpu_budget: int | None) -> tuple[tuple[str, int | None], ...]:
        """The chunk budget (floats per chunk, ``None`` for no chunks) per lowering platform.

        Args:
            cpu_budget: the family's measured CPU budget, used where ``chunk="auto"`` (``None``:
                the kernel runs unchunked on the CPU too).

        Returns:
            ``((platform, budget), ...)``, ending with ``("default", budget)`` for every platform
            not named, in the form :func:`jax.lax.platform_dependent` takes.
        """
        if self.chunk == "auto":
            return (("cpu", cpu_budget), ("default", None))
        return (("default", self.chunk),)

    def sparse_terms_for(self, channel_mode: str) -> int:
        """The most nonzero Clebsch-Gordan terms of a product of ``channel_mode`` that
        ``cg_algorithm="auto"`` unrolls (its compile time grows with them).

        ``"auto"``: 300 for ``"uvu"``, whose other algorithm (A-first, in cache-sized chunks)
        loses little to the unrolled one; 600 for ``"uuu"`` and ``"uvuv"``, whose other
        algorithm (pair products) ran the MACE product basis at ``lmax = 3`` 1.3x slower (76
        against 58 ms; its ``A (x) A`` has 428 terms; see the models guide).

        Examples:
            >>> Plan().sparse_terms_for("uvu"), Plan().sparse_terms_for("uuu")
            (300, 600)
            >>> Plan(cg_sparse_terms=100).sparse_terms_for("uuu")
            100
        """
        if self.cg_sparse_terms != "auto":
            return self.cg_sparse_terms
        return 300 if channel_mode == "uvu" else 600

    def interaction_for(self, platform: str) -> str:
        """The interaction a kernel traced on ``platform`` (``jax.default_backend()``) runs.

        ``"auto"`` is the XLA form of the fused interaction on the CPU, where it was measured
        fastest (the MACE training step 9-15% faster than the unfused one, the interaction's
        double backward up to 4x; see the plans guide), and ``"unfused"`` on GPU/TPU, whose
        fused kernels are not yet measured. It is resolved when traced, not when lowered:
        resolving it with :func:`jax.lax.platform_dependent` traces both interactions, and the
        model tests took 22% longer with it. Methods without a fused kernel run ``"unfused"``
        under ``"auto"``.

        Examples:
            >>> Plan().interaction_for("cpu"), Plan().interaction_for("gpu")
            ('xla', 'unfused')
            >>> Plan(interaction="pallas").interaction_for("cpu")
            'pallas'
        """
        if self.interaction != "auto":
            return self.interaction
        return "xla" if platform == "cpu" else "unfused"

    def describe(self, platform: str) -> str:
        """One line for a run log: the settings that differ from the default, and the chunking
        and interaction that ``platform`` (``jax.default_backend()``: ``"cpu"``, ``"gpu"``,
        ``"tpu"``) gets.

        Examples:
            >>> Plan().describe("gpu")
            'plan default: unchunked on gpu, unfused interaction'
            >>> print(Plan(chunk=4096).describe("cpu"))
            plan chunk=4096: chunks of ~4096 floats on cpu,
            xla interaction where the convolution has one
            >>> Plan(interaction="xla").describe("cpu")
            'plan interaction=xla: chunked for the CPU cache on cpu, xla interaction'
        """
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        if self.chunk == "auto":
            chunking = "chunked for the CPU cache" if platform == "cpu" else "unchunked"
        elif self.chunk is None:
            chunking = "unchunked"
        else:
            chunking = f"chunks of ~{self.chunk} floats"
        mode = self.interaction_for(platform)
        interaction = f"{mode} interaction"
        if self.interaction == "auto" and mode != "unfused":  # the others run unfused
            interaction += " where the convolution has one"
        return f"plan {','.join(changed) or 'default'}: {chunking} on {platform}, {interaction}"

    @classmethod
    def parse(cls, text: str) -> Plan:
        """A plan from ``"key=value,key=value"`` (command lines and benchmark flags).

        Values ``none``/``null`` are ``None``, ``true``/``false`` booleans, digits integers.

        Args:
            text: comma-separated settings; empty for the default plan.

        Returns:
            The plan.
        """
        settings = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"plan settings are key=value, got {item!r} in {text!r}")
            settings[key.strip()] = _parse_value(value.strip())
        return as_plan(settings)


def _parse_value(value: str):
    lowered = value.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    return int(value) if value.isdigit() else value


DEFAULT_PLAN = Plan()


def as_plan(plan: Plan | Mapping | str | None) -> Plan:
    """A :class:`Plan` from a plan, a mapping of its fields, a ``"key=value,..."`` string or None.

    Args:
        plan: what to convert; ``None`` is the default plan.

    Returns:
        The plan.

    Examples:
        >>> as_plan({"chunk": None}).chunk is None
        True
        >>> as_plan(None) == Plan()
        True
    """
    if plan is None:
        return DEFAULT_PLAN
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, str):
        return Plan.parse(plan)
    if isinstance(plan, Mapping):
        fields = {f.name for f in dataclasses.fields(Plan)}
        unknown = sorted(set(plan) - fields)
        if unknown:
            raise ValueError(
                f"unknown plan settings {unknown}; a plan has: {', '.join(sorted(fields))}"
            )
        return Plan(**plan)
    raise TypeError(f"expected a Plan, a mapping, a 'key=value,...' string or None, got {plan!r}")
