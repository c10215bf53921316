"""The vector Gaunt product (``method="vector_gaunt"``): the odd paths scalar Gaunt drops.

The scalar Gaunt product ``f g`` is symmetric, so it has no antisymmetric couplings: every path
with ``l1 + l2 + l3`` odd (``1 x 1 -> 1``, the cross product; ``1 x 2 -> 2``; ``2 x 2 -> 1, 3``...)
is zero. The *vector* Gaunt product recovers them with the cross product of the surface gradients
(vector spherical harmonics ``Psi_lm = grad_S Y_lm``), whose normal component is a scalar function:

``(x (x)_V y)_{l3 m3} = integral n . (grad_S f_x  x  grad_S f_y) Y_{l3 m3} dOmega``.

It is an invariant trilinear form, so on each path it equals ``kappa_v(l1, l2, l3)`` times the unit
Clebsch-Gordan tensor (:func:`vector_gaunt_kappa`); by the parity of the integrand it vanishes on
even paths, and it vanishes when ``l1 = 0`` or ``l2 = 0`` (a constant has no gradient). Evaluation
uses ``n . (grad_S f x grad_S g) = n . (L f x L g)`` with ``L = n x grad`` the real angular
momentum, whose components act on coefficients by the real generators (``so3_generators``): three
functions per input are sampled on the grid exact for degree ``l1 + l2 + l3 - 1``, combined point
by point, and projected back. O(L^3), like the scalar product.

``method="vector_gaunt"`` evaluates a spec's even paths with the scalar Gaunt product and its odd
paths with the vector product: every parity-allowed path, each with a fixed coefficient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.clebsch_gordan import clebsch_gordan
from equitens.so3.generators import so3_generators
from equitens.so3.s2grid import S2Grid, from_s2grid, s2grid_matrix, to_s2grid
from equitens.tp.gaunt.grid import _OPTIONS, grid_product
from equitens.tp.gaunt.plan import GauntProduct, make_kernel
from equitens.tp.registry import register_method
from equitens.tp.spec import TensorProductSpec

__all__ = ["vector_gaunt", "vector_gaunt_kappa", "vector_product", "vector_gaunt_kernel"]


def _check_degree(l, name: str) -> int:
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
        raise ValueError(f"{name} must be a non-negative int, got {l!r}")
    return int(l)


@functools.cache
def _generators_up_to(lmax: int) -> np.ndarray:
    """Block-diagonal real generators ``(3, (lmax + 1)^2, (lmax + 1)^2)``."""
    dim = (lmax + 1) ** 2
    out = np.zeros((3, dim, dim))
    for l in range(lmax + 1):
        s = slice(l * l, (l + 1) ** 2)
        out[:, s, s] = so3_generators(l)
    out.setflags(write=False)
    return out


@functools.cache
def _vector_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """``V[m1, m2, m3] = integral n . (L Y1 x L Y2) Y3`` by exact quadrature (float64)."""
    grid = S2Grid.exact_for(l1 + l2 + l3 + 1)
    y1 = s2grid_matrix(l1, grid, "integral")[..., l1 * l1 :]  # (b, a, d1)
    y2 = s2grid_matrix(l2, grid, "integral")[..., l2 * l2 :]
    y3 = s2grid_matrix(l3, grid, "integral")[..., l3 * l3 :]
    a1 = np.einsum("ban,inm->ibam", y1, so3_generators(l1))  # L_i Y1_m up to a common sign
    a2 = np.einsum("ban,inm->ibam", y2, so3_generators(l2))
    n, w = grid.points, grid.weights
    eps = np.zeros((3, 3, 3))
    eps[0, 1, 2] = eps[1, 2, 0] = eps[2, 0, 1] = 1.0
    eps[0, 2, 1] = eps[2, 1, 0] = eps[1, 0, 2] = -1.0
    out = np.einsum("ijk,bai,jbap,kbaq,bar,ba->pqr", eps, n, a1, a2, y3, w, optimize=True)
    out.setflags(write=False)
    return out


@functools.cache
def _vector_gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    if not abs(l1 - l2) <= l3 <= l1 + l2 or (l1 + l2 + l3) % 2 == 0 or l1 == 0 or l2 == 0:
        return 0.0
    return float(np.sum(_vector_gaunt(l1, l2, l3) * np.asarray(clebsch_gordan(l1, l2, l3))))


def vector_gaunt_kappa(l1: int, l2: int, l3: int) -> float:
    """The scalar ``kappa_v`` with ``vector_gaunt(l1, l2, l3) = kappa_v * clebsch_gordan(l1, l2, l3)``.

    Zero unless ``l1 + l2 + l3`` is odd, the triangle condition holds and ``l1, l2 > 0``.

    Args:
        l1: degree of the first factor.
        l2: degree of the second factor.
        l3: output degree.

    Returns:
        ``kappa_v`` as a float (computed in float64 by exact quadrature, cached).

    Examples:
        >>> round(vector_gaunt_kappa(1, 1, 1), 6)
        1.196827
        >>> vector_gaunt_kappa(1, 1, 2)
        0.0
    """
    return _vector_gaunt_kappa(_check_degree(l1, "l1"), _check_degree(l2, "l2"), _check_degree(l3, "l3"))


def vector_gaunt(l1: int, l2: int, l3: int) -> np.ndarray:
    """The vector Gaunt tensor ``V[m1, m2, m3] = integral n . (grad_S Y1 x grad_S Y2) Y3 dOmega``.

    Orthonormal real harmonics (``normalization="integral"``); ``V = kappa_v C`` with ``C`` the
    unit Clebsch-Gordan tensor. Antisymmetric under exchange of the first two (degree, axis)
    pairs. Read-only and cached.

    Args:
        l1: degree of the first harmonic.
        l2: degree of the second harmonic.
        l3: degree of the third harmonic.

    Returns:
        float64 array ``(2 l1 + 1, 2 l2 + 1, 2 l3 + 1)``.

    Examples:
        >>> import numpy as np
        >>> bool(np.allclose(vector_gaunt(1, 2, 2), -vector_gaunt(2, 1, 2).transpose(1, 0, 2)))
        True
    """
    l1, l2, l3 = (_check_degree(l, n) for l, n in ((l1, "l1"), (l2, "l2"), (l3, "l3")))
    if _vector_gaunt_kappa(l1, l2, l3) == 0.0:
        out = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
        out.setflags(write=False)
        return out
    return _vector_gaunt(l1, l2, l3)


def vector_product(a: jax.Array, b: jax.Array, product: GauntProduct, pairs: bool) -> jax.Array:
    """The vector Gaunt product of coefficient arrays (orthonormal harmonics), exact on a grid.

    Args:
        a: ``(E, U, (lmax1 + 1)^2)``.
        b: ``(E, V, (lmax2 + 1)^2)``.
        product: the degrees.
        pairs: all channel pairs (``U * V`` out) or matching channels.

    Returns:
        ``(E, U * V | U, (lmax_out + 1)^2)``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> p = GauntProduct((0,), (0,), (0,), 1, 1, 1, odd=True)
        >>> x, y = jnp.array([0.0, 1.0, 2.0, 3.0]), jnp.array([0.0, -1.0, 0.5, 2.0])
        >>> out = vector_product(x[None, None], y[None, None], p, pairs=True)[0, 0, 1:]
        >>> bool(np.allclose(out, np.einsum("i,j,ijk->k", x[1:], y[1:], vector_gaunt(1, 1, 1))))
        True
    """
    l1, l2, l3 = product.lmax1, product.lmax2, product.lmax_out
    grid = S2Grid.exact_for(max(l1 + l2 + l3 - 1, 2 * l3, 0))
    method = _OPTIONS["transform"]
    dtype = a.dtype
    la = jnp.einsum("eud,ind->euin", a, jnp.asarray(_generators_up_to(l1), dtype))
    lb = jnp.einsum("eud,ind->euin", b, jnp.asarray(_generators_up_to(l2), dtype))
    fa = to_s2grid(la, l1, grid, "integral", method=method)  # (E, U, 3, nb, na)
    fb = to_s2grid(lb, l2, grid, "integral", method=method)
    n = jnp.asarray(np.moveaxis(grid.points, -1, 0), dtype)  # (3, nb, na)
    if pairs:
        fa, fb = fa[:, :, None], fb[:, None, :]
    values = 0
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        values = values + n[i] * (fa[..., j, :, :] * fb[..., k, :, :] - fa[..., k, :, :] * fb[..., j, :, :])
    if pairs:
        values = values.reshape((values.shape[0], -1) + values.shape[-2:])
    return from_s2grid(values, l3, grid, "integral", method=method)


def _mixed_product(a, b, product: GauntProduct, pairs: bool):
    return vector_product(a, b, product, pairs) if product.odd else grid_product(a, b, product, pairs)


def vector_gaunt_kernel(spec: TensorProductSpec):
    """The vector Gaunt kernel (registered as ``method="vector_gaunt"``).

    Even paths get the Gaunt tensor (``gaunt``), odd paths the vector Gaunt tensor
    (:func:`vector_gaunt`); the spec's own coefficients are not used. Serves unweighted
    ``"uvuv"`` and ``"uuu"`` specs with any paths (all parity sectors), so
    ``equitens.tensor_product(x, y, method="vector_gaunt")`` covers every path of the full product.

    Args:
        spec: the tensor product.

    Returns:
        ``kernel(x1, x2, weights=None) -> out``.

    Examples:
        >>> import jax.numpy as jnp, numpy as np
        >>> spec = TensorProductSpec.full("1o", "1o", "1e", method="vector_gaunt")
        >>> x, y = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
        >>> out = vector_gaunt_kernel(spec)(x, y)  # proportional to the cross product x X y
        >>> bool(np.allclose(out / out[2], [0.0, 0.0, 1.0]))
        True
    """
    return make_kernel(spec, "vector_gaunt", _mixed_product, odd_allowed=True)


register_method("vector_gaunt", vector_gaunt_kernel)
