"""Label dropout: train one model both conditionally and unconditionally."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray


def drop_labels(
    labels: Integer[AnyArray, " batch"], key: PRNGKeyArray, p: float | int, null_label: int
) -> Integer[Array, " batch"]:
    """Replaces each label by ``null_label`` independently with probability ``p``.

    The training side of classifier-free guidance (Ho & Salimans 2022): with a null class the
    model learns p(x|z, y) and p(x|z) at once. ``p = 0`` returns ``labels``; ``p = 1`` returns
    all ``null_label``. The dtype of ``labels`` is kept. Pure and jit-safe (``p`` is a Python
    number, validated eagerly).

    Raises:
      ValueError: naming ``p`` (outside [0, 1]), ``null_label`` (not an integer >= 0) or
        ``labels`` (not 1-D integer).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> drop_labels(jnp.array([1, 2, 3]), jax.random.key(0), 1.0, 10).tolist()
      [10, 10, 10]
    """
    p = check_number(p, "p", minimum=0.0)
    if p > 1.0:
        raise ValueError(f"`p` must be <= 1, got {p!r}.")
    null_label = check_int(null_label, "null_label", minimum=0)
    if labels.ndim != 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`labels` must be a 1-D integer array (batch,), got shape {tuple(labels.shape)} "
            f"and dtype {labels.dtype}."
        )
    labels = jnp.asarray(labels)
    drop = jax.random.uniform(key, labels.shape) < p
    return jnp.where(drop, jnp.asarray(null_label, labels.dtype), labels)
