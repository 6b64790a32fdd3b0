"""Turning a number-or-schedule hyperparameter into an ``optax.Schedule``."""

from collections.abc import Callable

import jax.numpy as jnp
import optax

from vaekit._checks import check_number


def as_schedule(
    value: float | int | optax.Schedule, name: str, *, minimum: float | int = 0.0
) -> optax.Schedule:
    """Returns ``value`` as a ``step -> value`` function (an ``optax.Schedule``).

    A number becomes ``optax.constant_schedule(value)`` after checking that it is finite and
    ``>= minimum`` (the error names ``name``); a callable is returned unchanged and is evaluated
    on the traced step inside the compiled train step, so changing it never recompiles.

    Example:
      >>> import optax
      >>> float(as_schedule(4.0, "beta")(10))
      4.0
      >>> float(as_schedule(optax.linear_schedule(0.0, 1.0, 10), "beta")(5))
      0.5
    """
    if callable(value):
        return value
    return optax.constant_schedule(check_number(value, name, minimum=minimum))


def evaluate(schedule: Callable, step) -> jnp.ndarray:
    """Evaluates a schedule at ``step`` as a float32 scalar."""
    return jnp.asarray(schedule(step), dtype=jnp.float32)
