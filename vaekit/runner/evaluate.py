"""Evaluation of a trained run: latent analysis, disentanglement metrics, codebook usage."""

import json
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from vaekit.data import FACTOR_NAMES
from vaekit.evaluation import (
    DSpritesData,
    discrete_mutual_info,
    encode_dataset,
    evaluate_model,
    histogram_discretize,
    latent_statistics,
    mean_representation,
    sample_codes_and_factors,
)
from vaekit.models import VQVAE, ConditionalVAE
from vaekit.plots import bar_chart_figure, heatmap_figure

ACTIVE_THRESHOLD = 0.01


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
        mi = mutual_info_matrix(model, seed)
        heatmap_figure(mi, out / "mutual_information.png", row_labels=labels,
                       col_labels=list(FACTOR_NAMES), colorbar_label="nats",
                       title="mutual information: latent means × ground-truth factors")
    return report


def evaluate_trained(parts, model, out: Path, *, quick: bool) -> dict:
    """The evaluation report of ``model`` from a run's ``parts``; plots go to ``out``."""
    config = parts.config
    if isinstance(model, ConditionalVAE):
        return {}  # see docs/conditioning.md for the generation-accuracy check
    if isinstance(model, VQVAE):
        quantizer = model.quantizer
        num_codes = getattr(quantizer, "codebook_size", getattr(quantizer, "num_codes", None))
        return codebook_report(model, parts.data.val_images, num_codes, out)
    return latent_report(model, parts.data.val_images, out,
                         dsprites=config.data.name == "dsprites", seed=config.train.seed,
                         quick=quick)


def evaluate_run(run_dir: str | Path, which: str = "best", *, quick: bool = False) -> dict:
    """``vaekit eval``: evaluates a run's checkpoint and writes ``eval_<which>.json`` + PNGs."""
    from vaekit.runner.run import load_run

    run_dir = Path(run_dir)
    parts = load_run(run_dir, which)
    report = {"checkpoint": which, "step": int(parts.state.step),
              **evaluate_trained(parts, parts.state.model(), run_dir, quick=quick)}
    (run_dir / f"eval_{which}.json").write_text(json.dumps(report, indent=2))
    return report
