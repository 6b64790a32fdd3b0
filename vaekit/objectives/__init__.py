"""Pure objective terms and objectives: ``objective(out, batch, step) -> (loss, metrics)``."""

from vaekit.objectives.beta_vae import beta_vae
from vaekit.objectives.kl import gaussian_kl, gaussian_kl_per_dim
from vaekit.objectives.likelihoods import (
    LIKELIHOODS,
    bernoulli_nll,
    gaussian_nll,
    sum_of_squares,
)
from vaekit.objectives.monitoring import kl_monitoring_metrics
from vaekit.objectives.reductions import batch_mean, sum_event

__all__ = [
    "LIKELIHOODS",
    "batch_mean",
    "bernoulli_nll",
    "beta_vae",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "gaussian_nll",
    "kl_monitoring_metrics",
    "sum_event",
    "sum_of_squares",
]
