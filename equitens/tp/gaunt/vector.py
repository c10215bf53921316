"""The vector Gaunt product (``method="vector_gaunt"``): the odd paths scalar Gaunt drops.

The scalar Gaunt product ``f g`` is symmetric, so it has no antisymmetric couplings: every path
with ``l1 + l2 + l3`` odd (``1 x 1 -> 1``, the cross product; ``1 x 2 -> 2``; ``2 x 2 -> 1, 3``...)
is zero. The *vector* Gaunt product recovers them with the cross product of the surface gradients
(vector spherical harmonics ``Psi_lm = grad_S Y_lm``), whose normal component is a scalar function:

``(x (x)_V y)_{l3 m3} = integral n . (grad_S f_x  x  grad_S f_y) Y_{l3 m3} dOmega``.

It is an invariant trilinear form, so on each path it equals ``kappa_v(l1, l2, l3)`` times the unit
Clebsch-Gordan tensor; by the parity of the integrand it vanishes on even paths, and it vanishes
when ``l1 = 0`` or ``l2 = 0`` (a constant has no gradient). These constants,
:func:`~equitens.so3.gaunt.vector_gaunt` and :func:`~equitens.so3.gaunt.vector_gaunt_kappa`, live
in the SO(3) core beside ``gaunt_kappa`` (re-exported here); this module evaluates the product.
Evaluation uses ``n . (grad_S f x grad_S g) = n . (L f x L g)`` with ``L = n x grad`` the real
angular momentum, whose components act on coefficients by the real generators
(``so3_generators``): three functions per input are sampled on the grid exact for degree
``l1 + l2 + l3 - 1``, combined point by point, and projected back. O(L^3), like the scalar
product.

``method="vector_gaunt"`` evaluates a spec's even paths with the scalar Gaunt product and its odd
paths with the vector product: every parity-allowed path, each with a fixed coefficient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from equitens.so3.gaunt import vector_gaunt, vector_gaunt_kappa
from equitens.so3.generators import so3_generators
from equitens.so3.s2grid import S2Grid, from_s2grid, to_s2grid
from equitens.tp.gaunt.grid import grid_product
from equitens.tp.gaunt.plan import GauntProduct, make_kernel
from equitens.tp.plan import DEFAULT_PLAN, Plan
from equitens.tp.registry import register_method
from equitens.tp.spec import TensorProductSpec

__all__ = ["vector_gaunt", "vector_gaunt_kappa", "vector_product", "vector_gaunt_kernel"]


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


def vector_product(
    a: jax.Array, b: jax.Array, product: GauntProduct, pairs: bool, transform: str = "auto"
) -> jax.Array:
    """The vector Gaunt product of coefficient arrays (orthonormal harmonics), exact on a grid.

    Args:
        a: ``(E, U, (lmax1 + 1)^2)``.
        b: ``(E, V, (lmax2 + 1)^2)``.
        product: the degrees.
        pairs: all channel pairs (``U * V`` out) or matching channels.
        transform: the grid transform (as :func:`~equitens.tp.gaunt.grid.grid_product`).

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
    dtype = a.dtype
    la = jnp.einsum("eud,ind->euin", a, jnp.asarray(_generators_up_to(l1), dtype))
    lb = jnp.einsum("eud,ind->euin", b, jnp.asarray(_generators_up_to(l2), dtype))
    fa = to_s2grid(la, l1, grid, "integral", method=transform)  # (E, U, 3, nb, na)
    fb = to_s2grid(lb, l2, grid, "integral", method=transform)
    n = jnp.asarray(np.moveaxis(grid.points, -1, 0), dtype)  # (3, nb, na)
    if pairs:
        fa, fb = fa[:, :, None], fb[:, None, :]
    values = 0
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        values = values + n[i] * (
            fa[..., j, :, :] * fb[..., k, :, :] - fa[..., k, :, :] * fb[..., j, :, :]
        )
    if pairs:
        values = values.reshape((values.shape[0], -1) + values.shape[-2:])
    return from_s2grid(values, l3, grid, "integral", method=transform)


def _mixed_product(a, b, product: GauntProduct, pairs: bool, plan: Plan):
    mixed = vector_product if product.odd else grid_product
    return mixed(a, b, product, pairs, plan.s2_transform)


def vector_gaunt_kernel(spec: TensorProductSpec, plan: Plan = DEFAULT_PLAN):
    """The vector Gaunt kernel (registered as ``method="vector_gaunt"``).

    Even paths get the Gaunt tensor (``gaunt``), odd paths the vector Gaunt tensor
    (:func:`vector_gaunt`); the spec's own coefficients are not used. Serves unweighted
    ``"uvuv"`` and ``"uuu"`` specs with any paths (all parity sectors), so
    ``equitens.tensor_product(x, y, method="vector_gaunt")`` covers every path of the full product.

    Args:
        spec: the tensor product.
        plan: how it runs (:class:`~equitens.tp.plan.Plan`).

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
    return make_kernel(spec, "vector_gaunt", _mixed_product, plan, odd_allowed=True)


register_method("vector_gaunt", vector_gaunt_kernel)
