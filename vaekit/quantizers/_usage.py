"""Codebook usage statistics of a batch of code indices (perplexity, fraction of codes used)."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Integer

from vaekit._checks import check_int
from vaekit._types import AnyArray


def perplexity(probs: Array) -> Array:
    """``exp(−Σ_k p_k log p_k)`` of a probability vector (``0 log 0 = 0``)."""
    return jnp.exp(-jnp.sum(jax.scipy.special.xlogy(probs, probs)))


def code_usage_metrics(
    indices: Integer[AnyArray, " *batch"], num_codes: int
) -> dict[str, Array]:
    """Perplexity and codebook usage of the codes a batch selected.

    With ``p_k`` the fraction of the ``N`` positions (all entries of ``indices``) that selected
    code ``k``:

    * ``perplexity = exp(−Σ_k p_k log p_k)``, in ``[1, min(N, num_codes)]``: the effective number
      of codes in use (van den Oord et al. 2017, "Neural Discrete Representation Learning"; the
      metric of the Sonnet VQ-VAE);
    * ``codebook_usage = (number of distinct codes selected) / num_codes``, in ``(0, 1]``.

    The counts come from sorting the ``N`` indices, not from a histogram of length ``num_codes``,
    so memory is ``O(N)`` even for implicit codebooks of ``2**31`` codes (FSQ, LFQ). Indices are
    assumed to lie in ``[0, num_codes)``; this is not checked (they may be traced).

    Args:
      indices: integer code indices of any shape; every entry is one position.
      num_codes: the codebook size ``K >= 1`` (static).

    Returns:
      ``{"perplexity": scalar, "codebook_usage": scalar}``, float32.

    Example:
      >>> import jax.numpy as jnp
      >>> m = code_usage_metrics(jnp.array([0, 0, 1, 3]), num_codes=8)
      >>> round(float(m["perplexity"]), 4), float(m["codebook_usage"])  # exp(1.5 log 2)
      (2.8284, 0.375)
    """
    num_codes = check_int(num_codes, "num_codes", minimum=1)
    flat = jnp.sort(jnp.ravel(jnp.asarray(indices)))
    n = flat.shape[0]
    if n == 0:
        raise ValueError("`indices` must hold at least one index, got an empty array.")
    is_first = jnp.concatenate([jnp.ones((1,), bool), flat[1:] != flat[:-1]])
    run = jnp.cumsum(is_first) - 1  # which distinct value each sorted entry belongs to
    counts = jax.ops.segment_sum(jnp.ones((n,), jnp.float32), run, num_segments=n)
    usage = jnp.sum(is_first).astype(jnp.float32) / float(num_codes)
    return {"perplexity": perplexity(counts / n), "codebook_usage": usage}
