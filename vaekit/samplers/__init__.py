"""Post-hoc samplers fitted after training: better latents than the prior N(0, I).

* Ex-post Gaussian mixture density estimation in latent space (Ghosh et al. 2020, "From
  Variational to Deterministic Autoencoders"): :func:`fit_latent_gmm`, :func:`sample_with_gmm`,
  on top of the pure EM functions :func:`fit_gmm`, :func:`gmm_log_prob`, :func:`sample_gmm`.
* The two-stage VAE (Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models"): a second VAE with
  a learned decoder variance on the latent codes, :func:`fit_two_stage`,
  :func:`sample_two_stage`.

Both work with any NNX model with ``encode(x) -> (mean, logvar)`` and ``decode(z)`` (with
``labels``: ``encode(x, y)`` / ``decode(z, y)``, e.g. :class:`vaekit.ConditionalVAE`). A run
uses them as ``sampler = fit_*(model, train_images, ..., key=key)`` then
``sample_*(model, sampler, key, n) -> decoder outputs``.
"""

from vaekit.samplers._gmm import (
    COVARIANCE_TYPES,
    GaussianMixture,
    GaussianMixtureFit,
    fit_gmm,
    gmm_log_prob,
    gmm_responsibilities,
    sample_gmm,
)
from vaekit.samplers._latent_gmm import fit_latent_gmm, sample_with_gmm
from vaekit.samplers._learned_gamma import (
    LearnedGammaOutput,
    LearnedGammaVAE,
    learned_gamma_nll_term,
    learned_gamma_vae_objective,
)
from vaekit.samplers._two_stage import (
    CODES,
    TwoStageSampler,
    fit_two_stage,
    sample_two_stage,
    two_stage_latents,
)

__all__ = [
    "CODES",
    "COVARIANCE_TYPES",
    "GaussianMixture",
    "GaussianMixtureFit",
    "LearnedGammaOutput",
    "LearnedGammaVAE",
    "TwoStageSampler",
    "fit_gmm",
    "fit_latent_gmm",
    "fit_two_stage",
    "gmm_log_prob",
    "gmm_responsibilities",
    "learned_gamma_nll_term",
    "learned_gamma_vae_objective",
    "sample_gmm",
    "sample_two_stage",
    "sample_with_gmm",
    "two_stage_latents",
]
