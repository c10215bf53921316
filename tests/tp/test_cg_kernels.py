"""The "cg" kernels, algorithm by algorithm, against e3nn-jax, finite differences and symmetry.

``equitens.tp.cg`` picks one of three algorithms per spec (unrolled sparse, A-first batched
products with chunking, pair products); each test forces every algorithm that exists for its spec
and asserts that it is the one that ran (``kernel.algorithm``: "sparse" silently runs "dense"
where the unrolled algorithm does not exist), so all of them are checked on every mode. Where
sparse exists is written out here from the documented rule (:func:`_sparse_exists`), not taken
from ``equitens.tp.cg``. Oracles: ``e3nn_jax.tensor_product``,
``e3nn_jax.elementwise_tensor_product``, ``e3nn_jax.legacy.FunctionalTensorProduct``,
``Irreps.D_from_matrix`` (rotations and inversion) and ``jax.test_util.check_grads``.
"""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from e3nn_jax.legacy import FunctionalTensorProduct
from jax.test_util import check_grads

from equitens.tp import TensorProductSpec, cg, elementwise_tensor_product, tensor_product
from equitens.tp.plan import Plan

ALGORITHMS = ("sparse", "dense")


def _sparse_exists(mode: str, irreps1: str, irreps2: str) -> bool:
    """Where the unrolled sparse algorithm exists (module docstring of ``equitens.tp.cg``): modes
    whose channels do not contract, ``"uvu"``, ``"uuu"`` and ``"uvuv"`` of single channels."""
    if mode in ("uvu", "uuu"):
        return True
    if mode == "uvuv":
        return all(mul == 1 for mul, _ in e3nn.Irreps(irreps1) + e3nn.Irreps(irreps2))
    return False  # "uvw" contracts channels


def _with_algorithms(cases, mode=None):
    """``(algorithm, *case)`` for every algorithm that exists for each case (the case's first
    entry is its mode unless ``mode`` is given; its next two are the input irreps)."""
    out = []
    for case in cases:
        m, irreps1, irreps2 = (mode, *case[:2]) if mode else case[:3]
        for algorithm in ALGORITHMS:
            if algorithm == "dense" or _sparse_exists(m, irreps1, irreps2):
                out.append(
                    pytest.param(algorithm, *case, id=f"{algorithm}-{'-'.join(map(str, case))}")
                )
    return out


def _kernel(spec, algorithm, **options):
    """A fresh (uncached), jitted kernel built with the given algorithm and plan options; fails
    unless that algorithm is the one that runs (no silent fallback to dense)."""
    kernel = cg.cg_kernel(spec, Plan(cg_algorithm=algorithm, **options))
    assert kernel.algorithm == algorithm, (spec, algorithm, kernel.algorithm)
    return jax.jit(kernel)


def _rand(shape, seed):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype=jnp.float64)


def _legacy(spec, mode):
    """The e3nn-jax legacy tensor product with the spec's instructions and normalisation."""
    tp = FunctionalTensorProduct(
        spec.irreps_in1.to_e3nn(),
        spec.irreps_in2.to_e3nn(),
        spec.irreps_out.to_e3nn(),
        [(p.i_in1, p.i_in2, p.i_out, mode, True) for p in spec.paths],
        path_normalization=spec.path_normalization,
        irrep_normalization=spec.irrep_normalization,
        gradient_normalization="path",
    )
    irreps1, irreps2 = spec.irreps_in1.to_e3nn(), spec.irreps_in2.to_e3nn()

    def apply(x1, x2, w):
        def single(a, b, c):
            return tp.left_right(
                c, e3nn.IrrepsArray(irreps1, a), e3nn.IrrepsArray(irreps2, b)
            ).array

        return jax.vmap(single, (0, 0, None if w.ndim == 1 else 0))(x1, x2, w)

    return apply


