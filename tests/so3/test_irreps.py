"""Tests of Irrep, MulIrrep, Irreps and tensor_product_irreps.

The oracle is e3nn-jax (an independent implementation of the same syntax and conventions), plus
group-theory identities (dimension of a tensor product, permutation identities of `sort`).
"""

from __future__ import annotations

import copy
import pickle
import random
import re

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equitens.so3.irreps import Irrep, Irreps, IrrepsSort, MulIrrep, tensor_product_irreps

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

STRINGS = [
    "",
    "   ",
    "0e",
    "1o",
    "1y",
    "2y",
    "0x1o",
    "32x0e+16x1o + 8x2e",
    "  4x0e +  0x1o + 2x3e ",
    "1e + 1e + 0e",
    "1e + 0x0e + 1e + 0e + 1e",
    "2o + 1e + 0e + 1e",
    "0o + 0e + 1o + 1e + 2e + 2o + 3o + 3e",
    "3x2e + 2x0o + 1x0e + 5x1o + 1x2e + 0x3o",
    "1x0e+1x1o+1x2e+1x3o+1x4e",
    "007x003o + 10 x 2e",
    "128x0e + 128x1o + 128x2e + 128x3o",
    "5x11o + 3x7e + 2x12y",
]
ALL_IRREPS = [Irrep(l, p) for l in range(5) for p in (1, -1)]


def e3nn_mul_irreps(irreps: e3nn.Irreps) -> list[tuple[int, tuple[int, int]]]:
    return [(mul, (ir.l, ir.p)) for mul, ir in irreps]


def ours_mul_irreps(irreps: Irreps) -> list[tuple[int, tuple[int, int]]]:
    return [(mul, (ir.l, ir.p)) for mul, ir in irreps]


# ---------------------------------------------------------------------------------------------
# Irrep
# ---------------------------------------------------------------------------------------------


def test_irrep_constructors_agree():
    assert Irrep(1, -1) == Irrep("1o") == Irrep((1, -1)) == Irrep(Irrep("1o")) == Irrep(" 1o ")
    assert Irrep(e3nn.Irrep("3e")) == Irrep(3, 1)
    assert Irrep(np.int64(2), np.int32(-1)) == Irrep(2, -1)
    assert type(Irrep(np.int64(2), -1).l) is int
    assert [Irrep(f"{l}y") for l in range(4)] == ["0e", "1o", "2e", "3o"]
    ir = Irrep("3o")
    assert (ir.l, ir.p, ir.dim) == (3, -1, 7)
    l, p = ir
    assert (l, p) == (3, -1)
    assert repr(ir) == str(ir) == "3o"


def test_irrep_order_matches_e3nn():
    shuffled = ALL_IRREPS[:]
    random.Random(0).shuffle(shuffled)
    ours = [str(ir) for ir in sorted(shuffled)]
    theirs = [str(ir) for ir in sorted(e3nn.Irrep(str(ir)) for ir in shuffled)]
    assert ours == theirs
    assert ours[:6] == ["0e", "0o", "1o", "1e", "2e", "2o"]
    # The comparison operators are consistent with each other.
    for a in ALL_IRREPS:
        for b in ALL_IRREPS:
            assert (a < b) == (b > a) == (not a >= b)
            assert (a <= b) == (a < b or a == b)
    assert Irrep("1o") < "1e" and Irrep("2e") >= (1, 1)


@pytest.mark.parametrize("ir1", ALL_IRREPS)
@pytest.mark.parametrize("ir2", ALL_IRREPS[:6])
def test_irrep_product_matches_e3nn(ir1, ir2):
    ours = ir1 * ir2
    assert isinstance(ours, tuple)
    theirs = e3nn.Irrep(str(ir1)) * e3nn.Irrep(str(ir2))
    assert [str(ir) for ir in ours] == [str(ir) for ir in theirs]
    assert sum(ir.dim for ir in ours) == ir1.dim * ir2.dim
    assert ir1 * str(ir2) == ours and str(ir2) * ir1 == ir2 * ir1


