"""KL-collapse monitoring: per-dimension KL and the number of active latent dimensions."""

import jax.numpy as jnp
from jaxtyping import Float

from vaekit._checks import check_number
from vaekit._outputs import GaussianPosterior
from vaekit._types import AnyArray, Batch, Metrics, Step
from vaekit.objectives._compose import Reporter
from vaekit.objectives._kl import gaussian_kl_per_dim


def kl_monitoring_metrics(
    kl_per_dim: Float[AnyArray, "batch latent"], threshold: float | int = 0.01
) -> Metrics:
    """Batch-mean KL of each latent dimension (``kl_dim_{i}``) and ``active_dims``.

    A dimension counts as active when its batch-mean KL exceeds ``threshold`` nats; a posterior
    collapsed onto the prior carries no information about ``x`` (Bowman et al. 2016; the
    variance-based "active units" of Burda et al. 2016 lives in vaekit's evaluation tools).

    Example:
      >>> import jax.numpy as jnp
      >>> m = kl_monitoring_metrics(jnp.array([[0.0, 2.0]]))
      >>> float(m["active_dims"]), float(m["kl_dim_1"])
      (1.0, 2.0)
    """
    per_dim = jnp.mean(kl_per_dim, axis=0)
    metrics = {f"kl_dim_{i}": per_dim[i] for i in range(per_dim.shape[0])}
    metrics["active_dims"] = jnp.sum(per_dim > threshold).astype(jnp.float32)
    return metrics


def kl_monitor(active_threshold: float | int = 0.01) -> Reporter:
    """A :func:`vaekit.compose` reporter of KL-collapse monitoring.

    A :func:`vaekit.compose` reporter of KL-collapse monitoring for a diagonal Gaussian posterior:
    ``kl_dim_{i}`` (batch-mean analytic KL of dimension ``i`` to ``N(0, I)``) and ``active_dims``
    (dimensions above ``active_threshold`` nats), from ``out.mean`` and ``out.logvar`` of shape
    ``(batch, latent)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from vaekit.models import VAEOutput
      >>> out = VAEOutput(recon=jnp.zeros((2, 3)), mean=jnp.array([[0.0, 2.0], [0.0, 2.0]]),
      ...                 logvar=jnp.zeros((2, 2)), z=jnp.zeros((2, 2)))
      >>> float(kl_monitor()(out, {}, 0)["active_dims"])
      1.0
    """
    threshold = check_number(active_threshold, "active_threshold", minimum=0.0)

    def reporter(out: GaussianPosterior, batch: Batch, step: Step) -> Metrics:
        if not (hasattr(out, "mean") and hasattr(out, "logvar")):
            raise ValueError("kl_monitor needs a model output with `mean` and `logvar`, got "
                             f"{type(out).__name__}.")
        return kl_monitoring_metrics(gaussian_kl_per_dim(out.mean, out.logvar), threshold)

    return reporter
