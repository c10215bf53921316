"""Pair plans: the paths of a tensor product grouped by their pair of input entries.

For each pair ``(i_in1, i_in2)`` of input entries that some path connects, one constant float64
matrix holds all the pair's paths side by side (path coefficients folded in), so that one outer
product of the two input blocks and one matrix product give every path of the pair at once:

``outer(x1[i_in1], x2[i_in2]) @ matrix`` -> the ``2 l3 + 1`` columns of each path, in order.

The Clebsch-Gordan kernel's pair-product algorithm (:mod:`equitens.tp.cg`) and MACE's symmetric
contraction (:mod:`equitens.nn.symmetric_contraction`) both evaluate products this way.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.tp.spec import TensorProductSpec

__all__ = ["Pair", "pair_plan"]


@dataclasses.dataclass(frozen=True)
class Pair:
    """All the paths of one pair of input entries, as one constant matrix.

    Attributes:
        i_in1: entry index in ``irreps_in1``.
        i_in2: entry index in ``irreps_in2``.
        paths: indices of the pair's paths in ``spec.paths``, in column order.
        outputs: the output entry (``i_out``) of each path.
        widths: the ``2 l3 + 1`` columns of each path.
        matrix: ``((2 l1 + 1) (2 l2 + 1), sum(widths))`` float64, read-only.
    """

    i_in1: int
    i_in2: int
    paths: tuple[int, ...]
    outputs: tuple[int, ...]
    widths: tuple[int, ...]
    matrix: np.ndarray


@functools.cache
def pair_plan(spec: TensorProductSpec) -> tuple[Pair, ...]:
    """The pairs of input entries of a spec, with their matrices (cached per spec).

    Paths with an empty input (multiplicity 0) are left out.

    Examples:
        >>> spec = TensorProductSpec.full("0e + 1o", "1o")
        >>> [(p.i_in1, p.i_in2, p.widths, p.matrix.shape) for p in pair_plan(spec)]
        [(0, 0, (3,), (3, 3)), (1, 0, (1, 3, 5), (9, 9))]
    """
    pairs: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(spec.paths):
        (mul1, _), (mul2, _), _ = spec.mul_irreps(path)
        if mul1 > 0 and mul2 > 0:
            pairs.setdefault((path.i_in1, path.i_in2), []).append(index)
    plans = []
    for (i1, i2), indices in pairs.items():
        l1, l2 = spec.irreps_in1[i1].ir.l, spec.irreps_in2[i2].ir.l
        outputs = tuple(spec.paths[index].i_out for index in indices)
        blocks = [
            spec.paths[index].coefficient * clebsch_gordan(l1, l2, spec.irreps_out[k].ir.l)
            for index, k in zip(indices, outputs, strict=True)
        ]
        matrix = np.concatenate(blocks, axis=2).reshape((2 * l1 + 1) * (2 * l2 + 1), -1)
        matrix.setflags(write=False)
        widths = tuple(spec.irreps_out[k].ir.dim for k in outputs)
        plans.append(Pair(i1, i2, tuple(indices), outputs, widths, matrix))
    return tuple(plans)
