"""vaekit vs Artifex (avitai-artifex): Artifex's own BetaVAE and its three training paths.

Usage (from the repository root; Artifex needs Python >= 3.12, so a separate environment)::

    python3.12 -m venv /tmp/venv312
    /tmp/venv312/bin/pip install "avitai-artifex>=0.1.4" && /tmp/venv312/bin/pip install -e .
    /tmp/venv312/bin/python benchmarks/bench_artifex.py --write

Both sides in one process on the same JAX (whatever Artifex installs). Model: Artifex's
``BetaVAE`` with dense encoder 784-512-256 → (mean, log-var) 10 and decoder 10-256-512-784
with a sigmoid output and its ``"bce"`` loss (no batch norm; 1,074,980 parameters, the same
layers as vaekit's but for separate 256→10 mean and log-variance heads instead of one
256→20), β = 4 without annealing,
``optax.adam(1e-3)``; vaekit's MLP VAE of the same sizes (Bernoulli logits), β = 4, Adam.
Variants:

- Artifex ``VAETrainer.train_step`` under ``nnx.jit`` (its documented fast path), one call
  per step, vs vaekit ``train.step``;
- Artifex ``Trainer.train_step`` (the generic trainer: compiled step, Python callbacks,
  metric history), one call per step, vs vaekit ``train.step``;
- Artifex ``train_epoch_staged`` (the whole epoch in one ``nnx.jit`` + ``nnx.fori_loop``
  over device-staged data) vs ``vaekit.fit(..., device_data=True)`` with one epoch per call
  (``multi_step_indexed``: one ``lax.scan`` per epoch over device-resident data).
"""

import argparse
import importlib.metadata
import math

import _common as C
import jax
import jax.numpy as jnp
import optax
from artifex.generative_models.core.configuration.network_configs import (
    DecoderConfig,
    EncoderConfig,
)
from artifex.generative_models.core.configuration.optimizer_config import OptimizerConfig
from artifex.generative_models.core.configuration.training_config import TrainingConfig
from artifex.generative_models.core.configuration.vae_config import BetaVAEConfig
from artifex.generative_models.models.vae.beta_vae import BetaVAE
from artifex.generative_models.training.loops.staged import train_epoch_staged
from artifex.generative_models.training.trainer import Trainer
from artifex.generative_models.training.trainers.vae_trainer import VAETrainer, VAETrainingConfig
from flax import nnx

import vaekit

BETA = 4.0
EPOCH_BATCHES = 32


def artifex_model(seed: int = 0) -> BetaVAE:
    encoder = EncoderConfig(name="encoder", input_shape=(C.IN,), latent_dim=C.LATENT,
                            hidden_dims=(C.H1, C.H2), activation="relu", use_batch_norm=False)
    # Artifex's dense decoder reverses hidden_dims (it takes the encoder's): (512, 256) gives
    # 10-256-512-784, the same layers as vaekit's decoder (checked in variants()).
    decoder = DecoderConfig(name="decoder", latent_dim=C.LATENT, output_shape=(C.IN,),
                            hidden_dims=(C.H1, C.H2), activation="relu")
    config = BetaVAEConfig(name="beta_vae", encoder=encoder, decoder=decoder,
                           encoder_type="dense", beta_default=BETA,
                           reconstruction_loss_type="bce")
    return BetaVAE(config, rngs=nnx.Rngs(seed, sample=seed + 1))


