"""One-hot label codes and the eager label check shared by the conditional models."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Integer

from vaekit._checks import check_int
from vaekit._types import AnyArray


def check_labels(
    labels: Integer[AnyArray, " batch"], num_classes: int, *, name: str = "labels"
) -> Integer[AnyArray, " batch"]:
    """Returns ``labels`` unchanged after checking they are valid class indices.

    Checks that ``labels`` is a 1-D integer array; when it is concrete (not traced by
    ``jax.jit``/``vmap``/``grad``) also that every value lies in ``[0, num_classes)``. Under a
    transformation the values are unknown, so only the shape and dtype are checked.

    Raises:
      ValueError: naming ``name`` (default ``labels``) or ``num_classes``.

    Example:
      >>> import numpy as np
      >>> check_labels(np.array([0, 2]), 3).tolist()
      [0, 2]
    """
    num_classes = check_int(num_classes, "num_classes")
    if labels.ndim != 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`{name}` must be a 1-D integer array (batch,), got shape {tuple(labels.shape)} "
            f"and dtype {labels.dtype}."
        )
    if not isinstance(labels, jax.core.Tracer) and labels.size:
        values = np.asarray(labels)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"`{name}` must lie in [0, {num_classes}), got values in [{low}, {high}]."
            )
    return labels


def one_hot(
    labels: Integer[AnyArray, " batch"], num_classes: int
) -> Float[Array, "batch classes"]:
    """One-hot codes ``(batch, num_classes)`` float32 for integer ``labels (batch,)``.

    The label code of the conditional VAE of Sohn et al. (2015). Concrete labels outside
    ``[0, num_classes)`` raise; under ``jax.jit`` the values cannot be checked and such a label
    gives an all-zero row (the behaviour of ``jax.nn.one_hot``).

    Raises:
      ValueError: naming ``labels`` (not 1-D integer, or concrete and out of range) or
        ``num_classes`` (not an integer >= 1).

    Example:
      >>> import jax.numpy as jnp
      >>> one_hot(jnp.array([2, 0]), 3).tolist()
      [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    num_classes = check_int(num_classes, "num_classes")
    check_labels(labels, num_classes)
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
