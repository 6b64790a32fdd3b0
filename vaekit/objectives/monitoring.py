"""KL-collapse monitoring: per-dimension KL and the number of active latent dimensions."""

import jax.numpy as jnp
from jaxtyping import Float

from vaekit._types import AnyArray, Metrics


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
