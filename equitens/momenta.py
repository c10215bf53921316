"""The starting momenta of molecular dynamics, one draw for every engine.

``equitens md`` (ASE's integrators or JAX MD, :mod:`equitens.jax_md`) and
``benchmarks/md_step.py`` start from Maxwell-Boltzmann momenta at a temperature with the
centre-of-mass motion removed, drawn by ASE (``thermalize_momenta``, then ``Stationary``): the
same seed gives the same start whatever integrates it. (JAX MD's own draw subtracts the mean
momentum rather than the centre-of-mass velocity, which heats light atoms among heavy ones:
ethanol at 300 K started at 348 K on average over 200 seeds.)

Examples:
    >>> import numpy as np
    >>> from ase.build import molecule
    >>> p = thermal_momenta(molecule("CH3CH2OH"), 300.0, np.random.default_rng(0))
    >>> p.shape, bool(np.abs(p.sum(axis=0)).max() < 1e-12)  # no centre-of-mass motion
    ((9, 3), True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["thermal_momenta"]


def thermal_momenta(atoms, temperature_K: float, rng: np.random.Generator) -> np.ndarray:
    """Maxwell-Boltzmann momenta of ``atoms`` at ``temperature_K`` without centre-of-mass motion.

    Args:
        atoms: an ``ase.Atoms`` (not modified; its masses are used).
        temperature_K: the temperature (K).
        rng: the random generator (the ASE engine goes on drawing its Langevin noise from it).

    Returns:
        ``(N, 3)`` momenta in ASE's units.
    """
    from ase.md.velocitydistribution import Stationary

    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # ASE < 3.26
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

    start = atoms.copy()
    thermalize_momenta(start, temperature_K=temperature_K, rng=rng)
    Stationary(start)
    return start.get_momenta()
