"""Analytic KL divergence of a diagonal Gaussian posterior to the standard normal prior."""

import jax.numpy as jnp
from jaxtyping import Float

from vaekit._checks import check_same_shape
from vaekit._types import AnyArray
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._reductions import sum_event


def gaussian_kl_per_dim(
    mean: Float[AnyArray, "batch latent"], logvar: Float[AnyArray, "batch latent"]
) -> Float[AnyArray, "batch latent"]:
    """KL(N(mean, exp(logvar)) || N(0, 1)) for every latent dimension of every sample.

    ``0.5 * (mean² + exp(logvar) − 1 − logvar)``, written as ``0.5 * (mean² + expm1(logvar) −
    logvar)`` so that it is exactly 0 at the prior and keeps precision for small ``logvar``
    (Kingma & Welling 2014, appendix B).

    Numerics: computed in float32 (float16/bfloat16 inputs are upcast, so the result is
    float32; float16 alone overflows ``exp`` at ``logvar = 11.1``). ``logvar`` is *not*
    clamped: the value and its gradient ``½ expm1(logvar)`` are exact and finite for
    ``logvar <= 88`` (float32's ``exp`` overflows at 88.7) and ``|mean| <= 1e19``, e.g.
    ``2.8e34`` nats at ``logvar = 80`` and ``39.5`` at ``logvar = −80`` (linear in ``−logvar``,
    no overflow below). A clamp, say to ``[−30, 30]``, would change the KL outside it and zero
    its gradient there, so an encoder whose log-variance drifted out would get no signal back;
    beyond float32's range the KL is ``inf`` (``make_train_step(..., skip_nonfinite=True)``
    skips such a step).

    Args:
      mean: posterior means, shape ``(batch, latent)``.
      logvar: posterior log-variances, same shape.

    Returns:
      Non-negative per-dimension KL in nats, shape ``(batch, latent)`` (no reduction),
      float32 (or wider).

    Example:
      >>> import jax.numpy as jnp
      >>> gaussian_kl_per_dim(jnp.zeros((1, 2)), jnp.zeros((1, 2))).tolist()
      [[0.0, 0.0]]
    """
    check_same_shape(mean.shape, logvar.shape, "mean", "logvar")
    mean, logvar = at_least_float32(mean), at_least_float32(logvar)
    per_dim = 0.5 * (jnp.square(mean) + jnp.expm1(logvar) - logvar)
    # expm1(v) - v >= 0 mathematically; clamp the last-ulp rounding so KL >= 0 holds exactly.
    return jnp.maximum(per_dim, 0.0)


def gaussian_kl(
    mean: Float[AnyArray, "batch latent"], logvar: Float[AnyArray, "batch latent"]
) -> Float[AnyArray, " batch"]:
    """KL(q(z|x) || N(0, I)) per sample: :func:`gaussian_kl_per_dim` summed over latent dims.

    Example:
      >>> import jax.numpy as jnp
      >>> gaussian_kl(jnp.ones((3, 2)), jnp.zeros((3, 2))).tolist()
      [1.0, 1.0, 1.0]
    """
    return sum_event(gaussian_kl_per_dim(mean, logvar))