def test_irrep_helpers():
    assert Irrep("0e").is_scalar() and not Irrep("0o").is_scalar() and not Irrep("1e").is_scalar()
    assert 3 * Irrep("1e") == Irrep("1e") * 3 == Irreps("3x1e")
    assert Irrep("1o") + "2e" == Irreps("1o + 2e")
    assert "0e" + Irrep("1o") == Irreps("0e + 1o")
    assert Irrep("2o").to_e3nn() == e3nn.Irrep("2o")
    assert isinstance(Irrep("2o").to_e3nn(), e3nn.Irrep)


def test_irrep_equality_and_hash():
    assert Irrep("1o") == "1o" and Irrep("1o") != "1e" and Irrep("1o") != "garbage"
    assert Irrep("1o") == (1, -1) and Irrep("1o") != (1, 1)
    assert Irrep("1o") == e3nn.Irrep("1o") and e3nn.Irrep("1o") == Irrep("1o")
    assert Irrep("1o") != 1 and Irrep("1o") != None  # noqa: E711 - tests __ne__ with None itself
    assert {Irrep("1o"), Irrep(1, -1), Irrep("1e")} == {Irrep("1o"), Irrep("1e")}
    assert hash(Irrep("2e")) == hash(Irrep(2, 1))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-1, 1), ValueError, "l must be >= 0"),
        ((1, 0), ValueError, r"parity p must be \+1 \(even\) or -1 \(odd\), got 0"),
        ((1, 2), ValueError, "parity"),
        ((1.0, 1), TypeError, "degree l must be an int, got 1.0"),
        ((1, 1.0), TypeError, "parity p must be the int"),
        ((True, 1), TypeError, "bool"),
        ((1, True), TypeError, "bool"),
        ((None,), TypeError, "cannot interpret None"),
        ((None, 1), TypeError, "degree l must be an int"),
        ((1,), TypeError, r"give the parity too"),
        (("1x1o",), ValueError, "an Irrep has no multiplicity"),
        (("",), ValueError, "invalid irrep ''"),
        (("1",), ValueError, "no parity"),
        (("-1e",), ValueError, "degree l '-1'"),
        (("1O",), ValueError, "parity 'O'"),
        (("o",), ValueError, "missing the degree l"),
        ((MulIrrep("2x1o"),), TypeError, r"use its `\.ir`"),
    ],
)
def test_irrep_errors(args, error, match):
    with pytest.raises(error, match=match):
        Irrep(*args)


# ---------------------------------------------------------------------------------------------
# MulIrrep
# ---------------------------------------------------------------------------------------------


def test_mul_irrep():
    mul_ir = MulIrrep(16, "1o")
    assert mul_ir == MulIrrep("16x1o") == MulIrrep((16, (1, -1))) == MulIrrep(16, Irrep("1o"))
    mul, ir = mul_ir
    assert (mul, ir, mul_ir.mul, mul_ir.ir, mul_ir.dim) == (16, Irrep("1o"), 16, Irrep("1o"), 48)
    assert repr(mul_ir) == "16x1o"
    assert MulIrrep(Irrep("2e")) == MulIrrep(1, "2e")
    assert MulIrrep(e3nn.MulIrrep(3, e3nn.Irrep("2e"))) == MulIrrep(3, "2e")
    assert MulIrrep(3, "2e") == e3nn.MulIrrep(3, e3nn.Irrep("2e"))
    assert e3nn.MulIrrep(3, e3nn.Irrep("2e")) == MulIrrep(3, "2e")
    assert MulIrrep(0, "1o").dim == 0
    assert mul_ir + "0e" == Irreps("16x1o + 0e") and 2 * mul_ir == MulIrrep("32x1o")
    assert sorted([MulIrrep("2x1e"), MulIrrep("1x1e"), MulIrrep("5x0o")]) == [
        MulIrrep("5x0o"),
        MulIrrep("1x1e"),
        MulIrrep("2x1e"),
    ]
    with pytest.raises(ValueError, match="multiplicity must be >= 0"):
        MulIrrep(-1, "1o")
    with pytest.raises(TypeError, match="multiplicity must be an int"):
        MulIrrep(1.5, "1o")
    with pytest.raises(ValueError, match="single term"):
        MulIrrep("1o + 2e")


