"""equitens: E(3)-equivariant geometric deep learning in JAX."""

__version__ = "0.1.0"
