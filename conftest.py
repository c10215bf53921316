"""Test configuration shared by tests/ and the doctests in equitens/.

Exactness checks run in float64, so x64 is enabled before any array is created.
"""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")
