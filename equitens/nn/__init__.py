"""Flax modules of equivariant layers, and the pure functions they call.

The modules come in two flavours with the same names, parameters and values:

- :mod:`equitens.nn.linen`: ``Linear``, ``TensorProduct``, ``FullyConnectedTensorProduct``, ``Gate``;
- :mod:`equitens.nn.nnx`: the same four for flax nnx (input irreps given at construction).

The pure functions (:func:`linear`, :func:`gate`, :func:`apply_tensor_product`) take and return
``e3nn_jax.IrrepsArray`` and work under ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""

from equitens.nn import linen, nnx
from equitens.nn.gate import gate
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
    "LinearSpec",
    "RadialMLP",
    "SymmetricContraction",
    "SymmetricContractionSpec",
    "bessel_basis",
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