CONNECTED = [
    ("uvu", "3x0e + 3x1o + 3x2e", "0e + 1o + 2e", "3x0e + 3x1o + 3x2e"),
    ("uvu", "2x1o + 2x0e + 2x1e", "2x0e + 2x1o", "2x1o + 2x0e + 2x1e + 2x0o"),
    ("uvw", "2x0e + 3x1o", "2x1o + 0e", "4x0e + 2x1o + 1x2e"),
]


@pytest.mark.parametrize(
    "algorithm, mode, irreps1, irreps2, irreps_out", _with_algorithms(CONNECTED)
)
@pytest.mark.parametrize("shared", [False, True])
def test_connected_modes_match_legacy_e3nn(algorithm, mode, irreps1, irreps2, irreps_out, shared):
    ctor = TensorProductSpec.channelwise if mode == "uvu" else TensorProductSpec.fully_connected
    spec = ctor(irreps1, irreps2, irreps_out, path_normalization="path")
    assert spec.channel_mode == mode
    x1 = _rand((7, spec.irreps_in1.dim), 0)
    x2 = _rand((7, spec.irreps_in2.dim), 1)
    w = _rand((spec.weight_numel,) if shared else (7, spec.weight_numel), 2)
    ours = _kernel(spec, algorithm)(x1, x2, w)
    np.testing.assert_allclose(ours, _legacy(spec, mode)(x1, x2, w), rtol=0, atol=1e-12)


FULL = [
    ("0e + 1o + 2e", "0e + 1o", None),
    ("1o + 2o", "1e + 3o", "1o + 2e + 4o"),
    ("0o", "0o", None),
    ("2x0e + 1o", "1o + 2x1e", None),  # several channels: dense only
]


@pytest.mark.parametrize(
    "algorithm, irreps1, irreps2, filter_ir_out", _with_algorithms(FULL, "uvuv")
)
def test_full_product_matches_e3nn(algorithm, irreps1, irreps2, filter_ir_out):
    spec = TensorProductSpec.full(irreps1, irreps2, filter_ir_out)
    assert spec.channel_mode == "uvuv"
    x = e3nn.normal(irreps1, jax.random.PRNGKey(3), (5,))
    y = e3nn.normal(irreps2, jax.random.PRNGKey(4), (5,))
    ref = e3nn.tensor_product(x, y, filter_ir_out=filter_ir_out)
    ours = _kernel(spec, algorithm)(x.array, y.array)
    np.testing.assert_allclose(ours, ref.array, rtol=0, atol=1e-12)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_elementwise_and_weighted_elementwise_match_e3nn(algorithm):
    spec = TensorProductSpec.elementwise("2x0e + 2x1o + 2x2e", "2x1o + 2x1e + 2x2o")
    assert spec.channel_mode == "uuu"  # sparse exists for every multiplicity
    x = e3nn.normal(spec.irreps_in1.to_e3nn(), jax.random.PRNGKey(5), (4,))
    y = e3nn.normal(spec.irreps_in2.to_e3nn(), jax.random.PRNGKey(6), (4,))
    ref = e3nn.elementwise_tensor_product(x, y)
    np.testing.assert_allclose(_kernel(spec, algorithm)(x.array, y.array), ref.array, atol=1e-12)

    weighted = TensorProductSpec.elementwise("2x0e + 2x1o", "2x1o + 2x1e", weighted=True)
    w = _rand((4, weighted.weight_numel), 7)
    x1, x2 = _rand((4, weighted.irreps_in1.dim), 8), _rand((4, weighted.irreps_in2.dim), 9)
    legacy = FunctionalTensorProduct(
        weighted.irreps_in1.to_e3nn(),
        weighted.irreps_in2.to_e3nn(),
        weighted.irreps_out.to_e3nn(),
        [(p.i_in1, p.i_in2, p.i_out, "uuu", True) for p in weighted.paths],
        gradient_normalization="path",
    )
    ref = jax.vmap(
        lambda a, b, c: (
            legacy.left_right(
                c,
                e3nn.IrrepsArray(weighted.irreps_in1.to_e3nn(), a),
                e3nn.IrrepsArray(weighted.irreps_in2.to_e3nn(), b),
            ).array
        )
    )(x1, x2, w)
    np.testing.assert_allclose(_kernel(weighted, algorithm)(x1, x2, w), ref, atol=1e-12)


