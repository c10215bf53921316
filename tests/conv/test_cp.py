"""The CP-decomposed (TDN) edge convolution, method "cp", and the ALS fit (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import equitens.conv.cp  # noqa: F401  (registers "cp")
from equitens.conv import edge_convolution
from equitens.cp import cp_als, cp_factors, cp_reconstruct, fit_cp_factors, shared_cg_tensor
from equitens.cp.build import natural_irreps
from equitens.so3 import D_from_matrix, random_rotation
from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.spherical_harmonics import spherical_harmonics
from equitens.tp.spec import TensorProductSpec


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EQUITENS_CACHE", str(tmp_path))


def _inputs(conv, edges=6, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jax.random.normal(keys[0], (edges, conv.irreps_in.dim), jnp.float64)
    vectors = jax.random.normal(keys[1], (edges, 3), jnp.float64)
    vectors = vectors.at[0].set(jnp.array([1e-8, 1.0, 0.0]))
    weights = jax.random.normal(keys[2], (edges, conv.weight_numel), jnp.float64)
    return x, vectors, weights


def _per_channel_norms(x, irreps, C):
    E = x.shape[0]
    parts = [
        x[:, sl].reshape(E, C, ir.dim) for (_, ir), sl in zip(irreps, irreps.slices(), strict=True)
    ]
    return jnp.sqrt(sum(jnp.sum(p**2, axis=2) for p in parts))  # (E, C)


def test_shared_tensor_matches_an_independent_clebsch_gordan_sum():
    irreps = "0e + 1o + 2e + 1e"
    M = shared_cg_tensor(irreps, 2, irreps)
    spec = TensorProductSpec.channelwise(irreps, "0e + 1o + 2e", irreps)
    starts = [
        [s.start for s in ir.slices()] for ir in (spec.irreps_in1, spec.irreps_in2, spec.irreps_out)
    ]
    expected = np.zeros_like(M)
    for p in spec.paths:
        (_, a), (_, b), (_, c) = spec.mul_irreps(p)
        i, j, k = starts[0][p.i_in1], starts[1][p.i_in2], starts[2][p.i_out]
        expected[i : i + a.dim, j : j + b.dim, k : k + c.dim] += p.coefficient * clebsch_gordan(
            a.l, b.l, c.l
        )
    np.testing.assert_allclose(M, expected, atol=1e-14)


@pytest.mark.parametrize(
    "irreps, lmax", [("3x0e + 3x1o + 3x2e", 2), ("2x0e + 2x1o + 2x1e + 2x2o", 2)]
)
def test_exact_equals_cg_with_one_weight_shared_by_all_paths(irreps, lmax):
    cg = edge_convolution(irreps, irreps, lmax, method="cg")
    shared = edge_convolution(irreps, irreps, lmax, method="cp", exact=True)
    x, vectors, w = _inputs(shared)
    C = shared.weight_numel
    w_cg = jnp.tile(w, (1, cg.weight_numel // C))  # every path gets w[e, u]
    reference = cg(x, vectors, w_cg)
    assert float(jnp.abs(reference).max()) > 0.1
    np.testing.assert_allclose(shared(x, vectors, w), reference, atol=1e-12, rtol=0)


@pytest.mark.parametrize("parity", [1, -1])
def test_exact_shared_conv_is_o3_equivariant(parity):
    irreps = "2x0e + 2x1o + 2x1e + 2x2o"
    conv = edge_convolution(irreps, irreps, 2, method="cp", exact=True)
    x, vectors, w = _inputs(conv, seed=1)
    R = parity * random_rotation(jax.random.PRNGKey(4), dtype=jnp.float64)
    D = D_from_matrix(conv.irreps_in, R)
    np.testing.assert_allclose(
        conv(x @ D.T, vectors @ R.T, w), conv(x, vectors, w) @ D.T, atol=1e-11, rtol=0
    )


@pytest.mark.parametrize("tol", [1e-2, 1e-6])
def test_cp_error_and_equivariance_obey_the_bound(tol):
    irreps, lmax = "3x0e + 3x1o + 3x2e", 2
    cp = edge_convolution(irreps, irreps, lmax, method="cp", tol=tol)
    exact = edge_convolution(irreps, irreps, lmax, method="cp", exact=True)
    factors = cp_factors(irreps, lmax, irreps, tol=tol)
    assert factors.rel_error <= tol
    assert f"rank {factors.rank}" in cp.description
    # the reported error is the true one, measured again here
    M = shared_cg_tensor(irreps, lmax, irreps)
    error = np.linalg.norm(cp_reconstruct(factors.A, factors.B, factors.C) - M)
    np.testing.assert_allclose(factors.abs_error, error, rtol=1e-10)
    np.testing.assert_allclose(factors.rel_error, error / np.linalg.norm(M), rtol=1e-10)

    x, vectors, w = _inputs(cp, edges=8, seed=2)
    w = jnp.ones_like(w)  # unit weights: per-channel bounds read directly
    C = cp.weight_numel
    x_norm = _per_channel_norms(x, cp.irreps_in, C)
    y_norm = jnp.linalg.norm(spherical_harmonics(lmax, vectors), axis=1)[:, None]
    approx = _per_channel_norms(cp(x, vectors, w) - exact(x, vectors, w), cp.irreps_out, C)
    assert np.all(approx <= factors.abs_error * x_norm * y_norm * (1 + 1e-9))
    assert float(approx.max()) > 0  # it is an approximation
    bound = factors.equivariance_bound(x_norm, y_norm)
    for parity in (1, -1):
        R = parity * random_rotation(jax.random.PRNGKey(7), dtype=jnp.float64)
        D = D_from_matrix(cp.irreps_in, R)
        diff = cp(x @ D.T, vectors @ R.T, w) - cp(x, vectors, w) @ D.T
        eq_error = _per_channel_norms(diff, cp.irreps_out, C)
        assert np.all(eq_error <= bound * (1 + 1e-9))
        if tol >= 1e-2:
            assert float(eq_error.max()) > 1e-8  # a lossy rank really breaks equivariance


def test_shipped_factors_load_without_fitting():
    for L in (1, 2):
        irreps = natural_irreps(L)
        f = cp_factors(irreps, L, irreps, tol=1e-6, fit=False)
        assert f.rel_error <= 1e-6
        M = shared_cg_tensor(irreps, L, irreps)
        assert f.A.shape == (M.shape[0], f.rank)


def test_gradients_match_finite_differences():
    irreps = "2x0e + 2x1o + 2x2e"
    conv = edge_convolution(irreps, irreps, 2, method="cp", tol=1e-6)
    x, vectors, w = _inputs(conv, edges=3, seed=3)
    check_grads(
        jax.jit(lambda v, x_, w_: conv(x_, v, w_)), (vectors, x, w), order=2, modes=("rev",)
    )


def test_als_recovers_a_low_rank_tensor():
    rng = np.random.default_rng(1)
    M = cp_reconstruct(*(rng.standard_normal((d, 4)) for d in (5, 6, 7)))
    fit = cp_als(M, 4, n_init=3)
    assert fit.rank == 4 and fit.rel_error < 1e-7
    np.testing.assert_allclose(
        fit.rel_error, np.linalg.norm(cp_reconstruct(fit.A, fit.B, fit.C) - M) / np.linalg.norm(M)
    )
    low = cp_als(M, 2)
    assert low.rel_error > 1e-2  # rank 2 cannot represent a generic rank-4 tensor


def test_fixed_rank_fit_reports_its_error():
    f = fit_cp_factors("0e + 1o", 1, "0e + 1o", tol=1e-6, rank=4)
    assert f.rank == 4 and f.rel_error > 0.1  # the rank-4 fit of the L=1 tensor is lossy


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="same multiplicity"):
        edge_convolution("2x0e + 3x1o", "2x0e", 1, method="cp")
    with pytest.raises(ValueError, match="tol must be a positive"):
        cp_factors("0e", 1, "0e", tol=0.0)
    with pytest.raises(ValueError, match="no cached CP factors .* pass fit=True"):
        cp_factors("0e + 1e", 1, "0e + 1e", tol=1e-6, fit=False)
    with pytest.raises(ValueError, match="rank must be a positive int"):
        cp_als(np.ones((2, 2, 2)), 0)
    with pytest.raises(ValueError, match="no path"):
        edge_convolution("2x0e", "2x1e", 1, method="cp")
