"""The SO(2)-reduced (eSCN) edge convolution, method "so2" (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import equitens.conv.so2  # noqa: F401  (registers "so2")
from equitens.conv import edge_convolution
from equitens.conv.so2 import so2_layout, so2_weights_from_cg
from equitens.so3 import D_from_matrix, random_rotation

CASES = [
    # natural parities, all paths even: only "a" blocks, dense (no gather)
    ("3x0e + 3x1o + 3x2e", "3x0e + 3x1o + 3x2e", 2),
    # mixed parities: odd pairs ("b" blocks), several entries of one degree, sparse gather
    (
        "2x0e + 2x1o + 2x2e + 2x3o + 2x1e + 2x0o",
        "2x0e + 2x1o + 2x1e + 2x2e + 2x2o + 2x3o + 2x3e",
        3,
    ),
    # lmax smaller than l_in + l_out: some pairs uncoupled
    ("2x1o + 2x3e", "2x0e + 2x2o + 2x4e", 2),
]
# CASES[1] in small (runs by default): mixed parities ("b" blocks between 1o and 1e, uncoupled odd
# pairs of degree 0), two entries of each degree
SMALL_MIXED = ("1x0e + 1x1o + 1x1e + 1x0o", "1x0e + 1x1o + 1x1e + 1x0o", 1)


def _near_pole_vectors(key, edges):
    v = jax.random.normal(key, (edges, 3), jnp.float64)
    return (
        v.at[0]
        .set(jnp.array([3e-8, 1.0, -5e-8]))
        .at[1]
        .set(jnp.array([0.0, -2.0, 0.0]))
        .at[2]
        .set(jnp.array([-4e-8, -0.5, 2e-8]))
        .at[3]
        .set(jnp.array([0.0, 1.7, 0.0]))
    )


def _inputs(conv, edges=7, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jax.random.normal(keys[0], (edges, conv.irreps_in.dim), jnp.float64)
    vectors = _near_pole_vectors(keys[1], edges)
    weights = jax.random.normal(keys[2], (edges, conv.weight_numel), jnp.float64)
    return x, vectors, weights


@pytest.mark.parametrize(
    "irreps_in, irreps_out, lmax",
    [CASES[0], pytest.param(*CASES[1], marks=pytest.mark.slow), CASES[2], SMALL_MIXED],
)
def test_so2_with_weights_from_cg_equals_cg(irreps_in, irreps_out, lmax):
    """Reference section 2.1: the SO(2) reduction is exact, also at edges along +-y."""
    cg = edge_convolution(irreps_in, irreps_out, lmax, method="cg")
    so2 = edge_convolution(irreps_in, irreps_out, lmax, method="so2")
    x, vectors, w_cg = _inputs(cg)
    w_so2 = so2_weights_from_cg(irreps_in, irreps_out, lmax, w_cg)
    reference = cg(x, vectors, w_cg)
    assert float(jnp.abs(reference).max()) > 0.1
    np.testing.assert_allclose(so2(x, vectors, w_so2), reference, atol=1e-12, rtol=0)
    rolled = so2(x, vectors, w_so2, key=jax.random.PRNGKey(5))
    np.testing.assert_allclose(rolled, reference, atol=1e-12, rtol=0)


def test_path_normalization_is_followed():
    irreps, lmax = "2x0e + 2x1o + 2x2e", 2
    cg = edge_convolution(irreps, irreps, lmax, method="cg", path_normalization="path")
    so2 = edge_convolution(irreps, irreps, lmax, method="so2")
    x, vectors, w_cg = _inputs(cg, seed=3)
    w_so2 = so2_weights_from_cg(irreps, irreps, lmax, w_cg, path_normalization="path")
    np.testing.assert_allclose(so2(x, vectors, w_so2), cg(x, vectors, w_cg), atol=1e-12, rtol=0)


def test_gradients_equal_those_of_cg_near_the_poles():
    """d(message)/d(edge) flows only through the frame: it must match the CG conv's."""
    irreps_in, irreps_out, lmax = "2x0e + 2x1o + 2x1e + 2x2e", "2x0e + 2x1o + 2x1e + 2x2o", 2
    cg = edge_convolution(irreps_in, irreps_out, lmax, method="cg")
    so2 = edge_convolution(irreps_in, irreps_out, lmax, method="so2")
    x, vectors, w_cg = _inputs(cg, seed=2)
    w_so2 = so2_weights_from_cg(irreps_in, irreps_out, lmax, w_cg)
    np.testing.assert_allclose(so2(x, vectors, w_so2), cg(x, vectors, w_cg), atol=1e-12, rtol=0)
    probe = jax.random.normal(jax.random.PRNGKey(9), (x.shape[0], cg.irreps_out.dim), jnp.float64)

    def energy(conv, w):
        return lambda v: jnp.sum(jnp.sin(conv(x, v, w)) * probe)

    g_cg = jax.jit(jax.grad(energy(cg, w_cg)))(vectors)
    g_so2 = jax.jit(jax.grad(energy(so2, w_so2)))(vectors)
    np.testing.assert_allclose(g_so2, g_cg, atol=1e-11, rtol=0)


