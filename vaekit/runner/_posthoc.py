"""What a run fits after its model has trained.

The code prior of a quantized model, and the post-hoc latent samplers (Gaussian mixture, two-stage
VAE) of ``vaekit sample --sampler``.

The code prior (:class:`vaekit.CodePrior`, a causal transformer) is trained by the same
``make_train_step`` on the code grids of the frozen autoencoder, validated on the validation
images' codes with dropout off, and saved with orbax under ``checkpoints/prior/{last,best}``;
its rows go to ``prior_metrics.jsonl``.
"""

import json
import math
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from vaekit.models import (
    VQVAE,
    CodePrior,
    ConditionalVAE,
    code_prior_forward,
    decode_codes,
    encode_codes,
    sample_codes,
)
from vaekit.objectives import code_prior_nll
from vaekit.runner._checkpoint import Checkpoints
from vaekit.runner._config import SAMPLERS, ConfigError
from vaekit.training import array_source, make_train_step, run_chunks

PRIOR_DIR = "checkpoints/prior"
__all__ = ["SAMPLERS", "code_bits", "fit_code_prior", "load_code_prior", "num_codes_of",
           "posthoc_images", "prior_code_images", "train_images"]
POSTHOC_IMAGES = 10000


def train_images(data, num: int, seed: int, labelled: bool = False):
    """Up to ``num`` training images as the model sees them.

    Float ``(n, H, W, C)`` after the run's ``preprocess`` (dSprites rendered, dynamic binarisation
    drawn), and their labels.
    """
    arrays = data.arrays("train", labelled)
    idx = np.sort(np.random.default_rng(seed).choice(data.num_train, min(num, data.num_train),
                                                     replace=False))
    preprocess = jax.jit(data.preprocess)
    key = jax.random.key(seed)
    xs, ys = [], []
    for start in range(0, len(idx), 256):
        rows = idx[start:start + 256]
        batch = preprocess({k: np.asarray(v[rows]) for k, v in arrays.items()},
                           jax.random.fold_in(key, start))
        xs.append(np.asarray(batch["x"], np.float32))
        if labelled:
            ys.append(np.asarray(batch["y"]))
    return np.concatenate(xs), (np.concatenate(ys) if labelled else None)


def num_codes_of(model: VQVAE) -> int:
    """The number of distinct code indices of a quantized model's quantizer."""
    quantizer = model.quantizer
    return int(getattr(quantizer, "codebook_size", getattr(quantizer, "num_codes", 0)))


def _prior_step(config):
    p = config.prior
    return make_train_step(code_prior_nll(), optax.adam(p.lr), forward=code_prior_forward)


def _new_prior(config, num_codes: int, grid_shape: tuple[int, ...]) -> CodePrior:
    p = config.prior
    return CodePrior(num_codes, grid_shape, width=p.width, num_layers=p.num_layers,
                     num_heads=p.num_heads, dropout=p.dropout,
                     rngs=nnx.Rngs(config.train.seed + 1))


@nnx.jit
def _code_metrics(prior: CodePrior, codes: jax.Array) -> dict[str, jax.Array]:
    return code_prior_nll()(prior(codes), {"codes": codes}, 0)[1]  # no key: dropout off


