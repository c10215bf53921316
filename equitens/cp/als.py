"""CP decomposition of a 3-way tensor by alternating least squares (float64, numpy).

``M[i, j, k] ~ sum_r A[i, r] B[j, r] C[k, r]``. Each step solves for one factor exactly given the
other two (a linear least-squares problem whose normal equations use the Hadamard product of the
two Gram matrices), so the Frobenius error never increases. Used offline to fit the fixed
path-summed Clebsch-Gordan tensor of path-weight-shared products (TDN; reference section 3):
deterministic for a seed, and it optimises the same objective as TDN's gradient-based fit.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

__all__ = ["CPFit", "cp_als", "cp_reconstruct"]


@dataclasses.dataclass(frozen=True, eq=False)
class CPFit:
    """Result of :func:`cp_als`.

    Attributes:
        A: ``(d1, R)`` factor of the first axis.
        B: ``(d2, R)`` factor of the second axis.
        C: ``(d3, R)`` factor of the third axis.
        rel_error: ``||M - M_hat||_F / ||M||_F``, recomputed from the reconstruction.
        iterations: ALS sweeps run (best start).
        seconds: wall time of the whole fit (all starts).
    """

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    rel_error: float
    iterations: int
    seconds: float

    @property
    def rank(self) -> int:
        """The number of rank-one terms ``R``."""
        return self.A.shape[1]


def cp_reconstruct(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``M_hat[i, j, k] = sum_r A[i, r] B[j, r] C[k, r]``.

    Examples:
        >>> import numpy as np
        >>> cp_reconstruct(np.ones((2, 1)), np.ones((3, 1)), np.ones((4, 1))).shape
        (2, 3, 4)
    """
    return np.einsum("ir,jr,kr->ijk", A, B, C, optimize=True)


def _khatri_rao(B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Column-wise Kronecker product, ``(d2 * d3, R)`` with row index ``j * d3 + k``."""
    return (B[:, None, :] * C[None, :, :]).reshape(-1, B.shape[1])


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``rhs @ gram^{-1}`` for a symmetric positive semidefinite ``gram`` (ridge if singular)."""
    try:
        factor = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        scale = np.trace(gram) / len(gram)
        factor = np.linalg.cholesky(gram + 1e-12 * scale * np.eye(len(gram)))
    y = np.linalg.solve(factor, rhs.T)
    return np.linalg.solve(factor.T, y).T


def _error2(norm2: float, A, B, C, mttkrp_c: np.ndarray) -> float:
    """``||M - M_hat||^2`` from the last MTTKRP (no reconstruction)."""
    gram = (A.T @ A) * (B.T @ B) * (C.T @ C)
    return max(norm2 - 2.0 * float(np.sum(C * mttkrp_c)) + float(gram.sum()), 0.0)


def _one_start(
    M: np.ndarray, rank: int, rng: np.random.Generator, max_iter: int, tol: float, stall: float
):
    d1, d2, d3 = M.shape
    M1 = M.reshape(d1, d2 * d3)
    M2 = np.moveaxis(M, 1, 0).reshape(d2, d1 * d3)
    M3 = np.moveaxis(M, 2, 0).reshape(d3, d1 * d2)
    norm2 = float(np.sum(M * M))
    B = rng.standard_normal((d2, rank))
    C = rng.standard_normal((d3, rank))
    A = np.zeros((d1, rank))
    previous, it, old = np.inf, 0, None
    for it in range(1, max_iter + 1):
        A = _solve((B.T @ B) * (C.T @ C), M1 @ _khatri_rao(B, C))
        B = _solve((A.T @ A) * (C.T @ C), M2 @ _khatri_rao(A, C))
        mttkrp = M3 @ _khatri_rao(A, B)
        C = _solve((A.T @ A) * (B.T @ B), mttkrp)
        # balance the column norms (no effect on M_hat, keeps the normal equations well scaled)
        norms = [np.linalg.norm(F, axis=0) + 1e-300 for F in (A, B, C)]
        common = np.cbrt(norms[0] * norms[1] * norms[2])
        A, B, C = A * (common / norms[0]), B * (common / norms[1]), C * (common / norms[2])
        error2 = _error2(norm2, A, B, C, M3 @ _khatri_rao(A, B))
        # line search (extrapolation along the last step, Bro 1998): accepted only if better
        if old is not None and it > 3:
            step = it ** (1.0 / 3.0)
            trial = [F + step * (F - G) for F, G in zip((A, B, C), old, strict=True)]
            trial_error2 = _error2(norm2, *trial, M3 @ _khatri_rao(trial[0], trial[1]))
            if trial_error2 < error2:
                A, B, C = trial
                error2 = trial_error2
        old = (A, B, C)
        error = np.sqrt(error2 / norm2)
        if error <= tol:
            break
        if it % 10 == 0:
            if previous - error < stall * previous:
                break
            previous = error
    error = float(np.linalg.norm(cp_reconstruct(A, B, C) - M) / np.sqrt(norm2))
    return A, B, C, error, it


def cp_als(
    tensor: np.ndarray,
    rank: int,
    *,
    tol: float = 1e-10,
    max_iter: int = 2000,
    n_init: int = 2,
    seed: int = 0,
    stall: float = 1e-5,
) -> CPFit:
    """Fit a rank-``R`` CP decomposition by ALS, best of ``n_init`` random starts.

    Args:
        tensor: the 3-way array ``M`` (converted to float64).
        rank: the number of rank-one terms ``R``.
        tol: stop a start once ``||M - M_hat||_F / ||M||_F <= tol``.
        max_iter: most ALS sweeps per start.
        n_init: random starts (the best is kept; starts stop early once one reaches ``tol``).
        seed: seed of the random starts.
        stall: stop a start when the error improves by less than this fraction in 5 sweeps.

    Returns:
        The :class:`CPFit`.

    Raises:
        ValueError: for a tensor that is not 3-way or a non-positive rank.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> M = cp_reconstruct(*(rng.standard_normal((d, 3)) for d in (4, 5, 6)))
        >>> fit = cp_als(M, 3)
        >>> fit.rel_error < 1e-6
        True
    """
    M = np.asarray(tensor, dtype=np.float64)
    if M.ndim != 3:
        raise ValueError(f"cp_als needs a 3-way tensor, got shape {M.shape}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(max(1, n_init)):
        result = _one_start(M, int(rank), rng, max_iter, tol, stall)
        if best is None or result[3] < best[3]:
            best = result
        if best[3] <= tol:
            break
    A, B, C, error, iterations = best
    return CPFit(A, B, C, error, iterations, time.perf_counter() - start)
