"""Codebook usage of a convolutional VQ-VAE: plain VQ vs EMA vs EMA + dead-code reset vs FSQ.

van den Oord et al. (2017, "Neural Discrete Representation Learning") train the codebook with
a loss; Sonnet's ``VectorQuantizerEMA`` (the paper's appendix) updates it as an exponential
moving average; resetting codes whose EMA usage falls below a threshold to encoder outputs
(e.g. lucidrains' vector-quantize-pytorch) revives dead codes; finite scalar quantization
(Mentzer et al. 2023) has no learned codebook at all. Same conv encoder/decoder for all four
(:class:`vaekit.models.ConvEncoder` / :class:`~vaekit.models.ConvDecoder`, 2 residual blocks),
K = 512 codes of dimension 64 for the VQ variants and FSQ levels [8, 5, 5, 5] (1,000 codes).
Measured: perplexity and the fraction of the codebook used over training and on held-out
images, and the reconstruction error.
"""

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from vaekit.data import make_dsprites
from vaekit.models import VQVAE, ConvDecoder, ConvEncoder
from vaekit.objectives import bernoulli_nll, quantized_autoencoder, vq_vae
from vaekit.plots import image_grid_figure
from vaekit.quantizers import FSQ, VectorQuantizer, code_usage_metrics
from vaekit.reproduce._common import small_multiples_figure, train_history, window_means
from vaekit.training import make_train_step

NAME = "vq"
TITLE = "Conv VQ-VAE codebook usage: VQ, EMA, EMA + dead-code reset, FSQ"
VARIANTS = ("vq", "ema", "ema_reset", "fsq")
VARIANT_LABELS = {"vq": "VQ (codebook loss)", "ema": "VQ-EMA", "ema_reset": "VQ-EMA + reset",
                  "fsq": "FSQ [8,5,5,5]"}
DEFAULT_SEEDS = {"smoke": (0,), "quick": (0,), "full": (0, 1, 2)}

_COMMON = {"num_codes": 512, "code_dim": 64, "fsq_levels": [8, 5, 5, 5],
           "commitment_cost": 0.25, "decay": 0.99, "dead_code_threshold": 1.0}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"variants": ["ema_reset", "fsq"], "num_train": 128, "num_val": 32,
              "downsample": 4, "channels": [4], "num_res_blocks": 0, "res_hidden": 4,
              "steps": 4, "batch_size": 8, "lr": 3e-4, **_COMMON},
    "quick": {"variants": list(VARIANTS), "num_train": 10_000, "num_val": 1000,
              "downsample": 2, "channels": [32, 64], "num_res_blocks": 2, "res_hidden": 32,
              "steps": 1000, "batch_size": 32, "lr": 3e-4, **_COMMON},
    "full": {"variants": list(VARIANTS), "num_train": 100_000, "num_val": 10_000,
             "downsample": 1, "channels": [64, 128], "num_res_blocks": 2, "res_hidden": 32,
             "steps": 100_000, "batch_size": 32, "lr": 3e-4, **_COMMON},
}

PUBLISHED = {
    "ema.val_perplexity": {
        "value": "≈ 326 of 512",
        "source": "Sonnet vqvae_example, VQ-EMA on CIFAR-10 (as quoted in the issue)",
        "note": "CIFAR-10 natural images, 100,000 steps; not comparable with binary dSprites",
    },
    "fsq.val_codebook_usage": {
        "value": "≈ 1.00",
        "source": "Mentzer et al. 2023, FSQ uses ~100% of its codebook",
        "note": "ImageNet-scale models and codebooks",
    },
}

NOTES = {
    "smoke": ["smoke: two of the four variants (EMA + reset, FSQ), tiny networks on 16×16 "
              "dSprites for a few steps: a pipeline check only"],
    "quick": ["quick: procedural dSprites average-pooled to 32×32 (binary sprites on a black "
              "background, so most of the 8×8 code positions see background), 1,000 steps of "
              "batch 32, encoder channels 32-64; no CIFAR-10 (nothing is downloaded), so the "
              "Sonnet perplexity is context, not a target"],
    "full": ["full: Sonnet's vqvae_example settings (hidden 128, residual hidden 32, K = 512, "
             "D = 64, β = 0.25, decay 0.99, Adam 3e-4, batch 32, 100,000 steps) on 64×64 "
             "procedural dSprites (CIFAR-10 is not bundled)"],
}


def load_images(config: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """DSprites train/val images, average-pooled by ``config["downsample"]`` (values in [0, 1])."""
    split = make_dsprites(config["num_train"], config["num_val"], seed=seed)
    f = config["downsample"]

    def pool(images):
        n, h, w, c = images.shape
        return images.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4)).astype(np.float32)

    return pool(split.train_images), pool(split.val_images)


