"""The blocks of the product basis that vanish for every input, and the products without them.

``T_2 = A (x) A`` couples an entry of ``A`` with itself too. A Clebsch-Gordan tensor with
``l1 = l2`` is symmetric in its first two indices when ``l1 + l2 + l3`` is even and antisymmetric
when it is odd (``C_{m2 m1 m3} = (-1)^{l1 + l2 + l3} C_{m1 m2 m3}``), so the odd couplings of an
entry with itself, ``sum C_{m1 m2 m3} a_{m1} a_{m2}``, are zero for every ``a``: the cross product
``a x a`` (``1o x 1o -> 1e``), and at ``lmax = 3`` also ``2e x 2e -> 1e, 3e`` and
``3o x 3o -> 1e, 3e``. Every block of a higher degree built on a vanishing block vanishes too.

The spec keeps these blocks and their weights (its layout, and so every checkpoint, does not
depend on how it is evaluated); the ``"kernel"`` algorithm evaluates products without their
paths, so those blocks come out as zeros and cost nothing. At ``lmax = 3`` (``0e + 1o + 2e + 3o``
to ``0e + 1o``) 5 of the 26 blocks of ``T_2`` vanish, with 118 of its 546 nonzero Clebsch-Gordan
terms per channel.

Examples:
    >>> from equitens.nn.symmetric_contraction import SymmetricContractionSpec
    >>> spec = SymmetricContractionSpec.create("2x0e + 2x1o", "2x0e + 2x1o + 2x1e", 2)
    >>> [str(spec.products[0].irreps_out[k]) for k in vanishing_blocks(spec)[0]]
    ['2x1e']
    >>> len(spec.products[0].paths), len(evaluated_products(spec)[0].paths)
    (4, 3)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

from equitens.nn.gaunt_product_basis import GAUNT_PRODUCT_METHODS
from equitens.tp.spec import TensorProductSpec

if TYPE_CHECKING:
    from equitens.nn.symmetric_contraction import SymmetricContractionSpec

__all__ = ["CG_STRUCTURED_METHODS", "evaluated_products", "vanishing_blocks"]

CG_STRUCTURED_METHODS = ("cg", *GAUNT_PRODUCT_METHODS)
"""Methods whose path ``(l1, l2) -> l3`` is a constant times the Clebsch-Gordan tensor: the spec's
coefficient (``"cg"``) or a constant fixed by the path's irreps (the Gaunt families). A product
of another registered method keeps all its paths and is evaluated block by block."""


@functools.cache
def vanishing_blocks(spec: SymmetricContractionSpec) -> tuple[frozenset[int], ...]:
    """Per product (degree 2, 3, ...), the indices of its output blocks that vanish identically.

    Args:
        spec: a :class:`~equitens.nn.symmetric_contraction.SymmetricContractionSpec`.

    Returns:
        One frozenset of block indices (into ``product.irreps_out``) per product; all empty
        when the method is not in :data:`CG_STRUCTURED_METHODS` (its coupling may not have the
        Clebsch-Gordan tensor's symmetry).
    """
    if not spec.products or spec.products[0].method not in CG_STRUCTURED_METHODS:
        return tuple(frozenset() for _ in spec.products)
    out: list[frozenset[int]] = []
    previous: frozenset[int] = frozenset()
    for degree, product in enumerate(spec.products, start=2):
        vanishing = set()
        for path in product.paths:
            (_, ir1), (_, ir2), (_, ir3) = product.mul_irreps(path)
            self_odd = degree == 2 and path.i_in1 == path.i_in2 and (ir1.l + ir2.l + ir3.l) % 2 == 1
            if self_odd or path.i_in1 in previous:
                vanishing.add(path.i_out)
        previous = frozenset(vanishing)
        out.append(previous)
    return tuple(out)


@functools.cache
def evaluated_products(spec: SymmetricContractionSpec) -> tuple[TensorProductSpec, ...]:
    """The spec's products without the paths into vanishing blocks (same irreps, same indices).

    Args:
        spec: a :class:`~equitens.nn.symmetric_contraction.SymmetricContractionSpec`.

    Returns:
        One :class:`~equitens.tp.spec.TensorProductSpec` per product; a vanishing block has no
        path, so its kernel writes zeros there.
    """
    return tuple(
        dataclasses.replace(
            product, paths=tuple(p for p in product.paths if p.i_out not in vanishing)
        )
        for product, vanishing in zip(spec.products, vanishing_blocks(spec), strict=True)
    )