# ---------------------------------------------------------------------------------------------
# Irreps against e3nn-jax on fixed strings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", STRINGS)
def test_irreps_matches_e3nn(text):
    ours, theirs = Irreps(text), e3nn.Irreps(text)
    assert ours_mul_irreps(ours) == e3nn_mul_irreps(theirs)
    assert ours == theirs and theirs == ours and ours == text
    assert e3nn.Irreps(ours) == theirs  # e3nn-jax accepts our type directly
    assert Irreps(theirs) == ours and Irreps(ours.to_e3nn()) == ours
    assert isinstance(ours.to_e3nn(), e3nn.Irreps)
    assert ours.dim == theirs.dim
    assert ours.num_irreps == theirs.num_irreps
    assert ours.ls == theirs.ls
    assert ours.slices() == theirs.slices()
    assert ours.is_scalar() == theirs.is_scalar()
    if theirs.ls:
        assert ours.lmax == theirs.lmax
    else:
        with pytest.raises(ValueError, match="holds no irrep"):
            _ = ours.lmax
    assert ours_mul_irreps(ours.simplify()) == e3nn_mul_irreps(theirs.simplify())
    assert ours_mul_irreps(ours.unify()) == e3nn_mul_irreps(theirs.unify())
    assert ours_mul_irreps(ours.remove_zero_multiplicities()) == e3nn_mul_irreps(
        theirs.remove_zero_multiplicities()
    )
    assert ours_mul_irreps(ours.regroup()) == e3nn_mul_irreps(theirs.regroup())
    assert ours_mul_irreps(ours * 3) == e3nn_mul_irreps(theirs * 3)
    assert ours_mul_irreps(ours.repeat(2)) == e3nn_mul_irreps(theirs.repeat(2))
    for ir in ALL_IRREPS:
        assert ours.count(ir) == theirs.count(str(ir))
        assert (ir in ours) == (e3nn.Irrep(str(ir)) in theirs)
    # str round-trips through both parsers; repr is e3nn's.
    assert Irreps(str(ours)) == ours and e3nn.Irreps(str(ours)) == theirs
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("text", STRINGS)
def test_sort_matches_e3nn(text):
    ours, theirs = Irreps(text).sort(), e3nn.Irreps(text).sort()
    assert isinstance(ours, IrrepsSort)
    assert ours_mul_irreps(ours.irreps) == e3nn_mul_irreps(theirs.irreps)
    assert ours.p == tuple(theirs.p) and ours.inv == tuple(theirs.inv)
    irreps = Irreps(text)
    for i in range(len(irreps)):
        assert ours.irreps[ours.p[i]] == irreps[i]
        assert ours.inv[ours.p[i]] == i
    assert [ir for _, ir in ours.irreps] == sorted(ir for _, ir in irreps)


FILTERS = [
    {"keep": "0e + 1o"},
    {"keep": ["0e", "2e"]},
    {"keep": "2e + 2x1e"},
    {"keep": Irrep("1o")},
    {"keep": [(1, -1), (0, 1)]},
    {"drop": "0e"},
    {"drop": ["1o", Irrep("2e")]},
    {"drop": "2e + 2x1e"},
    {"lmax": 1},
    {"lmax": 0},
]


@pytest.mark.parametrize("kwargs", FILTERS)
@pytest.mark.parametrize("text", STRINGS[6:12])
def test_filter_matches_e3nn(text, kwargs):
    e3nn_kwargs = {
        key: (Irreps([value]).to_e3nn() if isinstance(value, Irrep) else value)
        for key, value in kwargs.items()
    }
    if "keep" in e3nn_kwargs and isinstance(e3nn_kwargs["keep"], list):
        e3nn_kwargs["keep"] = [e3nn.Irrep(ir) for ir in e3nn_kwargs["keep"]]
    if "drop" in e3nn_kwargs and isinstance(e3nn_kwargs["drop"], list):
        e3nn_kwargs["drop"] = [e3nn.Irrep(str(ir)) for ir in e3nn_kwargs["drop"]]
    ours = Irreps(text).filter(**kwargs)
    theirs = e3nn.Irreps(text).filter(**e3nn_kwargs)
    assert ours_mul_irreps(ours) == e3nn_mul_irreps(theirs)


