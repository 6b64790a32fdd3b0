"""Disentanglement on dSprites: VAE, β-VAE, β-TCVAE and FactorVAE under six metrics.

The comparison of Chen et al. (2018, "Isolating Sources of Disentanglement in VAEs") and Kim &
Mnih (2018, "Disentangling by Factorising"), scored as in Locatello et al. (2019,
disentanglement_lib): VAE (β = 1), β-VAE (β = 4, Higgins et al. 2017), β-TCVAE (β = 6 on the
total correlation, minibatch-weighted sampling) and FactorVAE (γ = 35, a 6×1000 discriminator
trained with its own Adam through the same :func:`vaekit.make_train_step`), all with 10 latent
dimensions, each trained once per seed. Scores: Chen et al.'s sample-based MIG
(:func:`vaekit.evaluation.chen_mig`), the discretised MIG, the FactorVAE score, DCI, SAP and the
β-VAE score (:mod:`vaekit.evaluation`), and the active units.
"""

from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from vaekit.data import NUM_COMBINATIONS, render_dsprites_batch, split_indices
from vaekit.evaluation._beta_vae_score import compute_beta_vae
from vaekit.evaluation._chen_mig import compute_chen_mig
from vaekit.evaluation._dci import compute_dci
from vaekit.evaluation._factor_vae import compute_factor_vae
from vaekit.evaluation._ground_truth import DSpritesData
from vaekit.evaluation._latents import encode_dataset, latent_statistics, mean_representation
from vaekit.evaluation._mig import compute_mig
from vaekit.evaluation._sap import compute_sap
from vaekit.models import VAE
from vaekit.models._cnn import CNNDecoder, CNNEncoder
from vaekit.models._factor_vae import Discriminator, FactorVAEModel
from vaekit.objectives._factor_vae import DISCRIMINATOR_ADAM
from vaekit.reproduce._common import grouped_bars_figure, mlp_vae, train_history
from vaekit.runner import KINDS, RunConfig
from vaekit.training import make_train_step

NAME = "disentanglement"
TITLE = "VAE, β-VAE, β-TCVAE, FactorVAE on dSprites: MIG (both kinds), FactorVAE, DCI, SAP"
MODELS = ("vae", "beta_vae", "beta_tcvae", "factor_vae")
MODEL_LABELS = {"vae": "VAE", "beta_vae": "β-VAE (β=4)", "beta_tcvae": "β-TCVAE (β=6)",
                "factor_vae": "FactorVAE (γ=35)"}
DEFAULT_SEEDS = {"smoke": (0,), "quick": (0, 1), "full": (0, 1, 2, 3, 4)}

_QUICK_METRICS = {
    "chen_mig": {"max_values": 8, "num_samples": 10_000},
    "mig": {"num_train": 10_000},
    "sap": {"num_train": 2000, "num_test": 1000},
    "dci": {"num_train": 500, "num_test": 250, "n_estimators": 20},
    "factor_vae": {"num_train": 300, "num_eval": 150, "num_variance_estimate": 2000},
    "beta_vae": {"num_train": 300, "num_eval": 150},
}
_FULL_METRICS = {  # disentanglement_lib's study sizes (the compute_* defaults), the full grid
    "chen_mig": {"max_values": None, "num_samples": 10_000},
    "mig": {"num_train": 10_000},
    "sap": {"num_train": 10_000, "num_test": 5000},
    "dci": {"num_train": 10_000, "num_test": 5000},
    "factor_vae": {"num_train": 10_000, "num_eval": 5000, "num_variance_estimate": 10_000},
    "beta_vae": {"num_train": 10_000, "num_eval": 5000},
}
_SMOKE_METRICS = {
    "chen_mig": {"max_values": 2, "num_samples": 32},
    "mig": {"num_train": 128},
    "sap": {"num_train": 128, "num_test": 64},
    "dci": {"num_train": 128, "num_test": 64, "n_estimators": 5},
    "factor_vae": {"num_train": 10, "num_eval": 5, "num_variance_estimate": 128},
    "beta_vae": {"num_train": 10, "num_eval": 5},
}

