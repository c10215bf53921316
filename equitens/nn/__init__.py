"""Flax modules of equivariant layers, and the pure functions they call.

The modules come in two flavours with the same names, parameters and values:

- :mod:`equitens.nn.linen`: ``Linear``, ``TensorProduct``, ``FullyConnectedTensorProduct``,
  ``Gate``;
- :mod:`equitens.nn.nnx`: the same four for flax nnx.

Both flavours take the same arguments: the output irreps positionally, everything else by keyword
(``Linear(irreps_out, irreps_in=..., ...)``, ``TensorProduct(irreps_out, irreps_in1=...,
irreps_in2=..., internal_weights=True, ...)``); the input irreps are inferred at call time in
linen and required at construction in nnx. Irreps arguments accept strings, ``equitens.Irreps``
and ``e3nn_jax.Irreps``; specs and module attributes hold ``equitens.Irreps``.

The pure functions (:func:`linear`, :func:`gate`, :func:`apply_tensor_product`) take and return
``e3nn_jax.IrrepsArray`` and work under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""

from equitens.nn import linen, nnx
from equitens.nn.gate import gate
from equitens.nn.gaunt_product_basis import GauntProductBasisSpec, gaunt_product_basis
from equitens.nn.linear import LinearSpec, linear
from equitens.nn.radial import RadialMLP, bessel_basis, polynomial_envelope, radial_embedding
from equitens.nn.symmetric_contraction import (
    SymmetricContraction,
    SymmetricContractionSpec,
    symmetric_contraction,
)
from equitens.nn.tensor_product import (
    apply_tensor_product,
    as_irreps_array,
    channelwise_spec,
    fully_connected_spec,
)

__all__ = [
    "GauntProductBasisSpec",
    "LinearSpec",
    "RadialMLP",
    "SymmetricContraction",
    "SymmetricContractionSpec",
    "bessel_basis",
    "gaunt_product_basis",
    "polynomial_envelope",
    "radial_embedding",
    "symmetric_contraction",
    "apply_tensor_product",
    "as_irreps_array",
    "channelwise_spec",
    "fully_connected_spec",
    "gate",
    "linear",
    "linen",
    "nnx",
]
