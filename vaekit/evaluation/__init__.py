"""Evaluation of learned representations: latent statistics and disentanglement metrics.

Host-side (numpy) metrics with the definitions of disentanglement_lib (Locatello et al. 2019,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled Representations"):
MIG, SAP, DCI, the FactorVAE and β-VAE scores, and the sample-based MIG of Chen et al.
(2018). The classifier-based metrics need scikit-learn,
the ``eval`` extra (``pip install vaekit[eval]``), imported only when a metric runs.

Array-level metrics (:func:`mig`, :func:`sap`, :func:`dci`) take batch-first ``codes (N, L)`` and
``factors (N, K)``; ``compute_*`` functions sample them from ground-truth data through a
representation function; :func:`evaluate_representation` / :func:`evaluate_model` run them all.
"""

from vaekit.evaluation._beta_vae_score import compute_beta_vae
from vaekit.evaluation._chen_mig import (
    ChenMIG,
    chen_mig,
    compute_chen_mig,
    estimate_entropies,
    grid_values,
)
from vaekit.evaluation._dci import (
    PREDICTORS,
    completeness,
    compute_dci,
    dci,
    dci_importance_matrix,
    disentanglement,
)
from vaekit.evaluation._discretize import histogram_discretize
from vaekit.evaluation._factor_vae import compute_factor_vae, majority_vote_accuracy
from vaekit.evaluation._ground_truth import DSpritesData, GroundTruthData, IdentityObservationData
from vaekit.evaluation._latents import encode_dataset, latent_statistics, mean_representation
from vaekit.evaluation._log_likelihood import (
    LogLikelihood,
    importance_log_weights,
    log_likelihood,
)
from vaekit.evaluation._metrics_all import (
    FULL_SIZES,
    NUM_LATENT_SAMPLES,
    QUICK_SIZES,
    evaluate_model,
    evaluate_representation,
)
from vaekit.evaluation._mig import compute_mig, mig
from vaekit.evaluation._mutual_info import discrete_entropy, discrete_mutual_info
from vaekit.evaluation._sampling import RepresentationFn, sample_codes_and_factors
from vaekit.evaluation._sap import compute_sap, sap, sap_score_matrix

__all__ = [
    "ChenMIG",
    "chen_mig",
    "compute_chen_mig",
    "estimate_entropies",
    "grid_values",
    "FULL_SIZES",
    "NUM_LATENT_SAMPLES",
    "PREDICTORS",
    "QUICK_SIZES",
    "DSpritesData",
    "GroundTruthData",
    "IdentityObservationData",
    "RepresentationFn",
    "completeness",
    "compute_beta_vae",
    "compute_dci",
    "compute_factor_vae",
    "compute_mig",
    "compute_sap",
    "dci",
    "dci_importance_matrix",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement",
    "encode_dataset",
    "evaluate_model",
    "evaluate_representation",
    "histogram_discretize",
    "latent_statistics",
    "LogLikelihood",
    "importance_log_weights",
    "log_likelihood",
    "majority_vote_accuracy",
    "mean_representation",
    "mig",
    "sample_codes_and_factors",
    "sap",
    "sap_score_matrix",
]