def code_bits(prior: CodePrior, codes: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """Held-out bits per code and next-code accuracy of ``prior``.

    Held-out bits per code and next-code accuracy of ``prior`` on ``codes`` (dropout off):
    :func:`vaekit.code_prior_nll`'s metrics, averaged over batches weighted by their size.
    """
    totals = {"bits_per_code": 0.0, "accuracy": 0.0}
    for start in range(0, len(codes), batch_size):
        chunk = codes[start:start + batch_size]
        metrics = _code_metrics(prior, jnp.asarray(chunk))
        for name in totals:
            totals[name] += float(metrics[name]) * len(chunk)
    return {name: total / len(codes) for name, total in totals.items()}


def unigram_bits(train_codes: np.ndarray, codes: np.ndarray, num_codes: int) -> float:
    """Bits per code of ``codes`` under the training codes' add-one-smoothed frequencies."""
    counts = np.bincount(train_codes.ravel(), minlength=num_codes) + 1.0
    return float(-np.mean(np.log2(counts / counts.sum())[codes.ravel()]))


def fit_code_prior(parts, model: VQVAE, out: Path) -> tuple[CodePrior, dict]:
    """Trains the code prior of ``parts.config.prior`` on the frozen ``model``'s codes.

    Returns the best-by-validation prior and its report: held-out ``prior.val_bits_per_code``,
    ``prior.val_accuracy``, and the baselines ``prior.unigram_bits_per_code`` (code
    frequencies) and ``prior.uniform_bits_per_code`` (``log2 K``).
    """
    config = parts.config
    p, seed = config.prior, config.train.seed
    images, _ = train_images(parts.data, p.num_images, seed)
    codes = encode_codes(model, images)
    val_codes = encode_codes(model, parts.data.val_images)
    num_codes = num_codes_of(model)
    train = _prior_step(config)
    initial = train.init(_new_prior(config, num_codes, codes.shape[1:]), jax.random.key(seed))
    period = max(p.steps // 5, 1)
    best = (float("inf"), None)
    shutil.rmtree(out / PRIOR_DIR, ignore_errors=True)  # an interrupted fit starts over
    checkpoints = Checkpoints(out, keep=1, subdir=PRIOR_DIR)
    try:
        with (out / "prior_metrics.jsonl").open("w") as log:
            source = array_source({"codes": codes}, batch_size=min(p.batch_size, len(codes)),
                                  seed=seed)
            for state, step, metrics, _ in run_chunks(train, initial, source,
                                                      num_steps=p.steps, steps_per_call=50,
                                                      periods=(period,)):
                row = {"split": "train", "step": step,
                       **{k: float(np.mean(v)) for k, v in metrics.items()}}
                log.write(json.dumps(row) + "\n")
                if step % period == 0 or step >= p.steps:
                    val = code_bits(state.model(), val_codes)
                    log.write(json.dumps({"split": "val", "step": step, **val}) + "\n")
                    if val["bits_per_code"] < best[0]:
                        best = (val["bits_per_code"], step)
                        checkpoints.save(state, best=True)
                log.flush()
            checkpoints.save(state)
        prior = checkpoints.restore(state, "best").model()
    finally:
        checkpoints.close()
    val = code_bits(prior, val_codes)
    report = {"prior.val_bits_per_code": val["bits_per_code"],
              "prior.val_accuracy": val["accuracy"],
              "prior.unigram_bits_per_code": unigram_bits(codes, val_codes, num_codes),
              "prior.uniform_bits_per_code": math.log2(num_codes),
              "prior.best_step": best[1], "prior.num_images": len(codes)}
    (out / "prior.json").write_text(json.dumps(report, indent=2))
    return prior, report


def load_code_prior(run_dir: str | Path, parts, model: VQVAE) -> CodePrior | None:
    """The run's trained code prior (best by validation), or ``None`` if it has none."""
    run_dir = Path(run_dir)
    if not (run_dir / PRIOR_DIR / "best").is_dir():
        return None
    grid = encode_codes(model, parts.data.val_images[:1]).shape[1:]
    template = _prior_step(parts.config).init(
        _new_prior(parts.config, num_codes_of(model), grid), jax.random.key(0))
    checkpoints = Checkpoints(run_dir, keep=1, subdir=PRIOR_DIR)
    try:
        return checkpoints.restore(template, "best").model()
    finally:
        checkpoints.close()


def prior_code_images(model: VQVAE, prior: CodePrior, key: jax.Array, n: int,
                      temperature: float = 1.0) -> np.ndarray:
    """Pixel means of ``n`` code grids drawn from the learned ``prior`` and decoded."""
    codes = sample_codes(prior, key, n, temperature=temperature)
    return np.asarray(jax.nn.sigmoid(decode_codes(model, codes)))


def _gaussian_encoder(model, sampler: str, image_shape: tuple[int, ...]):
    """``model`` (a FactorVAE's VAE) if it has ``encode(x) -> (mean, logvar)`` and ``decode``."""
    model = getattr(model, "vae", model)
    if isinstance(model, VQVAE) or not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise ConfigError(f"`--sampler {sampler}` needs a model with a Gaussian encoder "
                          f"encode(x) -> (mean, logvar) and decode(z); {type(model).__name__} "
                          "has none (use --sampler prior)")
    x = jnp.zeros((1, *image_shape))
    args = (x, jnp.zeros((1,), jnp.int32)) if isinstance(model, ConditionalVAE) else (x,)
    shapes = model.encode(*args)  # one image, eagerly
    if len(shapes) != 2:
        raise ConfigError(f"`--sampler {sampler}` needs encode(x) -> (mean, logvar); "
                          f"{type(model).__name__}.encode returns {len(shapes)} values "
                          "(use --sampler prior)")
    return model


def posthoc_images(parts, model, sampler: str, key: jax.Array, n: int,
                   num_components: int = 10) -> np.ndarray:
    """Pixel means of ``n`` samples of a post-hoc latent sampler.

    The sampler is fitted to the training codes: ``"gmm"`` (Ghosh et al. 2020, a ``num_components``
    full-covariance mixture of the posterior means) or ``"two-stage"`` (Dai & Wipf 2019, a second
    VAE on the means). A conditional model draws class ``i % num_classes`` for sample ``i``.
    """
    from vaekit.samplers import fit_latent_gmm, fit_two_stage, sample_two_stage, sample_with_gmm

    labelled = isinstance(model, ConditionalVAE)
    model = _gaussian_encoder(model, sampler, parts.data.image_shape)
    images, labels = train_images(parts.data, POSTHOC_IMAGES, parts.config.train.seed, labelled)
    fit_key, draw_key = jax.random.split(key)
    draw_labels = np.arange(n) % parts.data.num_classes if labelled else None
    if sampler == "gmm":
        if num_components > len(images):
            raise ConfigError(f"`--components` ({num_components}) must be <= the number of "
                              f"training images ({len(images)})")
        gmm = fit_latent_gmm(model, images, num_components, key=fit_key, labels=labels)
        out = sample_with_gmm(model, gmm, draw_key, n, labels=draw_labels)
    else:
        stage2 = fit_two_stage(model, images, key=fit_key, labels=labels)
        out = sample_two_stage(model, stage2, draw_key, n, labels=draw_labels)
    return np.asarray(jax.nn.sigmoid(out))
