"""Evaluation of a trained run: latent analysis, disentanglement metrics, codebook usage."""

import json
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from vaekit.data import FACTOR_NAMES
from vaekit.evaluation import (
    DSpritesData,
    compute_chen_mig,
    discrete_mutual_info,
    encode_dataset,
    evaluate_model,
    histogram_discretize,
    latent_statistics,
    mean_representation,
    sample_codes_and_factors,
)
from vaekit.evaluation._log_likelihood import has_log_weight, log_likelihood
from vaekit.models import IAFVAE, VQVAE, ConditionalVAE, HierarchicalVAE, VampPriorVAE
from vaekit.objectives import LIKELIHOODS
from vaekit.plots import bar_chart_figure, heatmap_figure
from vaekit.runner._posthoc import code_bits, load_code_prior, num_codes_of

ACTIVE_THRESHOLD = 0.01
QUICK_NLL_SAMPLES = 100
"""Importance samples of the NLL in a run's end-of-training evaluation (``vaekit eval``: 1000)."""


@nnx.jit
def _code_indices(model: VQVAE, x: jax.Array) -> jax.Array:
    return model.quantize(model.encode(x), train=False).indices


def codebook_report(model: VQVAE, images: np.ndarray, num_codes: int, out: Path,
                    batch_size: int = 256) -> dict:
    """Code counts over ``images``: perplexity, fraction used, and a usage histogram PNG."""
    counts = np.zeros(num_codes, np.int64)
    for start in range(0, len(images), batch_size):
        idx = np.asarray(_code_indices(model, images[start : start + batch_size])).ravel()
        counts += np.bincount(idx, minlength=num_codes)[:num_codes]
    p = counts / counts.sum()
    nonzero = p[p > 0]
    perplexity = float(np.exp(-np.sum(nonzero * np.log(nonzero))))
    bar_chart_figure(counts, out / "codebook_usage.png", ylabel="assignments",
                     title=f"codebook usage on validation data (perplexity {perplexity:.1f} "
                           f"of {num_codes})")
    return {"codebook.perplexity": perplexity,
            "codebook.usage": float(np.mean(counts > 0))}


def mutual_info_matrix(model, seed: int, num_points: int = 2000, num_bins: int = 20):
    """Discrete MI (nats) between each latent mean and each dSprites factor, ``(L, K)``."""
    codes, factors = sample_codes_and_factors(mean_representation(model), DSpritesData(),
                                              num_points, np.random.default_rng(seed))
    return discrete_mutual_info(histogram_discretize(codes.T, num_bins), factors.T)


CHEN_MIG_GRID = 8
"""Values per dSprites factor on the grid of the run's Chen MIG (9,216 images; seconds)."""


def chen_mig_report(model, seed: int) -> dict:
    """Chen et al.'s MIG on the dSprites factor grid.

    Chen et al.'s MIG (shape excluded, as the paper) on the dSprites factor grid with
    :data:`CHEN_MIG_GRID` values per factor, its gap per factor, and for every factor the latent
    dimension carrying most of it and that normalised MI (``chen_mig.best_mi.<f>``,
    ``chen_mig.best_dim.<f>``).
    """
    scores = compute_chen_mig(lambda x: encode_dataset(model, x), DSpritesData(),
                              max_values=CHEN_MIG_GRID, seed=seed)
    report = {"chen_mig.score": scores["chen_mig"]}
    for k, name in enumerate(FACTOR_NAMES):
        if f"chen_mig.{k}" in scores:
            report[f"chen_mig.gap.{name}"] = scores[f"chen_mig.{k}"]
        report[f"chen_mig.best_mi.{name}"] = scores[f"chen_mig_mi.{k}"]
        report[f"chen_mig.best_dim.{name}"] = int(scores[f"chen_mig_dim.{k}"])
    return report


def latent_report(model, val_images: np.ndarray, out: Path, *, dsprites: bool, seed: int,
                  quick: bool) -> dict:
    """Latent statistics with KL/variance bar charts; on dSprites also metrics and MI map."""
    means, logvars = encode_dataset(model, val_images)
    stats = latent_statistics(means, logvars, threshold=ACTIVE_THRESHOLD)
    labels = [f"z{i}" for i in range(means.shape[1])]
    bar_chart_figure(stats["kl_per_dim"], out / "kl_per_dim.png", labels=labels,
                     ylabel="nats", title="KL per latent dimension (validation mean)")
    bar_chart_figure(stats["variance_of_means"], out / "latent_variance.png", labels=labels,
                     threshold=ACTIVE_THRESHOLD, ylabel="Var[E q(z|x)]",
                     title=f"variance of posterior means: {stats['active_dims']} active dims")
    report = {"latents.val_active_dims": int(stats["active_dims"]),
              "latents.val_kl": float(stats["kl"])}
    if dsprites:
        report.update(evaluate_model(model, seed=seed, quick=quick))
        report.update(chen_mig_report(model, seed))
        mi = mutual_info_matrix(model, seed)
        heatmap_figure(mi, out / "mutual_information.png", row_labels=labels,
                       col_labels=list(FACTOR_NAMES), colorbar_label="nats",
                       title="mutual information: latent means × ground-truth factors")
    return report


