"""k-means codebook initialisation from a batch of encoder outputs."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.quantizers._nearest import nearest_code


def kmeans_init(
    z_flat: Float[AnyArray, "n dim"],
    num_codes: int,
    key: PRNGKeyArray,
    num_iters: int = 10,
    *,
    chunk_size: int | None = None,
) -> Float[Array, "codes dim"]:
    """A ``(K, D)`` codebook from ``num_iters`` Lloyd iterations of k-means on ``z_flat``.

    Centroids start at ``K`` rows of ``z_flat`` drawn with ``jax.random.choice`` (without
    replacement when ``N >= K``); each iteration assigns rows to their nearest centroid
    (:func:`nearest_code`) and moves each centroid to the mean of its rows. A centroid with no
    rows keeps its value. Deterministic given ``key``; jit-safe (``jax.lax.fori_loop``).
    Initialising a codebook this way ("data-dependent init", as in lucidrains'
    vector-quantize-pytorch ``kmeans_init``) avoids most dead codes at the start of training.

    Args:
      z_flat: ``(N, D)`` encoder outputs, e.g. of a first batch.
      num_codes: ``K >= 1``.
      key: PRNG key.
      num_iters: Lloyd iterations, ``>= 0``.
      chunk_size: passed to :func:`nearest_code`.

    Returns:
      float32 centroids ``(K, D)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> z = jnp.array([[0.0], [0.2], [10.0], [10.2]])
      >>> sorted(round(v, 3) for v in kmeans_init(z, 2, jax.random.key(0))[:, 0].tolist())
      [0.1, 10.1]
    """
    num_codes = check_int(num_codes, "num_codes")
    num_iters = check_int(num_iters, "num_iters", minimum=0)
    if z_flat.ndim != 2 or z_flat.shape[0] < 1:
        raise ValueError(f"`z_flat` must have shape (N >= 1, D), got {z_flat.shape}.")
    z = jnp.asarray(z_flat, jnp.float32)
    num = z.shape[0]
    picks = jax.random.choice(key, num, (num_codes,), replace=num < num_codes)

    def lloyd(_, centroids):
        idx, _ = nearest_code(z, centroids, chunk_size=chunk_size)
        sums = jnp.zeros_like(centroids).at[idx].add(z)
        counts = jnp.zeros((num_codes,), jnp.float32).at[idx].add(1.0)
        means = sums / jnp.maximum(counts, 1.0)[:, None]
        return jnp.where((counts > 0)[:, None], means, centroids)

    return jax.lax.fori_loop(0, num_iters, lloyd, z[picks])
