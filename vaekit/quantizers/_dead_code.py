"""Replacing dead codebook entries with encoder outputs of the current batch."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from vaekit._checks import check_number
from vaekit._types import AnyArray


def reset_dead_codes(
    codebook: Float[AnyArray, "codes dim"],
    ema_counts: Float[AnyArray, " codes"],
    z_flat: Float[AnyArray, "n dim"],
    key: PRNGKeyArray,
    threshold: float | int,
) -> tuple[Float[Array, "codes dim"], Float[Array, " codes"], Bool[Array, " codes"]]:
    """Re-initialises codes whose EMA usage fell below ``threshold`` from the current batch.

    A code ``k`` is dead when ``ema_counts[k] < threshold`` (``ema_counts`` is the EMA of the
    number of vectors assigned per batch, e.g. :attr:`EMAState.cluster_size`). Each dead code is
    replaced by a row of ``z_flat`` drawn with ``jax.random.choice(key, N, (K,))`` (without
    replacement when ``N >= K``, so dead codes get distinct vectors), and its count is set to
    ``threshold`` (as in lucidrains' vector-quantize-pytorch: it is reset again next step
    unless vectors are assigned to it). Live codes and their counts are returned unchanged.
    Deterministic given ``key``.

    Args:
      codebook: ``(K, D)``.
      ema_counts: ``(K,)`` EMA usage counts.
      z_flat: ``(N, D)`` encoder outputs of the current batch (stop-gradient them).
      key: PRNG key.
      threshold: ``>= 0``; ``0`` resets nothing.

    Returns:
      ``(codebook, counts, reset_mask)``; ``reset_mask[k]`` is whether code ``k`` was replaced.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> codebook, counts, reset = reset_dead_codes(
      ...     jnp.zeros((2, 1)), jnp.array([5.0, 0.0]), jnp.array([[7.0]]),
      ...     jax.random.key(0), threshold=1.0)
      >>> codebook[:, 0].tolist(), reset.tolist()
      ([0.0, 7.0], [False, True])
    """
    threshold = check_number(threshold, "threshold", minimum=0.0)
    num_codes, dim = codebook.shape
    if ema_counts.shape != (num_codes,):
        raise ValueError(f"`ema_counts` must have shape ({num_codes},), got {ema_counts.shape}.")
    if z_flat.ndim != 2 or z_flat.shape[1] != dim or z_flat.shape[0] < 1:
        raise ValueError(f"`z_flat` must have shape (N >= 1, {dim}), got {z_flat.shape}.")
    codebook = jnp.asarray(codebook, jnp.float32)
    ema_counts = jnp.asarray(ema_counts, jnp.float32)
    num = z_flat.shape[0]
    picks = jax.random.choice(key, num, (num_codes,), replace=num < num_codes)
    samples = jnp.asarray(z_flat, jnp.float32)[picks]
    dead = ema_counts < threshold
    new_codebook = jnp.where(dead[:, None], samples, codebook)
    new_counts = jnp.where(dead, jnp.float32(threshold), ema_counts)
    return new_codebook, new_counts, dead
