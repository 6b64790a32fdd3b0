"""The capacity schedule of the controlled-capacity β-VAE (Burgess et al. 2018)."""

import optax

from vaekit._checks import check_int, check_number
from vaekit.schedules._warmup import linear_ramp


def capacity_schedule(c_max: float | int = 25.0, num_steps: int = 100_000) -> optax.Schedule:
    """``C(step)``: linear from 0 to ``c_max`` nats over ``num_steps`` steps, then constant.

    Burgess et al. (2018), "Understanding disentangling in β-VAE"; ``num_steps`` is the
    ``capacity_num_iter`` of common implementations.

    Example:
      >>> c = capacity_schedule(25.0, 1000)
      >>> float(c(500)), float(c(5000))
      (12.5, 25.0)
    """
    c_max = check_number(c_max, "c_max", minimum=0.0)
    num_steps = check_int(num_steps, "num_steps")
    return linear_ramp(0.0, c_max, num_steps)
