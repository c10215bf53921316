"""``equitens.analysis``: expressivity and interactability against analytic path-space oracles.

The space of equivariant bilinear maps between the data irreps is isomorphic to the space of path
coefficients (one number per parity-allowed path), so the expressivity of a family with
``coefficient(path) = sum_u a[l1, u] b[l2, u] c[ir3, u] k(path)`` is the generic rank of the
Jacobian of ``(a, b, c) -> coefficients``, computed here in numpy without any kernel.
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


def _rank1_oracle(L: int, channels: int, odd: bool) -> int:
    """Generic rank of ``(a, b, c) -> (sum_u a[l1,u] b[l2,u] c[ir3,u])`` over reachable paths."""
    paths = [
        p
        for p in bilinear_paths(natural(L), natural(L), OUT)
        if (not p.odd) or (odd and p.ir1.l and p.ir2.l)
    ]
    outs = sorted({p.ir3 for p in paths})
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(n, channels)) for n in (L + 1, L + 1, len(outs)))
    jac = []
    for p in paths:
        i3 = outs.index(p.ir3)
        row = np.zeros((L + 1 + L + 1 + len(outs), channels))
        row[p.ir1.l] += b[p.ir2.l] * c[i3]
        row[L + 1 + p.ir2.l] += a[p.ir1.l] * c[i3]
        row[2 * L + 2 + i3] += a[p.ir1.l] * b[p.ir2.l]
        jac.append(row.reshape(-1))
    s = np.linalg.svd(np.array(jac), compute_uv=False)
    return int(np.sum(s > 1e-9 * s[0]))


def test_cg_reaches_every_bilinear_map():
    spec = TensorProductSpec.full(natural(1), natural(1), OUT)
    report = expressivity(spec, irreps_out=OUT)
    assert (
        report.dimension
        == report.upper_bound
        == len(bilinear_paths(natural(1), natural(1), OUT))
        == 6
    )
    assert not report.missing


def test_weighted_channelwise_cg():
    spec = TensorProductSpec.channelwise("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e")
    report = expressivity(spec)
    assert report.dimension == report.upper_bound == 5  # 0x0->0, 0x1->1, 1x0->1, 1x1->0, 1x1->1e
    assert report.num_parameters == 4 + 2 + 6 + spec.weight_numel


@pytest.mark.parametrize("L, channels", [(2, 1), (2, 2)])
def test_gaunt_is_rank_one_per_channel(L, channels):
    spec = gaunt_spec(natural(L, channels), natural(L, channels), L, channel_mode="uuu")
    report = expressivity(spec, irreps_out=OUT)
    assert report.dimension == _rank1_oracle(L, channels, odd=False)
    assert report.dimension < report.upper_bound
    # interactability: exactly the even paths, every odd (antisymmetric) one is missing
    assert all(not i.odd for i in report.interactions)
    assert {i for i in report.missing} == {
        p for p in bilinear_paths(natural(L), natural(L), OUT) if p.odd
    }


def test_vector_gaunt_reaches_every_interaction():
    spec = gaunt_spec(natural(2), natural(2), 2, odd=True, method="vector_gaunt")
    report = expressivity(spec, irreps_out=OUT)
    assert report.dimension == _rank1_oracle(2, 1, odd=True) == 9
    assert not report.missing
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e")) in report.interactions


def test_interactability_and_seed_independence():
    spec = gaunt_spec(natural(1), natural(1), 1)
    reached = interactability(spec, irreps_out=OUT)
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("1e")) not in reached
    assert Interaction(Irrep("1o"), Irrep("1o"), Irrep("0e")) in reached
    assert expressivity(spec, seed=1).dimension == expressivity(spec, seed=2).dimension