_COMMON = {"betas": {"beta_vae": 4.0, "beta_tcvae": 6.0}, "factor_vae_gamma": 35.0,
           "discriminator_adam": DISCRIMINATOR_ADAM}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"models": ["beta_tcvae", "factor_vae"], "num_train": 256, "architecture": "mlp",
              "hidden": [32], "latent_dim": 4, "discriminator_hidden": [16], "steps": 20,
              "batch_size": 16, "lr": 5e-4, "latent_samples": 128, "metrics": _SMOKE_METRICS,
              **_COMMON},
    "quick": {"models": list(MODELS), "num_train": 20_000, "architecture": "mlp",
              "hidden": [512, 256], "latent_dim": 10, "discriminator_hidden": [1000] * 6,
              "steps": 2000, "batch_size": 64, "lr": 5e-4, "latent_samples": 5000,
              "metrics": _QUICK_METRICS, **_COMMON},
    "full": {"models": list(MODELS), "num_train": NUM_COMBINATIONS, "architecture": "cnn",
             "hidden": [256], "latent_dim": 10, "discriminator_hidden": [1000] * 6,
             "steps": 300_000, "batch_size": 64, "lr": 1e-4, "latent_samples": 10_000,
             "metrics": _FULL_METRICS, **_COMMON},
}

_CHEN = "Chen et al. 2018, dSprites, Chen-style MIG (as quoted in the issue)"
PUBLISHED = {
    "vae.chen_mig": {"value": 0.10, "source": _CHEN},
    "beta_vae.chen_mig": {"value": 0.21, "source": _CHEN},
    "factor_vae.chen_mig": {"value": 0.15, "source": _CHEN},
    "beta_tcvae.chen_mig": {"value": 0.45, "source": _CHEN},
}

NOTES = {
    "smoke": ["smoke: two of the four models (β-TCVAE, FactorVAE), tiny, for a few steps, with "
              "tiny metric samples: a pipeline check only"],
    "quick": [
        "quick: MLP 4096-512-256-10 (not the papers' conv net), 2,000 steps of batch 64 with "
        "Adam 5e-4 on 20,000 procedural dSprites (the papers: 300,000 steps, Adam 1e-4): far "
        "from converged",
        "quick: reduced metric samples — Chen MIG on the factor grid subsampled to at most 8 "
        "values per factor (3×6×8×8×8 = 9,216 points, MI normalised by log of the values kept), "
        "discrete MIG 10,000 points, SAP 2,000/1,000, DCI 500/250 with 20 boosting stages "
        "(library: 100), FactorVAE score 300/150 (variances from 2,000), β-VAE score 300/150",
    ],
    "full": ["full: conv encoder/decoder (vaekit.CNNEncoder, Burgess et al. / disentanglement_lib "
             "architecture), 300,000 steps, Adam 1e-4, batch 64, the whole 737,280-image grid "
             "(rendered in the step from grid indices), Chen MIG on the full grid, "
             "disentanglement_lib's metric sample sizes"],
}


def _vae(config: dict, seed: int) -> VAE:
    if config["architecture"] == "cnn":
        rngs = nnx.Rngs(seed)
        shape, latent, hidden = (64, 64, 1), config["latent_dim"], config["hidden"][0]
        return VAE(CNNEncoder(shape, latent, hidden_size=hidden, rngs=rngs),
                   CNNDecoder(latent, shape, hidden_size=hidden, rngs=rngs))
    return mlp_vae(config["latent_dim"], config["hidden"], seed)


# Each model of the comparison is a model kind of the runner's registry (vaekit.runner.KINDS):
# its objective and optimizer are that record's, built from ``run_config``. The reproduction
# keeps its own architectures (``_vae``; the discriminator seeded apart, at seed + 10,000).
KINDS_OF = {"vae": "vae", "beta_vae": "beta-vae", "beta_tcvae": "beta-tcvae",
            "factor_vae": "factor-vae"}
WITH_DISCRIMINATOR = ("factor_vae",)


def run_config(kind: str, config: dict) -> RunConfig:
    """The runner config of model ``kind``: its registry kind, the β/γ of ``config``, the lr.

    Raises:
      ValueError: ``kind`` is not one of :data:`MODELS`, or ``config["discriminator_adam"]``
        is not the discriminator Adam of the registry's ``factor-vae`` (the paper's).
    """
    if kind not in KINDS_OF:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {MODELS}.")
    if dict(config["discriminator_adam"]) != DISCRIMINATOR_ADAM:
        raise ValueError(f"`discriminator_adam` must be {DISCRIMINATOR_ADAM} (the factor-vae "
                         f"kind's), got {config['discriminator_adam']!r}")
    name = KINDS_OF[kind]
    sections = {"beta_vae": {"beta": config["betas"]["beta_vae"]},
                "tcvae": {"beta": config["betas"]["beta_tcvae"]},
                "factor_vae": {"gamma": config["factor_vae_gamma"]}}
    return RunConfig.from_dict({
        "model": {"kind": name, "latent_dim": config["latent_dim"]},
        "objective": {k: v for k, v in sections.items() if k in KINDS[name].sections},
        "train": {"lr": config["lr"]},
    })


