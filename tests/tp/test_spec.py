"""The static spec: constructors, paths, weights, FLOPs, repr and errors.

Oracles: e3nn-jax (output irreps of ``tensor_product`` / ``elementwise_tensor_product``, weight
numbers of ``legacy.FunctionalTensorProduct``) and direct counting.
"""

from __future__ import annotations

from itertools import pairwise

import e3nn_jax as e3nn
import numpy as np
import pytest
from e3nn_jax.legacy import FunctionalTensorProduct

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.tp import Path, TensorProductSpec, available_methods


@pytest.mark.parametrize(
    "irreps1, irreps2, filter_ir_out",
    [
        ("0e + 1o + 2e", "0e + 1o + 2e", None),
        ("2x1o + 3x0e", "1e + 2x2o", None),
        ("1o + 2e", "1o + 3o", "0e + 2e + 4e + 1o"),
        ("1o", "1o", "0o"),
    ],
)
def test_full_output_irreps_match_e3nn(irreps1, irreps2, filter_ir_out):
    spec = TensorProductSpec.full(irreps1, irreps2, filter_ir_out)
    ref = e3nn.tensor_product(
        e3nn.Irreps(irreps1),
        e3nn.Irreps(irreps2),
        filter_ir_out=filter_ir_out,
        regroup_output=False,
    )
    assert spec.irreps_out.simplify() == ref.sort().irreps.simplify()
    assert spec.channel_mode == "uvuv" and not spec.weighted and spec.weight_numel == 0
    # each path writes its own output block, and every output block has exactly one path
    assert sorted(p.i_out for p in spec.paths) == list(range(len(spec.irreps_out)))


def test_elementwise_output_irreps_match_e3nn():
    spec = TensorProductSpec.elementwise("2x0e + 1o + 3x2e", "2x1o + 1e + 3x1o")
    x = e3nn.zeros("2x0e + 1o + 3x2e", ())
    y = e3nn.zeros("2x1o + 1e + 3x1o", ())
    assert spec.irreps_out == e3nn.elementwise_tensor_product(x, y).irreps


def test_elementwise_needs_aligned_multiplicities():
    with pytest.raises(ValueError, match="same multiplicities"):
        TensorProductSpec.elementwise("2x0e", "3x0e")


@pytest.mark.parametrize("mode", ["uvu", "uvw"])
def test_weight_numel_matches_legacy_e3nn(mode):
    irreps1, irreps2, irreps_out = "4x0e + 4x1o + 4x2e", "0e + 1o + 2e", "4x0e + 4x1o + 4x2e"
    ctor = TensorProductSpec.channelwise if mode == "uvu" else TensorProductSpec.fully_connected
    spec = ctor(irreps1, irreps2, irreps_out)
    legacy = FunctionalTensorProduct(
        irreps1,
        irreps2,
        irreps_out,
        [(p.i_in1, p.i_in2, p.i_out, mode, True) for p in spec.paths],
    )
    assert spec.weight_numel == sum(int(np.prod(i.path_shape)) for i in legacy.instructions)
    assert spec.weight_shapes == tuple(i.path_shape for i in legacy.instructions)
    slices = spec.weight_slices()
    assert slices[0].start == 0 and slices[-1].stop == spec.weight_numel
    assert all(a.stop == b.start for a, b in pairwise(slices))


def test_coefficients_match_legacy_path_weights():
    irreps1, irreps2, irreps_out = "3x0e + 2x1o", "2x0e + 1o", "3x0e + 2x1o + 3x1e"
    for mode, ctor in (
        ("uvw", TensorProductSpec.fully_connected),
        ("uvu", TensorProductSpec.channelwise),
    ):
        out = irreps_out if mode == "uvw" else "3x0e + 2x1o + 2x1e"
        for pn in ("element", "path"):
            for irn in ("component", "norm", "none"):
                spec = ctor(irreps1, irreps2, out, path_normalization=pn, irrep_normalization=irn)
                legacy = FunctionalTensorProduct(
                    irreps1,
                    irreps2,
                    out,
                    [(p.i_in1, p.i_in2, p.i_out, mode, True) for p in spec.paths],
                    path_normalization=pn,
                    irrep_normalization=irn,
                    gradient_normalization="path",
                )
                ours = [p.coefficient for p in spec.paths]
                ref = [i.path_weight for i in legacy.instructions]
                np.testing.assert_allclose(ours, ref, rtol=1e-14)