def test_filter_predicates_and_combinations():
    irreps = Irreps("3x0e + 1x1o + 0x2e + 2x2e + 4x1o")
    assert irreps.filter(lambda mul_ir: mul_ir.mul > 1) == "3x0e + 2x2e + 4x1o"
    assert irreps.filter(drop=lambda mul_ir: mul_ir.ir.p == -1) == "3x0e + 0x2e + 2x2e"
    assert irreps.filter("0e + 1o + 2e", drop="2e", lmax=0) == "3x0e"
    assert irreps.filter() == irreps
    assert irreps.filter(keep=e3nn.Irreps("1o")) == "1x1o + 4x1o"
    assert irreps.filter(keep=Irreps("0e")) == "3x0e"
    with pytest.raises(TypeError, match="set of irreps"):
        irreps.filter(keep=3)
    with pytest.raises(ValueError, match="empty term"):
        irreps.filter(keep="1o+")


PAIRS = [
    ("0e", "0e"),
    ("1o", "1o"),
    ("2x1e + 2e", "2e"),
    ("2x0e + 1o", "0o + 2o"),
    ("3x0e + 2x1o + 1x2e", "1x0e + 1x1o + 1x2e + 1x3o"),
    ("0x1o + 2x1o + 1e + 3x1o", "2y + 0e + 0o"),
    ("", "1o"),
]


@pytest.mark.parametrize(("irreps1", "irreps2"), PAIRS)
@pytest.mark.parametrize("filter_ir_out", [None, "0e + 1o + 2e", ["1e", "3o"], Irrep("0e")])
def test_tensor_product_irreps_matches_e3nn(irreps1, irreps2, filter_ir_out):
    ours = tensor_product_irreps(irreps1, irreps2, filter_ir_out=filter_ir_out)
    e3nn_filter = filter_ir_out.to_e3nn() if isinstance(filter_ir_out, Irrep) else filter_ir_out
    theirs = e3nn.tensor_product(
        e3nn.Irreps(irreps1), e3nn.Irreps(irreps2), filter_ir_out=e3nn_filter
    )
    assert ours_mul_irreps(ours) == e3nn_mul_irreps(theirs)
    if filter_ir_out is None:  # Clebsch-Gordan decomposition: dimensions multiply.
        assert ours.dim == Irreps(irreps1).dim * Irreps(irreps2).dim
    assert ours == ours.regroup()


# ---------------------------------------------------------------------------------------------
# Irreps behaviour
# ---------------------------------------------------------------------------------------------


def test_irreps_constructors_agree():
    expected = Irreps("2x1o + 1x0e + 3x2e")
    forms = [
        [(2, "1o"), (1, "0e"), (3, "2e")],
        [(2, (1, -1)), (1, (0, 1)), (3, Irrep("2e"))],
        [MulIrrep(2, "1o"), Irrep("0e"), "3x2e"],
        ["2x1o + 0e", "3x2e"],
        ((2, "1o"), (1, "0e"), (3, "2e")),
        (item for item in ["2x1o", "1x0e", "3x2e"]),
        [(np.int64(2), "1o"), (1, e3nn.Irrep("0e")), e3nn.MulIrrep(3, e3nn.Irrep("2e"))],
        e3nn.Irreps("2x1o + 0e + 3x2e"),
        expected,
    ]
    for form in forms:
        assert Irreps(form) == expected
        assert type(Irreps(form)) is Irreps
        assert all(type(mul_ir) is MulIrrep and type(mul_ir.ir) is Irrep for mul_ir in Irreps(form))
    assert Irreps(expected) is expected
    assert Irreps() == Irreps("") == Irreps([]) == Irreps("  ") and len(Irreps()) == 0
    assert Irreps(Irrep("1o")) == "1x1o" and Irreps(MulIrrep("2x1o")) == "2x1o"
    assert Irreps(e3nn.Irrep("1o")) == "1o"


