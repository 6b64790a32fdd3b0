"""vaekit: composable variational autoencoders in JAX.

Encoders and decoders are plain Flax NNX modules; what is optimised is a pure objective
``objective(out, batch, step) -> (loss, metrics)``; one :func:`make_train_step` trains them all.
"""

from vaekit import objectives, schedules
from vaekit._types import Batch, Metrics, Objective
from vaekit.models import (
    ACTIVATIONS,
    VAE,
    MLPDecoder,
    MLPEncoder,
    VAEOutput,
    get_activation,
    reparameterize,
)
from vaekit.objectives import (
    batch_mean,
    bernoulli_nll,
    beta_tcvae,
    beta_vae,
    capacity_vae,
    compose,
    dip_vae,
    free_bits_vae,
    gaussian_kl,
    gaussian_kl_per_dim,
    gaussian_nll,
    info_vae,
    kl_monitoring_metrics,
    kl_term,
    mmd_vae,
    reconstruction_term,
    sum_event,
    sum_of_squares,
)
from vaekit.schedules import (
    as_schedule,
    capacity_schedule,
    cyclical_schedule,
    epochs_to_steps,
    linear_warmup,
    logistic_schedule,
    named_schedule,
)
from vaekit.training import (
    TrainState,
    TrainStep,
    batch_indices,
    default_forward,
    evaluate_dataset,
    fit,
    make_train_step,
)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "VAE",
    "Batch",
    "MLPDecoder",
    "MLPEncoder",
    "Metrics",
    "Objective",
    "TrainState",
    "TrainStep",
    "VAEOutput",
    "__version__",
    "as_schedule",
    "batch_indices",
    "batch_mean",
    "bernoulli_nll",
    "beta_tcvae",
    "beta_vae",
    "capacity_schedule",
    "capacity_vae",
    "compose",
    "cyclical_schedule",
    "dip_vae",
    "epochs_to_steps",
    "free_bits_vae",
    "default_forward",
    "evaluate_dataset",
    "fit",
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "gaussian_nll",
    "get_activation",
    "info_vae",
    "kl_monitoring_metrics",
    "kl_term",
    "linear_warmup",
    "logistic_schedule",
    "make_train_step",
    "mmd_vae",
    "named_schedule",
    "objectives",
    "reconstruction_term",
    "reparameterize",
    "schedules",
    "sum_event",
    "sum_of_squares",
]
