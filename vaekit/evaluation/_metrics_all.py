"""All metrics at once, with sample sizes that fit a CPU; a quick subset for the end of training."""

from types import MappingProxyType

import numpy as np
from flax import nnx

from vaekit._checks import check_int
from vaekit.evaluation._beta_vae_score import compute_beta_vae
from vaekit.evaluation._dci import compute_dci
from vaekit.evaluation._factor_vae import compute_factor_vae
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._latents import encode_dataset, latent_statistics, mean_representation
from vaekit.evaluation._mig import compute_mig
from vaekit.evaluation._sampling import RepresentationFn, default_data, sample_observations
from vaekit.evaluation._sap import compute_sap

FULL_SIZES = MappingProxyType({
    "mig": {"num_train": 10000},
    "sap": {"num_train": 5000, "num_test": 2000},
    "dci": {"num_train": 2000, "num_test": 1000},
    "factor_vae": {"num_train": 2000, "num_eval": 1000, "num_variance_estimate": 5000},
    "beta_vae": {"num_train": 2000, "num_eval": 1000},
})
"""Sample sizes of :func:`evaluate_representation` (``quick=False``): the disentanglement_lib
study sizes for MIG, and 2-5x fewer points for the classifier-based metrics so that a full
evaluation takes minutes on a CPU."""

QUICK_SIZES = MappingProxyType({"mig": {"num_train": 2000}})
"""Sample sizes of the quick subset (``quick=True``): MIG only."""

NUM_LATENT_SAMPLES = MappingProxyType({False: 10000, True: 2000})
"""Observations encoded for :func:`latent_statistics` by :func:`evaluate_model` (by ``quick``)."""


def evaluate_representation(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    seed: int = 0,
    *,
    quick: bool = False,
) -> dict[str, float]:
    """Every metric of a representation function, as one flat ``"metric.key" -> value`` dict.

    ``quick=False`` runs MIG, SAP, DCI (gradient-boosted trees), the FactorVAE and the β-VAE
    scores with :data:`FULL_SIZES`; ``quick=True`` runs MIG alone on 2000 points
    (:data:`QUICK_SIZES`, seconds). Every metric draws from its own
    ``np.random.default_rng(seed)``, as disentanglement_lib evaluates each metric with
    ``random_seed=0``. Keys are disentanglement_lib's, prefixed by the metric: ``mig.discrete_mig``,
    ``sap.SAP_score``, ``dci.disentanglement``, ``dci.completeness``,
    ``dci.informativeness_train``, ``dci.informativeness_test``, ``factor_vae.train_accuracy``,
    ``factor_vae.eval_accuracy``, ``factor_vae.num_active_dims``, ``beta_vae.train_accuracy``,
    ``beta_vae.eval_accuracy``.

    Args:
      representation_fn: observations ``(n, ...)`` -> codes ``(n, L)``, ``L >= 2``.
      data: ground-truth data (default: procedural dSprites).
      seed: seed of every metric's sampling.
      quick: run the cheap subset only.

    Returns:
      Flat dict of floats.

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> scores = evaluate_representation(lambda x: x, IdentityObservationData((3, 4)),
      ...                                  quick=True)
      >>> sorted(scores), scores["mig.discrete_mig"] > 0.9
      (['mig.discrete_mig'], True)
    """
    data = default_data(data)
    seed = check_int(seed, "seed", minimum=0)
    sizes = QUICK_SIZES if quick else FULL_SIZES
    metrics = {
        "mig": compute_mig,
        "sap": compute_sap,
        "dci": compute_dci,
        "factor_vae": compute_factor_vae,
        "beta_vae": compute_beta_vae,
    }
    scores: dict[str, float] = {}
    for name, kwargs in sizes.items():
        result = metrics[name](representation_fn, data, seed=seed, **kwargs)
        scores.update({f"{name}.{key}": float(value) for key, value in result.items()})
    return scores


def evaluate_model(
    model: nnx.Module,
    data: GroundTruthData | None = None,
    seed: int = 0,
    *,
    quick: bool = False,
    batch_size: int = 256,
    threshold: float | int = 0.01,
) -> dict[str, float]:
    """:func:`evaluate_representation` of a VAE's posterior means, plus its latent statistics.

    Adds ``latents.active_dims`` (Burda et al. 2016 active units, :func:`latent_statistics`
    with ``threshold``) and ``latents.kl`` (mean KL to the prior, nats) over
    :data:`NUM_LATENT_SAMPLES` observations drawn with ``np.random.default_rng(seed)``.
    ``quick=True`` (MIG on 2000 points + latent statistics on 2000 observations) is cheap enough
    to run at the end of every training run.

    Args:
      model: an NNX module with ``encode(x) -> (mean, logvar)`` whose input matches ``data``'s
        observations (64x64x1 images for dSprites).
      data: ground-truth data (default: procedural dSprites).
      seed: seed of all sampling.
      quick: run the cheap subset only.
      batch_size: images per encoder call.
      threshold: activity threshold on the variance of the posterior means.

    Returns:
      Flat dict of floats.

    Example:
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((64, 64, 1), 3, (16,), rngs=rngs),
      ...                  vaekit.MLPDecoder(3, (64, 64, 1), (16,), rngs=rngs))
      >>> sorted(evaluate_model(vae, quick=True))
      ['latents.active_dims', 'latents.kl', 'mig.discrete_mig']
    """
    data = default_data(data)
    seed = check_int(seed, "seed", minimum=0)
    scores = evaluate_representation(mean_representation(model, batch_size), data, seed,
                                     quick=quick)
    rng = np.random.default_rng(seed)
    observations = sample_observations(data, NUM_LATENT_SAMPLES[bool(quick)], rng)
    stats = latent_statistics(*encode_dataset(model, observations, batch_size), threshold)
    scores["latents.active_dims"] = float(stats["active_dims"])
    scores["latents.kl"] = stats["kl"]
    return scores
