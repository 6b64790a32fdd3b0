"""Schedules: ``step -> value`` functions, exactly ``optax.Schedule``.

Any optax schedule (constant, linear, cosine, piecewise, join) works wherever vaekit takes a
weight; this package adds what optax lacks for KL annealing and capacity control.
"""

from vaekit.schedules.as_schedule import as_schedule, evaluate
from vaekit.schedules.capacity import capacity_schedule
from vaekit.schedules.cyclical import cyclical_schedule
from vaekit.schedules.logistic import logistic_schedule
from vaekit.schedules.named import SCHEDULE_NAMES, named_schedule
from vaekit.schedules.warmup import epochs_to_steps, linear_warmup

__all__ = [
    "SCHEDULE_NAMES",
    "as_schedule",
    "capacity_schedule",
    "cyclical_schedule",
    "epochs_to_steps",
    "evaluate",
    "linear_warmup",
    "logistic_schedule",
    "named_schedule",
]