@pytest.mark.parametrize(
    "irreps, lmax",
    [(SMALL_MIXED[0], 1), pytest.param("2x0e + 2x1o + 2x2e", 2, marks=pytest.mark.slow)],
)
def test_second_derivatives_equal_those_of_cg_near_the_poles(irreps, lmax):
    """Hessians in the edge vectors, the four edges along or within 1e-7 of +-y."""
    cg = edge_convolution(irreps, irreps, lmax, method="cg")
    so2 = edge_convolution(irreps, irreps, lmax, method="so2")
    x, vectors, w_cg = _inputs(cg, edges=4, seed=4)
    w_so2 = so2_weights_from_cg(irreps, irreps, lmax, w_cg)

    def hessians(conv, w):
        def f(v):
            return jnp.sum(conv(x, v, w) ** 3)

        return jax.jit(jax.jacrev(jax.grad(f)))(vectors)

    np.testing.assert_allclose(hessians(so2, w_so2), hessians(cg, w_cg), atol=1e-9, rtol=1e-10)


def test_third_derivatives_equal_those_of_cg():
    """A third derivative in the edge vectors (the so2 kernel is quadratic in its Wigner rows,
    so its third order cannot be the slot expansion of a multilinear form: it crashed before)."""
    irreps = SMALL_MIXED[0]
    cg = edge_convolution(irreps, irreps, 1, method="cg")
    so2 = edge_convolution(irreps, irreps, 1, method="so2")
    x, vectors, w_cg = _inputs(cg, edges=3, seed=6)
    w_so2 = so2_weights_from_cg(irreps, irreps, 1, w_cg)
    tangent = jnp.ones_like(vectors)

    def third(conv, w):
        grad = jax.grad(lambda v: jnp.sum(conv(x, v, w) ** 3))
        curvature = jax.grad(lambda v: jnp.vdot(grad(v), tangent))
        return jax.jit(jax.grad(lambda v: jnp.vdot(curvature(v), tangent)))(vectors)

    expected = third(cg, w_cg)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(third(so2, w_so2), expected, atol=1e-9, rtol=1e-10)


@pytest.mark.parametrize("irreps_in, irreps_out, lmax", CASES)
@pytest.mark.parametrize("parity", [1, -1])
def test_free_weights_are_o3_equivariant(irreps_in, irreps_out, lmax, parity):
    conv = edge_convolution(irreps_in, irreps_out, lmax, method="so2")
    x, vectors, weights = _inputs(conv, seed=1)
    rotation = parity * random_rotation(jax.random.PRNGKey(3), dtype=jnp.float64)
    d_in = D_from_matrix(conv.irreps_in, rotation)
    d_out = D_from_matrix(conv.irreps_out, rotation)
    rotated = conv(x @ d_in.T, vectors @ rotation.T, weights)
    expected = conv(x, vectors, weights) @ d_out.T
    assert float(jnp.abs(expected).max()) > 0.1
    np.testing.assert_allclose(rotated, expected, atol=1e-11, rtol=0)


def test_parity_false_is_so3_but_not_o3_equivariant():
    irreps = "2x0e + 2x1o + 2x2e"
    conv = edge_convolution(irreps, irreps, 2, method="so2", parity=False)
    assert conv.weight_numel > edge_convolution(irreps, irreps, 2, method="so2").weight_numel
    x, vectors, weights = _inputs(conv, seed=6)
    errors = []
    for parity in (1, -1):
        rotation = parity * random_rotation(jax.random.PRNGKey(8), dtype=jnp.float64)
        d_in, d_out = (
            D_from_matrix(conv.irreps_in, rotation),
            D_from_matrix(conv.irreps_out, rotation),
        )
        diff = conv(x @ d_in.T, vectors @ rotation.T, weights) - conv(x, vectors, weights) @ d_out.T
        errors.append(float(jnp.abs(diff).max()))
    assert errors[0] < 1e-11
    assert errors[1] > 1e-2  # the "b" blocks (odd paths) flip sign under inversion


