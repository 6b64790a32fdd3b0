"""Schedules by name, for configuration files and the command line."""

import optax

from vaekit._checks import check_int, check_number

SCHEDULE_NAMES = ("constant", "linear", "cosine")


def named_schedule(name: str, start: float, end: float, num_steps: int) -> optax.Schedule:
    """Builds a weight schedule from ``start`` to ``end`` over ``num_steps`` optimiser steps.

    * ``"constant"``: ``end`` at every step (``start`` and ``num_steps`` unused);
    * ``"linear"``: ``optax.linear_schedule`` (linear KL annealing, Bowman et al. 2016);
    * ``"cosine"``: ``optax.cosine_decay_schedule`` shaped to rise from ``start`` to ``end``.

    Example:
      >>> float(named_schedule("linear", 0.0, 4.0, 100)(50))
      2.0
    """
    start = check_number(start, "start", minimum=0.0)
    end = check_number(end, "end", minimum=0.0)
    if name == "constant":
        return optax.constant_schedule(end)
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    if name == "linear":
        return optax.linear_schedule(start, end, num_steps)
    if name == "cosine":
        decay = optax.cosine_decay_schedule(1.0, num_steps)
        return lambda step: end + (start - end) * decay(step)
    raise ValueError(f"`name` must be one of {SCHEDULE_NAMES}, got {name!r}.")