def test_irreps_sequence_behaviour():
    irreps = Irreps("3x0e + 2x1o + 1x2e")
    assert len(irreps) == 3
    assert irreps[1] == MulIrrep(2, "1o") and type(irreps[1]) is MulIrrep
    assert irreps[1:] == "2x1o + 1x2e" and type(irreps[1:]) is Irreps
    assert irreps[::-1] == "1x2e + 2x1o + 3x0e"
    assert [mul for mul, _ in irreps] == [3, 2, 1]
    assert irreps + "0o" == "3x0e + 2x1o + 1x2e + 0o"
    assert "0o" + irreps == "0o + 3x0e + 2x1o + 1x2e"
    assert irreps + Irrep("0o") == irreps + MulIrrep("1x0o") == irreps + [(1, "0o")]
    assert type(irreps + "0o") is Irreps and type("0o" + irreps) is Irreps
    assert 2 * irreps == irreps * 2 == "6x0e + 4x1o + 2x2e"
    assert irreps * 0 == "0x0e + 0x1o + 0x2e"
    assert irreps.repeat(2) == "3x0e + 2x1o + 1x2e + 3x0e + 2x1o + 1x2e"
    assert irreps.repeat(0) == ""
    assert sum([Irreps("0e"), Irreps("1o")], Irreps()) == "0e + 1o"
    assert MulIrrep("2x1o") in irreps and MulIrrep("1x1o") not in irreps
    assert "1o" in irreps and "1e" not in irreps and Irrep(2, 1) in irreps
    assert Irrep("3o") in Irreps("0x3o")  # like e3nn-jax: a term's irrep, whatever its mul
    with pytest.raises(TypeError, match="tensor_product_irreps"):
        irreps * irreps
    with pytest.raises(TypeError):
        irreps * 1.5
    with pytest.raises(TypeError):
        irreps * True
    with pytest.raises(ValueError, match="multiplicity must be >= 0"):
        irreps * -1
    with pytest.raises(TypeError):
        irreps + 1


def test_irreps_equality_hash_and_repr():
    irreps = Irreps("3x0e + 2x1o")
    assert irreps == "3x0e+2x1o" and irreps == " 3x0e + 2 x 1o " and irreps != "3x0e"
    assert irreps != "not irreps" and irreps != "1o++"
    assert irreps == e3nn.Irreps("3x0e + 2x1o") and e3nn.Irreps("3x0e + 2x1o") == irreps
    assert irreps != e3nn.Irreps("3x0e + 2x1e")
    assert not (irreps != Irreps("3x0e+2x1o"))
    assert irreps != Irreps("2x1o + 3x0e")  # order matters
    assert irreps != Irreps("3x0e + 1o + 1o")  # so does the split into terms
    assert irreps != [(3, "0e"), (2, "1o")]
    assert hash(irreps) == hash(Irreps([(3, (0, 1)), (2, (1, -1))]))
    assert {irreps: 1}[Irreps("3x0e+2x1o")] == 1
    assert repr(irreps) == str(irreps) == "3x0e+2x1o"
    assert repr(Irreps()) == "Irreps()" and str(Irreps()) == ""


def test_spherical_harmonics_irreps():
    for lmax in range(6):
        for p in (1, -1):
            ours = Irreps.spherical_harmonics(lmax, p)
            theirs = e3nn.Irreps.spherical_harmonics(lmax, p)
            assert ours_mul_irreps(ours) == e3nn_mul_irreps(theirs)
    assert Irreps.spherical_harmonics(3) == "0e + 1o + 2e + 3o"
    assert Irreps.spherical_harmonics(3, p=1) == "0e + 1e + 2e + 3e"
    with pytest.raises(ValueError, match="l must be >= 0"):
        Irreps.spherical_harmonics(-1)
    with pytest.raises(ValueError, match="parity"):
        Irreps.spherical_harmonics(2, p=0)


def test_pickle_copy_pytree_and_jit():
    irreps = Irreps("3x0e + 2x1o")
    for value in (irreps, irreps[0], irreps[0].ir):
        for clone in (pickle.loads(pickle.dumps(value)), copy.deepcopy(value), copy.copy(value)):
            assert clone == value and type(clone) is type(value)
    restored = pickle.loads(pickle.dumps(irreps))
    assert type(restored[1].ir) is Irrep
    # Pytrees without leaves: they ride in the tree structure.
    leaves, treedef = jax.tree_util.tree_flatten({"x": jnp.ones(2), "irreps": irreps})
    assert len(leaves) == 1
    assert jax.tree_util.tree_unflatten(treedef, leaves)["irreps"] == irreps

    @jax.jit
    def f(x, irreps):
        return x * irreps.dim

    assert float(f(jnp.ones(()), irreps)) == irreps.dim
    g = jax.jit(lambda x, irreps: x + irreps.num_irreps, static_argnums=1)
    assert float(g(0.0, irreps)) == 5


