"""Reconstruction negative log-likelihoods, summed over event dims (one value per sample)."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Float

from vaekit._checks import check_number, check_same_shape
from vaekit._types import AnyArray, Likelihood
from vaekit.objectives.reductions import sum_event


def bernoulli_nll(
    logits: Float[AnyArray, "batch *event"], x: Float[AnyArray, "batch *event"]
) -> Float[AnyArray, " batch"]:
    """Bernoulli negative log-likelihood of ``x`` in [0, 1] given decoder *logits*.

    Per element ``softplus(l) − l·x`` = ``−x·log σ(l) − (1−x)·log(1−σ(l))``, computed from the
    logits so it is finite for any logit magnitude (never BCE on sigmoid probabilities); its
    gradient in ``l`` is exactly ``σ(l) − x``.

    Args:
      logits: decoder outputs, shape ``(batch, *event)``.
      x: targets in [0, 1], same shape.

    Returns:
      NLL in nats summed over event dims, shape ``(batch,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(bernoulli_nll(jnp.zeros((1, 2)), jnp.ones((1, 2)))[0]), 4)
      1.3863
    """
    check_same_shape(logits.shape, x.shape, "logits", "x")
    x = x.astype(logits.dtype)
    return sum_event(jax.nn.softplus(logits) - logits * x)


def gaussian_nll(sigma: float | int = 1.0) -> Likelihood:
    """Gaussian NLL with fixed standard deviation ``sigma``: ``(x−μ)²/(2σ²) + log σ + ½ log 2π``.

    Returns a likelihood ``(recon, x) -> (batch,)`` summed over event dims.

    Example:
      >>> import jax.numpy as jnp
      >>> nll = gaussian_nll(sigma=1.0)
      >>> round(float(nll(jnp.zeros((1, 1)), jnp.zeros((1, 1)))[0]), 4)
      0.9189
    """
    sigma = check_number(sigma, "sigma", minimum=0.0, strict=True)
    const = math.log(sigma) + 0.5 * math.log(2.0 * math.pi)

    def nll(
        recon: Float[AnyArray, "batch *event"], x: Float[AnyArray, "batch *event"]
    ) -> Float[AnyArray, " batch"]:
        check_same_shape(recon.shape, x.shape, "recon", "x")
        return sum_event(jnp.square(x - recon) / (2.0 * sigma**2) + const)

    return nll


def sum_of_squares(
    recon: Float[AnyArray, "batch *event"], x: Float[AnyArray, "batch *event"]
) -> Float[AnyArray, " batch"]:
    """Squared error ``Σ (x − recon)²`` per sample (the Gaussian NLL up to scale and constant).

    Example:
      >>> import jax.numpy as jnp
      >>> sum_of_squares(jnp.zeros((1, 2)), jnp.ones((1, 2))).tolist()
      [2.0]
    """
    check_same_shape(recon.shape, x.shape, "recon", "x")
    return sum_event(jnp.square(x - recon))


LIKELIHOODS: dict[str, Likelihood] = {
    "bernoulli": bernoulli_nll,
    "gaussian": gaussian_nll(1.0),
    "sum_of_squares": sum_of_squares,
}
