"""What a run writes besides checkpoints: metric rows, plots, and the summary."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vaekit.plots import (
    image_grid_figure,
    latent_traversal_figure,
    loss_curves_figure,
    reconstruction_figure,
    traverse_latents,
)

CURVE_KEYS = ("loss", "reconstruction_loss", "kl_loss", "beta", "capacity_loss",
              "current_capacity", "active_dims", "grad_norm")


def read_rows(path: Path, max_step: int | None = None) -> list[dict]:
    """Rows of a ``metrics.jsonl``, optionally only those with ``step <= max_step``."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if max_step is None or r["step"] <= max_step]


def write_rows(path: Path, rows: list[dict]) -> None:
    """Rewrites ``path`` atomically with ``rows`` (used to cut a log back on resume)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def history_from_rows(rows: list[dict]) -> dict:
    """Chunk-mean training curves and validation points, as :func:`loss_curves_figure` wants."""
    history: dict = {"train": {}, "train_steps": [], "val": {}, "val_steps": []}
    for row in rows:
        split = row["split"]
        history[f"{split}_steps"].append(row["step"])
        for key, value in row.items():
            if key not in ("split", "step"):
                history[split].setdefault(key, []).append(value)
    return history


@nnx.jit
def decode_probs(model, z: jax.Array) -> jax.Array:
    """Bernoulli means ``sigmoid(decoder(z))``."""
    return jax.nn.sigmoid(model.decode(z))


@nnx.jit
def posterior_mean(model, x: jax.Array) -> jax.Array:
    return model.encode(x)[0]


def write_reconstructions(model, images: np.ndarray, path: Path, n: int = 8) -> None:
    x = jnp.asarray(images[:n])
    recon = np.asarray(decode_probs(model, posterior_mean(model, x)))
    reconstruction_figure(images[:n], recon, path, n=n,
                          title="inputs (top) and reconstructions from the posterior mean")


def write_samples(model, latent_dim: int, key: jax.Array, path: Path, n: int = 32) -> None:
    z = jax.random.normal(key, (n, latent_dim))
    image_grid_figure(np.asarray(decode_probs(model, z)), path, title="samples from the prior")


def write_traversal(model, image: np.ndarray, kl_per_dim: np.ndarray, path: Path) -> None:
    mean = posterior_mean(model, jnp.asarray(image[None]))[0]
    dims = [int(d) for d in np.argsort(-kl_per_dim)]
    values = jnp.linspace(-2.5, 2.5, 9)
    codes = traverse_latents(mean, dims, values)
    images = np.asarray(decode_probs(model, codes.reshape(-1, mean.shape[0])))
    latent_traversal_figure(
        images.reshape(len(dims), len(values), *images.shape[1:]), path,
        values=np.asarray(values), dim_labels=[f"z{d} (KL {kl_per_dim[d]:.2f})" for d in dims],
        title="latent traversal of a validation image (dims sorted by KL)",
    )


def write_plots(model, latent_dim: int, val_images: np.ndarray, rows: list[dict],
                out: Path, seed: int) -> dict[str, str]:
    """Reconstructions, traversal, prior samples and loss curves; returns their paths."""
    files = {name: str(out / f"{name}.png") for name in
             ("reconstructions", "latent_traversal", "prior_samples", "loss_curves")}
    write_reconstructions(model, val_images, Path(files["reconstructions"]))
    history = history_from_rows(rows)
    last_val = {k: v[-1] for k, v in history["val"].items()}
    kl = np.array([last_val.get(f"kl_dim_{i}", 0.0) for i in range(latent_dim)])
    write_traversal(model, val_images[0], kl, Path(files["latent_traversal"]))
    write_samples(model, latent_dim, jax.random.key(seed + 1), Path(files["prior_samples"]))
    keys = [k for k in CURVE_KEYS if k in history["train"]]
    loss_curves_figure(history["train"], history["train_steps"], files["loss_curves"],
                       keys=keys, val_history=history["val"], val_steps=history["val_steps"],
                       title="training curves (train: chunk means)")
    return files
