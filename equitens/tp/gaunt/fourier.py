"""The Gaunt tensor product through 2D Fourier series (``method="gaunt_fourier"``, Luo et al. 2024).

On the torus ``(theta, phi) in [0, 2 pi)^2`` the unit vector
``n = (sin theta sin phi, cos theta, sin theta cos phi)`` makes every real harmonic a trigonometric
polynomial, ``Y_lm = sum_{|u|, |v| <= l} y^{lm}_{uv} e^{i (u theta + v phi)}`` (non-zero only for
``v = +-m``). A product of functions is then the 2D convolution of their coefficient arrays:

1. SH -> Fourier, ``F[u, v] = sum_lm x_lm y^{lm}_{uv}``, with exact tables: the FFT of the
   polynomial extension sampled on ``2 l + 2`` uniform points (band-limited, so exact in float64);
2. the convolution ``F1 * F2``: by zero-padded real 2D FFTs (``"fft"``: inverse FFT of each
   half spectrum = samples on the ``n x n`` torus grid, ``n = 2 (l1 + l2) + 1``, product, forward
   FFT), by the same transforms as matrix products (``"dft"``, with the ``theta`` step folded into
   the tables), by those composed into one dense matrix each way and folded by the symmetry
   ``f(2 pi - theta, phi + pi) = f(theta, phi)`` of the torus extension (``"dense"``: half the
   points), or directly as a sum of shifted products (``"direct"``); ``"auto"`` picks the fastest
   measured on CPU (``"dense"`` up to ``l1 + l2 = 24``, the FFTs above);
3. Fourier -> SH, ``out_lm = sum_uv G[u, v] z^{lm}_{uv}`` with
   ``z^{lm}_{uv} = integral e^{i (u theta + v phi)} Y_lm dOmega``, in closed form from
   ``I(k) = integral_0^pi e^{i k theta} sin theta dtheta = (1 + (-1)^k) / (1 - k^2)``
   (``I(+-1) = +-i pi / 2``) and the ``y`` tables. No numerical quadrature anywhere.

The result is the same Gaunt contraction as ``method="gaunt_grid"`` (up to rounding); this file
holds the whole method. The torus double-covers the sphere; folded by that symmetry, the dense
form touches about as many points as the Gauss-Legendre grid of ``"gaunt_grid"``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.legendre import normalized_legendre
from equitens.tp.gaunt.plan import GauntProduct, make_kernel
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import register_method
from equitens.tp.spec import TensorProductSpec

__all__ = ["gaunt_fourier_kernel", "fourier_product", "sh_to_fourier_table", "fourier_to_sh_table"]

# How the convolution is computed (Plan.fourier_convolution): "fft" (zero-padded real 2D FFTs),
# "dft" (the same transforms as separable matrix products), "dense" (those composed into one
# matrix each way and folded by the torus symmetry), "direct" (sum of shifted products) or "auto".
# Measured on a 2-core CPU, batch 10 000, float32, forward of 0..L x 0..L -> 0..2L: at L = 6 fft
# 301 ms, dft 255 ms, dense (unfolded) 139 ms, dense (folded) about the time of gaunt_grid; direct
# is slower than dense already at L = 1 (7.4 vs 1.4 ms). So "auto" uses "dense" while
# lmax1 + lmax2 <= _DENSE_MAX_DEGREE (its O(L^4) tables stay small) and the FFTs above.
_DENSE_MAX_DEGREE = 24


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def _theta_coefficients(lmax: int) -> np.ndarray:
    """``t[l, m, u + lmax]``: ``Theta_lm(theta) = sum_u t e^{i u theta}``, with
    ``Y_l,+-m = Theta_lm cos|sin(m phi)``.

    ``Theta_lm`` is the polar part of the orthonormal harmonic extended to ``theta in [0, 2 pi)``:
    ``sign(sin theta)^m Lambda_l^m(cos theta) c_m`` (``Lambda`` uses ``|sin theta|``).
    """
    n = 2 * lmax + 2
    theta = 2 * np.pi * np.arange(n) / n
    lam = normalized_legendre(lmax, np.cos(theta))  # (m, l, n)
    c = np.full(lmax + 1, 1 / np.sqrt(np.pi))
    c[0] = 1 / np.sqrt(2 * np.pi)
    sign = np.sign(np.sin(theta))
    m = np.arange(lmax + 1)
    values = lam * c[:, None, None] * sign[None, None, :] ** m[:, None, None]  # (m, l, n)
    coef = np.fft.fft(values, axis=-1) / n  # index u mod n
    u = np.arange(-lmax, lmax + 1)
    out = coef[..., u % n].transpose(1, 0, 2)  # (l, m, u)
    out = np.where(np.abs(out) < 1e-15 * np.abs(out).max(), 0.0, out)
    return _readonly(out)


def _i_theta(k: np.ndarray) -> np.ndarray:
    """``I(k) = integral_0^pi e^{i k theta} sin(theta) dtheta`` in closed form."""
    k = np.asarray(k)
    out = np.zeros(k.shape, complex)
    even = k % 2 == 0
    out[even] = 2.0 / (1.0 - k[even].astype(float) ** 2)
    out[k == 1] = 1j * np.pi / 2
    out[k == -1] = -1j * np.pi / 2
    return out


@functools.cache
def sh_to_fourier_table(lmax: int) -> np.ndarray:
    """``M[(l, m), (u, v)]`` complex: ``F[u, v] = sum x_lm M`` with
    ``f = sum F e^{i (u theta + v phi)}``.

    Args:
        lmax: band limit.

    Returns:
        Read-only complex128 array ``((lmax + 1)^2, (2 lmax + 1)^2)``, ``(u, v)`` row-major with
        ``u, v = -lmax..lmax``.

    Examples:
        >>> M = sh_to_fourier_table(1)
        >>> M.shape
        (4, 9)
    """
    t = _theta_coefficients(lmax)
    size = 2 * lmax + 1
    out = np.zeros(((lmax + 1) ** 2, size, size), complex)
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            row = l * l + l + m
            a = abs(m)
            tu = t[l, a]  # (size,)
            if m == 0:
                out[row, :, lmax] = tu
            elif m > 0:  # cos(m phi) = (e^{i m phi} + e^{-i m phi}) / 2
                out[row, :, lmax + a] = tu / 2
                out[row, :, lmax - a] = tu / 2
            else:  # sin(m phi) = (e^{i m phi} - e^{-i m phi}) / (2 i)
                out[row, :, lmax + a] = tu / (2j)
                out[row, :, lmax - a] = -tu / (2j)
    return _readonly(out.reshape((lmax + 1) ** 2, size * size))


@functools.cache
def fourier_to_sh_table(lmax_in: int, lmax: int) -> np.ndarray:
    """``Z[(u, v), (l, m)]``: ``out_lm = Re sum_uv G[u, v] Z`` = ``integral f Y_lm dOmega``.

    Args:
        lmax_in: band limit of the Fourier series (``|u|, |v| <= lmax_in``).
        lmax: largest output degree.

    Returns:
        Read-only complex128 array ``((2 lmax_in + 1)^2, (lmax + 1)^2)``.

    Examples:
        >>> fourier_to_sh_table(2, 1).shape
        (25, 4)
    """
    t = _theta_coefficients(lmax)
    size = 2 * lmax_in + 1
    u = np.arange(-lmax_in, lmax_in + 1)
    up = np.arange(-lmax, lmax + 1)
    theta_int = t @ _i_theta(u[None, :] + up[:, None])  # (l, m, u): sum_u' t(u') I(u + u')
    out = np.zeros((size, size, (lmax + 1) ** 2), complex)
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            col = l * l + l + m
            a = abs(m)
            w = theta_int[l, a]  # (size,)
            if a > lmax_in:
                continue
            if m == 0:  # integral of e^{i v phi} over phi = 2 pi delta_v0
                out[:, lmax_in, col] = 2 * np.pi * w
            elif m > 0:  # integral e^{i v phi} cos(m phi) = pi (delta_{v,m} + delta_{v,-m})
                out[:, lmax_in + a, col] = np.pi * w
                out[:, lmax_in - a, col] = np.pi * w
            else:  # integral e^{i v phi} sin(m phi) = i pi (delta_{v,m} - delta_{v,-m})
                out[:, lmax_in + a, col] = 1j * np.pi * w
                out[:, lmax_in - a, col] = -1j * np.pi * w
    return _readonly(out.reshape(size * size, (lmax + 1) ** 2))


def _to_fourier(x: jax.Array, lmax: int) -> jax.Array:
    """Real coefficients ``(..., (lmax + 1)^2)`` -> complex ``F (..., 2 lmax + 1, 2 lmax + 1)``."""
    m = sh_to_fourier_table(lmax)
    dtype = x.dtype
    re = x @ jnp.asarray(m.real, dtype)
    im = x @ jnp.asarray(m.imag, dtype)
    size = 2 * lmax + 1
    return jax.lax.complex(re, im).reshape(x.shape[:-1] + (size, size))


@functools.cache
def _half_tables(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary parts of the SH -> Fourier table restricted to ``v = 0..lmax``.

    A real function's coefficients satisfy ``F[-u, -v] = conj F[u, v]``: the half ``v >= 0`` holds
    everything and is what the real FFTs take. Shapes ``((lmax + 1)^2, (2 lmax + 1) (lmax + 1))``.
    """
    size = 2 * lmax + 1
    m = sh_to_fourier_table(lmax).reshape(-1, size, size)[:, :, lmax:]
    flat = m.reshape(m.shape[0], -1)
    return _readonly(flat.real.copy()), _readonly(flat.imag.copy())


