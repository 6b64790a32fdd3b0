"""Cyclical KL annealing (Fu et al. 2019)."""

import jax.numpy as jnp
import optax

from vaekit._checks import check_int, check_number


def cyclical_schedule(
    max_value: float | int,
    num_steps: int,
    num_cycles: int = 4,
    ratio: float | int = 0.5,
    min_value: float | int = 0.0,
) -> optax.Schedule:
    """β repeats ``num_cycles`` times over ``num_steps``: a linear ramp, then a hold.

    Within each cycle of length ``P = num_steps / num_cycles``, with ``τ = (step mod P) / P``,
    ``β = min_value + (max_value − min_value) · min(τ / ratio, 1)`` (Fu et al. 2019, "Cyclical
    Annealing Schedule", eq. 7 with a linear ramp). From ``num_steps`` on, β stays at
    ``max_value``.

    Args:
      max_value: β after each ramp, ``>= 0``.
      num_steps: total annealing steps ``T``, ``>= 1``.
      num_cycles: ``M >= 1`` cycles in ``T``.
      ratio: ``R`` in (0, 1], the fraction of each cycle spent ramping.
      min_value: β at the start of each cycle, ``0 <= min_value <= max_value``.

    Example:
      >>> beta = cyclical_schedule(1.0, num_steps=400, num_cycles=4, ratio=0.5)
      >>> [float(beta(s)) for s in (0, 25, 50, 99, 100)]
      [0.0, 0.5, 1.0, 1.0, 0.0]
    """
    max_value = check_number(max_value, "max_value", minimum=0.0)
    min_value = check_number(min_value, "min_value", minimum=0.0)
    if min_value > max_value:
        raise ValueError(f"`min_value` ({min_value}) must be <= `max_value` ({max_value}).")
    num_steps = check_int(num_steps, "num_steps")
    num_cycles = check_int(num_cycles, "num_cycles")
    ratio = check_number(ratio, "ratio", minimum=0.0, strict=True)
    if ratio > 1.0:
        raise ValueError(f"`ratio` must be in (0, 1], got {ratio}.")
    period = num_steps / num_cycles

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        tau = jnp.mod(step, period) / period
        value = min_value + (max_value - min_value) * jnp.minimum(tau / ratio, 1.0)
        return jnp.where(step >= num_steps, max_value, value)

    return schedule