def test_chunked_evaluation_matches_single_chunk_values_and_gradients():
    spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o + 2e", "4x0e + 4x1o")
    n = 37  # not a multiple of the chunk
    x1, x2 = _rand((n, spec.irreps_in1.dim), 10), _rand((n, spec.irreps_in2.dim), 11)
    w = _rand((n, spec.weight_numel), 12)
    chunked = _kernel(spec, "dense", chunk=1)  # the smallest chunk: 8 samples
    whole = _kernel(spec, "dense", chunk=None)
    np.testing.assert_allclose(chunked(x1, x2, w), whole(x1, x2, w), atol=1e-12)

    def loss(k):
        return lambda *a: jnp.sum(jnp.sin(k(*a)))

    g1 = jax.grad(loss(chunked), argnums=(0, 1, 2))(x1, x2, w)
    g2 = jax.grad(loss(whole), argnums=(0, 1, 2))(x1, x2, w)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    shared = _rand((spec.weight_numel,), 13)
    g1 = jax.grad(loss(chunked), argnums=2)(x1, x2, shared)
    g2 = jax.grad(loss(whole), argnums=2)(x1, x2, shared)
    np.testing.assert_allclose(g1, g2, atol=1e-11)


DERIVATIVE_CASES = [
    ("uvu", "2x0e + 2x1o + 2x2e", "0e + 1o", "2x0e + 2x1o + 2x2e"),
    ("uvuv", "0e + 1o", "1o + 2e", None),
    ("uvuv", "2x0e + 1o", "1o", None),  # several channels: dense only
    ("uuu", "2x0e + 2x1o", "2x1o + 2x1e", None),  # weighted elementwise
    ("uvw", "2x0e + 1x1o", "1o", "1x1o + 2x1e"),  # dense only
]