def test_e3nn_accepts_our_types():
    irreps = Irreps("3x0e + 2x1o")
    array = e3nn.IrrepsArray(irreps, jnp.arange(9.0))
    assert array.irreps == e3nn.Irreps("3x0e + 2x1o")
    assert e3nn.Irrep(Irrep("2o")) == e3nn.Irrep("2o")
    assert e3nn.tensor_product(irreps.to_e3nn(), "1o") == tensor_product_irreps(irreps, "1o")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("16x0e+1x", r"""invalid irrep '1x' in "16x0e\+1x": missing the irrep after 'x'"""),
        ("1o++2e", r"""empty term in "1o\+\+2e" \(term 2 of 3\)"""),
        ("+1o", r"empty term .* \(term 1 of 2\)"),
        ("1o+", r"empty term .* \(term 2 of 2\)"),
        ("+", "empty term"),
        ("-1x0e", r"multiplicity '-1' is not a non-negative integer"),
        ("2x-1e", r"degree l '-1' is not a non-negative integer"),
        ("2x1.5e", r"degree l '1.5'"),
        ("1.5x1e", r"multiplicity '1.5'"),
        ("2x1", r"'1' has no parity"),
        ("2x1O", r"parity 'O' must be 'e' \(even\), 'o' \(odd\)"),
        ("2x1p", r"parity 'p'"),
        ("x1o", "missing the multiplicity before 'x'"),
        ("2xx1o", "more than one 'x'"),
        ("1o 2e", r"unexpected space inside '1o 2e' \(separate terms with '\+'\)"),
        ("2xe", "missing the degree l"),
        ("abc", "invalid irrep 'abc'"),
        ("1x0e + None", "invalid irrep 'None'"),
        ("١x0e", "multiplicity '١'"),
        pytest.param("1" * 5000 + "x0e", "multiplicity has too many digits", id="long-mul"),
        pytest.param("0x" + "1" * 5000 + "e", "degree l has too many digits", id="long-l"),
    ],
)
def test_parse_errors_name_the_token_and_the_syntax(text, match):
    with pytest.raises(ValueError, match=match) as info:
        Irreps(text)
    assert "expected MULxLP such as '16x1o'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, r"Irreps\(None\) is ambiguous"),
        (3, "cannot build Irreps from 3"),
        (1.5, "cannot build Irreps"),
        ({"1o"}, r"\(set\)"),
        ({"1o": 2}, r"\(dict\)"),
        ([1, 2], "cannot interpret 1"),
        ([(1, -1)], r"write \(1, \(1, -1\)\)"),
        ([(1.0, "1o")], "multiplicity must be an int, got 1.0"),
        ([(True, "1o")], "bool"),
        ([("1o", 2)], "multiplicity must be an int, got '1o'"),
        ([(2, None)], "cannot interpret None"),
        ([None], "cannot interpret None"),
        ([(1, 2, 3)], r"cannot interpret \(1, 2, 3\)"),
    ],
)
def test_irreps_type_errors(value, match):
    with pytest.raises(TypeError, match=match):
        Irreps(value)


def test_irreps_value_errors_in_lists():
    with pytest.raises(ValueError, match="multiplicity must be >= 0"):
        Irreps([(-1, "1o")])
    with pytest.raises(ValueError, match="invalid irrep"):
        Irreps(["1o", "2q"])
    with pytest.raises(ValueError, match=r"parity p must be \+1"):
        Irreps([(1, (1, 0))])
    with pytest.raises(ValueError, match="l must be >= 0"):
        Irreps([(1, (-1, 1))])


# ---------------------------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------------------------

SPACE = st.sampled_from(["", "", " ", "  ", "\t"])


@st.composite
def valid_irreps_text(draw) -> tuple[str, list[tuple[int, tuple[int, int]]]]:
    """A valid irreps string in varied spellings, and the (mul, (l, p)) list it denotes."""
    items = draw(
        st.lists(
            st.tuples(st.integers(0, 40), st.tuples(st.integers(0, 12), st.sampled_from([1, -1]))),
            max_size=7,
        )
    )
    terms = []
    for mul, (l, p) in items:
        letters = ["e" if p == 1 else "o"] + (["y"] if p == (-1) ** l else [])
        ir_text = f"{draw(st.sampled_from(['', '0']))}{l}{draw(st.sampled_from(letters))}"
        if mul == 1 and draw(st.booleans()):
            terms.append(ir_text)
        else:
            terms.append(f"{mul}{draw(SPACE)}x{draw(SPACE)}{ir_text}")
    text = "".join(
        (f"{draw(SPACE)}+{draw(SPACE)}" if i else draw(SPACE)) + term
        for i, term in enumerate(terms)
    )
    return text + draw(SPACE), items


