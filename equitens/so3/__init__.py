"""The SO(3) core: irreps, real spherical harmonics, Clebsch-Gordan, Gaunt, Wigner-D, S2 grids.

Pure math: numpy float64 constants built once and cached, evaluated with jax.numpy.
"""