@pytest.mark.parametrize(
    "algorithm, mode, irreps1, irreps2, irreps_out", _with_algorithms(DERIVATIVE_CASES)
)
def test_first_and_second_derivatives_match_finite_differences(
    algorithm, mode, irreps1, irreps2, irreps_out
):
    if mode == "uvu":
        spec = TensorProductSpec.channelwise(irreps1, irreps2, irreps_out)
    elif mode == "uvw":
        spec = TensorProductSpec.fully_connected(irreps1, irreps2, irreps_out)
    elif mode == "uuu":
        spec = TensorProductSpec.elementwise(irreps1, irreps2, weighted=True)
    else:
        spec = TensorProductSpec.full(irreps1, irreps2)
    assert spec.channel_mode == mode
    kernel = _kernel(spec, algorithm, chunk=1)  # chunked where the algorithm chunks
    args = [_rand((9, spec.irreps_in1.dim), 14), _rand((9, spec.irreps_in2.dim), 15)]
    if spec.weighted:
        args.append(_rand((9, spec.weight_numel), 16))
    check_grads(kernel, tuple(args), order=2, modes=["rev"], eps=1e-4)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_double_backward_of_forces_matches_plain_autodiff(algorithm):
    """``grad_w |grad_x2 E|^2``, the training step of a force field, against e3nn-jax's autodiff."""
    spec = TensorProductSpec.channelwise("3x0e + 3x1o + 2x2e", "0e + 1o + 2e", "3x0e + 3x1o + 2x2e")
    x1, x2 = _rand((9, spec.irreps_in1.dim), 17), _rand((9, spec.irreps_in2.dim), 18)
    w = _rand((9, spec.weight_numel), 19)

    def loss(f):
        def energy(x1, x2, w):
            return jnp.sum(jnp.tanh(f(x1, x2, w)))

        def force_loss(x1, x2, w):
            return jnp.sum(jax.grad(energy, argnums=1)(x1, x2, w) ** 2)

        return jax.grad(force_loss, argnums=(0, 1, 2))

    ours = jax.jit(loss(_kernel(spec, algorithm, chunk=1)))(x1, x2, w)  # 8-sample chunks
    ref = jax.jit(loss(_legacy(spec, "uvu")))(x1, x2, w)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_sparse_double_backward_is_built_from_its_explicit_contractions():
    """JAX's autodiff of the unrolled contractions would transpose their column slices into
    pads (1.2-1.4x slower measured); the second order reuses the contractions, which have none."""
    spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    kernel = _kernel(spec, "sparse")
    x1, x2 = _rand((5, spec.irreps_in1.dim), 20), _rand((5, spec.irreps_in2.dim), 21)
    w = _rand((5, spec.weight_numel), 22)

    def force_loss(x1, x2, w):
        return jnp.sum(jax.grad(lambda x2: jnp.sum(kernel(x1, x2, w) ** 2))(x2) ** 2)

    jaxpr = jax.make_jaxpr(jax.grad(force_loss, argnums=(0, 2)))(x1, x2, w)
    assert " pad[" not in str(jaxpr)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_channelwise_kernel_is_o3_equivariant(algorithm):
    spec = TensorProductSpec.channelwise("2x0e + 2x1o + 2x1e", "0e + 1o + 2e", "2x0e + 2x1o + 2x1e")
    x1, x2 = _rand((3, spec.irreps_in1.dim), 20), _rand((3, spec.irreps_in2.dim), 21)
    w = _rand((3, spec.weight_numel), 22)
    kernel = _kernel(spec, algorithm)
    rotation = e3nn.rand_matrix(jax.random.PRNGKey(23), (), dtype=jnp.float64)
    for matrix in (rotation, -rotation):  # a rotation, then a rotation times the inversion
        d1 = spec.irreps_in1.to_e3nn().D_from_matrix(matrix)
        d2 = spec.irreps_in2.to_e3nn().D_from_matrix(matrix)
        d3 = spec.irreps_out.to_e3nn().D_from_matrix(matrix)
        np.testing.assert_allclose(
            kernel(x1 @ d1.T, x2 @ d2.T, w), kernel(x1, x2, w) @ d3.T, atol=1e-12
        )


def test_kernels_follow_dtype_jit_vmap_and_broadcasting():
    spec = TensorProductSpec.channelwise("4x0e + 4x1o", "0e + 1o", "4x0e + 4x1o")
    kernel = cg.cg_kernel(spec)
    x1 = jnp.ones((2, 3, spec.irreps_in1.dim), jnp.float32)
    x2 = jnp.ones((3, spec.irreps_in2.dim), jnp.float32)
    w = jnp.ones((spec.weight_numel,), jnp.float32)
    out = jax.jit(kernel)(x1, x2, w)
    assert out.shape == (2, 3, spec.irreps_out.dim) and out.dtype == jnp.float32
    batched = jax.vmap(kernel, (0, None, None))(x1, x2, w)
    np.testing.assert_allclose(batched, out, rtol=1e-6)
    empty = kernel(jnp.ones((0, spec.irreps_in1.dim)), jnp.ones((0, spec.irreps_in2.dim)), w)
    assert empty.shape == (0, spec.irreps_out.dim)


SPECS_BY_MODE = [
    ("uvu", "2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o"),
    ("uuu", "2x0e + 2x1o", "2x1o + 2x1e", None),
    ("uvuv", "0e + 1o", "1o", None),
    ("uvuv", "2x0e + 1o", "1o", None),
    ("uvw", "2x0e + 1o", "1o", "2x1o"),
]


