"""CP factors of the path-weight-shared Clebsch-Gordan tensor, fitted once and cached.

With one weight per channel shared by all paths (TDN), the channelwise edge convolution
``x (x) Y(edge)`` is ``w[u] * M(x[u], Y)`` for one *fixed* bilinear map

    ``M[i, j, k] = sum_paths c_path C^{l1 l2 l3}[i, j, k]``

(each path embedded in its block, ``c_path`` the ``"cg"`` conv's normalisation), so ``M`` can be
decomposed once, offline: ``M ~ M_hat = sum_r A[:, r] (x) B[:, r] (x) C[:, r]``. The rank is not
fixed (TDN's ``7 L^2`` is lossy from ``L = 3``, reference section 3.4): :func:`cp_factors` returns
the smallest cached or fitted rank whose measured relative error ``||M_hat - M||_F / ||M||_F`` is at
most the requested ``tol``. Every factor set carries its errors, and the SO(3)-equivariance error
of the approximate product obeys the uniform bound (reference section 3.3)

    ``||M_hat(D x, D y) - D M_hat(x, y)|| <= 2 ||M_hat - M||_F ||x|| ||y||``

(:meth:`CPFactors.equivariance_bound`).

Cache, searched in order: memory; the package data ``equitens/cp/data/`` (shipped fits of the
common case, irreps ``0e + 1o + 2e + ...`` in and out, harmonics up to the same ``L``); the user
cache directory (``$EQUITENS_CACHE`` or ``~/.cache/equitens/cp``), where new fits are written.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from equitens.cp.als import cp_als, cp_reconstruct
from equitens.so3.irreps import Irreps

__all__ = [
    "CPFactors",
    "shared_cg_tensor",
    "cp_factors",
    "fit_cp_factors",
    "save_factors",
    "DATA_DIR",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Where the shipped factor files live (package data)."""


def _single(irreps) -> Irreps:
    return Irreps([(1, ir) for _, ir in Irreps(irreps)])


def _key(irreps_in, lmax: int, irreps_out, path_normalization: str) -> str:
    return f"{_single(irreps_in)}|{lmax}|{_single(irreps_out)}|{path_normalization}"


@functools.cache
def _shared_cg_tensor(key: str) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    from equitens.tp.registry import tensor_product_kernel
    from equitens.tp.spec import TensorProductSpec

    irreps_in, lmax, irreps_out, path_normalization = key.split("|")
    irreps_in, irreps_out, lmax = Irreps(irreps_in), Irreps(irreps_out), int(lmax)
    sh = Irreps.spherical_harmonics(lmax)  # the edge harmonics (as conv.sh_irreps)
    spec = TensorProductSpec.channelwise(
        irreps_in, sh, irreps_out, path_normalization=path_normalization
    )
    kernel = tensor_product_kernel(spec)
    d1, d2 = irreps_in.dim, sh.dim
    with jax.enable_x64(True), jax.ensure_compile_time_eval():  # a constant, also under jit
        x = jnp.repeat(jnp.eye(d1, dtype=jnp.float64), d2, axis=0)
        y = jnp.tile(jnp.eye(d2, dtype=jnp.float64), (d1, 1))
        w = jnp.ones((spec.weight_numel,), jnp.float64)  # every path weight 1: shared
        M = np.asarray(kernel(x, y, w), dtype=np.float64).reshape(d1, d2, irreps_out.dim)
    M.setflags(write=False)
    return M


def shared_cg_tensor(
    irreps_in, lmax: int, irreps_out, *, path_normalization: str = "element"
) -> np.ndarray:
    """The fixed tensor ``M`` of the path-weight-shared channelwise CG edge product.

    ``M[i, j, k]`` is component ``k`` of ``cg_conv(x = e_i, Y = e_j)`` with every path weight 1
    (one channel; multiplicities are ignored), so that
    ``cg_conv(x, v, w_all_paths = w[u]) = w[u] * einsum("ijk,i,j->k", M, x[u], Y(v))``.

    Args:
        irreps_in: irreps of the sender features (multiplicities ignored).
        lmax: degree of the edge harmonics.
        irreps_out: irreps of the messages (multiplicities ignored).
        path_normalization: that of the ``"cg"`` conv.

    Returns:
        Read-only float64 array ``(d_in, (lmax+1)^2, d_out)`` (one-channel dims).

    Examples:
        >>> shared_cg_tensor("0e + 1o", 1, "0e + 1o").shape
        (4, 4, 4)
    """
    return _shared_cg_tensor(_key(irreps_in, lmax, irreps_out, path_normalization))


