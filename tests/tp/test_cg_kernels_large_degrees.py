"""The "cg" kernels at degrees 3 to 5 against e3nn-jax, small enough to run by default.

The full products of ``0e + 1o + ... + Lp`` with itself at L = 3, 4, 5 are checked by the slow
``tests/tp/test_cg_kernels.py::test_large_products_match_e3nn``. Here a few paths reach every
degree 3..5 in the first input and the output (times degree 2), where the Clebsch-Gordan tensors
have their smallest entries (below 0.03 from degree 4 on, none below 0.069 up to degree 3), for
both algorithms, as a full product (``e3nn_jax.tensor_product``) and as
a channelwise ``"uvu"`` product (e3nn-jax's legacy ``FunctionalTensorProduct``).
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import numpy as np
import pytest

from equitens.tp import TensorProductSpec
from tests.tp.test_cg_kernels import ALGORITHMS, _kernel, _legacy, _rand

IRREPS_1 = "3o + 4e + 5o"
IRREPS_2 = "2e"
OUTPUTS = "3o + 4e + 5o"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_degrees_3_to_5_match_e3nn(algorithm):
    x = e3nn.normal(IRREPS_1, jax.random.PRNGKey(28), (3,))
    y = e3nn.normal(IRREPS_2, jax.random.PRNGKey(29), (3,))
    spec = TensorProductSpec.full(IRREPS_1, IRREPS_2, filter_ir_out=OUTPUTS)
    assert {spec.mul_irreps(p)[0][1].l for p in spec.paths} == {3, 4, 5}
    assert {spec.mul_irreps(p)[2][1].l for p in spec.paths} == {3, 4, 5}
    reference = jax.jit(lambda a, b: e3nn.tensor_product(a, b, filter_ir_out=OUTPUTS))(x, y)
    assert reference.irreps.dim == spec.irreps_out.dim
    np.testing.assert_allclose(
        _kernel(spec, algorithm)(x.array, y.array), reference.array, atol=1e-12, rtol=0
    )
    channels = TensorProductSpec.channelwise(
        e3nn.Irreps(IRREPS_1) * 2, IRREPS_2, e3nn.Irreps(IRREPS_1) * 2
    )
    x1 = _rand((3, channels.irreps_in1.dim), 30)
    w = _rand((3, channels.weight_numel), 31)
    np.testing.assert_allclose(
        _kernel(channels, algorithm)(x1, y.array, w),
        jax.jit(_legacy(channels, "uvu"))(x1, y.array, w),
        atol=1e-12,
        rtol=0,
    )
