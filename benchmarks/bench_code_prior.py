"""A learned code prior for a VQ-VAE on the 8x8 digits: held-out bits and sample quality.

Trains an EMA VQ-VAE (conv encoder, 4x4 code grid) on the sklearn digits, extracts the code
grids, trains a :class:`vaekit.models.CodePrior` on the training grids and reports

(a) held-out bits per code under the prior, the empirical unigram and the uniform ``log2 K``;
(b) a logistic-regression digit classifier's confidence (mean max-probability, fraction > 0.9)
    on images decoded from prior samples, from i.i.d. unigram codes and from uniform codes,
    with real validation images and their reconstructions as references;
(c) a sample grid PNG in ``benchmarks/results/``.

Run by hand: ``python benchmarks/bench_code_prior.py [--write]`` (a few CPU minutes).
"""

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _common import JSON_DIR, load, machine, save_json, versions, write_section
from flax import nnx
from sklearn.linear_model import LogisticRegression

import vaekit
from vaekit.data import load_digits_dataset
from vaekit.models import (
    CodePrior,
    ConvDecoder,
    ConvEncoder,
    code_prior_forward,
    decode_codes,
    encode_codes,
    sample_codes,
)
from vaekit.objectives import code_prior_nll
from vaekit.plots import image_grid_figure
from vaekit.quantizers import VectorQuantizer

K, CODE_DIM = 32, 16