def build(variant: str, config: dict, seed: int):
    """``(model, objective, num_codes)`` of one variant."""
    rngs = nnx.Rngs(seed)
    channels = tuple(config["channels"])
    dim = len(config["fsq_levels"]) if variant == "fsq" else config["code_dim"]
    encoder = ConvEncoder(1, dim, channels, config["num_res_blocks"],
                          res_hidden_channels=config["res_hidden"], rngs=rngs)
    decoder = ConvDecoder(dim, 1, channels[::-1], config["num_res_blocks"],
                          res_hidden_channels=config["res_hidden"], rngs=rngs)
    if variant == "fsq":
        quantizer = FSQ(tuple(config["fsq_levels"]))
        return VQVAE(encoder, quantizer, decoder), quantized_autoencoder({}), \
            quantizer.codebook_size
    threshold = config["dead_code_threshold"] if variant == "ema_reset" else None
    quantizer = VectorQuantizer(config["num_codes"], dim, ema=variant != "vq",
                                decay=config["decay"], dead_code_threshold=threshold, rngs=rngs)
    return VQVAE(encoder, quantizer, decoder), vq_vae(config["commitment_cost"]), \
        config["num_codes"]


@nnx.jit
def _eval_batch(model: VQVAE, x: jax.Array):
    q = model.quantize(model.encode(x), train=False)
    logits = model.decode(q.z_q)
    mse = jnp.mean(jnp.square(jax.nn.sigmoid(logits) - x), axis=(1, 2, 3))
    return q.indices, bernoulli_nll(logits, x), mse, jax.nn.sigmoid(logits)


def evaluate(model: VQVAE, images: np.ndarray, num_codes: int, batch_size: int = 250):
    """Held-out code usage and reconstruction error (and the first reconstructions)."""
    indices, nll, mse, first = [], [], [], None
    for start in range(0, len(images) - batch_size + 1, batch_size):
        idx, n, m, recon = _eval_batch(model, jnp.asarray(images[start:start + batch_size]))
        indices.append(np.asarray(idx).ravel())
        nll.append(np.asarray(n))
        mse.append(np.asarray(m))
        first = np.asarray(recon[:8]) if first is None else first
    usage = code_usage_metrics(jnp.asarray(np.concatenate(indices)), num_codes)
    return {
        "val_perplexity": float(usage["perplexity"]),
        "val_codebook_usage": float(usage["codebook_usage"]),
        "val_reconstruction_nll": float(np.mean(np.concatenate(nll))),
        "val_mse": float(np.mean(np.concatenate(mse))),
    }, first


def run(config: dict, seeds, out: Path) -> tuple[list[dict[str, float]], list[str]]:
    """Trains the four variants per seed; plots usage over training and reconstructions."""
    fused = jax.default_backend() != "cpu"  # convolutions inside lax.scan are slow on XLA:CPU
    per_seed = []
    curves: dict[str, dict[str, tuple]] = {"perplexity (batch)": {}, "codebook usage (batch)": {}}
    recon_rows = []
    window = max(1, min(50, config["steps"] // 4))
    for i, seed in enumerate(seeds):
        train_images, val_images = load_images(config, seed)
        batch_size = min(250, len(val_images))
        row: dict[str, float] = {}
        for variant in config["variants"]:
            model, objective, num_codes = build(variant, config, seed)
            train = make_train_step(objective, optax.adam(config["lr"]))
            state = train.init(model, jax.random.key(seed))
            state, history = train_history(
                train, state, {"x": train_images}, num_steps=config["steps"],
                batch_size=config["batch_size"], seed=seed, fused=fused, steps_per_call=100)
            scores, recon = evaluate(state.model(), val_images, num_codes, batch_size)
            scores["train_perplexity"] = history.mean("perplexity", last=window)
            scores["train_codebook_usage"] = history.mean("codebook_usage", last=window)
            row.update({f"{variant}.{k}": v for k, v in scores.items()})
            if i == 0:
                steps = window_means(history.train_steps.astype(np.float64), window)
                for panel, key in (("perplexity (batch)", "perplexity"),
                                   ("codebook usage (batch)", "codebook_usage")):
                    curves[panel][VARIANT_LABELS[variant]] = (
                        steps, window_means(history.train[key], window))
                recon_rows.append(recon)
        per_seed.append(row)
        if i == 0:
            first = val_images[:8]
            small_multiples_figure(
                curves, out / "codebook_usage.png",
                title=f"{config['steps']} steps, {window}-step means; K = "
                      f"{config['num_codes']} (VQ), 1,000 (FSQ)")
            names = ", ".join(VARIANT_LABELS[v] for v in config["variants"])
            image_grid_figure(np.concatenate([first, *recon_rows]), out / "reconstructions.png",
                              ncols=8, title=f"inputs, then {names}")
    return per_seed, ["codebook_usage.png", "reconstructions.png"]
