"""Schedules: ``step -> value`` functions, exactly ``optax.Schedule``.

Any optax schedule (constant, linear, cosine, piecewise, join) works wherever vaekit takes a
weight; this package adds what optax lacks for KL annealing and capacity control.
"""

from vaekit.schedules._as_schedule import as_schedule, evaluate
from vaekit.schedules._capacity import capacity_schedule
from vaekit.schedules._cyclical import cyclical_schedule
from vaekit.schedules._logistic import logistic_schedule
from vaekit.schedules._named import SCHEDULE_NAMES, named_schedule
from vaekit.schedules._warmup import epochs_to_steps, linear_warmup

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
