"""Schedules: ``step -> value`` functions, exactly ``optax.Schedule``."""

from vaekit.schedules.as_schedule import as_schedule, evaluate
from vaekit.schedules.named import SCHEDULE_NAMES, named_schedule

__all__ = ["SCHEDULE_NAMES", "as_schedule", "evaluate", "named_schedule"]
