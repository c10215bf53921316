"""The static description of a tensor product: which paths, which channel mode, which weights.

A :class:`TensorProductSpec` is a frozen, hashable dataclass. It holds everything a kernel needs
to know at trace time (irreps, paths with their normalisation constants, channel mode, method), so
kernels can be built once per spec and cached. It holds no arrays and no parameters: kernels are
pure functions of arrays and flax modules own the weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.irreps import Irrep, Irreps, MulIrrep

__all__ = ["Path", "TensorProductSpec", "CHANNEL_MODES"]

CHANNEL_MODES = ("uvu", "uvw", "uuu", "uvuv")
"""The channel modes: how the channels of the inputs combine into the channels of the output.

- ``"uvu"`` channelwise: ``out[u] += w[u, v] * (x1[u] (x) x2[v])``, ``mul_out == mul1``;
- ``"uvw"`` fully connected: ``out[w] += w[u, v, w] * (x1[u] (x) x2[v])``;
- ``"uuu"`` elementwise: ``out[u] += (w[u] *) (x1[u] (x) x2[u])``, ``mul1 == mul2 == mul_out``;
- ``"uvuv"`` all channel pairs: ``out[u * mul2 + v] = x1[u] (x) x2[v]``, ``mul_out == mul1 * mul2``.
"""

_PATH_NORMALIZATIONS = ("element", "path")
_IRREP_NORMALIZATIONS = ("component", "norm", "none")


def _to_irreps(irreps, name: str) -> Irreps:
    try:
        return Irreps(irreps)
    except Exception as error:  # re-raised with context
        raise ValueError(
            f"{name}={irreps!r} is not a valid irreps; use e3nn syntax such as '32x0e + 16x1o'"
        ) from error


def _to_filter(filter_ir_out) -> tuple[Irrep, ...] | None:
    """Normalise ``filter_ir_out`` (None, a string, an Irrep or a list of irreps) to a tuple."""
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, str):
        return tuple(ir for _, ir in Irreps(filter_ir_out))
    if isinstance(filter_ir_out, Irrep):
        return (filter_ir_out,)
    out = []
    for item in filter_ir_out:
        if isinstance(item, str) and "x" in item:
            out.extend(ir for _, ir in Irreps(item))
        else:
            out.append(Irrep(item))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Path:
    """One path ``(irreps_in1[i_in1], irreps_in2[i_in2]) -> irreps_out[i_out]`` of a tensor product.

    Attributes:
        i_in1: index of the first input's entry in ``irreps_in1``.
        i_in2: index of the second input's entry in ``irreps_in2``.
        i_out: index of the output's entry in ``irreps_out``.
        coefficient: the constant that multiplies the unit-norm Clebsch-Gordan tensor of this path
            (irrep and path normalisation folded together).
        labels: the three ``"mul x ir"`` strings, only used by ``repr``.

    Examples:
        >>> Path(0, 1, 0, 1.0, ("1x1o", "1x2e", "1x1o"))
        (1x1o, 1x2e) -> 1x1o
    """

    i_in1: int
    i_in2: int
    i_out: int
    coefficient: float
    labels: tuple[str, str, str] | None = dataclasses.field(default=None, compare=False)

    def __repr__(self) -> str:
        if self.labels is None:
            return f"Path({self.i_in1}, {self.i_in2}, {self.i_out}, {self.coefficient:.6g})"
        a, b, c = self.labels
        return f"({a}, {b}) -> {c}"


@functools.cache
def _cg_nnz(l1: int, l2: int, l3: int) -> int:
    return int(np.count_nonzero(np.abs(clebsch_gordan(l1, l2, l3)) > 1e-14))


def _num_elements(mode: str, mul1: int, mul2: int) -> int:
    """How many input channel products feed one output channel (the legacy e3nn definition)."""
    return {"uvu": mul2, "uvw": mul1 * mul2, "uuu": 1, "uvuv": 1}[mode]


def _path_coefficients(
    triples: Sequence[tuple[int, int, int]],
    irreps_in1: Irreps,
    irreps_in2: Irreps,
    irreps_out: Irreps,
    mode: str,
    path_normalization: str,
    irrep_normalization: str,
    path_weights: Sequence[float] | None,
) -> list[float]:
    """Normalisation constants of the paths, as in e3nn's legacy ``FunctionalTensorProduct``.

    With unit-variance inputs each output component has unit variance: ``"element"`` gives every
    input product the same weight, ``"path"`` gives every path feeding an output the same weight.
    """
    n_elem = [_num_elements(mode, irreps_in1[i].mul, irreps_in2[j].mul) for i, j, _ in triples]
    totals: dict[int, float] = {}
    for (_, _, k), n in zip(triples, n_elem, strict=True):
        totals[k] = totals.get(k, 0.0) + (n if path_normalization == "element" else 1.0)
    coefficients = []
    for index, ((i, j, k), n) in enumerate(zip(triples, n_elem, strict=True)):
        d1, d2, d3 = irreps_in1[i].ir.dim, irreps_in2[j].ir.dim, irreps_out[k].ir.dim
        alpha = {"component": d3, "norm": d1 * d2, "none": 1}[irrep_normalization]
        denominator = totals[k] if path_normalization == "element" else n * totals[k]
        if denominator > 0:
            alpha /= denominator
        if path_weights is not None:
            alpha *= path_weights[index]
        coefficients.append(math.sqrt(alpha))
    return coefficients


@dataclasses.dataclass(frozen=True)
class TensorProductSpec:
    """Static, hashable description of a tensor product ``out = TP(x1, x2; weights)``.

    Each path ``(l1 p1, l2 p2) -> l3 p3`` contracts a channel of ``x1`` and a channel of ``x2``
    with the Clebsch-Gordan tensor ``C^{l1 l2 l3}`` (unit Frobenius norm, e3nn's convention),
    times ``path.coefficient``, and adds it to a channel of the output, as the channel mode says.

    Weights, when the mode has them, are one flat vector of ``weight_numel`` numbers: the
    concatenation, in path order, of each path's weights flattened from ``weight_shapes[p]``
    (``(mul1, mul2)`` for ``"uvu"``, ``(mul1, mul2, mul_out)`` for ``"uvw"``, ``(mul1,)`` for a
    weighted ``"uuu"``): the same layout as e3nn's legacy ``FunctionalTensorProduct``.

    Build one with :meth:`full`, :meth:`elementwise`, :meth:`channelwise`,
    :meth:`fully_connected`, or :meth:`from_instructions` for explicit paths.

    Attributes:
        irreps_in1: irreps of the first input.
        irreps_in2: irreps of the second input.
        irreps_out: irreps of the output, one entry per output block that paths write into.
        paths: the paths, in weight order.
        channel_mode: one of ``"uvu"``, ``"uvw"``, ``"uuu"``, ``"uvuv"``.
        weighted: whether the paths carry learnable weights (always for ``"uvu"`` and ``"uvw"``,
            never for ``"uvuv"``, optional for ``"uuu"``).
        path_normalization: ``"element"`` or ``"path"`` (how the coefficients were derived).
        irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
        method: the kernel family that evaluates the spec (``"cg"``).

    Examples:
        >>> spec = TensorProductSpec.channelwise("8x0e + 8x1o", "0e + 1o", "8x0e + 8x1o")
        >>> spec.weight_numel
        32
        >>> spec.paths[1]
        (8x0e, 1x1o) -> 8x1o
    """

    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    paths: tuple[Path, ...]
    channel_mode: str
    weighted: bool
    path_normalization: str = "element"
    irrep_normalization: str = "component"
    method: str = "cg"

    def __post_init__(self) -> None:
        if self.channel_mode not in CHANNEL_MODES:
            raise ValueError(
                f"unknown channel_mode {self.channel_mode!r}; use one of {CHANNEL_MODES}"
            )
        if self.path_normalization not in _PATH_NORMALIZATIONS:
            raise ValueError(
                f"path_normalization must be one of {_PATH_NORMALIZATIONS}, "
                f"got {self.path_normalization!r}"
            )
        if self.irrep_normalization not in _IRREP_NORMALIZATIONS:
            raise ValueError(
                f"irrep_normalization must be one of {_IRREP_NORMALIZATIONS}, "
                f"got {self.irrep_normalization!r}"
            )
        if self.channel_mode in ("uvu", "uvw") and not self.weighted:
            raise ValueError(
                f"channel_mode {self.channel_mode!r} needs weights (weighted=True); for an "
                "unweighted product of all channel pairs use 'uvuv', of matching channels 'uuu'"
            )
        if self.channel_mode == "uvuv" and self.weighted:
            raise ValueError(
                "channel_mode 'uvuv' has no weights; use 'uvu' or 'uvw' for a weighted product"
            )
        from equitens.tp.registry import check_method  # local: the registry imports this module

        check_method(self.method)
        for path in self.paths:
            self._check_path(path)

    def _check_path(self, path: Path) -> None:
        for name, index, irreps in (
            ("i_in1", path.i_in1, self.irreps_in1),
            ("i_in2", path.i_in2, self.irreps_in2),
            ("i_out", path.i_out, self.irreps_out),
        ):
            if not 0 <= index < len(irreps):
                raise ValueError(
                    f"path {path!r}: {name}={index} is out of range for irreps {irreps} "
                    f"({len(irreps)} entries)"
                )
        (mul1, ir1), (mul2, ir2), (mul3, ir3) = self.mul_irreps(path)
        if ir1.p * ir2.p != ir3.p:
            raise ValueError(
                f"path ({mul1}x{ir1}, {mul2}x{ir2}) -> {mul3}x{ir3} breaks parity: the output "
                f"parity must be {'e' if ir1.p * ir2.p == 1 else 'o'}; fix the output irrep"
            )
        if not abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l:
            raise ValueError(
                f"path ({mul1}x{ir1}, {mul2}x{ir2}) -> {mul3}x{ir3} breaks the triangle rule: "
                f"the output degree must lie in [{abs(ir1.l - ir2.l)}, {ir1.l + ir2.l}]"
            )
        mode = self.channel_mode
        expected = {
            "uvu": (mul3 == mul1, f"mul_out == mul1 ({mul1})"),
            "uvw": (True, ""),
            "uuu": (mul1 == mul2 == mul3, f"mul1 == mul2 == mul_out (got {mul1}, {mul2}, {mul3})"),
            "uvuv": (mul3 == mul1 * mul2, f"mul_out == mul1 * mul2 ({mul1 * mul2})"),
        }[mode]
        if not expected[0]:
            hint = {
                "uuu": "use 'uvu' or 'uvw' for inputs of different multiplicities, or give the "
                "inputs equal multiplicities",
                "uvu": "give the output the multiplicity of the first input",
                "uvuv": "give the output the product of the input multiplicities",
            }[mode]
            raise ValueError(
                f"channel_mode {mode!r} needs {expected[1]} in path "
                f"({mul1}x{ir1}, {mul2}x{ir2}) -> {mul3}x{ir3}; {hint}"
            )

    # ------------------------------------------------------------------ derived properties

    def mul_irreps(self, path: Path) -> tuple[MulIrrep, MulIrrep, MulIrrep]:
        """The three ``(mul, ir)`` entries a path connects.

        Args:
            path: one of ``self.paths``.

        Returns:
            ``(irreps_in1[path.i_in1], irreps_in2[path.i_in2], irreps_out[path.i_out])``.

        Examples:
            >>> spec = TensorProductSpec.full("0e + 1o", "1o")
            >>> print(*spec.mul_irreps(spec.paths[0]))
            1x0e 1x1o 1x1o
        """
        return (
            self.irreps_in1[path.i_in1],
            self.irreps_in2[path.i_in2],
            self.irreps_out[path.i_out],
        )

    def path_weight_shape(self, path: Path) -> tuple[int, ...]:
        """The shape of one path's weights (``()`` when the spec is unweighted).

        Args:
            path: one of ``self.paths``.

        Returns:
            ``(mul1, mul2)`` for ``"uvu"``, ``(mul1, mul2, mul_out)`` for ``"uvw"``, ``(mul1,)``
            for weighted ``"uuu"``, else ``()``.

        Examples:
            >>> spec = TensorProductSpec.fully_connected("2x0e", "3x0e", "4x0e")
            >>> spec.path_weight_shape(spec.paths[0])
            (2, 3, 4)
        """
        if not self.weighted:
            return ()
        (mul1, _), (mul2, _), (mul3, _) = self.mul_irreps(path)
        return {"uvu": (mul1, mul2), "uvw": (mul1, mul2, mul3), "uuu": (mul1,)}[self.channel_mode]

    @property
    def weight_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The weight shape of each path, in path order (empty tuples when unweighted)."""
        return tuple(self.path_weight_shape(path) for path in self.paths)

    @property
    def weight_numel(self) -> int:
        """The length of the flat weight vector (0 when unweighted)."""
        if not self.weighted:
            return 0
        return sum(math.prod(shape) for shape in self.weight_shapes)

    def weight_slices(self) -> tuple[slice, ...]:
        """Where each path's weights lie in the flat weight vector.

        Returns:
            One ``slice`` per path, in path order.

        Examples:
            >>> spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e", "4x0e + 4x1o")
            >>> spec.weight_slices()
            (slice(0, 4, None), slice(4, 8, None))
        """
        out, start = [], 0
        for shape in self.weight_shapes:
            size = math.prod(shape) if self.weighted else 0
            out.append(slice(start, start + size))
            start += size
        return tuple(out)

    @property
    def flops(self) -> int:
        """Useful FLOPs of one forward evaluation per sample.

        Two FLOPs (one multiply-add) per nonzero Clebsch-Gordan entry per combination of
        channels the path couples (``mul1 * mul2`` for ``"uvu"`` and ``"uvuv"``,
        ``mul1 * mul2 * mul_out`` for ``"uvw"``, ``mul`` for ``"uuu"``). Weight multiplications
        and constants are not counted: the number is a property of the operation, not of the
        algorithm, so GFLOP/s compare kernels fairly.
        """
        total = 0
        for path in self.paths:
            (mul1, ir1), (mul2, ir2), (mul3, ir3) = self.mul_irreps(path)
            channels = {
                "uvu": mul1 * mul2,
                "uvw": mul1 * mul2 * mul3,
                "uuu": mul1,
                "uvuv": mul1 * mul2,
            }[self.channel_mode]
            total += 2 * _cg_nnz(ir1.l, ir2.l, ir3.l) * channels
        return total

    def __repr__(self) -> str:
        head = (
            f"TensorProductSpec({self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out} | "
            f"mode={self.channel_mode} | {len(self.paths)} paths | {self.weight_numel} weights | "
            f"method={self.method})"
        )
        lines = [head] + [f"  {path!r}  * {path.coefficient:.6g}" for path in self.paths]
        return "\n".join(lines)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_instructions(
        cls,
        irreps_in1,
        irreps_in2,
        irreps_out,
        instructions: Iterable[tuple[int, int, int]],
        channel_mode: str,
        *,
        weighted: bool | None = None,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        path_weights: Sequence[float] | None = None,
        method: str = "cg",
    ) -> TensorProductSpec:
        """A spec with explicit paths, normalised like e3nn's legacy ``FunctionalTensorProduct``.

        Args:
            irreps_in1: irreps of the first input.
            irreps_in2: irreps of the second input.
            irreps_out: irreps of the output.
            instructions: ``(i_in1, i_in2, i_out)`` index triples, one per path.
            channel_mode: ``"uvu"``, ``"uvw"``, ``"uuu"`` or ``"uvuv"``.
            weighted: whether paths carry weights; default: ``channel_mode in ("uvu", "uvw")``.
            path_normalization: ``"element"`` or ``"path"``.
            irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
            path_weights: optional extra constant per path, multiplied into the variance
                (e3nn's ``path_weight``; the coefficient gets its square root).
            method: kernel family, ``"cg"``.

        Returns:
            The spec.

        Examples:
            >>> spec = TensorProductSpec.from_instructions(
            ...     "4x1o", "1o", "4x0e + 4x1e", [(0, 0, 0), (0, 0, 1)], "uvu")
            >>> spec.paths
            ((4x1o, 1x1o) -> 4x0e, (4x1o, 1x1o) -> 4x1e)
        """
        irreps_in1 = _to_irreps(irreps_in1, "irreps_in1")
        irreps_in2 = _to_irreps(irreps_in2, "irreps_in2")
        irreps_out = _to_irreps(irreps_out, "irreps_out")
        if channel_mode not in CHANNEL_MODES:
            raise ValueError(f"unknown channel_mode {channel_mode!r}; use one of {CHANNEL_MODES}")
        if weighted is None:
            weighted = channel_mode in ("uvu", "uvw")
        if path_normalization not in _PATH_NORMALIZATIONS:
            raise ValueError(
                f"path_normalization must be one of {_PATH_NORMALIZATIONS}, "
                f"got {path_normalization!r}"
            )
        if irrep_normalization not in _IRREP_NORMALIZATIONS:
            raise ValueError(
                f"irrep_normalization must be one of {_IRREP_NORMALIZATIONS}, "
                f"got {irrep_normalization!r}"
            )
        triples = [tuple(int(i) for i in ins) for ins in instructions]
        for ins in triples:
            if len(ins) != 3:
                raise ValueError(f"an instruction is an (i_in1, i_in2, i_out) triple, got {ins}")
            for index, irreps, name in zip(
                ins, (irreps_in1, irreps_in2, irreps_out), ("i_in1", "i_in2", "i_out"), strict=True
            ):
                if not 0 <= index < len(irreps):
                    raise ValueError(
                        f"instruction {ins}: {name}={index} is out of range for {irreps}"
                    )
        if path_weights is not None and len(path_weights) != len(triples):
            raise ValueError(
                f"path_weights has {len(path_weights)} entries for {len(triples)} instructions"
            )
        coefficients = _path_coefficients(
            triples,
            irreps_in1,
            irreps_in2,
            irreps_out,
            channel_mode,
            path_normalization,
            irrep_normalization,
            path_weights,
        )
        paths = tuple(
            Path(
                i,
                j,
                k,
                c,
                (str(irreps_in1[i]), str(irreps_in2[j]), str(irreps_out[k])),
            )
            for (i, j, k), c in zip(triples, coefficients, strict=True)
        )
        return cls(
            irreps_in1,
            irreps_in2,
            irreps_out,
            paths,
            channel_mode,
            weighted,
            path_normalization,
            irrep_normalization,
            method,
        )

    @classmethod
    def full(
        cls,
        irreps_in1,
        irreps_in2,
        filter_ir_out=None,
        *,
        irrep_normalization: str = "component",
        method: str = "cg",
    ) -> TensorProductSpec:
        """All channel pairs, all parity-allowed paths: ``e3nn_jax.tensor_product``'s operation.

        The inputs are used as given (``e3nn_jax.tensor_product`` regroups them first: the
        functional entry point does that). Each path ``(u x ir1, v x ir2) -> ir3`` writes its own
        output block of multiplicity ``mul1 * mul2``; blocks are sorted like e3nn sorts them, so
        ``irreps_out.simplify()`` is e3nn's output irreps.

        Args:
            irreps_in1: irreps of the first input.
            irreps_in2: irreps of the second input.
            filter_ir_out: keep only these output irreps (None keeps all).
            irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
            method: kernel family, ``"cg"``.

        Returns:
            The spec, channel mode ``"uvuv"``, unweighted.

        Examples:
            >>> TensorProductSpec.full("0e + 1o", "1o", filter_ir_out="0e + 1o + 1e").irreps_out
            1x0e+1x1o+1x1e
        """
        irreps_in1 = _to_irreps(irreps_in1, "irreps_in1")
        irreps_in2 = _to_irreps(irreps_in2, "irreps_in2")
        keep = _to_filter(filter_ir_out)
        blocks = []  # (ir_out, mul_out, i1, i2)
        for i, (mul1, ir1) in enumerate(irreps_in1):
            for j, (mul2, ir2) in enumerate(irreps_in2):
                for ir3 in ir1 * ir2:
                    if keep is not None and ir3 not in keep:
                        continue
                    blocks.append((ir3, mul1 * mul2, i, j))
        order = sorted(range(len(blocks)), key=lambda b: (blocks[b][0], b))  # Irrep order
        irreps_out = Irreps([(blocks[b][1], blocks[b][0]) for b in order])
        triples = [(blocks[b][2], blocks[b][3], k) for k, b in enumerate(order)]
        triples.sort(key=lambda t: (t[0], t[1], irreps_out[t[2]].ir))
        return cls.from_instructions(
            irreps_in1,
            irreps_in2,
            irreps_out,
            triples,
            "uvuv",
            weighted=False,
            irrep_normalization=irrep_normalization,
            method=method,
        )

    @classmethod
    def elementwise(
        cls,
        irreps_in1,
        irreps_in2,
        filter_ir_out=None,
        *,
        weighted: bool = False,
        irrep_normalization: str = "component",
        method: str = "cg",
    ) -> TensorProductSpec:
        """Matching channels, all parity-allowed paths: ``e3nn_jax.elementwise_tensor_product``.

        The inputs must have the same multiplicities entry by entry (``e3nn_jax`` splits them to
        align; the functional entry point does that). Output blocks follow the inputs' order and
        are not sorted, as in e3nn.

        Args:
            irreps_in1: irreps of the first input.
            irreps_in2: irreps of the second input, entrywise the same multiplicities.
            filter_ir_out: keep only these output irreps (None keeps all).
            weighted: give each path a weight per channel.
            irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
            method: kernel family, ``"cg"``.

        Returns:
            The spec, channel mode ``"uuu"``.

        Examples:
            >>> TensorProductSpec.elementwise("2x0e + 1o", "2x1e + 1o").irreps_out
            2x1e+1x0e+1x1e+1x2e
        """
        irreps_in1 = _to_irreps(irreps_in1, "irreps_in1")
        irreps_in2 = _to_irreps(irreps_in2, "irreps_in2")
        muls1, muls2 = [m for m, _ in irreps_in1], [m for m, _ in irreps_in2]
        if muls1 != muls2:
            raise ValueError(
                f"an elementwise ('uuu') tensor product needs the same multiplicities entry by "
                f"entry, got {irreps_in1} and {irreps_in2}; split the entries so they align "
                "(equitens.tp.elementwise_tensor_product does it for IrrepsArray inputs)"
            )
        keep = _to_filter(filter_ir_out)
        out, triples = [], []
        for i, ((mul, ir1), (_, ir2)) in enumerate(zip(irreps_in1, irreps_in2, strict=True)):
            for ir3 in ir1 * ir2:
                if keep is not None and ir3 not in keep:
                    continue
                triples.append((i, i, len(out)))
                out.append((mul, ir3))
        return cls.from_instructions(
            irreps_in1,
            irreps_in2,
            Irreps(out),
            triples,
            "uuu",
            weighted=weighted,
            irrep_normalization=irrep_normalization,
            method=method,
        )

    @classmethod
    def _connected(
        cls,
        irreps_in1,
        irreps_in2,
        irreps_out,
        channel_mode: str,
        path_normalization: str,
        irrep_normalization: str,
        method: str,
    ) -> TensorProductSpec:
        irreps_in1 = _to_irreps(irreps_in1, "irreps_in1")
        irreps_in2 = _to_irreps(irreps_in2, "irreps_in2")
        irreps_out = _to_irreps(irreps_out, "irreps_out")
        triples = []
        for k, (mul3, ir3) in enumerate(irreps_out):
            found = False
            for i, (mul1, ir1) in enumerate(irreps_in1):
                for j, (_, ir2) in enumerate(irreps_in2):
                    if ir3 in ir1 * ir2:
                        found = True
                        if channel_mode == "uvu" and mul1 != mul3:
                            continue
                        triples.append((i, j, k))
            if not found:
                reachable = sorted(
                    {ir3 for _, ir1 in irreps_in1 for _, ir2 in irreps_in2 for ir3 in ir1 * ir2}
                )
                raise ValueError(
                    f"no path of {irreps_in1} x {irreps_in2} produces the output {mul3}x{ir3} "
                    f"(parity or degree out of reach); remove it from irreps_out. Reachable "
                    f"irreps: {' + '.join(str(ir) for ir in reachable)}"
                )
            if channel_mode == "uvu" and not any(t[2] == k for t in triples):
                raise ValueError(
                    f"channelwise ('uvu') output {mul3}x{ir3} needs an input-1 entry of the same "
                    f"multiplicity {mul3} that reaches {ir3}; set its multiplicity to that of the "
                    "first input"
                )
        triples.sort()
        return cls.from_instructions(
            irreps_in1,
            irreps_in2,
            irreps_out,
            triples,
            channel_mode,
            weighted=True,
            path_normalization=path_normalization,
            irrep_normalization=irrep_normalization,
            method=method,
        )

    @classmethod
    def channelwise(
        cls,
        irreps_in1,
        irreps_in2,
        irreps_out,
        *,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
    ) -> TensorProductSpec:
        """Channelwise ``"uvu"`` product: every parity-allowed path into every output entry.

        ``out[u] = sum_paths sum_v w[path, u, v] * c_path * (x1[u] (x) x2[v])``: the NequIP/MACE
        message when ``x2`` is a single channel of spherical harmonics and ``w`` comes per edge
        from a radial MLP. Each output entry must have the multiplicity of the input-1 entries
        that feed it.

        Args:
            irreps_in1: irreps of the first input (node features).
            irreps_in2: irreps of the second input (usually ``1x0e + 1x1o + ...``).
            irreps_out: irreps of the output; every entry must be reachable.
            path_normalization: ``"element"`` or ``"path"``.
            irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
            method: kernel family, ``"cg"``.

        Returns:
            The spec, weighted, paths sorted by ``(i_in1, i_in2, i_out)``.

        Examples:
            >>> spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
            >>> len(spec.paths), spec.weight_numel
            (4, 16)
        """
        return cls._connected(
            irreps_in1,
            irreps_in2,
            irreps_out,
            "uvu",
            path_normalization,
            irrep_normalization,
            method,
        )

    @classmethod
    def fully_connected(
        cls,
        irreps_in1,
        irreps_in2,
        irreps_out,
        *,
        path_normalization: str = "element",
        irrep_normalization: str = "component",
        method: str = "cg",
    ) -> TensorProductSpec:
        """Fully connected ``"uvw"`` product: every parity-allowed path, all channels mixed.

        ``out[w] = sum_paths sum_uv w[path, u, v, w] * c_path * (x1[u] (x) x2[v])``, e3nn's
        ``FullyConnectedTensorProduct``. Weights are shared by all samples.

        Args:
            irreps_in1: irreps of the first input.
            irreps_in2: irreps of the second input.
            irreps_out: irreps of the output; every entry must be reachable.
            path_normalization: ``"element"`` or ``"path"``.
            irrep_normalization: ``"component"``, ``"norm"`` or ``"none"``.
            method: kernel family, ``"cg"``.

        Returns:
            The spec, weighted, paths sorted by ``(i_in1, i_in2, i_out)``.

        Examples:
            >>> TensorProductSpec.fully_connected("2x0e + 2x1o", "1o", "3x1o + 3x1e").weight_numel
            12
        """
        return cls._connected(
            irreps_in1,
            irreps_in2,
            irreps_out,
            "uvw",
            path_normalization,
            irrep_normalization,
            method,
        )
