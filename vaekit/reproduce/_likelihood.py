"""Importance-sampled test NLL of five latent-variable models on binary images.

The comparison of pythae's reproducibility table (VAE ≈ 89.9 nats, IWAE with k = 50 ≈ 87.1
nats on binarised MNIST) widened to the other richer-posterior / richer-prior models vaekit
has: a VAE (``beta_vae(1.0)``, Kingma & Welling 2014), an IWAE trained on the k-sample bound
(``vaekit.objectives.iwae``, Burda et al. 2016), a VampPrior VAE
(``vaekit.models.VampPriorVAE`` + ``sampled_kl_vae``, Tomczak & Welling 2018), an IAF posterior
(``vaekit.models.IAFVAE`` + ``sampled_kl_vae``, Kingma et al. 2016) and a Ladder VAE
(``vaekit.models.mlp_hierarchical_vae`` + ``hierarchical_vae``, Sønderby et al. 2016). All
train through the one ``vaekit.training.make_train_step`` (the IWAE with
``forward=objective.forward``), and each is scored by
``vaekit.evaluation.log_likelihood(model, test_images, num_samples=k_eval)``: the
importance-sampled ``−log p(x)`` in nats (its standard error over the test images, and bits per
dimension), next to the single-sample ELBO estimate from the *same* first draws
(``num_samples=1``), so the gap ``−ELBO − NLL`` (how much the k-sample bound tightens the
ELBO) is paired per image.

Data: binarised MNIST (``load_dataset("binarized-mnist")``, one fixed Bernoulli draw per pixel)
when ``config["dataset"]`` asks for it; ``"auto"`` takes it only when it is already in the local
cache (offline, nothing is downloaded) and otherwise falls back to the 1,797 8×8 scikit-learn
digits thresholded at ``digits_threshold``. The metric ``dataset_is_mnist`` (1 or 0) and
``data_dims`` (784 or 64) record which one a result used. The published numbers are all for
binarised MNIST with the papers' architectures and training lengths; the digits numbers are on
another scale (64 pixels, not 784).
"""

import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from flax import nnx

from vaekit.data import DatasetError, load_dataset
from vaekit.data._digits import load_digits_dataset
from vaekit.evaluation import log_likelihood
from vaekit.models import IAFVAE, VAE, MLPDecoder, MLPEncoder, VampPriorVAE, mlp_hierarchical_vae
from vaekit.objectives import bernoulli_nll, beta_vae, hierarchical_vae, iwae, sampled_kl_vae
from vaekit.plots._render import new_figure, render_figure
from vaekit.reproduce._common import train_history
from vaekit.training import make_train_step

NAME = "likelihood"
TITLE = "Importance-sampled test NLL: VAE, IWAE, VampPrior, IAF, Ladder VAE"
MODELS = ("vae", "iwae", "vampprior", "iaf", "hierarchical")
LABELS = {"vae": "VAE", "iwae": "IWAE", "vampprior": "VampPrior", "iaf": "IAF",
          "hierarchical": "Ladder VAE"}
