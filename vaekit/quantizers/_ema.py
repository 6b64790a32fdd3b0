"""Exponential-moving-average codebook updates (VQ-VAE appendix; Sonnet's VectorQuantizerEMA)."""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float, Integer

from vaekit._checks import check_number
from vaekit._types import AnyArray


class EMAState(NamedTuple):
    """The EMA statistics of one codebook (all debiased averages, never parameters).

    Attributes:
      codebook: ``(K, D)`` current codes.
      cluster_size: ``(K,)`` debiased EMA of the number of vectors assigned to each code per
        batch (not yet Laplace-smoothed).
      embed_sum: ``(K, D)`` debiased EMA of the per-code sums of assigned vectors.
      step: int32 scalar, the number of updates taken (drives the debiasing).
    """

    codebook: Array
    cluster_size: Array
    embed_sum: Array
    step: Array


def init_ema_state(codebook: Float[AnyArray, "codes dim"]) -> EMAState:
    """EMA state at step 0 for ``codebook``: zero statistics (the first update overwrites them).

    Example:
      >>> import jax.numpy as jnp
      >>> init_ema_state(jnp.zeros((4, 2))).cluster_size.shape
      (4,)
    """
    codebook = jnp.asarray(codebook, jnp.float32)
    return EMAState(
        codebook=codebook,
        cluster_size=jnp.zeros(codebook.shape[:1], jnp.float32),
        embed_sum=jnp.zeros_like(codebook),
        step=jnp.zeros((), jnp.int32),
    )


def check_decay(decay: object) -> float:
    """Returns ``float(decay)`` or raises naming ``decay`` if it is not in the open (0, 1)."""
    decay = check_number(decay, "decay")
    if not 0.0 < decay < 1.0:
        raise ValueError(f"`decay` must be in the open interval (0, 1), got {decay!r}.")
    return decay


def ema_update(
    state: EMAState,
    z_flat: Float[AnyArray, "n dim"],
    indices: Integer[AnyArray, " n"],
    decay: float | int,
    epsilon: float | int = 1e-5,
) -> EMAState:
    """One EMA codebook update (van den Oord et al. 2017, appendix A.1; Sonnet semantics).

    With ``c_k`` the number of rows of ``z_flat`` assigned to code ``k`` and ``s_k`` their sum,
    and ``t`` the new step count:

    - debiased EMAs (Sonnet's ``ExponentialMovingAverage``: ``hidden_t / (1 − decay^t)`` with
      ``hidden_0 = 0``), kept directly as averages: with ``α_t = (1 − decay)/(1 − decay^t)``,
      ``N_k ← (1 − α_t) N_k + α_t c_k`` and ``m_k ← (1 − α_t) m_k + α_t s_k``; ``α_1 = 1``, so
      the first update sets ``N = c`` and ``m = s`` exactly;
    - Laplace smoothing: ``Ñ_k = (N_k + ε) / (n + K ε) · n`` with ``n = Σ_k N_k``;
    - ``e_k = m_k / Ñ_k``.

    After the first update every used code is the mean of its assigned vectors up to the
    smoothing (relative error ``≤ ε (1/c_k + K/n)``). A code whose EMA count is exactly zero
    (never assigned since step 0) keeps its current value; Sonnet would set it to
    ``0 / Ñ_k = 0``, collapsing all unused codes onto the origin.

    Args:
      state: current :class:`EMAState`.
      z_flat: ``(N, D)`` vectors (pass them through ``stop_gradient``; nothing here is trained).
      indices: ``(N,)`` their assigned codes.
      decay: in the open interval (0, 1), e.g. 0.99.
      epsilon: Laplace-smoothing constant ``> 0``.

    Returns:
      The updated :class:`EMAState` (float32).

    Example:
      >>> import jax.numpy as jnp
      >>> state = init_ema_state(jnp.zeros((2, 1)))
      >>> state = ema_update(state, jnp.array([[1.0], [3.0]]), jnp.array([0, 0]), decay=0.99)
      >>> round(float(state.codebook[0, 0]), 3), float(state.codebook[1, 0])
      (2.0, 0.0)
    """
    decay = check_decay(decay)
    epsilon = check_number(epsilon, "epsilon", minimum=0.0, strict=True)
    num_codes, dim = state.codebook.shape
    if z_flat.ndim != 2 or z_flat.shape[1] != dim:
        raise ValueError(f"`z_flat` must have shape (N, {dim}), got {tuple(z_flat.shape)}.")
    if indices.shape != z_flat.shape[:1]:
        raise ValueError(
            f"`indices` must have shape ({z_flat.shape[0]},), got {tuple(indices.shape)}."
        )
    z_flat = jnp.asarray(z_flat, jnp.float32)
    counts = jnp.zeros((num_codes,), jnp.float32).at[indices].add(1.0)
    sums = jnp.zeros((num_codes, dim), jnp.float32).at[indices].add(z_flat)

    step = state.step + 1
    d = jnp.float32(decay)
    rate = (1.0 - d) / (1.0 - jnp.power(d, step.astype(jnp.float32)))
    rate = jnp.where(step == 1, jnp.float32(1.0), rate)  # exact at the first step
    cluster_size = (1.0 - rate) * state.cluster_size + rate * counts
    embed_sum = (1.0 - rate) * state.embed_sum + rate * sums

    n = jnp.sum(cluster_size)
    smoothed = (cluster_size + epsilon) / (n + num_codes * epsilon) * n
    updated = embed_sum / jnp.maximum(smoothed, jnp.finfo(jnp.float32).tiny)[:, None]
    codebook = jnp.where((cluster_size > 0.0)[:, None], updated, state.codebook)
    return EMAState(codebook=codebook, cluster_size=cluster_size, embed_sum=embed_sum, step=step)
