"""Schedules by name, for configuration files and the command line."""

import optax

from vaekit._checks import check_int, check_number
from vaekit.schedules._cyclical import cyclical_schedule
from vaekit.schedules._logistic import logistic_schedule
from vaekit.schedules._warmup import linear_warmup

SCHEDULE_NAMES = ("constant", "linear", "cosine", "cyclical", "logistic")


def named_schedule(
    name: str, start: float | int, end: float | int, num_steps: int
) -> optax.Schedule:
    """Builds a weight schedule from ``start`` to ``end`` over ``num_steps`` optimiser steps.

    * ``"constant"``: ``end`` at every step (``start`` and ``num_steps`` unused);
    * ``"linear"``: linear warm-up (Bowman et al. 2016), :func:`linear_warmup`;
    * ``"cosine"``: half-cosine rise from ``start`` to ``end``;
    * ``"cyclical"``: 4 cycles, ramp for half of each (Fu et al. 2019), :func:`cyclical_schedule`;
    * ``"logistic"``: ``end · σ(10 (step − num_steps/2) / num_steps)`` (Bowman et al. 2016),
      ``start`` unused.

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
        return linear_warmup(start, end, num_steps)
    if name == "cosine":
        decay = optax.cosine_decay_schedule(1.0, num_steps)
        return lambda step: end + (start - end) * decay(step)
    if name == "cyclical":
        return cyclical_schedule(end, num_steps, num_cycles=4, ratio=0.5,
                                 min_value=min(start, end))
    if name == "logistic":
        return logistic_schedule(end, k=10.0 / num_steps, x0=num_steps / 2)
    raise ValueError(f"`name` must be one of {SCHEDULE_NAMES}, got {name!r}.")