DEFAULT_SEEDS = {"smoke": (0,), "quick": (0, 1), "full": (0, 1, 2)}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "digits_num_test": 297, "digits_threshold": 0.5,
              "max_test": 100, "models": list(MODELS), "latent_dim": 4, "hidden": [32],
              "activation": "tanh", "steps": 40, "batch_size": 64, "lr": 3e-3,
              "iwae_samples": 5, "num_pseudo_inputs": 10, "iaf_flows": 1, "iaf_hidden": [16],
              "hierarchical_latents": [4, 2], "hierarchical_hidden": 32, "warmup_steps": 0,
              "k_eval": 50},
    "quick": {"dataset": "auto", "digits_num_test": 297, "digits_threshold": 0.5,
              "max_test": 1000, "models": list(MODELS), "latent_dim": 8, "hidden": [200, 200],
              "activation": "tanh", "steps": 3000, "batch_size": 100, "lr": 1e-3,
              "iwae_samples": 50, "num_pseudo_inputs": 100, "iaf_flows": 2,
              "iaf_hidden": [64], "hierarchical_latents": [8, 4], "hierarchical_hidden": 200,
              "warmup_steps": 0, "k_eval": 1000},
    "full": {"dataset": "binarized-mnist", "digits_num_test": 297, "digits_threshold": 0.5,
             "max_test": None, "models": list(MODELS), "latent_dim": 50, "hidden": [200, 200],
             "activation": "tanh", "steps": 300_000, "batch_size": 100, "lr": 1e-3,
             "iwae_samples": 50, "num_pseudo_inputs": 500, "iaf_flows": 2,
             "iaf_hidden": [320, 320], "hierarchical_latents": [64, 32, 16, 8, 4],
             "hierarchical_hidden": 512, "warmup_steps": 0, "k_eval": 5000},
}

_MNIST = "binarised MNIST at full scale"
PUBLISHED = {
    "nll_vae": {
        "value": 89.9,
        "source": "pythae reproducibility table (reference value: Rezende & Mohamed 2015, "
                  "diagonal-Gaussian DLGM); pythae obtained 89.78",
        "note": f"{_MNIST} (static, Larochelle's files), NLL with 200 importance samples; "
                "pythae's script: one hidden layer of 400 (ReLU)",
    },
    "nll_iwae": {
        "value": 87.1,
        "source": "pythae reproducibility table (reference value from Burda et al. 2016); "
                  "pythae obtained 86.82",
        "note": f"{_MNIST} (static), k = 50 in training, NLL with 5,000 samples; MLP "
                "784-200-200-latent 50 (tanh), 3,280 epochs. Burda et al.'s best (2 stochastic "
                "layers, k = 50, dynamic binarisation): 82.90",
    },
    "nll_vampprior": {
        "value": 85.57,
        "source": "Tomczak & Welling 2018 (one-layer VAE, VampPrior K = 500), via pythae's "
                  "table; pythae obtained 85.79",
        "note": f"{_MNIST} (static), NLL with 5,000 samples; the paper's settings as pythae "
                "copied them: gated MLP 300-300, latent 40, KL warm-up over 100 epochs, 2,000 "
                "epochs",
    },
    "nll_iaf": {
        "value": 79.10,
        "source": "Kingma et al. 2016, Table 1 (their best IAF posterior)",
        "note": f"{_MNIST}, dynamically binarised; a convolutional (ResNet) VAE, not an MLP",
    },
    "nll_hierarchical": {
        "value": 81.74,
        "source": "Sønderby et al. 2016, Table 1 (their best permutation-invariant LVAE: 5 "
                  "stochastic layers, batch norm, KL warm-up, importance-weighted fine-tuning)",
        "note": f"{_MNIST}, dynamically binarised, permutation-invariant MLP, NLL with 5,000 "
                "samples",
    },
}

