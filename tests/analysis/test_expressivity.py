"""``equitens.analysis``: expressivity and interactability against analytic path-space oracles.

The space of equivariant bilinear maps between the data irreps is isomorphic to the space of path
coefficients (one number per parity-allowed path), so the expressivity of a family with
``coefficient(path) = sum_u a[l1, u] b[l2, u] c[ir3, u] k(path)`` is the generic rank of the
Jacobian of ``(a, b, c) -> coefficients``, computed here in numpy without any kernel. The paths
themselves are enumerated here from the selection rules (:func:`_paths_by_hand`), not with
``equitens.analysis.bilinear_paths``, which is tested against them.
"""

from __future__ import annotations

import numpy as np
import pytest

import equitens.tp.gaunt  # noqa: F401  (registers the Gaunt methods)
from equitens.analysis import Interaction, bilinear_paths, expressivity, interactability
from equitens.so3 import Irrep
from equitens.tp import TensorProductSpec
from equitens.tp.gaunt import gaunt_spec
from tests.gaunt._oracle import natural

OUT = "0e + 0o + 1o + 1e + 2e + 2o"
OUT_IRREPS = [(0, 1), (0, -1), (1, -1), (1, 1), (2, 1), (2, -1)]  # OUT as (l, parity)


def _natural(L: int) -> list[tuple[int, int]]:
    """``natural(L)`` as (l, parity): ``0e + 1o + 2e + ...``."""
    return [(l, (-1) ** l) for l in range(L + 1)]


def _paths_by_hand(irreps1, irreps2, irreps_out, gaunt: bool = False) -> set:
    """Interactions ``((l1, p1), (l2, p2), (l3, p3))`` by the selection rules of SO(3) x parity:
    the triangle ``|l1 - l2| <= l3 <= l1 + l2`` and ``p1 p2 = p3`` give every equivariant bilinear
    map (what CG with a free weight per path reaches, and vector Gaunt too). The scalar Gaunt
    product (the product of two spherical functions, symmetric under the swap of the two
    factors' orders m) reaches only the paths with ``l1 + l2 + l3`` even."""
    return {
        ((l1, p1), (l2, p2), (l3, p3))
        for l1, p1 in irreps1
        for l2, p2 in irreps2
        for l3, p3 in irreps_out
        if abs(l1 - l2) <= l3 <= l1 + l2 and p1 * p2 == p3 and not (gaunt and (l1 + l2 + l3) % 2)
    }


def _as_tuples(interactions) -> set:
    return {tuple((ir.l, ir.p) for ir in (i.ir1, i.ir2, i.ir3)) for i in interactions}


def _rank1_oracle(L: int, channels: int, paths: set) -> int:
    """Generic rank of ``(a, b, c) -> (sum_u a[l1,u] b[l2,u] c[ir3,u])`` over ``paths`` (natural
    inputs: ``l`` names the input irrep)."""
    paths = sorted(paths)
    outs = sorted({ir3 for _, _, ir3 in paths})
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(n, channels)) for n in (L + 1, L + 1, len(outs)))
    jac = []
    for (l1, _), (l2, _), ir3 in paths:
        i3 = outs.index(ir3)
        row = np.zeros((L + 1 + L + 1 + len(outs), channels))
        row[l1] += b[l2] * c[i3]
        row[L + 1 + l2] += a[l1] * c[i3]
        row[2 * L + 2 + i3] += a[l1] * b[l2]
        jac.append(row.reshape(-1))
    s = np.linalg.svd(np.array(jac), compute_uv=False)
    return int(np.sum(s > 1e-9 * s[0]))


@pytest.mark.parametrize(
    "irreps1, irreps2, irreps_out, hand1, hand2, hand_out",
    [
        (natural(2), natural(2), OUT, _natural(2), _natural(2), OUT_IRREPS),
        (
            "2x0o + 1e + 3x2o",
            "1o + 3e",
            "0e + 0o + 1e + 2o + 3e + 4e + 5o",
            [(0, -1), (1, 1), (2, -1)],
            [(1, -1), (3, 1)],
            [(0, 1), (0, -1), (1, 1), (2, -1), (3, 1), (4, 1), (5, -1)],
        ),
    ],
    ids=["natural", "mixed"],
)
def test_bilinear_paths_follow_the_selection_rules(
    irreps1, irreps2, irreps_out, hand1, hand2, hand_out
):
    paths = bilinear_paths(irreps1, irreps2, irreps_out)
    assert _as_tuples(paths) == _paths_by_hand(hand1, hand2, hand_out)
    assert len(paths) == len(set(paths))  # multiplicities ignored: each interaction once
    assert all(p.odd == bool((p.ir1.l + p.ir2.l + p.ir3.l) % 2) for p in paths)


def test_cg_reaches_every_bilinear_map():
    spec = TensorProductSpec.full(natural(1), natural(1), OUT)
    report = expressivity(spec, irreps_out=OUT)
    every = _paths_by_hand(_natural(1), _natural(1), OUT_IRREPS)
    assert len(every) == 6  # 0x0->0e, 0x1->1o, 1x0->1o, 1x1->0e, 1e, 2e
    assert report.dimension == report.upper_bound == len(every)
    assert _as_tuples(report.interactions) == every and not report.missing


def test_weighted_channelwise_cg():
    spec = TensorProductSpec.channelwise("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e")
    report = expressivity(spec)
    assert report.dimension == report.upper_bound == 5  # 0x0->0, 0x1->1, 1x0->1, 1x1->0, 1x1->1e
    assert report.num_parameters == 4 + 2 + 6 + spec.weight_numel


@pytest.mark.parametrize("L, channels", [(2, 1), (2, 2)])
def test_gaunt_is_rank_one_per_channel(L, channels):
    spec = gaunt_spec(natural(L, channels), natural(L, channels), L, channel_mode="uuu")
    report = expressivity(spec, irreps_out=OUT)
    every = _paths_by_hand(_natural(L), _natural(L), OUT_IRREPS)
    even = _paths_by_hand(_natural(L), _natural(L), OUT_IRREPS, gaunt=True)
    assert report.dimension == _rank1_oracle(L, channels, even)
    assert report.upper_bound == len(every) > report.dimension
    # interactability: exactly the even paths, every odd (antisymmetric) one is missing
    assert _as_tuples(report.interactions) == even
    assert _as_tuples(report.missing) == every - even and len(every - even) == 4


def test_vector_gaunt_reaches_every_interaction():
    spec = gaunt_spec(natural(2), natural(2), 2, odd=True, method="vector_gaunt")
    report = expressivity(spec, irreps_out=OUT)
    every = _paths_by_hand(_natural(2), _natural(2), OUT_IRREPS)
    assert report.dimension == _rank1_oracle(2, 1, every) == 9
    assert report.upper_bound == len(every) == 15
    assert _as_tuples(report.interactions) == every and not report.missing
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e")) in report.interactions


def test_interactability_and_seed_independence():
    spec = gaunt_spec(natural(1), natural(1), 1)
    reached = interactability(spec, irreps_out=OUT)
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e")) not in reached
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("0e")) in reached
    assert expressivity(spec, seed=1).dimension == expressivity(spec, seed=2).dimension