def likelihood_report(parts, model, num_samples: int) -> dict:
    """Importance-sampled NLL of the validation images.

    Importance-sampled NLL of the validation images (nats per image, its standard error, bits per
    dimension) with ``num_samples`` samples each; ``{}`` when the model has no importance weights
    (quantized, FactorVAE's pair is evaluated through its VAE) or the likelihood is not a normalised
    density (``sum_of_squares``). With dynamic binarisation the validation images are binarised once
    with the run's seed.
    """
    config = parts.config
    model = getattr(model, "vae", model)
    if num_samples < 1 or not has_log_weight(model) or config.objective.likelihood not in (
            "bernoulli", "gaussian"):
        return {}
    images = parts.data.val_images
    seed = config.train.seed
    if config.data.binarize == "dynamic":
        images = (np.random.default_rng(seed).random(images.shape) < images).astype(np.float32)
    labels = parts.data.val_labels if isinstance(model, ConditionalVAE) else None
    result = log_likelihood(model, images, key=jax.random.key(seed), num_samples=num_samples,
                            likelihood=LIKELIHOODS[config.objective.likelihood], labels=labels)
    return {"likelihood.val_nll": float(result.nll),
            "likelihood.val_nll_stderr": float(result.stderr),
            "likelihood.val_bits_per_dim": float(result.bits_per_dim),
            "likelihood.num_samples": int(result.num_samples)}


def active_dims_report(model, val_images: np.ndarray) -> dict:
    """Active dimensions by the variance of the posterior means (any Gaussian encoder)."""
    means, _ = encode_dataset(model, val_images)
    return {"latents.val_active_dims": int(np.sum(means.var(axis=0) > ACTIVE_THRESHOLD))}


def evaluate_trained(parts, model, out: Path, *, quick: bool,
                     nll_samples: int | None = None) -> dict:
    """The evaluation report of ``model`` from a run's ``parts``; plots go to ``out``.

    ``nll_samples``: importance samples of the validation NLL (default
    :data:`QUICK_NLL_SAMPLES`; 0: none).
    """
    config = parts.config
    k = QUICK_NLL_SAMPLES if nll_samples is None else nll_samples
    if isinstance(model, VQVAE):
        return codebook_report(model, parts.data.val_images, num_codes_of(model), out)
    nll = likelihood_report(parts, model, k)
    if isinstance(model, ConditionalVAE):
        return nll  # see docs/conditioning.md for the generation-accuracy check
    if isinstance(model, HierarchicalVAE):
        return nll  # per-layer KL and active dims: the kl_layer_* / active_dims_layer_* rows
    if isinstance(model, VampPriorVAE):
        return {**active_dims_report(model, parts.data.val_images), **nll}
    if isinstance(model, IAFVAE):
        return nll  # the base Gaussian is not q(z|x): its KL to N(0, I) is not the model's KL
    return {**latent_report(model, parts.data.val_images, out,
                            dsprites=config.data.name == "dsprites", seed=config.train.seed,
                            quick=quick), **nll}


def evaluate_run(run_dir: str | Path, which: str = "best", *, quick: bool = False,
                 nll_samples: int = 1000) -> dict:
    """``vaekit eval``: evaluates a run's checkpoint and writes ``eval_<which>.json`` + PNGs.

    ``nll_samples`` importance samples per validation image for the NLL (0: skip it); a
    quantized run with a code prior also reports the prior's held-out bits per code.
    """
    from vaekit.runner._run import load_run

    run_dir = Path(run_dir)
    parts = load_run(run_dir, which)
    model = parts.state.model()
    report = {"checkpoint": which, "step": int(parts.state.step),
              **evaluate_trained(parts, model, run_dir, quick=quick, nll_samples=nll_samples)}
    if isinstance(model, VQVAE):
        prior = load_code_prior(run_dir, parts, model)
        if prior is not None:
            from vaekit.models import encode_codes

            bits = code_bits(prior, encode_codes(model, parts.data.val_images))
            report["prior.val_bits_per_code"] = bits["bits_per_code"]
            report["prior.val_accuracy"] = bits["accuracy"]
    (run_dir / f"eval_{which}.json").write_text(json.dumps(report, indent=2))
    return report