NOTES = {
    "smoke": ["smoke: the scikit-learn digits (1,797 8×8 images thresholded at 0.5, 297 held "
              "out, 100 of them scored), tiny MLPs for 40 steps, k_eval = 50: a pipeline check "
              "only"],
    "quick": ["quick: binarised MNIST only if it is already in the local data cache (nothing "
              "is downloaded; metric dataset_is_mnist says which), otherwise the scikit-learn "
              "digits (1,797 8×8 images thresholded at 0.5: 1,500 train, 297 test) - another "
              "data set and scale than the published numbers (64 pixels, not 784); on a cached "
              "MNIST it trains on all 60,000 images and scores the first 1,000 test images "
              "(run time not measured)",
              "quick: MLP 200-200 (tanh), latent 8, Adam 1e-3, batch 100, 3,000 steps for "
              "every model, β = 1 without warm-up; IWAE k = 50; VampPrior K = 100 "
              "pseudo-inputs; IAF 2 steps of MADE 64 without context; Ladder VAE latents 8-4 "
              "with hidden 200 (its decoder has one hidden layer); NLL with k_eval = 1,000 "
              "importance samples; seeds 0 and 1"],
    "full": ["full: binarised MNIST (vaekit's fixed Bernoulli draw of MNIST, downloaded to "
             "the data cache; the papers use Larochelle's static files or dynamic "
             "binarisation), MLP 200-200 tanh, latent 50 (Burda et al. / pythae's IWAE), "
             "batch 100, 300,000 steps (500 epochs; pythae's IWAE: 3,280 epochs with a "
             "decaying learning rate), IWAE k = 50, VampPrior K = 500, IAF 2 steps of MADE "
             "320-320, Ladder VAE 64-32-16-8-4 with hidden 512 (no batch norm, no warm-up), "
             "k_eval = 5,000 on all 10,000 test images, 3 seeds: for a GPU"],
}


class BinaryData(NamedTuple):
    """Train and test images in {0, 1}, float32 ``(n, H, W, 1)``, and what they are."""

    train: np.ndarray
    test: np.ndarray
    is_mnist: bool


def _mnist(offline: bool | None) -> BinaryData:
    def images(split: str) -> np.ndarray:
        data = load_dataset("binarized-mnist", split, offline=offline)
        return (np.asarray(data.images) > 127).astype(np.float32)

    return BinaryData(images("train"), images("test"), True)


def load_binary_data(config: dict) -> BinaryData:
    """The data set of ``config["dataset"]``.

    One of ``"binarized-mnist"`` (downloaded if needed), ``"digits"``, or ``"auto"`` (MNIST when
    cached, read offline; the digits otherwise).

    The digits are split by ``load_digits_dataset(num_val=digits_num_test, seed=0)`` (the same
    test set for every training seed) and binarised at ``digits_threshold``; ``max_test`` caps
    the test images (the first ones), ``None`` keeps them all.
    """
    kind = config["dataset"]
    if kind not in ("auto", "binarized-mnist", "digits"):
        raise ValueError(f"`dataset` must be 'auto', 'binarized-mnist' or 'digits', got {kind!r}.")
    data = None
    if kind == "binarized-mnist":
        data = _mnist(offline=None)  # downloads unless VAEKIT_OFFLINE is set
    elif kind == "auto":
        try:
            data = _mnist(offline=True)
        except (DatasetError, ImportError):  # not cached (or no pooch): fall back
            data = None
    if data is None:
        split = load_digits_dataset(num_val=config["digits_num_test"], seed=0)
        threshold = config["digits_threshold"]
        data = BinaryData((split.train_images > threshold).astype(np.float32),
                          (split.val_images > threshold).astype(np.float32), False)
    if config["max_test"] is not None:
        data = data._replace(test=data.test[: config["max_test"]])
    return data


def build(kind: str, config: dict, image_shape: tuple[int, ...], seed: int):
    """``(model, train_step)`` of model ``kind`` (one of :data:`MODELS`)."""
    rngs = nnx.Rngs(seed)
    latent, hidden, act = config["latent_dim"], tuple(config["hidden"]), config["activation"]
    optimizer = optax.adam(config["lr"])
    warmup = config["warmup_steps"]
    beta = optax.linear_schedule(0.0, 1.0, warmup) if warmup else 1.0

    def encoder_decoder():
        return (MLPEncoder(image_shape, latent, hidden, act, rngs=rngs),
                MLPDecoder(latent, image_shape, hidden[::-1], act, rngs=rngs))

    if kind == "vae":
        return VAE(*encoder_decoder()), make_train_step(beta_vae(beta), optimizer)
    if kind == "iwae":
        objective = iwae(config["iwae_samples"])
        return VAE(*encoder_decoder()), make_train_step(objective, optimizer,
                                                        forward=objective.forward)
    if kind == "vampprior":
        model = VampPriorVAE(*encoder_decoder(), config["num_pseudo_inputs"], image_shape,
                             rngs=rngs)
        return model, make_train_step(sampled_kl_vae(beta), optimizer)
    if kind == "iaf":
        model = IAFVAE(*encoder_decoder(), config["iaf_flows"], tuple(config["iaf_hidden"]),
                       rngs=rngs)
        return model, make_train_step(sampled_kl_vae(beta), optimizer)
    if kind == "hierarchical":
        model = mlp_hierarchical_vae(image_shape, tuple(config["hierarchical_latents"]),
                                     hidden=config["hierarchical_hidden"], activation=act,
                                     rngs=rngs)
        return model, make_train_step(hierarchical_vae(beta), optimizer)
    raise ValueError(f"unknown model {kind!r}; choose from {MODELS}.")


