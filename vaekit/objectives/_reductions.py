"""The fixed reductions every vaekit term uses: sum over event dims, mean over batch."""

import jax.numpy as jnp
from jaxtyping import Float

from vaekit._checks import check_min_ndim
from vaekit._types import AnyArray


def sum_event(x: Float[AnyArray, " batch *event"]) -> Float[AnyArray, " batch"]:
    """Sums every axis but the leading batch axis.

    Args:
      x: per-element values, shape ``(batch, *event)``.

    Returns:
      Per-sample sums, shape ``(batch,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> sum_event(jnp.ones((2, 3, 4))).tolist()
      [12.0, 12.0]
    """
    check_min_ndim(x.shape, 1, "x")
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def batch_mean(x: Float[AnyArray, " batch"]) -> Float[AnyArray, ""]:
    """Averages per-sample values over the batch; the mean of two equal halves' means is the whole.

    Example:
      >>> import jax.numpy as jnp
      >>> float(batch_mean(jnp.array([1.0, 3.0])))
      2.0
    """
    if x.ndim != 1:
        raise ValueError(f"`x` must be a per-sample vector of shape (batch,), got {x.shape}.")
    return jnp.mean(x)