@dataclasses.dataclass(frozen=True, eq=False)
class CPFactors:
    """A CP decomposition of :func:`shared_cg_tensor` with its measured errors.

    Attributes:
        key: ``"irreps_in|lmax|irreps_out|path_normalization"`` (one-channel irreps).
        A: ``(d_in, R)`` float64 factor contracted with the features.
        B: ``(d_sh, R)`` factor contracted with the edge harmonics.
        C: ``(d_out, R)`` factor producing the output.
        rel_error: ``||M_hat - M||_F / ||M||_F`` (measured in float64).
        abs_error: ``||M_hat - M||_F``.
        fit_seconds: time the ALS fit took.

    Examples:
        >>> f = cp_factors("0e + 1o", 1, "0e + 1o", tol=1e-8)
        >>> f.rank <= 16 and f.rel_error <= 1e-8
        True
    """

    key: str
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    rel_error: float
    abs_error: float
    fit_seconds: float = 0.0

    @property
    def rank(self) -> int:
        """The number of rank-one terms ``R``."""
        return self.A.shape[1]

    def equivariance_bound(self, x_norm, y_norm):
        """``2 ||M_hat - M||_F ||x|| ||y||``: bound on ``||M_hat(Dx, Dy) - D M_hat(x, y)||``.

        Uniform over rotations (the Wigner matrices are orthogonal). Per channel, ``x`` the
        features of one channel and ``y`` the edge harmonics (``||Y|| = sqrt((lmax+1)^2)`` for unit
        vectors with component normalisation).

        Examples:
            >>> f = cp_factors("0e + 1o", 1, "0e + 1o", tol=1e-8)
            >>> bool(f.equivariance_bound(1.0, 2.0) == 4 * f.abs_error)
            True
        """
        return 2.0 * self.abs_error * x_norm * y_norm


def _check_and_wrap(key: str, A, B, C, fit_seconds: float = 0.0) -> CPFactors:
    M = _shared_cg_tensor(key)
    A, B, C = (np.array(F, dtype=np.float64) for F in (A, B, C))
    if (A.shape[0], B.shape[0], C.shape[0]) != M.shape:
        raise ValueError(
            f"CP factors of shapes {A.shape}, {B.shape}, {C.shape} do not fit M of shape {M.shape}"
        )
    abs_error = float(np.linalg.norm(cp_reconstruct(A, B, C) - M))  # always re-measured
    for F in (A, B, C):
        F.setflags(write=False)
    return CPFactors(key, A, B, C, abs_error / float(np.linalg.norm(M)), abs_error, fit_seconds)


