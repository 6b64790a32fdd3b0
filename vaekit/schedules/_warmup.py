"""Linear β warm-up and the epochs → steps conversion it is usually written in."""

import math

import jax.numpy as jnp
import optax

from vaekit._checks import check_int, check_number


def epochs_to_steps(
    num_epochs: float | int, dataset_size: int, batch_size: int, *, drop_remainder: bool = True
) -> int:
    """Optimiser steps in ``num_epochs`` passes over ``dataset_size`` examples.

    With ``drop_remainder`` (what :func:`vaekit.fit` does) an epoch is
    ``dataset_size // batch_size`` steps, otherwise ``ceil(dataset_size / batch_size)``.

    Example:
      >>> epochs_to_steps(10, dataset_size=60_000, batch_size=128)
      4680
    """
    num_epochs = check_number(num_epochs, "num_epochs", minimum=0.0, strict=True)
    dataset_size = check_int(dataset_size, "dataset_size")
    batch_size = check_int(batch_size, "batch_size")
    if batch_size > dataset_size:
        raise ValueError(f"`batch_size` ({batch_size}) must be <= `dataset_size` ({dataset_size}).")
    per_epoch = dataset_size // batch_size if drop_remainder else -(-dataset_size // batch_size)
    return max(1, math.ceil(num_epochs * per_epoch))


def linear_warmup(start: float | int, end: float | int, num_steps: int) -> optax.Schedule:
    """β goes linearly from ``start`` at step 0 to ``end`` at ``num_steps``, then stays.

    KL warm-up (Bowman et al. 2016; Sønderby et al. 2016). ``optax.linear_schedule`` with the
    Unlike ``optax.linear_schedule`` it hits both endpoints exactly in float32 (``start`` at
    step 0, ``end`` from ``num_steps`` on) and never leaves ``[start, end]``. Arguments are
    checked at construction: weights ``>= 0`` and ``num_steps >= 1``.

    Example:
      >>> beta = linear_warmup(1.0, 4.0, epochs_to_steps(10, 60_000, 128))  # 1 -> 4 in 10 epochs
      >>> float(beta(0)), float(beta(4680))
      (1.0, 4.0)
    """
    start = check_number(start, "start", minimum=0.0)
    end = check_number(end, "end", minimum=0.0)
    num_steps = check_int(num_steps, "num_steps")
    return linear_ramp(start, end, num_steps)


def linear_ramp(start: float, end: float, num_steps: int) -> optax.Schedule:
    """Unchecked ``start -> end`` linear ramp over ``num_steps``, exact at both ends."""
    lo, hi = min(start, end), max(start, end)

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        frac = jnp.clip(step / num_steps, 0.0, 1.0)
        value = jnp.clip(start + (end - start) * frac, lo, hi)
        return jnp.where(step >= num_steps, jnp.float32(end), value)

    return schedule
