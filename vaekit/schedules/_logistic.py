"""Logistic (sigmoid) KL annealing (Bowman et al. 2016)."""

import jax
import jax.numpy as jnp
import optax

from vaekit._checks import check_number


def logistic_schedule(max_value: float | int, k: float | int, x0: float | int) -> optax.Schedule:
    """``β(step) = max_value · σ(k · (step − x0))``, rising from ≈0 to ``max_value``.

    Bowman et al. (2016), "Generating Sentences from a Continuous Space": ``k`` is the steepness
    (``> 0``) and ``x0`` the step at which β is half of ``max_value``.

    Example:
      >>> beta = logistic_schedule(1.0, k=0.0025, x0=2500)
      >>> round(float(beta(2500)), 3)
      0.5
    """
    max_value = check_number(max_value, "max_value", minimum=0.0)
    k = check_number(k, "k", minimum=0.0, strict=True)
    x0 = check_number(x0, "x0")

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        return max_value * jax.nn.sigmoid(k * (step - x0))

    return schedule
