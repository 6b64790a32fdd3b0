"""What a run writes besides checkpoints: metric rows, plots, and the summary."""

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vaekit.models import IAFVAE, VQVAE, ConditionalVAE, HierarchicalVAE, VampPriorVAE
from vaekit.plots import (
    image_grid_figure,
    latent_traversal_figure,
    loss_curves_figure,
    overlay_figure,
    reconstruction_figure,
    traverse_latents,
)
from vaekit.runner._posthoc import num_codes_of, prior_code_images

# Per-dimension metric families (``kl_dim_0`` ... ``kl_dim_9``): one value per latent
# dimension, summarised by ``active_dims`` and the traversal's ordering, not plotted.
PER_DIMENSION = re.compile(r".+_dim_\d+")

# Models whose prior is not N(0, I) or whose posterior is not one Gaussian: they sample with
# their own ``generate`` and reconstruct from a posterior draw (IAF, hierarchical).
GENERATIVE = (VampPriorVAE, IAFVAE, HierarchicalVAE)
SAMPLED_POSTERIOR = (IAFVAE, HierarchicalVAE)


def read_rows(path: Path, max_step: int | None = None) -> list[dict]:
    """Rows of a ``metrics.jsonl``, optionally only those with ``step <= max_step``.

    A last line cut short (no newline, not valid JSON: the process was killed while writing
    it) is dropped; the runner rewrites the file without it on resume.
    """
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.split("\n")
    tail = lines.pop()  # "" when the file ends with a newline
    rows = [json.loads(line) for line in lines if line.strip()]
    if tail.strip():
        try:
            rows.append(json.loads(tail))
        except ValueError:
            pass  # a torn write
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


def curve_keys(train: dict[str, list]) -> list[str]:
    """The metrics the loss curves plot: every scalar of the training rows.

    ``loss`` first, then in the order the rows report them; per-dimension families
    (:data:`PER_DIMENSION`) are left out.
    """
    keys = [k for k in train if not PER_DIMENSION.fullmatch(k)]
    return sorted(keys, key=lambda k: k != "loss")


@nnx.jit
def decode_probs(model, z: jax.Array) -> jax.Array:
    """Bernoulli means ``sigmoid(decoder(z))``."""
    return jax.nn.sigmoid(model.decode(z))


@nnx.jit
def posterior_mean(model, x: jax.Array) -> jax.Array:
    """The posterior mean of ``x``."""
    return model.encode(x)[0]


@nnx.jit
def _vq_reconstruct(model: VQVAE, x: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.decode(model.quantize(model.encode(x), train=False).z_q))


@nnx.jit
def _vq_decode_indices(model: VQVAE, indices: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.decode_indices(indices))


@nnx.jit
def _sampled_reconstruct(model, x: jax.Array, key: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model(x, key=key).recon)


@nnx.jit(static_argnums=2)
def _generate_probs(model, key: jax.Array, n: int) -> jax.Array:
    return jax.nn.sigmoid(model.generate(key, n))


@nnx.jit
def _cvae_reconstruct(model: ConditionalVAE, x: jax.Array, y: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.decode(model.encode(x, y)[0], y))


def write_reconstructions(model, images: np.ndarray, path: Path, n: int = 8,
                          labels: np.ndarray | None = None) -> None:
    """Inputs above reconstructions (a conditional model also gets the ``labels``)."""
    x = jnp.asarray(images[:n])
    if isinstance(model, ConditionalVAE):
        recon = _cvae_reconstruct(model, x, jnp.asarray(labels[:n]))
        how = "the posterior mean, given the label"
    elif isinstance(model, VQVAE):
        recon, how = _vq_reconstruct(model, x), "the quantized codes"
    elif isinstance(model, SAMPLED_POSTERIOR):
        recon = _sampled_reconstruct(model, x, jax.random.key(0))
        how = "one posterior sample"
    else:
        recon, how = decode_probs(model, posterior_mean(model, x)), "the posterior mean"
    reconstruction_figure(images[:n], np.asarray(recon), path, n=n,
                          title=f"inputs (top) and reconstructions from {how}")


def write_samples(model, latent_dim: int, key: jax.Array, path: Path, n: int = 32,
                  image: np.ndarray | None = None, code_prior=None,
                  temperature: float = 1.0) -> None:
    """Samples from the model's prior.

    N(0, I), or its own ``generate`` (VampPrior mixture, hierarchical ancestral sampling); for a
    quantized model the learned ``code_prior``, else (no prior trained) a grid of uniformly random
    codes.
    """
    if isinstance(model, VQVAE):
        if code_prior is not None:
            image_grid_figure(prior_code_images(model, code_prior, key, n, temperature), path,
                              title=f"decoded codes drawn from the learned code prior "
                                    f"(temperature {temperature:g})")
            return
        grid = model.encode(jnp.asarray(image[None])).shape[1:-1]
        indices = jax.random.randint(key, (n, *grid), 0, num_codes_of(model))
        image_grid_figure(np.asarray(_vq_decode_indices(model, indices)), path,
                          title="decoded grids of uniformly random codes (no prior model)")
        return
    if isinstance(model, GENERATIVE):
        image_grid_figure(np.asarray(_generate_probs(model, key, n)), path,
                          title=f"samples from the prior of the {type(model).__name__}")
        return
    z = jax.random.normal(key, (n, latent_dim))
    image_grid_figure(np.asarray(decode_probs(model, z)), path, title="samples from the prior")