def _steps_per_call(steps: int) -> int:
    """The largest divisor of ``steps`` up to 500 (one compiled scan length for all chunks)."""
    return max(d for d in range(1, min(steps, 500) + 1) if steps % d == 0)


def score(model, images: np.ndarray, key, k_eval: int) -> tuple[dict[str, float], np.ndarray]:
    """NLL, single-sample ELBO and their gap at ``k_eval`` samples.

    NLL at ``k_eval`` samples, the single-sample ELBO from the same first draws and the gap between
    them (paired per image); also returns the per-image ``log p(x)`` estimates.
    """
    nll = log_likelihood(model, images, key=key, num_samples=k_eval, likelihood=bernoulli_nll)
    elbo = log_likelihood(model, images, key=key, num_samples=1, likelihood=bernoulli_nll)
    log_px = np.asarray(nll.log_px, np.float64)
    gap, gap_stderr = _mean_stderr(log_px - np.asarray(elbo.log_px, np.float64))
    return {"nll": nll.nll, "nll_stderr": nll.stderr, "bits_per_dim": nll.bits_per_dim,
            "neg_elbo": elbo.nll, "elbo_gap": gap, "elbo_gap_stderr": gap_stderr}, log_px


def _mean_stderr(values: np.ndarray) -> tuple[float, float]:
    n = len(values)
    return float(values.mean()), (float(values.std(ddof=1) / math.sqrt(n)) if n > 1
                                  else math.nan)


def metric_name(name: str, kind: str) -> str:
    """``nll`` → ``nll_vae``, ``nll_stderr`` → ``nll_vae_stderr`` (the model before ``_stderr``)."""
    if name.endswith("_stderr"):
        return f"{name.removesuffix('_stderr')}_{kind}_stderr"
    return f"{name}_{kind}"