@pytest.mark.parametrize("m_max, rescale", [(0, False), (1, False), (1, True), (2, True)])
def test_truncation_is_equivariant_roll_invariant_and_drops_high_orders(m_max, rescale):
    irreps = "2x0e + 2x1o + 2x2e + 2x3o"
    conv = edge_convolution(irreps, irreps, 3, method="so2", m_max=m_max, rescale=rescale)
    full = edge_convolution(irreps, irreps, 3, method="so2")
    x, vectors, weights = _inputs(conv, seed=7)
    out = conv(x, vectors, weights)
    # oracle: the full conv with the weights of orders > m_max set to zero, then rescaled
    layout, full_layout = so2_layout(irreps, irreps, 3, m_max=m_max), so2_layout(irreps, irreps, 3)
    C = layout.mul
    blocks = {b: n for n, b in enumerate(layout.blocks)}
    w_full = jnp.zeros((x.shape[0], len(full_layout.blocks), C))
    for n, b in enumerate(full_layout.blocks):
        if b in blocks:
            w_full = w_full.at[:, n].set(weights.reshape(x.shape[0], -1, C)[:, blocks[b]])
    expected = full(x, vectors, w_full.reshape(x.shape[0], -1))
    if rescale:
        scale = np.concatenate(
            [
                np.full(C * ir.dim, np.sqrt(ir.dim / (2 * m_max + 1)) if ir.l > m_max else 1.0)
                for _, ir in conv.irreps_out
            ]
        )
        expected = expected * scale
    np.testing.assert_allclose(out, expected, atol=1e-12, rtol=0)
    np.testing.assert_allclose(
        conv(x, vectors, weights, key=jax.random.PRNGKey(1)), out, atol=1e-12, rtol=0
    )
    rotation = -random_rotation(jax.random.PRNGKey(2), dtype=jnp.float64)
    d = D_from_matrix(conv.irreps_in, rotation)
    np.testing.assert_allclose(
        conv(x @ d.T, vectors @ rotation.T, weights), out @ d.T, atol=1e-11, rtol=0
    )


def test_roll_invariance_with_free_weights():
    irreps_in, irreps_out, lmax = CASES[1]
    conv = edge_convolution(irreps_in, irreps_out, lmax, method="so2")
    x, vectors, weights = _inputs(conv, seed=11)
    base = conv(x, vectors, weights)
    for seed in (0, 1):
        rolled = conv(x, vectors, weights, key=jax.random.PRNGKey(seed))
        np.testing.assert_allclose(rolled, base, atol=1e-12, rtol=0)


def test_gradients_match_finite_differences_near_poles():
    irreps = "2x0e + 2x1o + 2x2e"
    conv = edge_convolution(irreps, irreps, 2, method="so2", m_max=1, rescale=True)
    x, vectors, weights = _inputs(conv, edges=4, seed=12)
    check_grads(
        jax.jit(lambda v: conv(x, v, weights)),
        (vectors,),
        order=2,
        modes=("rev",),
        atol=1e-6,
        rtol=1e-6,
    )
    check_grads(
        jax.jit(lambda x_, w_: conv(x_, vectors, w_)), (x, weights), order=1, modes=("rev",)
    )


def test_zero_length_edges_have_finite_derivatives():
    irreps = "2x0e + 2x1o + 2x2e"
    conv = edge_convolution(irreps, irreps, 2, method="so2")
    x, vectors, weights = _inputs(conv, edges=3, seed=13)
    vectors = vectors.at[0].set(0.0)

    def energy(v):
        return jnp.sum(conv(x, v, weights) ** 2)

    grad = jax.jit(jax.grad(energy))(vectors)
    hessian = jax.jit(jax.jacrev(jax.grad(energy)))(vectors)  # reverse mode (custom_vjp kernel)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hessian))
    np.testing.assert_array_equal(grad[0], 0.0)


def test_layout_counts_match_the_cg_paths():
    """With l_in + l_out <= lmax the SO(2) weights are as many as the CG paths (section 2.1)."""
    irreps = "1x0e + 1x1o + 1x2e + 1x3o"
    so2 = edge_convolution(irreps, irreps, 6, method="so2")
    cg = edge_convolution(irreps, irreps, 6, method="cg")
    assert so2.weight_numel == cg.weight_numel
    mixed = edge_convolution("1x1o + 1x1e", "1x1o + 1x1e", 2, method="so2")
    kinds = [b.kind for b in so2_layout("1x1o + 1x1e", "1x1o + 1x1e", 2).blocks]
    assert mixed.weight_numel == 6 and kinds.count("b") == 2


def test_clear_errors():
    with pytest.raises(ValueError, match="same multiplicity"):
        edge_convolution("2x0e + 3x1o", "2x0e", 1, method="so2")
    with pytest.raises(ValueError, match="m_max must be a non-negative int"):
        edge_convolution("2x0e", "2x0e", 1, method="so2", m_max=-1)
    with pytest.raises(ValueError, match="no path .* produces the output 2x1o"):
        edge_convolution("2x0e", "2x0e + 2x1o", 0, method="so2")
    with pytest.raises(ValueError, match="must end with the cg conv's weight_numel 8"):
        so2_weights_from_cg("2x0e + 2x1o", "2x0e + 2x1o", 1, jnp.ones((3, 7)))


def test_weights_from_cg_first_called_under_jit():
    """The CG -> SO(2) weight map is a constant: built on first use even inside a jit trace."""
    irreps, lmax = "2x0e + 2x1o + 2x1e", 1  # a configuration no other test builds first
    cg = edge_convolution(irreps, irreps, lmax, method="cg")
    w_cg = jax.random.normal(jax.random.PRNGKey(0), (4, cg.weight_numel), jnp.float64)
    inside = jax.jit(lambda w: so2_weights_from_cg(irreps, irreps, lmax, w))(w_cg)
    np.testing.assert_allclose(inside, so2_weights_from_cg(irreps, irreps, lmax, w_cg), atol=1e-14)
