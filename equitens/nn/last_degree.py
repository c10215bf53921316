"""The product basis' highest degree, contracted with its weights before its last product.

The ``"kernel"`` algorithm of :mod:`equitens.nn.symmetric_contraction` builds the degree-ν
blocks ``T_ν^k = c_k CG(T_{ν-1}^{b_k} (x) A^{a_k} -> L_k)`` and weights them,
``B_ν[L] = sum_k W_k T_ν^k``, with per-node, per-channel weights ``W_k``. The highest degree's
blocks are used by nothing else, so they need not exist. A Clebsch-Gordan product is bilinear and
``W_k`` is a scalar per ``(node, channel)``; so all the terms ``k`` that share the irrep of
``T_{ν-1}^{b_k}``, the factor ``A^{a_k}`` and the output ``L_k`` (a *group* ``g``) make one product
of a weighted sum:

    ``sum_{k in g} W_k c_k CG(T^{b_k}, A^{a_k}) = c_g CG(Y_g, A^{a_g})``, with
    ``Y_g = sum_{k in g} (c_k / c_g) W_k T^{b_k}``.

At ``lmax = 3`` (``A = 0e + 1o + 2e + 3o`` to ``0e + 1o``, correlation 3) the 49 paths of the last
product (557 nonzero Clebsch-Gordan terms per channel, above the unrolled kernel's
``cg_sparse_terms``) become 13 groups of 159 terms (14 groups, 165 terms, before the blocks that
vanish identically are left out: :mod:`equitens.nn.vanishing_blocks`), and the product basis'
second-order step ran 2.7x faster (88 against 238 ms at 64 channels and 210 nodes, one CPU core;
see the models guide). The values are the same to rounding: only the order of the sums changes.

Examples:
    >>> from equitens.nn.symmetric_contraction import SymmetricContractionSpec
    >>> spec = SymmetricContractionSpec.create("4x0e + 4x1o + 4x2e + 4x3o", "4x0e + 4x1o", 3)
    >>> last = last_degree(spec)
    >>> len(spec.products[-1].paths), len(last.product.paths)
    (49, 13)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

from equitens.nn.vanishing_blocks import CG_STRUCTURED_METHODS, evaluated_products
from equitens.so3.irreps import Irreps
from equitens.tp.spec import TensorProductSpec

if TYPE_CHECKING:
    from equitens.nn.symmetric_contraction import SymmetricContractionSpec

__all__ = ["LastDegree", "last_degree"]


@dataclasses.dataclass(frozen=True)
class LastDegree:
    """How the highest computed degree is evaluated (build with :func:`last_degree`).

    Attributes:
        degree: the degree ν (``len(spec.products) + 1``).
        product: the ``"uuu"`` product ``Y (x) A -> irreps_out``, one path per group (blocks
            of ``T_{ν-1}`` that vanish identically join no group).
        members: per group, the ``(feeding index, block of T_{ν-1}, c_k / c_g)`` of its terms;
            the feeding index is the term's position in ``spec.blocks[output]``.
        outputs: per group, its output entry.
    """

    degree: int
    product: TensorProductSpec
    members: tuple[tuple[tuple[int, int, float], ...], ...]
    outputs: tuple[int, ...]


@functools.cache
def last_degree(spec: SymmetricContractionSpec) -> LastDegree | None:
    """The grouped highest degree of a spec (cached).

    Args:
        spec: a :class:`~equitens.nn.symmetric_contraction.SymmetricContractionSpec`.

    Returns:
        Its :class:`LastDegree`; ``None`` when the spec has no products (correlation 1) or its
        method is not ``"cg"`` or a Gaunt family (a method registered elsewhere, whose kernels
        may not scale a path by its coefficient): then every block is computed.
    """
    if not spec.products or spec.products[-1].method not in CG_STRUCTURED_METHODS:
        return None
    product = evaluated_products(spec)[-1]  # without the paths into vanishing blocks
    # a Gaunt kernel ignores the spec's coefficients: its constant is fixed by the path's irreps
    ratios = product.method == "cg"
    degree = len(spec.products) + 1
    producing = {path.i_out: path for path in product.paths}  # one path per block
    groups: dict[tuple, list[tuple[int, int, float]]] = {}
    for output, feeding in enumerate(spec.blocks):
        for position, (nu, k) in enumerate(feeding):
            if nu != degree or k not in producing:  # a block without a path vanishes
                continue
            path = producing[k]
            key = (product.irreps_in1[path.i_in1].ir, path.i_in2, output)
            groups.setdefault(key, []).append((position, path.i_in1, path.coefficient))
    if not groups:  # no output is fed by a nonvanishing block of the highest computed degree
        return None
    channels = spec.num_channels
    grouped = TensorProductSpec.from_instructions(
        Irreps([(channels, ir) for ir, _, _ in groups]),
        product.irreps_in2,
        spec.irreps_out,
        [(g, a, output) for g, (_, a, output) in enumerate(groups)],
        "uuu",
        weighted=False,
        method=product.method,
    )
    members = tuple(
        tuple(
            (position, block, c / path.coefficient if ratios else 1.0)
            for position, block, c in terms
        )
        for terms, path in zip(groups.values(), grouped.paths, strict=True)
    )
    outputs = tuple(output for _, _, output in groups)
    return LastDegree(degree, grouped, members, outputs)