def run(config: dict, seeds, out: Path) -> tuple[list[dict[str, float]], list[str]]:
    """Trains every model of ``config["models"]`` per seed and scores it on the test images."""
    data = load_binary_data(config)
    image_shape = tuple(data.train.shape[1:])
    unknown = set(config["models"]) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown models {sorted(unknown)}; choose from {MODELS}.")
    models = [m for m in MODELS if m in config["models"]]
    train_subset = data.train[: len(data.test)]
    per_seed = []
    for seed in seeds:
        row: dict[str, float] = {
            "dataset_is_mnist": float(data.is_mnist), "data_dims": float(np.prod(image_shape)),
            "num_train": float(len(data.train)), "num_test": float(len(data.test)),
        }
        log_px: dict[str, np.ndarray] = {}
        for i, kind in enumerate(models):
            start = time.perf_counter()
            model, train = build(kind, config, image_shape, seed)
            state = train.init(model, jax.random.key(seed))
            state, history = train_history(
                train, state, {"x": data.train}, num_steps=config["steps"],
                batch_size=config["batch_size"], seed=seed,
                steps_per_call=_steps_per_call(config["steps"]))
            trained = state.model()
            key = jax.random.fold_in(jax.random.key(seed + 1000), i)
            scores, log_px[kind] = score(trained, data.test, key, config["k_eval"])
            for name, value in scores.items():
                row[metric_name(name, kind)] = value
            if kind != "vae" and "vae" in log_px:  # paired over the same test images
                delta, delta_stderr = _mean_stderr(log_px["vae"] - log_px[kind])
                row[f"nll_{kind}_minus_vae"] = delta
                row[f"nll_{kind}_minus_vae_stderr"] = delta_stderr
            row[f"train_neg_elbo_{kind}"] = log_likelihood(
                trained, train_subset, key=key, num_samples=1, likelihood=bernoulli_nll).nll
            last = slice(-min(100, config["steps"]), None)  # the last 100 training steps
            if kind == "iwae":
                row["iwae_train_ess"] = float(np.mean(history.train["ess"][last]))
            if kind == "hierarchical":
                for layer in range(len(config["hierarchical_latents"])):
                    row[f"hierarchical_train_kl_layer_{layer}"] = float(
                        np.mean(history.train[f"kl_layer_{layer}"][last]))
            row[f"seconds_{kind}"] = time.perf_counter() - start
        per_seed.append(row)
    nll_figure(per_seed, models, data.is_mnist, config["k_eval"], out / "nll.png")
    return per_seed, ["nll.png"]


def nll_figure(per_seed: list[dict[str, float]], models: list[str], is_mnist: bool,
               k_eval: int, path: Path) -> np.ndarray:
    """Three panels of the likelihood results.

    Three panels, means over the seeds (error bars: the standard errors over the test images): the
    test NLL at ``k_eval`` samples (the published NLLs as black ticks, on MNIST only); the paired
    difference NLL − NLL(VAE); the gap −ELBO − NLL.
    """

    def mean(template: str, kinds: list[str]) -> np.ndarray:  # template: "nll_{m}_stderr"
        return np.asarray([np.mean([row[template.format(m=m)] for row in per_seed])
                           for m in kinds])

    def axis(fig, i: int, title: str, kinds: list[str]):
        ax = fig.add_axes((0.06 + i * 0.33, 0.22, 0.26, 0.62))
        ax.set_xticks(np.arange(len(kinds)), [LABELS[m] for m in kinds], fontsize=7,
                      rotation=30)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="y", alpha=0.3)
        return ax

    fig = new_figure(12.0, 3.4)
    ax = axis(fig, 0, f"test NLL, k = {k_eval} (nats)", models)
    x = np.arange(len(models), dtype=np.float64)
    ax.errorbar(x, mean("nll_{m}", models), yerr=mean("nll_{m}_stderr", models), fmt="o",
                color="C0", capsize=3)
    if is_mnist:
        ax.plot(x, [PUBLISHED[f"nll_{m}"]["value"] for m in models], "_", color="k",
                markersize=16, markeredgewidth=2, label="published")
        ax.legend(fontsize=7)
    others = [m for m in models if m != "vae"]
    if "vae" in models and others:
        ax = axis(fig, 1, "NLL − NLL(VAE), paired (nats)", others)
        ax.bar(np.arange(len(others)), mean("nll_{m}_minus_vae", others), 0.6,
               yerr=mean("nll_{m}_minus_vae_stderr", others), capsize=2, color="C1")
        ax.axhline(0.0, color="k", linewidth=0.8)
    ax = axis(fig, 2, "−ELBO − NLL (nats)", models)
    ax.bar(x, mean("elbo_gap_{m}", models), 0.6, yerr=mean("elbo_gap_{m}_stderr", models),
           capsize=2, color="C2")
    data = "binarised MNIST" if is_mnist else "scikit-learn digits 8×8, binarised (not MNIST)"
    fig.suptitle(f"Importance-sampled test NLL, {data}; means of {len(per_seed)} seed(s), "
                 "error bars: stderr over test images", y=0.99, va="top", fontsize=9)
    return render_figure(fig, path)