@functools.cache
def _back_tables(lmax_in: int, lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """The Fourier -> SH step, m-blocked: ``W[m]`` maps ``(Re G[:, m], Im G[:, m])`` (u centred,
    ``|u| <= lmax_in``) to ``out[l, +m]`` and ``out[l, -m]`` (``l = 0..lmax``, zero for ``l < m``),
    and the gather index from that m-major layout to l-major.

    ``out = Re sum_{all u, v} G Z = sum_{v = 0} Re(G Z) + 2 sum_{v > 0} Re(G Z)`` (both ``G`` and
    ``Z`` are Hermitian: the functions are real), and ``Z[:, v]`` is non-zero only for ``v = +-m``.
    """
    size = 2 * lmax_in + 1
    z = fourier_to_sh_table(lmax_in, lmax).reshape(size, size, -1)  # (u, v, (l, m))
    n_m = min(lmax, lmax_in) + 1
    w = np.zeros((n_m, 2 * size, 2 * (lmax + 1)))
    for m in range(n_m):
        factor = 1.0 if m == 0 else 2.0
        zc = z[:, lmax_in + m, :]  # (u, (l, m'))
        for l in range(m, lmax + 1):
            for j, mm in enumerate((m, -m)):
                col = l * l + l + mm
                # Re(G Z) = Re G Re Z - Im G Im Z
                w[m, :size, j * (lmax + 1) + l] = factor * zc[:, col].real
                w[m, size:, j * (lmax + 1) + l] = -factor * zc[:, col].imag
    index = np.zeros((lmax + 1) ** 2, np.int32)
    for l in range(lmax + 1):
        for mm in range(-l, l + 1):
            m, j = abs(mm), (0 if mm >= 0 else 1)
            index[l * l + l + mm] = m * 2 * (lmax + 1) + j * (lmax + 1) + l if m < n_m else 0
    return _readonly(w), _readonly(index)


def _from_half(g_re: jax.Array, g_im: jax.Array, lmax_in: int, lmax: int) -> jax.Array:
    """SH coefficients from the half spectrum ``G[u, v]``, ``u`` centred, ``v = 0..>= lmax``."""
    w, index = _back_tables(lmax_in, lmax)
    n_m = w.shape[0]
    g = jnp.concatenate([g_re[..., :n_m], g_im[..., :n_m]], axis=-2)  # (..., 2 size, m)
    out = jnp.einsum("...km,mkj->...mj", g, jnp.asarray(w, g_re.dtype))
    out = out.reshape(out.shape[:-2] + (-1,))
    return out[..., index]


def _product_fft(a: jax.Array, b: jax.Array, l1: int, l2: int, lo: int, pairs: bool) -> jax.Array:
    """The convolution with real 2D FFTs: zero-padded half spectra -> ``irfft2`` -> product ->
    ``rfft2`` (the transforms of a zero-padded convolution of Hermitian arrays)."""
    lg = l1 + l2
    n = 2 * lg + 1
    dtype = a.dtype

    def spectrum(x, l):  # (..., (l + 1)^2) -> half spectrum padded to (n, lg + 1), u = 0 first
        t_re, t_im = _half_tables(l)
        re = (x @ jnp.asarray(t_re, dtype)).reshape(x.shape[:-1] + (2 * l + 1, l + 1))
        im = (x @ jnp.asarray(t_im, dtype)).reshape(x.shape[:-1] + (2 * l + 1, l + 1))
        f = jax.lax.complex(re, im)
        f = jnp.pad(f, [(0, 0)] * (f.ndim - 2) + [(0, n - 2 * l - 1), (0, lg - l)])
        return jnp.roll(f, -l, axis=-2)

    f1 = jnp.fft.irfft2(spectrum(a, l1), s=(n, n))
    f2 = jnp.fft.irfft2(spectrum(b, l2), s=(n, n))
    if pairs:
        e, u, v = f1.shape[0], f1.shape[1], f2.shape[1]
        values = (f1[:, :, None] * f2[:, None, :]).reshape(e, u * v, n, n)
    else:
        values = f1 * f2
    g = jnp.roll(jnp.fft.rfft2(values), lg, axis=-2) * (n * n)  # the n^2 of irfft2, twice, once
    return _from_half(jnp.real(g).astype(dtype), jnp.imag(g).astype(dtype), lg, lo)


@functools.cache
def _dft_tables(l: int, lg: int, lo: int) -> tuple[np.ndarray, ...]:
    """Tables of the convolution by matrix-product DFTs on the ``n x n`` torus, ``n = 2 lg + 1``.

    The zero-padded 2D FFT of a half spectrum is, column by column, a DFT in ``u`` (``theta``)
    then in ``v`` (``phi``). Here the ``u`` step is folded into the SH -> Fourier table
    (``P = T . DFT_u``: coefficients -> ``g[theta_j, v]``) and, on the way back, the inverse ``u``
    step into the m-blocked Fourier -> SH table (``W'[m] = K^T W[m]``); the ``v`` steps are
    products with ``cos(v phi_k)``, ``sin(v phi_k)``. Same numbers as the FFTs, fewer passes.
    """
    n = 2 * lg + 1
    ang = 2 * np.pi * np.arange(n) / n
    size = 2 * l + 1
    u = np.arange(-l, l + 1)
    e = np.exp(1j * np.outer(ang, u))  # (j, u)
    t = sh_to_fourier_table(l).reshape(-1, size, size)[:, :, l:]  # (c, u, v >= 0)
    g = np.einsum("ju,cuv->cjv", e, t).reshape(t.shape[0], -1)  # (c, (j, v))
    v = np.arange(l + 1)
    weight = np.where(v == 0, 1.0, 2.0)[:, None]
    cos_v = weight * np.cos(np.outer(v, ang))  # (v, k): f = sum_v c_v Re(g_v e^{i v phi})
    sin_v = -weight * np.sin(np.outer(v, ang))
    w, _ = _back_tables(lg, lo)
    n_m = w.shape[0]
    uu = np.arange(-lg, lg + 1)
    k = np.exp(-1j * np.outer(uu, ang)) / (n * n)  # (u, j): G[u, v] = sum_j h[j, v] k[u, j]
    # [G_re; G_im] = K [h_re; h_im] with K = [[Re k, -Im k], [Im k, Re k]]
    big_k = np.block([[k.real, -k.imag], [k.imag, k.real]])  # (2 size_g, 2 n)
    w_back = np.einsum("ak,mab->mkb", big_k, w)  # (m, 2 n, 2 (lo + 1))
    back_v = np.arange(n_m)
    back_cos = np.cos(np.outer(back_v, ang))  # h[j, v] = sum_k p[j, k] e^{-i v phi_k}
    back_sin = -np.sin(np.outer(back_v, ang))
    tables = (g.real.copy(), g.imag.copy(), cos_v, sin_v, w_back, back_cos, back_sin)
    return tuple(_readonly(np.ascontiguousarray(a)) for a in tables)


def _product_dft(a: jax.Array, b: jax.Array, l1: int, l2: int, lo: int, pairs: bool) -> jax.Array:
    """The convolution with the DFTs as matrix products (see :func:`_dft_tables`)."""
    lg = l1 + l2
    n = 2 * lg + 1
    dtype = a.dtype

    def samples(x, l):
        g_re, g_im, cos_v, sin_v = (jnp.asarray(t, dtype) for t in _dft_tables(l, lg, lo)[:4])
        shape = x.shape[:-1] + (n, l + 1)
        re, im = (x @ g_re).reshape(shape), (x @ g_im).reshape(shape)
        return re @ cos_v + im @ sin_v  # (..., n (theta), n (phi))

    f1, f2 = samples(a, l1), samples(b, l2)
    if pairs:
        e, u, v = f1.shape[0], f1.shape[1], f2.shape[1]
        values = (f1[:, :, None] * f2[:, None, :]).reshape(e, u * v, n, n)
    else:
        values = f1 * f2
    _, _, _, _, w_back, back_cos, back_sin = (
        jnp.asarray(t, dtype) for t in _dft_tables(l1, lg, lo)
    )
    h = jnp.concatenate([values @ back_cos.T, values @ back_sin.T], axis=-2)  # (..., 2 n, m)
    out = jnp.einsum("...km,mkj->...mj", h, w_back)
    _, index = _back_tables(lg, lo)
    return out.reshape(out.shape[:-2] + (-1,))[..., index]


@functools.cache
def _dense_tables(l: int, lg: int, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's transforms as two dense matrices, folded by the torus symmetry.

    On the torus grid ``theta_j = 2 pi j / (2 lg + 1)``, ``phi_k = 2 pi k / (2 lg + 2)`` (no
    aliasing of ``|u|, |v| <= lg``), ``S[(l, m), (j, k)]`` maps coefficients to samples (the
    inverse 2D DFT of the zero-padded spectrum ``F = x . y-table``) and ``B[(j, k), (l, m)]`` maps
    samples of the product to SH (the 2D DFT giving ``G``, then ``Re G . z-table``). The torus
    extension double-covers the sphere, ``f(2 pi - theta, phi + pi) = f(theta, phi)``, so the rows
    ``j > lg`` repeat rows ``2 lg + 1 - j`` shifted by half a turn in ``phi``: they are dropped from
    ``S`` and their columns of ``B`` added to those rows. Same numbers, half the work.
    """
    n_t, n_p = 2 * lg + 1, 2 * lg + 2
    theta = 2 * np.pi * np.arange(n_t) / n_t
    phi = 2 * np.pi * np.arange(n_p) / n_p
    size = 2 * l + 1
    u = np.arange(-l, l + 1)
    f = sh_to_fourier_table(l).reshape(-1, size, size)  # (c, u, v)
    e_t = np.exp(1j * np.outer(theta[: lg + 1], u))  # (j, u), rows j <= lg only
    e_p = np.exp(1j * np.outer(phi, u))  # (k, v)
    sample = np.einsum("ju,cuv,kv->cjk", e_t, f, e_p, optimize=True).real.reshape(f.shape[0], -1)
    ug = np.arange(-lg, lg + 1)
    z = fourier_to_sh_table(lg, lo).reshape(2 * lg + 1, 2 * lg + 1, -1)  # (u, v, col)
    zv = np.einsum("kv,uvc->ukc", np.exp(-1j * np.outer(phi, ug)), z, optimize=True)
    back = np.einsum("ju,ukc->jkc", np.exp(-1j * np.outer(theta, ug)), zv, optimize=True).real
    back /= n_t * n_p
    folded = back[: lg + 1].copy()
    for j in range(1, lg + 1):  # row n_t - j at phi + pi is row j
        folded[j] += np.roll(back[n_t - j], -(n_p // 2), axis=0)
    return _readonly(np.ascontiguousarray(sample)), _readonly(folded.reshape(-1, folded.shape[-1]))


def _product_dense(a: jax.Array, b: jax.Array, l1: int, l2: int, lo: int, pairs: bool) -> jax.Array:
    """The convolution with the composed dense DFT tables (:func:`_dense_tables`)."""
    lg = l1 + l2
    dtype = a.dtype
    s1, back = (jnp.asarray(t, dtype) for t in _dense_tables(l1, lg, lo))
    s2 = jnp.asarray(_dense_tables(l2, lg, lo)[0], dtype)
    f1, f2 = a @ s1, b @ s2
    if pairs:
        e, u, v = f1.shape[0], f1.shape[1], f2.shape[1]
        values = (f1[:, :, None] * f2[:, None, :]).reshape(e, u * v, -1)
    else:
        values = f1 * f2
    return values @ back


def _convolve_direct(f1: jax.Array, f2: jax.Array, l1: int, l2: int) -> jax.Array:
    """Linear 2D convolution as a sum of shifted products (``(2 l1 + 1)^2`` terms)."""
    lg = l1 + l2
    n1, n2 = 2 * l1 + 1, 2 * l2 + 1
    n = 2 * lg + 1
    out = jnp.zeros(jnp.broadcast_shapes(f1.shape[:-2], f2.shape[:-2]) + (n, n), f1.dtype)
    for a in range(n1):
        for b in range(n1):
            out = out.at[..., a : a + n2, b : b + n2].add(f1[..., a : a + 1, b : b + 1] * f2)
    return out


def fourier_product(
    a: jax.Array, b: jax.Array, product: GauntProduct, pairs: bool, convolution: str = "auto"
) -> jax.Array:
    """The Gaunt product of coefficient arrays through 2D Fourier series.

    Args:
        a: ``(E, U, (lmax1 + 1)^2)`` coefficients (orthonormal harmonics).
        b: ``(E, V, (lmax2 + 1)^2)``.
        product: the degrees.
        pairs: all channel pairs or matching channels.

    Returns:
        ``(E, U * V | U, (lmax_out + 1)^2)``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from equitens.so3 import gaunt
        >>> p = GauntProduct((0,), (0,), (0,), 1, 1, 2)
        >>> x, y = jnp.array([0.0, 1.0, 2.0, 3.0]), jnp.array([0.0, -1.0, 0.5, 2.0])
        >>> out = fourier_product(x[None, None], y[None, None], p, pairs=True)[0, 0, 4:]
        >>> bool(np.allclose(out, np.einsum("i,j,ijk->k", x[1:], y[1:], gaunt(1, 1, 2))))
        True
    """
    l1, l2, lo = product.lmax1, product.lmax2, product.lmax_out
    mode = convolution
    if mode == "auto":
        mode = "dense" if l1 + l2 <= _DENSE_MAX_DEGREE else "fft"
    if mode == "fft":
        return _product_fft(a, b, l1, l2, lo, pairs)
    if mode == "dft":
        return _product_dft(a, b, l1, l2, lo, pairs)
    if mode == "dense":
        return _product_dense(a, b, l1, l2, lo, pairs)
    f1, f2 = _to_fourier(a, l1), _to_fourier(b, l2)
    if pairs:
        e, u, v = f1.shape[0], f1.shape[1], f2.shape[1]
        f1, f2 = f1[:, :, None], f2[:, None, :]
    g = _convolve_direct(f2, f1, l2, l1) if l1 > l2 else _convolve_direct(f1, f2, l1, l2)
    lg = l1 + l2
    half = g[..., lg:]  # v = 0..lg, u centred
    out = _from_half(jnp.real(half).astype(a.dtype), jnp.imag(half).astype(a.dtype), lg, lo)
    if pairs:
        out = out.reshape(e, u * v, out.shape[-1])
    return out


def _fourier_even(a, b, product: GauntProduct, pairs: bool, plan: Plan):
    if product.odd:
        raise ValueError("gaunt_fourier evaluates even paths only; use method='vector_gaunt'")
    return fourier_product(a, b, product, pairs, plan.fourier_convolution)


def gaunt_fourier_kernel(spec: TensorProductSpec, plan: Plan = DEFAULT_PLAN):
    """The 2D-Fourier Gaunt kernel (registered as ``method="gaunt_fourier"``).

    Same semantics and same accepted specs as ``"gaunt_grid"`` (every path with the Gaunt tensor;
    unweighted ``"uvuv"``/``"uuu"``; even paths; all parity sectors).

    Args:
        spec: the tensor product.

    Returns:
        ``kernel(x1, x2, weights=None) -> out``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> from equitens.tp.gaunt.plan import gaunt_spec
        >>> from equitens.tp.gaunt.grid import gaunt_grid_kernel
        >>> spec = gaunt_spec("0e + 1o + 2e", "0e + 1o")
        >>> x, y = jnp.arange(9.0), jnp.array([1.0, -1.0, 2.0, 0.5])
        >>> bool(np.allclose(gaunt_fourier_kernel(spec)(x, y), gaunt_grid_kernel(spec)(x, y)))
        True
    """
    return make_kernel(spec, "gaunt_fourier", _fourier_even, plan)


register_method("gaunt_fourier", gaunt_fourier_kernel)
