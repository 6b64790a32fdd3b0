"""Pure objective terms and objectives: ``objective(out, batch, step) -> (loss, metrics)``."""

from vaekit._outputs import (
    GaussianOutput,
    GaussianPosterior,
    QuantizedOutput,
    Reconstruction,
    SampledOutput,
)
from vaekit._permute import permute_dims
from vaekit.objectives._beta_vae import beta_vae
from vaekit.objectives._capacity import capacity_penalty, capacity_term, capacity_vae
from vaekit.objectives._code_prior import code_prior_nll
from vaekit.objectives._compose import ComposedObjective, Reporter, Term, compose
from vaekit.objectives._dip import DIP_KINDS, dip_covariance, dip_regularizer, dip_vae
from vaekit.objectives._factor_vae import (
    DISCRIMINATOR_ADAM,
    VAE_ADAM,
    density_ratio_tc,
    discriminator_loss,
    factor_vae,
    factor_vae_optimizer,
    submodule_labels,
)
from vaekit.objectives._free_bits import free_bits_kl, free_bits_term, free_bits_vae
from vaekit.objectives._hierarchical import (
    gaussian_kl_between,
    hierarchical_kl_term,
    hierarchical_vae,
)
from vaekit.objectives._iwae import (
    IWAEObjective,
    IWAEOutput,
    effective_sample_size,
    iwae,
    iwae_bound,
    iwae_forward,
)
from vaekit.objectives._kl import gaussian_kl, gaussian_kl_per_dim
from vaekit.objectives._likelihoods import (
    LIKELIHOODS,
    bernoulli_nll,
    gaussian_nll,
    sum_of_squares,
)
from vaekit.objectives._mmd import (
    KERNELS,
    info_vae,
    inverse_multiquadric_kernel,
    mmd,
    mmd_term,
    mmd_vae,
    rbf_kernel,
)
from vaekit.objectives._monitoring import kl_monitor, kl_monitoring_metrics
from vaekit.objectives._reductions import batch_mean, sum_event
from vaekit.objectives._sampled_kl import (
    SampledVAEOutput,
    sampled_kl,
    sampled_kl_term,
    sampled_kl_vae,
)
from vaekit.objectives._tcvae import TCTerms, beta_tcvae, gaussian_log_density, tc_decomposition
from vaekit.objectives._terms import kl_term, reconstruction_term
from vaekit.objectives._vq import quantized_autoencoder, quantizer_loss_term, vq_vae

__all__ = [
    "GaussianOutput",
    "GaussianPosterior",
    "QuantizedOutput",
    "Reconstruction",
    "SampledOutput",
    "SampledVAEOutput",
    "sampled_kl",
    "sampled_kl_term",
    "sampled_kl_vae",
    "ComposedObjective",
    "DIP_KINDS",
    "DISCRIMINATOR_ADAM",
    "KERNELS",
    "LIKELIHOODS",
    "VAE_ADAM",
    "Reporter",
    "TCTerms",
    "Term",
    "batch_mean",
    "bernoulli_nll",
    "beta_tcvae",
    "beta_vae",
    "capacity_penalty",
    "capacity_term",
    "capacity_vae",
    "code_prior_nll",
    "compose",
    "density_ratio_tc",
    "dip_covariance",
    "dip_regularizer",
    "dip_vae",
    "discriminator_loss",
    "factor_vae",
    "factor_vae_optimizer",
    "free_bits_kl",
    "free_bits_term",
    "free_bits_vae",
    "gaussian_kl",
    "gaussian_kl_between",
    "gaussian_kl_per_dim",
    "gaussian_log_density",
    "gaussian_nll",
    "hierarchical_kl_term",
    "hierarchical_vae",
    "info_vae",
    "IWAEObjective",
    "IWAEOutput",
    "effective_sample_size",
    "iwae",
    "iwae_bound",
    "iwae_forward",
    "inverse_multiquadric_kernel",
    "kl_monitor",
    "kl_monitoring_metrics",
    "kl_term",
    "mmd",
    "mmd_term",
    "mmd_vae",
    "permute_dims",
    "quantized_autoencoder",
    "quantizer_loss_term",
    "rbf_kernel",
    "reconstruction_term",
    "submodule_labels",
    "sum_event",
    "sum_of_squares",
    "tc_decomposition",
    "vq_vae",
]