def parse_both(text: str) -> tuple[Irreps | None, e3nn.Irreps | None]:
    """Parse with both libraries; ours may only raise ValueError, with a message."""
    try:
        ours = Irreps(text)
    except ValueError as error:
        assert str(error)
        ours = None
    try:
        theirs = e3nn.Irreps(text)
    except Exception:  # e3nn-jax's own errors are not under test
        theirs = None
    return ours, theirs


def check_parse(text: str) -> None:
    ours, theirs = parse_both(text)
    if ours is not None:
        # We accept a subset of what e3nn-jax accepts, with the same meaning.
        assert theirs is not None, text
        assert ours_mul_irreps(ours) == e3nn_mul_irreps(theirs)
        assert Irreps(str(ours)) == ours


@FUZZ
@given(valid_irreps_text())
def test_fuzz_valid_strings_round_trip_and_match_e3nn(case):
    text, items = case
    ours = Irreps(text)
    assert ours == Irreps(items)
    assert ours_mul_irreps(ours) == e3nn_mul_irreps(e3nn.Irreps(text))
    assert Irreps(str(ours)) == ours
    assert str(ours) == (repr(e3nn.Irreps(text)) if items else "")
    assert ours.dim == sum(mul * (2 * l + 1) for mul, (l, _) in items)
    assert ours.slices() == e3nn.Irreps(text).slices()
    assert ours.sort().inv == tuple(e3nn.Irreps(text).sort().inv)


@FUZZ
@given(st.text())
def test_fuzz_arbitrary_text_never_crashes(text):
    check_parse(text)


ALPHABET = "0123456789xeoy+ \t"


@FUZZ
@given(st.text(alphabet=ALPHABET, max_size=30))
def test_fuzz_grammar_alphabet_is_exactly_e3nn_minus_inner_spaces(text):
    """Over the grammar's own characters we reject only what we mean to reject.

    e3nn-jax also accepts a space between ``l`` and the parity (``"0 e"``); removing those spaces
    must give a string that we accept, with e3nn-jax's meaning.
    """
    check_parse(text)
    ours, theirs = parse_both(text)
    if theirs is not None and ours is None:
        assert re.search(r"[0-9]\s+[eoy]", text), text
        fixed = re.sub(r"([0-9])\s+([eoy])", r"\1\2", text)
        assert ours_mul_irreps(Irreps(fixed)) == e3nn_mul_irreps(theirs)


GARBAGE = st.one_of(
    st.sampled_from(
        list("+-x_.,;:eoyEOX0123456789 \t\n()[]'\"") + ["١", "²", "\u00a0", "++", "x0"]
    ),
    st.characters(),
)


@st.composite
def mutated_irreps_text(draw) -> str:
    text, _ = draw(valid_irreps_text())
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        if action == "insert":
            text = text[:position] + draw(GARBAGE) + text[position:]
        elif action == "delete":
            text = text[:position] + text[position + 1 :]
        elif action == "replace":
            text = text[:position] + draw(GARBAGE) + text[position + 1 :]
        else:
            end = draw(st.integers(position, len(text)))
            text = text[:end] + text[position:end] + text[end:]
    return text


@FUZZ
@given(mutated_irreps_text())
def test_fuzz_mutated_strings_parse_or_raise_value_error(text):
    check_parse(text)


@pytest.mark.parametrize("text", ["\x1f2x0e", "2x0e\x1f", "1x0e+\x1c1x1o", "\u20002x0e"])
def test_unusual_whitespace_is_refused(text):
    """Found by the fuzzer: e3nn-jax refuses a leading unit separator but accepts a trailing one;
    equitens refuses every whitespace but ASCII spaces, tabs and newlines, saying why."""
    with pytest.raises(ValueError, match="unusual whitespace"):
        Irreps(text)
    with pytest.raises(ValueError, match="unusual whitespace"):
        Irrep(text[-4:] if text.endswith("\x1f") else "\x1f1o")