def variants(batch: int):
    images = C.binary_images(batch * EPOCH_BATCHES, seed=1)
    device_images = jnp.asarray(images)
    batches = [{"image": device_images[i * batch:(i + 1) * batch]} for i in range(8)]
    vaekit_batches = [{"x": b["image"]} for b in batches]
    vae_trainer = VAETrainer(VAETrainingConfig(kl_annealing="none", beta=BETA))
    runs = {}

    # vaekit: one call per step, and one epoch per call over device-resident data; with the
    # default metrics and with grad_norm=True (the gradient-norm metric, which Artifex's
    # steps do not compute).
    data = {"x": device_images}
    for suffix, kwargs in (("", {}), (", grad_norm=True", {"grad_norm": True})):
        train = vaekit.make_train_step(vaekit.beta_vae(beta=BETA), optax.adam(1e-3), **kwargs)
        box = {"fit": train.init(C.mlp_vae(), jax.random.key(0))}
        vaekit_step = C.per_call_runner(
            train.step, train.init(C.mlp_vae(), jax.random.key(0)), vaekit_batches)

        def vaekit_fit(n, train=train, box=box):
            epochs = max(1, round(n / EPOCH_BATCHES))
            state, _ = vaekit.fit(train, box["fit"], data, num_steps=epochs * EPOCH_BATCHES,
                                  batch_size=batch, steps_per_call=EPOCH_BATCHES,
                                  device_data=True)
            C.block(state)
            box["fit"] = state
            return epochs * EPOCH_BATCHES

        runs[f"vaekit train.step{suffix}"] = vaekit_step
        runs[f"vaekit fit(device_data=True){suffix}"] = vaekit_fit

    # Artifex VAETrainer.train_step under nnx.jit.
    model = artifex_model()
    shapes = sorted(p.shape for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    ours = sorted(p.shape for p in jax.tree.leaves(nnx.state(C.mlp_vae(), nnx.Param)))
    count = sum(math.prod(s) for s in shapes)
    if count != sum(math.prod(s) for s in ours) or {s for s in shapes if len(s) == 2} - {
            (C.H2, C.LATENT)} != {s for s in ours if len(s) == 2} - {(C.H2, 2 * C.LATENT)}:
        raise AssertionError(f"Artifex model {shapes} differs from vaekit's {ours}")
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    jit_step = nnx.jit(vae_trainer.train_step, static_argnames=("loss_type",))
    counter = {"vae_trainer": 0, "staged": 0}

    def artifex_vae_trainer(n):
        for i in range(n):
            loss, metrics = jit_step(model, optimizer, batches[i % 8],
                                     step=counter["vae_trainer"], loss_type="bce")
            counter["vae_trainer"] += 1
        C.block((loss, metrics))
        return n

    # Artifex generic Trainer.
    loss_fn = vae_trainer.create_loss_fn(loss_type="bce")
    config = TrainingConfig(name="bench", optimizer=OptimizerConfig(
        name="adam", optimizer_type="adam", learning_rate=1e-3), batch_size=batch,
        gradient_clip_norm=None)
    trainer = Trainer(artifex_model(), config, optimizer=optax.adam(1e-3), loss_fn=loss_fn)

    def artifex_trainer(n):
        for i in range(n):
            trainer.train_step(batches[i % 8])
        trainer.train_metrics.clear()  # its history grows by one dict per step
        return n

    # Artifex train_epoch_staged.
    staged_model = artifex_model()
    staged_optimizer = nnx.Optimizer(staged_model, optax.adam(1e-3), wrt=nnx.Param)

    def artifex_staged(n):
        epochs = max(1, round(n / EPOCH_BATCHES))
        for e in range(epochs):
            counter["staged"], metrics = train_epoch_staged(
                staged_model, staged_optimizer, device_images, batch, jax.random.key(e),
                loss_fn, base_step=counter["staged"])
        return epochs * EPOCH_BATCHES

    runs["Artifex VAETrainer.train_step"] = artifex_vae_trainer
    runs["Artifex Trainer.train_step"] = artifex_trainer
    runs["Artifex train_epoch_staged"] = artifex_staged
    for run in runs.values():
        run(EPOCH_BATCHES)
    return runs


PAIRS = tuple(
    (ours + suffix, theirs, target)
    for ours, theirs, target in (("vaekit train.step", "Artifex VAETrainer.train_step", 1.5),
                                 ("vaekit train.step", "Artifex Trainer.train_step", 3.0),
                                 ("vaekit fit(device_data=True)", "Artifex train_epoch_staged",
                                  1.3))
    for suffix in ("", ", grad_norm=True")
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    args = parser.parse_args()
    load_before = C.load()
    rows, raw = [], {}
    for batch in args.batch:
        runs = variants(batch)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}}
        for ours, theirs, target in PAIRS:
            ratio = C.paired_ratio(rates[ours], rates[theirs])
            raw[batch]["ratios"][f"{ours} / {theirs}"] = ratio
            rows.append(f"| {batch} | {theirs} | {C.fmt_rate(C.summary(rates[theirs]))} | "
                        f"{ours} | {C.fmt_rate(C.summary(rates[ours]))} | {C.fmt_ratio(ratio)} "
                        f"| ≥ {target}× |")
            print(rows[-1], flush=True)
    artifex_version = importlib.metadata.version("avitai-artifex")
    text = (
        C.header("vaekit vs Artifex", "bench_artifex.py", rounds=args.rounds,
                 seconds=args.round_seconds, load_before=load_before,
                 artifex=artifex_version)
        + "\nArtifex's own `BetaVAE` (dense 784-512-256-10, sigmoid output, its `bce` loss, "
        "no batch norm) and training paths vs vaekit's MLP VAE of the same sizes (Bernoulli "
        f"logits); β = {BETA}, `optax.adam(1e-3)`, same device-resident batches. Epoch: "
        f"{EPOCH_BATCHES} batches. `grad_norm=True`: vaekit also reports the gradient norm "
        "(Artifex computes none). Ratio: vaekit steps/s over Artifex's in the same round."
        "\n\n"
        "| batch | Artifex path | Artifex steps/s | vaekit path | vaekit steps/s | "
        "vaekit / Artifex | target |\n"
        "| ---: | --- | ---: | --- | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_artifex", {"load_before": load_before, "results": raw,
                                   "artifex": artifex_version})
    if args.write:
        C.write_section("bench_artifex", text)


if __name__ == "__main__":
    main()
