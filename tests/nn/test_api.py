"""One API for the linen and nnx modules, and one irreps vocabulary (equitens.Irreps) inside."""

from __future__ import annotations

import inspect

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from equitens import Irreps
from equitens.nn import linen as enn
from equitens.nn import nnx as ennx
from equitens.nn.linear import LinearSpec
from equitens.nn.tensor_product import channelwise_spec, fully_connected_spec
from tests.nn._helpers import random_input

TWINS = ["Linear", "TensorProduct", "FullyConnectedTensorProduct", "Gate"]
INPUT_IRREPS = {"irreps_in", "irreps_in1", "irreps_in2"}


def _linen_parameters(name: str) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(getattr(enn, name)).parameters.values()
        if p.name not in ("parent", "name")
    ]


def _nnx_parameters(name: str) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(getattr(ennx, name).__init__).parameters.values()
        if p.name not in ("self", "rngs")
    ]


@pytest.mark.parametrize("name", TWINS)
def test_linen_and_nnx_take_the_same_arguments(name):
    linen, nnx_ = _linen_parameters(name), _nnx_parameters(name)
    assert [p.name for p in linen] == [p.name for p in nnx_]
    for a, b in zip(linen, nnx_, strict=True):
        assert a.kind == b.kind, a.name
        if a.name in INPUT_IRREPS:  # inferred at call time in linen, required in nnx
            assert a.default is None and b.default is inspect.Parameter.empty
        else:
            assert a.default is b.default or a.default == b.default, a.name
    if linen and linen[0].name == "irreps_out":  # the only positional argument
        positional = [p.name for p in linen if p.kind != inspect.Parameter.KEYWORD_ONLY]
        assert positional == ["irreps_out"]


def test_a_swapped_positional_call_fails_loudly():
    with pytest.raises(TypeError):
        enn.Linear("0e", "2x0e")
    with pytest.raises(TypeError):
        ennx.Linear("2x0e", "0e", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError):
        ennx.TensorProduct("2x0e", "0e", "2x0e", rngs=nnx.Rngs(0))


IRREPS_FORMS = [
    lambda text: text,
    Irreps,
    e3nn.Irreps,
    lambda text: [(mul, (ir.l, ir.p)) for mul, ir in Irreps(text)],
]


@pytest.mark.parametrize("form", IRREPS_FORMS)
def test_every_irreps_form_gives_the_same_layer(form):
    irreps_in, irreps_out = "4x0e + 2x1o", "3x0e + 1o"
    x = random_input(irreps_in, 0, (5,))
    reference = enn.Linear(irreps_out)
    params = reference.init(jax.random.PRNGKey(0), x)
    layer = enn.Linear(form(irreps_out), irreps_in=form(irreps_in))
    assert type(layer.irreps_out) is Irreps and type(layer.irreps_in) is Irreps
    out = layer.apply(params, x.array)  # declared irreps: plain arrays are read in that layout
    assert isinstance(out.irreps, e3nn.Irreps) and out.irreps == e3nn.Irreps(irreps_out)
    np.testing.assert_array_equal(out.array, reference.apply(params, x).array)

    twin = ennx.Linear(form(irreps_out), irreps_in=form(irreps_in), rngs=nnx.Rngs(0))
    assert type(twin.irreps_in) is Irreps and type(twin.spec.irreps_out) is Irreps
    twin.w[...] = params["params"]["w"]
    np.testing.assert_array_equal(twin(x).array, out.array)

    spec = LinearSpec.create(form(irreps_in), form(irreps_out))
    assert spec == LinearSpec.create(irreps_in, irreps_out)
    assert type(spec.irreps_in) is Irreps and type(spec.irreps_out) is Irreps


@pytest.mark.parametrize("form", IRREPS_FORMS)
def test_tensor_product_specs_hold_equitens_irreps(form):
    args = ("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
    spec = channelwise_spec(*(form(a) for a in args))
    assert spec is channelwise_spec(*args)  # one cache entry, whatever the form
    assert all(type(i) is Irreps for i in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out))
    spec = fully_connected_spec(*(form(a) for a in args))
    assert spec is fully_connected_spec(*args)

    tp = ennx.TensorProduct(
        form(args[2]), irreps_in1=form(args[0]), irreps_in2=form(args[1]), rngs=nnx.Rngs(0)
    )
    assert all(type(i) is Irreps for i in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out))
    linen = enn.TensorProduct(form(args[2]), irreps_in1=form(args[0]))
    assert type(linen.irreps_out) is Irreps and type(linen.irreps_in1) is Irreps
    assert linen.irreps_in2 is None


def test_weights_move_between_flavours_unchanged():
    x1, x2 = random_input("2x0e + 2x1o", 0, (3,)), random_input("0e + 1o", 1, (3,))
    options = {"irreps_in1": x1.irreps, "irreps_in2": x2.irreps}
    for linen, twin in (
        (enn.TensorProduct, ennx.TensorProduct),
        (enn.FullyConnectedTensorProduct, ennx.FullyConnectedTensorProduct),
    ):
        params = linen("2x0e + 2x1o").init(jax.random.PRNGKey(0), x1, x2)
        module = twin("2x0e + 2x1o", **options, rngs=nnx.Rngs(0))
        assert module.w.shape == params["params"]["w"].shape
        assert module.w.dtype == params["params"]["w"].dtype == jnp.float32