def test_flops_count_nonzero_clebsch_gordan_entries_times_channels():
    spec = TensorProductSpec.channelwise("8x1o", "2x1o", "8x0e + 8x1e + 8x2e")
    expected = 0
    for l3 in (0, 1, 2):
        nnz = np.count_nonzero(np.abs(clebsch_gordan(1, 1, l3)) > 1e-14)
        expected += 2 * nnz * 8 * 2
    assert spec.flops == expected
    full = TensorProductSpec.full("1o", "1o")
    assert full.flops == 2 * sum(
        np.count_nonzero(np.abs(clebsch_gordan(1, 1, l)) > 1e-14) for l in (0, 1, 2)
    )


def test_spec_is_hashable_frozen_and_equal_by_value():
    a = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    b = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    assert a == b and hash(a) == hash(b)
    assert a != TensorProductSpec.channelwise(
        "4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o", path_normalization="path"
    )
    with pytest.raises(AttributeError):
        a.method = "other"  # type: ignore[misc]


def test_repr_lists_paths():
    spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    text = repr(spec)
    assert "4 paths" in text and "16 weights" in text and "method=cg" in text
    assert "(4x1o, 1x1o) -> 4x0e" in text
    assert repr(Path(0, 1, 0, 1.0, ("1x1o", "1x2e", "1x1o"))) == "(1x1o, 1x2e) -> 1x1o"


def test_channelwise_paths_are_all_parity_allowed_ones():
    spec = TensorProductSpec.channelwise("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", "2x1o + 2x2e")
    for path in spec.paths:
        (_, ir1), (_, ir2), (_, ir3) = spec.mul_irreps(path)
        assert ir1.p * ir2.p == ir3.p
        assert abs(ir1.l - ir2.l) <= ir3.l <= ir1.l + ir2.l
    expected = sum(
        1
        for l1 in range(3)
        for l2 in range(3)
        for l3 in (1, 2)
        if (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2
    )
    assert len(spec.paths) == expected


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "constructor, args, match",
    [
        # "uuu" with mismatched multiplicities: the message says to use "uvu"
        ("from_instructions", ("2x1o", "3x1o", "2x0e", [(0, 0, 0)], "uuu"), "'uuu'.*uvu"),
        # an unreachable output: the message names the reachable irreps
        ("fully_connected", ("2x0e", "1o", "3x0e"), "remove it from irreps_out.*Reachable"),
        ("from_instructions", ("1o", "1o", "1o", [(0, 0, 0)], "uvuv"), "breaks parity"),
        ("from_instructions", ("1o", "1o", "3e", [(0, 0, 0)], "uvuv"), "triangle"),
        # channelwise: the output multiplicity must follow input 1's
        ("channelwise", ("4x1o", "1o", "3x0e"), "multiplicity"),
        ("full", ("1x", "1o"), "not a valid irreps"),
        ("from_instructions", ("1o", "1o", "0e", [(0, 1, 0)], "uvuv"), "out of range"),
    ],
)
def test_invalid_spec_raises_value_error(constructor, args, match):
    with pytest.raises(ValueError, match=match):
        getattr(TensorProductSpec, constructor)(*args)


def test_unknown_method_names_the_available_ones():
    with pytest.raises(ValueError, match="available methods: 'cg'"):
        TensorProductSpec.full("1o", "1o", method="gaunt-typo")
    assert "cg" in available_methods()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(channel_mode="uvx"), "unknown channel_mode"),
        (dict(path_normalization="sum"), "path_normalization"),
        (dict(irrep_normalization="unit"), "irrep_normalization"),
    ],
)
def test_bad_options_raise(kwargs, match):
    options = dict(
        channel_mode="uvu", path_normalization="element", irrep_normalization="component"
    )
    options.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TensorProductSpec.from_instructions(
            "2x1o",
            "1o",
            "2x0e",
            [(0, 0, 0)],
            options["channel_mode"],
            path_normalization=options["path_normalization"],
            irrep_normalization=options["irrep_normalization"],
        )
