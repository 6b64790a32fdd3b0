"""Classifier-free guidance: mix conditional and unconditional outputs."""

import jax.numpy as jnp
from jaxtyping import Array, Float

from vaekit._checks import check_same_shape
from vaekit._types import AnyArray


def guided_logits(
    cond: Float[AnyArray, " batch *event"],
    uncond: Float[AnyArray, " batch *event"],
    scale: float | int | Float[AnyArray, ""],
) -> Float[Array, " batch *event"]:
    """``uncond + scale · (cond − uncond)`` (Ho & Salimans 2022).

    ``scale = 1`` gives ``cond``, ``scale = 0`` gives ``uncond``, ``scale > 1`` extrapolates
    towards the label. Apply to logits (or other unconstrained outputs), not probabilities.

    Raises:
      ValueError: naming ``cond`` and ``uncond`` if their shapes differ.

    Example:
      >>> import jax.numpy as jnp
      >>> guided_logits(jnp.ones(3)[None], jnp.zeros(3)[None], 2.0).tolist()
      [[2.0, 2.0, 2.0]]
    """
    check_same_shape(cond.shape, uncond.shape, "cond", "uncond")
    uncond = jnp.asarray(uncond)
    return uncond + scale * (jnp.asarray(cond) - uncond)