def train_loop(train, state, data: dict, steps: int, batch: int, seed: int, chunk: int = 100):
    rng = np.random.default_rng(seed)
    n = len(next(iter(data.values())))
    metrics = None
    for _ in range(steps // chunk):
        idx = rng.integers(0, n, (chunk, batch))
        state, metrics = train.multi_step(state, {k: jnp.asarray(v[idx]) for k, v in data.items()})
    return state, {k: float(v[-1]) for k, v in metrics.items()}


def confidence(clf, images: np.ndarray) -> tuple[float, float]:
    p = clf.predict_proba(images.reshape(len(images), -1)).max(axis=1)
    return float(p.mean()), float((p > 0.9).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vq-steps", type=int, default=3000)
    parser.add_argument("--prior-steps", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before, t0 = load(), time.perf_counter()
    split = load_digits_dataset(num_val=297, seed=0)
    x_train, x_val = split.train_images, split.val_images

    rngs = nnx.Rngs(0)
    vq = vaekit.VQVAE(
        ConvEncoder(1, CODE_DIM, (32,), 1, rngs=rngs),
        VectorQuantizer(K, CODE_DIM, ema=True, rngs=rngs),
        ConvDecoder(CODE_DIM, 1, (32,), 1, rngs=rngs),
    )
    train_vq = vaekit.make_train_step(vaekit.vq_vae(0.25), optax.adam(1e-3))
    state = train_vq.init(vq, jax.random.key(0))
    state, vq_metrics = train_loop(train_vq, state, {"x": x_train}, args.vq_steps, 64, 0)
    nnx.update(vq, state.params, state.rest)
    t_vq = time.perf_counter() - t0
    c_train, c_val = encode_codes(vq, x_train), encode_codes(vq, x_val)
    grid = c_train.shape[1:]
    print("vq", vq_metrics, "grid", grid, f"{t_vq:.0f}s", flush=True)

    prior = CodePrior(K, grid, width=64, num_layers=2, num_heads=4, dropout=0.1,
                      rngs=nnx.Rngs(1))
    schedule = optax.cosine_decay_schedule(1e-3, args.prior_steps)
    train_prior = vaekit.make_train_step(code_prior_nll(), optax.adamw(schedule, 0.01),
                                         forward=code_prior_forward)
    pstate = train_prior.init(prior, jax.random.key(1))
    pstate, prior_metrics = train_loop(train_prior, pstate, {"codes": c_train},
                                       args.prior_steps, 64, 1)
    nnx.update(prior, pstate.params, pstate.rest)
    val = code_prior_nll()(prior(c_val), {"codes": c_val}, 0)[1]  # no key: no dropout
    t_prior = time.perf_counter() - t0 - t_vq
    bits_prior = float(val["bits_per_code"])
    counts = np.bincount(c_train.ravel(), minlength=K) + 1.0  # add-one smoothing
    unigram = counts / counts.sum()
    bits_unigram = float(-np.mean(np.log2(unigram[c_val.ravel()])))
    print("prior", prior_metrics, "val", {k: float(v) for k, v in val.items()}, flush=True)

    clf = LogisticRegression(max_iter=3000).fit(x_train.reshape(len(x_train), -1),
                                                split.train_labels)
    rng = np.random.default_rng(2)
    n = args.samples
    sources = {
        "codes sampled from the prior (T = 1)": np.asarray(
            sample_codes(prior, jax.random.key(3), n)),
        "codes sampled from the prior (T = 0.7)": np.asarray(
            sample_codes(prior, jax.random.key(4), n, temperature=0.7)),
        "codes i.i.d. from the unigram": rng.choice(K, (n, *grid), p=unigram).astype(np.int32),
        "codes uniform on [0, K)": rng.integers(0, K, (n, *grid)).astype(np.int32),
        "reconstructions of validation images": c_val,
    }
    rows = {"real validation images": confidence(clf, x_val)}
    decoded = {}
    for name, codes in sources.items():
        decoded[name] = np.asarray(jax.nn.sigmoid(decode_codes(vq, codes)))
        rows[name] = confidence(clf, decoded[name])
        print(name, rows[name], flush=True)
    JSON_DIR.mkdir(exist_ok=True)
    png = JSON_DIR / "code_prior_samples.png"
    image_grid_figure(np.concatenate([decoded["codes sampled from the prior (T = 1)"][:48],
                                      decoded["codes uniform on [0, K)"][:16]]), png, ncols=16,
                      title="rows 1-3: prior samples (T = 1); row 4: uniform codes")
    total = time.perf_counter() - t0
    result = {"grid": list(grid), "num_codes": K, "bits_prior": bits_prior,
              "bits_unigram": bits_unigram, "bits_uniform": math.log2(K),
              "prior_val_accuracy": float(val["accuracy"]), "confidence": rows,
              "vq_metrics": vq_metrics, "seconds": total}
    save_json("bench_code_prior", result)
    table = "\n".join(f"| {name} | {m:.3f} | {f:.3f} |" for name, (m, f) in rows.items())
    text = f"""## Code prior on the 8x8 digits (`benchmarks/bench_code_prior.py`)

Machine: {machine()}; date {time.strftime("%Y-%m-%d")}; {versions()}. Load average before:
{load_before}, after: {load()}. EMA VQ-VAE (ConvEncoder/ConvDecoder, channels (32,), 1 residual
block, K = {K} codes of dim {CODE_DIM}, a {grid[0]}x{grid[1]} code grid) trained {args.vq_steps}
steps at batch 64 on 1,500 digits ({t_vq:.0f} s; last batch reconstruction loss
{vq_metrics.get("reconstruction_loss", float("nan")):.2f} nats, perplexity
{vq_metrics.get("perplexity", float("nan")):.1f}); `CodePrior` (width 64, 2 layers, 4 heads,
dropout 0.1) trained {args.prior_steps} steps at batch 64 with AdamW and cosine decay
({t_prior:.0f} s). Total {total:.0f} s.

Held-out (297 validation digits) bits per code: prior {bits_prior:.3f}, empirical unigram
(add-one smoothed, fitted on training codes) {bits_unigram:.3f}, uniform log2 K =
{math.log2(K):.3f}. Prior's validation next-code accuracy {float(val["accuracy"]):.3f}.

Confidence of a logistic-regression digit classifier (fitted on the 1,500 training images) on
{n} decoded images per row (sigmoid of the decoder logits):

| images | mean max-probability | fraction > 0.9 |
| --- | ---: | ---: |
{table}

Sample grid: `benchmarks/results/code_prior_samples.png`.
"""
    print(text)
    if args.write:
        write_section("bench_code_prior", text)


if __name__ == "__main__":
    main()
