"""Capacity β-VAE and EMA VQ-VAE steps/s vs the plain VAE step of the same size.

Usage (from the repository root)::

    python benchmarks/bench_objectives.py            # batches 32, 128, 1024
    python benchmarks/bench_objectives.py --write    # and update benchmarks/RESULTS.md

All three train through the same ``make_train_step`` (Adam 1e-3, state donated) with
``multi_step`` scans of 50 device-resident batches, and with one call per step:

- plain VAE: MLP VAE 784-512-256-10, ``beta_vae(beta=1.0)``;
- capacity β-VAE: the same model, ``capacity_vae(gamma=1000, c_max=25)`` (C on a schedule);
- EMA VQ-VAE: encoder 784-512-256-10 to ``z_e``, ``VectorQuantizer(512 codes, dim 10,
  ema=True)`` (library defaults: decay 0.99, dead-code reset), decoder 10-256-512-784;
  ``vq_vae()`` objective (Bernoulli logits).
"""

import argparse

import _common as C
import jax
import optax
from flax import nnx

import vaekit
from vaekit.quantizers import VectorQuantizer

SCAN = 50
CODES = 512


class ZEncoder(nnx.Module):
    """784-512-256-10 MLP to a deterministic latent ``z_e`` (the VQ-VAE's encoder)."""

    def __init__(self, rngs: nnx.Rngs):
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in
                                ((C.IN, C.H1), (C.H1, C.H2))])
        self.head = nnx.Linear(C.H2, C.LATENT, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = jax.nn.relu(layer(x))
        return self.head(x)


def vq_model(seed: int = 0) -> vaekit.VQVAE:
    rngs = nnx.Rngs(seed)
    return vaekit.VQVAE(ZEncoder(rngs), VectorQuantizer(CODES, C.LATENT, ema=True, rngs=rngs),
                        vaekit.MLPDecoder(C.LATENT, (C.IN,), (C.H2, C.H1), rngs=rngs))


MODELS = {
    "plain VAE": (lambda: vaekit.beta_vae(beta=1.0), C.mlp_vae),
    "capacity β-VAE": (lambda: vaekit.capacity_vae(gamma=1000.0, c_max=25.0), C.mlp_vae),
    "EMA VQ-VAE": (vaekit.vq_vae, vq_model),
}


def variants(batch: int):
    batches = C.device_batches(batch, 8)
    stacked = {"x": jax.numpy.stack([batches[i % 8]["x"] for i in range(SCAN)])}
    runs = {}
    for name, (objective, model) in MODELS.items():
        train = vaekit.make_train_step(objective(), optax.adam(1e-3))
        runs[(name, "scan")] = C.scan_runner(
            train.multi_step, train.init(model(), jax.random.key(0)), stacked, SCAN)
        runs[(name, "step")] = C.per_call_runner(
            train.step, train.init(model(), jax.random.key(0)), batches)
    for run in runs.values():
        run(SCAN)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    args = parser.parse_args()
    load_before = C.load()
    rows, raw = [], {}
    for batch in args.batch:
        runs = variants(batch)
        named = {f"{m} / {k}": run for (m, k), run in runs.items()}
        rates = C.interleaved(named, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}}
        for kind, label in (("scan", f"scan of {SCAN}"), ("step", "one call per step")):
            base = rates[f"plain VAE / {kind}"]
            for name in MODELS:
                values = rates[f"{name} / {kind}"]
                ratio = C.paired_ratio(values, base)
                raw[batch]["ratios"][f"{name} / {kind}"] = ratio
                rows.append(f"| {batch} | {label} | {name} | {C.fmt_rate(C.summary(values))} | "
                            f"{C.fmt_ratio(ratio)} |")
                print(rows[-1], flush=True)
    text = (
        C.header("Capacity β-VAE and EMA VQ-VAE vs the plain VAE step", "bench_objectives.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before)
        + "\nSame `make_train_step` and Adam; encoder 784-512-256 and decoder 10-256-512-784 "
        "in all three. Capacity: `capacity_vae(gamma=1000, c_max=25)`. VQ-VAE: encoder to a "
        f"10-dim `z_e`, `VectorQuantizer({CODES}, 10, ema=True)` (decay 0.99, dead-code "
        "reset), `vq_vae()`. Ratio against the plain VAE (`beta_vae(beta=1.0)`) in the same "
        "round. Target: capacity and VQ-EMA ≥ 0.9× plain.\n\n"
        "| batch | calls | objective | steps/s | vs plain VAE |\n"
        "| ---: | --- | --- | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_objectives", {"load_before": load_before, "results": raw})
    if args.write:
        C.write_section("bench_objectives", text)


if __name__ == "__main__":
    main()
