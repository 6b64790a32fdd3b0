"""The reparameterisation trick for a diagonal Gaussian (Kingma & Welling 2014)."""

import jax
import jax.numpy as jnp
from jaxtyping import Float, PRNGKeyArray

from vaekit._checks import check_same_shape
from vaekit._types import AnyArray


def reparameterize(
    key: PRNGKeyArray,
    mean: Float[AnyArray, "batch latent"],
    logvar: Float[AnyArray, "batch latent"],
) -> Float[AnyArray, "batch latent"]:
    """Samples ``z = mean + exp(logvar / 2) · ε`` with ``ε ~ N(0, I)`` drawn from ``key``.

    Differentiable in ``mean`` and ``logvar``; the randomness comes only from ``key``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> z = reparameterize(jax.random.key(0), jnp.zeros((4, 2)), jnp.zeros((4, 2)))
      >>> z.shape
      (4, 2)
    """
    check_same_shape(mean.shape, logvar.shape, "mean", "logvar")
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * logvar) * eps