def build(kind: str, config: dict, seed: int, dataset_size: int):
    """``(model, objective, optimizer)`` of model ``kind`` for ``config``."""
    settings = run_config(kind, config)
    record = KINDS[settings.model.kind]
    model = _vae(config, seed)
    if kind in WITH_DISCRIMINATOR:
        model = FactorVAEModel(model, Discriminator(
            config["latent_dim"], config["discriminator_hidden"], rngs=nnx.Rngs(seed + 10_000)))
    return (model, record.build_objective(settings, dataset_size),
            record.build_optimizer(settings))


ENCODE_BATCH = 64
"""Images per encoder call everywhere (the FactorVAE and β-VAE scores' batch), so that the
encoder compiles for one batch shape."""


def evaluate(model, config: dict, seed: int) -> dict[str, float]:
    """All scores of a trained model (the sample sizes of ``config["metrics"]``)."""
    sizes = config["metrics"]
    data = DSpritesData()
    representation = mean_representation(model, ENCODE_BATCH)
    chen = compute_chen_mig(lambda x: encode_dataset(model, x, ENCODE_BATCH), data,
                            batch_size=1024, seed=seed, **sizes["chen_mig"])
    mig = compute_mig(representation, data, batch_size=256, seed=seed, **sizes["mig"])
    sap = compute_sap(representation, data, batch_size=256, seed=seed, **sizes["sap"])
    dci = compute_dci(representation, data, batch_size=256, seed=seed, **sizes["dci"])
    fvae = compute_factor_vae(representation, data, seed=seed, **sizes["factor_vae"])
    bvae = compute_beta_vae(representation, data, seed=seed, **sizes["beta_vae"])
    rng = np.random.default_rng(seed)
    observations = data.sample_observations_from_factors(
        data.sample_factors(config["latent_samples"], rng), rng)
    stats = latent_statistics(*encode_dataset(model, observations, ENCODE_BATCH))
    return {
        "chen_mig": chen["chen_mig"],
        "discrete_mig": mig["discrete_mig"],
        "factor_vae_score": fvae["eval_accuracy"],
        "dci_disentanglement": dci["disentanglement"],
        "dci_completeness": dci["completeness"],
        "dci_informativeness": dci["informativeness_test"],
        "sap": sap["SAP_score"],
        "beta_vae_score": bvae["eval_accuracy"],
        "active_dims": float(stats["active_dims"]),
        "kl": stats["kl"],
    }


def run(config: dict, seeds, out: Path) -> tuple[list[dict[str, float]], list[str]]:
    """Trains and scores every model for every seed."""
    fused = not (config["architecture"] == "cnn" and jax.default_backend() == "cpu")
    per_seed = []
    for seed in seeds:
        index, _ = split_indices(config["num_train"], 0, seed)  # rendered in the step
        row: dict[str, float] = {}
        for kind in config["models"]:
            model, objective, optimizer = build(kind, config, seed, len(index))
            train = make_train_step(objective, optimizer, preprocess=render_dsprites_batch)
            state = train.init(model, jax.random.key(seed))
            state, history = train_history(
                train, state, {"index": index}, num_steps=config["steps"],
                batch_size=config["batch_size"], seed=seed, fused=fused)
            scores = evaluate(state.model(), config, seed)
            tail = max(1, min(100, config["steps"]))
            scores["train_reconstruction_loss"] = float(
                np.mean(history.train["reconstruction_loss"][-tail:]))
            row.update({f"{kind}.{name}": value for name, value in scores.items()})
        per_seed.append(row)

    shown = {"Chen MIG": "chen_mig", "discrete MIG": "discrete_mig",
             "FactorVAE score": "factor_vae_score", "DCI disent.": "dci_disentanglement",
             "SAP": "sap", "β-VAE score": "beta_vae_score"}
    models = config["models"]
    means, stds = {}, {}
    for label, metric in shown.items():
        values = np.asarray([[run[f"{kind}.{metric}"] for kind in models] for run in per_seed])
        means[label], stds[label] = values.mean(axis=0), values.std(axis=0)
    published = {"Chen MIG": [PUBLISHED[f"{kind}.chen_mig"]["value"] for kind in models]}
    grouped_bars_figure(
        [MODEL_LABELS[kind] for kind in models], means, out / "scores.png", errors=stds,
        reference=published, ylabel="score",
        title=f"dSprites, {len(seeds)} seed(s), {config['steps']} steps; "
              "black ticks: published Chen MIG")
    return per_seed, ["scores.png"]