def write_traversal(model, image: np.ndarray, kl_per_dim: np.ndarray, path: Path,
                    score: str = "KL") -> None:
    """Latent traversals of a validation image.

    Decodes each latent of a validation image's posterior mean swept over [-2.5, 2.5], dims sorted
    by ``kl_per_dim`` (or another per-dim ``score``).
    """
    mean = posterior_mean(model, jnp.asarray(image[None]))[0]
    dims = [int(d) for d in np.argsort(-kl_per_dim)]
    values = jnp.linspace(-2.5, 2.5, 9)
    codes = traverse_latents(mean, dims, values)
    images = np.asarray(decode_probs(model, codes.reshape(-1, mean.shape[0])))
    latent_traversal_figure(
        images.reshape(len(dims), len(values), *images.shape[1:]), path,
        values=np.asarray(values), dim_labels=[f"z{d} ({score} {kl_per_dim[d]:.2f})" for d in dims],
        title=f"latent traversal of a validation image (dims sorted by {score})",
    )


def write_class_samples(model: ConditionalVAE, num_classes: int, key: jax.Array, path: Path,
                        per_class: int = 10) -> None:
    """One row per class of images generated for that class (explicit ``key``)."""
    labels = np.repeat(np.arange(num_classes), per_class)
    images = jax.nn.sigmoid(model.generate(key, labels))
    image_grid_figure(np.asarray(images), path, ncols=per_class,
                      title="conditional samples: one row per class")


def _write_cvae_plots(model, data, files: dict, seed: int) -> None:
    write_reconstructions(model, data.val_images, Path(files["reconstructions"]),
                          labels=data.val_labels)
    del files["latent_traversal"], files["prior_samples"]
    files["class_samples"] = str(Path(files["reconstructions"]).parent / "class_samples.png")
    write_class_samples(model, data.num_classes, jax.random.key(seed + 1),
                        Path(files["class_samples"]))


def write_plots(model, latent_dim: int, data, rows: list[dict], out: Path,
                seed: int, code_prior=None) -> dict[str, str]:
    """Reconstructions, traversal, prior/class samples and loss curves; returns their paths.

    A quantized model with a trained ``code_prior`` also gets ``random_codes.png`` (uniformly
    random codes, the baseline its prior samples are compared with).
    """
    files = {name: str(out / f"{name}.png") for name in
             ("reconstructions", "latent_traversal", "prior_samples", "loss_curves")}
    val_images = data.val_images
    history = history_from_rows(rows)
    keys = curve_keys(history["train"])
    loss_curves_figure(history["train"], history["train_steps"], files["loss_curves"],
                       keys=keys, val_history=history["val"], val_steps=history["val_steps"],
                       robust_range=True,
                       title="training curves (train: chunk means; y axes fit after the first "
                             "tenth)")
    if "current_capacity" in history["train"]:
        files["capacity_tracking"] = str(out / "capacity_tracking.png")
        overlay_figure({"kl_loss (chunk mean)": history["train"]["kl_loss"],
                        "current_capacity C": history["train"]["current_capacity"]},
                       history["train_steps"], files["capacity_tracking"], ylabel="nats",
                       title="batch-mean KL against the capacity C")
    if isinstance(model, ConditionalVAE):
        _write_cvae_plots(model, data, files, seed)
        return files
    write_reconstructions(model, val_images, Path(files["reconstructions"]))
    if isinstance(model, VQVAE | IAFVAE | HierarchicalVAE):
        del files["latent_traversal"]  # no single Gaussian latent to sweep around a mean
    elif isinstance(model, VampPriorVAE):  # no per-dim KL to N(0, I): sort by Var[E q(z|x)]
        means = np.asarray(posterior_mean(model, jnp.asarray(val_images[:256])))
        write_traversal(model, val_images[0], means.var(axis=0),
                        Path(files["latent_traversal"]), score="Var of means")
    else:
        last_val = {k: v[-1] for k, v in history["val"].items()}
        kl = np.array([last_val.get(f"kl_dim_{i}", 0.0) for i in range(latent_dim)])
        write_traversal(model, val_images[0], kl, Path(files["latent_traversal"]))
    write_samples(model, latent_dim, jax.random.key(seed + 1), Path(files["prior_samples"]),
                  image=val_images[0], code_prior=code_prior)
    if code_prior is not None:
        files["random_codes"] = str(out / "random_codes.png")
        write_samples(model, latent_dim, jax.random.key(seed + 1), Path(files["random_codes"]),
                      image=val_images[0])
    return files