@pytest.mark.parametrize("mode, irreps1, irreps2, irreps_out", SPECS_BY_MODE)
def test_sparse_runs_exactly_where_it_exists(mode, irreps1, irreps2, irreps_out):
    """``cg_algorithm="sparse"`` runs sparse where it exists and dense elsewhere, "dense" is
    always dense, and "auto" picks sparse for these small products where it exists."""
    spec = {
        "uvu": lambda: TensorProductSpec.channelwise(irreps1, irreps2, irreps_out),
        "uuu": lambda: TensorProductSpec.elementwise(irreps1, irreps2),
        "uvuv": lambda: TensorProductSpec.full(irreps1, irreps2),
        "uvw": lambda: TensorProductSpec.fully_connected(irreps1, irreps2, irreps_out),
    }[mode]()
    assert spec.channel_mode == mode
    expected = "sparse" if _sparse_exists(mode, irreps1, irreps2) else "dense"
    assert cg._sparse_supported(spec) == (expected == "sparse")

    def algorithm(**options):
        return cg.cg_kernel(spec, Plan(**options)).algorithm

    assert algorithm(cg_algorithm="sparse") == expected
    assert algorithm(cg_algorithm="dense") == "dense"
    assert algorithm(cg_algorithm="auto") == expected
    assert algorithm(cg_algorithm="auto", cg_sparse_terms=0) == "dense"


def test_kernel_input_errors_say_what_to_pass():
    spec = TensorProductSpec.channelwise("4x0e", "0e", "4x0e")
    kernel = cg.cg_kernel(spec)
    with pytest.raises(ValueError, match=r"x1 must have shape \(\.\.\., 4\)"):
        kernel(jnp.ones((2, 5)), jnp.ones((2, 1)), jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="needs weights"):
        kernel(jnp.ones((2, 4)), jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="weight_numel"):
        kernel(jnp.ones((2, 4)), jnp.ones((2, 1)), jnp.ones((2, 3)))
    full = cg.cg_kernel(TensorProductSpec.full("0e", "0e"))
    with pytest.raises(ValueError, match="no weights"):
        full(jnp.ones((1,)), jnp.ones((1,)), jnp.ones((1,)))


def test_functional_entry_points_take_methods_and_match_e3nn():
    x = e3nn.normal("2x0e + 1o + 1o + 2e", jax.random.PRNGKey(24), (2, 3))
    y = e3nn.normal("1o + 0e", jax.random.PRNGKey(25), (3,))
    ref = e3nn.tensor_product(x, y)
    ours = jax.jit(tensor_product)(x, y)
    assert ours.irreps == ref.irreps
    np.testing.assert_allclose(ours.array, ref.array, atol=1e-12)
    z = e3nn.normal("2x1o + 1e", jax.random.PRNGKey(26), (3,))
    u = e3nn.normal("1e + 2x0o", jax.random.PRNGKey(27), (3,))
    ref = e3nn.elementwise_tensor_product(z, u, filter_ir_out="1o + 1e + 2e")
    ours = jax.jit(lambda a, b: elementwise_tensor_product(a, b, filter_ir_out="1o + 1e + 2e"))(
        z, u
    )
    assert ours.irreps == ref.irreps
    np.testing.assert_allclose(ours.array, ref.array, atol=1e-12)
    with pytest.raises(ValueError, match="available methods"):
        tensor_product(x, y, method="gaunt-typo")
    with pytest.raises(ValueError, match="same number of irreps"):
        elementwise_tensor_product(x, y)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("lmax", [3, 4, 5])
def test_large_products_match_e3nn(algorithm, lmax):
    irreps = e3nn.Irreps([(1, (l, (-1) ** l)) for l in range(lmax + 1)])
    x = e3nn.normal(irreps, jax.random.PRNGKey(28), (3,))
    y = e3nn.normal(irreps, jax.random.PRNGKey(29), (3,))
    spec = TensorProductSpec.full(irreps, irreps)
    np.testing.assert_allclose(
        _kernel(spec, algorithm)(x.array, y.array), e3nn.tensor_product(x, y).array, atol=1e-12
    )
    channels = TensorProductSpec.channelwise(irreps * 4, irreps, irreps * 4)
    x1 = _rand((3, channels.irreps_in1.dim), 30)
    w = _rand((3, channels.weight_numel), 31)
    np.testing.assert_allclose(
        _kernel(channels, algorithm)(x1, y.array, w),
        _legacy(channels, "uvu")(x1, y.array, w),
        atol=1e-12,
    )