def _file_stem(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _user_cache() -> Path:
    root = os.environ.get("EQUITENS_CACHE")
    return Path(root) / "cp" if root else Path.home() / ".cache" / "equitens" / "cp"


def save_factors(factors: CPFactors, directory: str | os.PathLike[str]) -> Path:
    """Write factors as ``<sha1(key)>-R<rank>.npz`` (key and errors inside).

    Args:
        factors: the factors.
        directory: where to write (created if needed).

    Returns:
        The file written.

    Examples:
        >>> import tempfile
        >>> f = cp_factors("0e + 1o", 1, "0e + 1o", tol=1e-8)
        >>> save_factors(f, tempfile.mkdtemp()).suffix
        '.npz'
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_file_stem(factors.key)}-R{factors.rank}.npz"
    meta = {"key": factors.key, "rel_error": factors.rel_error, "fit_seconds": factors.fit_seconds}
    np.savez_compressed(path, A=factors.A, B=factors.B, C=factors.C, meta=json.dumps(meta))
    return path


def _load_dir(directory: Path, key: str) -> list[CPFactors]:
    out = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob(f"{_file_stem(key)}-R*.npz")):
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("key") != key:
                continue
            out.append(
                _check_and_wrap(key, data["A"], data["B"], data["C"], meta.get("fit_seconds", 0.0))
            )
    return out


_MEMORY: dict[str, list[CPFactors]] = {}


def _rank_schedule(M: np.ndarray):
    """Ranks to try: from the largest dimension up by ~15% steps, to the trivial exact rank."""
    d1, d2, d3 = M.shape
    trivial = min(d1 * d2, d1 * d3, d2 * d3)
    rank = max(d1, d2, d3)
    while rank < trivial:
        yield rank
        rank = max(rank + 1, int(np.ceil(rank * 1.15)))
    yield trivial


def fit_cp_factors(
    irreps_in,
    lmax: int,
    irreps_out,
    *,
    tol: float,
    rank: int | None = None,
    path_normalization: str = "element",
    max_iter: int = 3000,
    n_init: int = 2,
    seed: int = 0,
) -> CPFactors:
    """Fit CP factors of :func:`shared_cg_tensor` by ALS (float64), no cache.

    Args:
        irreps_in: irreps of the sender features.
        lmax: degree of the edge harmonics.
        irreps_out: irreps of the messages.
        tol: target relative Frobenius error.
        rank: fit this rank only (the result may miss ``tol``); ``None`` searches ranks upwards
            from the largest dimension in ~15% steps until ``tol`` is met.
        path_normalization: that of the ``"cg"`` conv.
        max_iter: ALS sweeps per start.
        n_init: random starts per rank.
        seed: seed of the starts.

    Returns:
        The :class:`CPFactors` (errors measured).

    Examples:
        >>> f = fit_cp_factors("0e + 1o", 1, "0e + 1o", tol=1e-8)
        >>> f.rel_error <= 1e-8
        True
    """
    key = _key(irreps_in, lmax, irreps_out, path_normalization)
    M = _shared_cg_tensor(key)
    ranks = [rank] if rank is not None else _rank_schedule(M)
    total, fit = 0.0, None
    for r in ranks:
        fit = cp_als(M, int(r), tol=tol * 0.5, max_iter=max_iter, n_init=n_init, seed=seed)
        total += fit.seconds
        if fit.rel_error <= tol:
            break
    return _check_and_wrap(key, fit.A, fit.B, fit.C, total)


def cp_factors(
    irreps_in,
    lmax: int,
    irreps_out,
    *,
    tol: float = 1e-6,
    path_normalization: str = "element",
    fit: bool = True,
) -> CPFactors:
    """The cached CP factors of smallest rank with relative error ``<= tol`` (fitting if needed).

    Args:
        irreps_in: irreps of the sender features (multiplicities ignored).
        lmax: degree of the edge harmonics.
        irreps_out: irreps of the messages (multiplicities ignored).
        tol: largest acceptable ``||M_hat - M||_F / ||M||_F``.
        path_normalization: that of the ``"cg"`` conv.
        fit: fit (and cache in the user cache) when no cached factors meet ``tol``; with False
            a ``ValueError`` is raised instead.

    Returns:
        The :class:`CPFactors`.

    Raises:
        ValueError: for a non-positive ``tol``, or when nothing cached meets it and ``fit=False``.

    Examples:
        >>> f = cp_factors("0e + 1o + 2e", 2, "0e + 1o + 2e", tol=1e-6)
        >>> f.rel_error <= 1e-6
        True
    """
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a positive relative error such as 1e-6, got {tol!r}")
    key = _key(irreps_in, lmax, irreps_out, path_normalization)
    if key not in _MEMORY:
        _MEMORY[key] = _load_dir(DATA_DIR, key) + _load_dir(_user_cache(), key)
    good = [f for f in _MEMORY[key] if f.rel_error <= tol]
    if good:
        return min(good, key=lambda f: f.rank)
    if not fit:
        raise ValueError(
            f"no cached CP factors of {key} reach tol={tol:g}; pass fit=True to fit them (ALS, "
            "float64; seconds for lmax <= 2, about a minute at 3, tens of minutes from 4 on) or "
            "raise tol"
        )
    if lmax >= 4:
        warnings.warn(
            f"no cached CP factors of {key} reach tol={tol:g}: fitting them now (ALS in float64), "
            "which takes tens of minutes on a CPU from lmax 4 on. Build them once offline with "
            f"`python -m equitens.cp.build --lmax {lmax}`, or raise tol.",
            UserWarning,
            stacklevel=2,
        )
    factors = fit_cp_factors(
        irreps_in, lmax, irreps_out, tol=tol, path_normalization=path_normalization
    )
    try:
        save_factors(factors, _user_cache())
    except OSError:  # pragma: no cover - read-only home: keep it in memory only
        pass
    _MEMORY[key].append(factors)
    return factors
