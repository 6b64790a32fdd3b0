"""Convolutional models on a CPU: a chunk of steps in one ``lax.scan`` against one compiled
call per step (what ``vaekit train`` now does for conv models on a CPU), and PyTorch eager.

Usage (from the repository root; PyTorch from the ``bench`` extra, ``torch==2.13.0``)::

    python benchmarks/bench_conv_cpu.py            # print
    python benchmarks/bench_conv_cpu.py --write    # and update benchmarks/RESULTS.md

Models: the Burgess et al. CNN VAE of ``vaekit train --architecture cnn`` (4x4 stride-2
convs 32-32-64-64, dense 256, latent 10, mirrored decoder; β-VAE β = 4) and the runner's
VQ-VAE (conv encoder 32-64 with 2 residual blocks, 64 EMA codes of dimension 16, mirrored
decoder), both on 64x64 binary images, Adam 1e-3. The PyTorch model is the same CNN VAE
(Conv2d/ConvTranspose2d 4x4 stride 2 padding 1), 2 threads. The scan variant is slow enough
that it runs few steps: its rate is the mean over ``--scan-rounds`` calls of ``--scan`` steps.
"""

import argparse
import time

import _common as C
import jax
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.runner.config import RunConfig
from vaekit.runner.zoo import build_model

SHAPE = (64, 64, 1)


def cnn_vae():
    r = nnx.Rngs(0)
    return vaekit.VAE(vaekit.CNNEncoder(SHAPE, 10, (32, 32, 64, 64), rngs=r),
                      vaekit.CNNDecoder(10, SHAPE, (64, 64, 32, 32), rngs=r))


def vq_vae():
    return build_model(RunConfig.from_dict({"model": {"kind": "vq-vae"}}).model, SHAPE, 0)


def jax_rates(make_model, objective, batch: int, *, scan: int, scan_rounds: int,
              step_rounds: int, steps: int) -> dict[str, list[float]]:
    x = (np.random.default_rng(0).random((max(scan, steps), batch, *SHAPE)) < 0.3)
    x = x.astype(np.float32)
    rates: dict[str, list[float]] = {"one compiled call per step": [],
                                     f"lax.scan of {scan} steps": []}
    train = vaekit.make_train_step(objective, optax.adam(1e-3))
    state = train.init(make_model(), jax.random.key(0))
    state, m = train.step(state, {"x": x[0]})
    C.block(m)
    for _ in range(step_rounds):
        start = time.perf_counter()
        for i in range(steps):
            state, m = train.step(state, {"x": x[i]})
        C.block(m)
        rates["one compiled call per step"].append(steps / (time.perf_counter() - start))
    chunk = {"x": x[:scan]}
    state, m = train.multi_step(state, chunk)
    C.block(m)
    for _ in range(scan_rounds):
        start = time.perf_counter()
        state, m = train.multi_step(state, chunk)
        C.block(m)
        rates[f"lax.scan of {scan} steps"].append(scan / (time.perf_counter() - start))
    return rates


def torch_rates(batch: int, *, rounds: int, steps: int) -> list[float]:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            ch = (1, 32, 32, 64, 64)
            self.enc = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 4, 2, 1)
                                           for a, b in zip(ch[:-1], ch[1:], strict=True))
            self.hidden = torch.nn.Linear(64 * 4 * 4, 256)
            self.head = torch.nn.Linear(256, 20)
            self.dhidden = torch.nn.Linear(10, 256)
            self.project = torch.nn.Linear(256, 64 * 4 * 4)
            rch = ch[::-1]
            self.dec = torch.nn.ModuleList(torch.nn.ConvTranspose2d(a, b, 4, 2, 1)
                                           for a, b in zip(rch[:-1], rch[1:], strict=True))

        def forward(self, x):
            h = x
            for conv in self.enc:
                h = F.relu(conv(h))
            mean, logvar = self.head(F.relu(self.hidden(h.flatten(1)))).chunk(2, -1)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            h = F.relu(self.project(F.relu(self.dhidden(z)))).view(-1, 64, 4, 4)
            for i, conv in enumerate(self.dec):
                h = conv(h) if i == len(self.dec) - 1 else F.relu(conv(h))
            return h, mean, logvar

    model = Net()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = (torch.rand(steps, batch, 1, 64, 64) < 0.3).float()

    def step(xb):
        logits, mean, logvar = model(xb)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="none")
        kl = 0.5 * (mean.square() + torch.expm1(logvar) - logvar).sum(-1).mean()
        loss = recon.sum((1, 2, 3)).mean() + 4.0 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(x[0])
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(steps):
            step(x[i])
        out.append(steps / (time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--scan", type=int, default=5)
    parser.add_argument("--scan-rounds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = C.load()
    rows, data = [], {}
    common = dict(scan=args.scan, scan_rounds=args.scan_rounds, step_rounds=args.rounds,
                  steps=args.steps)
    for name, make, objective in (("CNN VAE", cnn_vae, vaekit.beta_vae(4.0)),
                                  ("VQ-VAE", vq_vae, vaekit.vq_vae(0.25))):
        rates = jax_rates(make, objective, args.batch, **common)
        if name == "CNN VAE":
            try:
                rates["PyTorch eager (same model)"] = torch_rates(
                    args.batch, rounds=args.rounds, steps=args.steps)
            except ImportError:
                print("torch not installed: PyTorch row skipped")
        base = np.median(rates["one compiled call per step"])
        for variant, values in rates.items():
            row = (f"| {name} | {variant} | {C.fmt_rate(C.summary(values))} | "
                   f"{np.median(values) / base:.2f}× |")
            rows.append(row)
            print(row, flush=True)
        data[name] = rates
    text = "\n".join([
        "## Convolutional models on the CPU: scan vs one call per step "
        "(`benchmarks/bench_conv_cpu.py`)",
        "",
        f"Machine: {C.machine()}; date {C.DATE}; {C.versions()}. Load average before: "
        f"{load_before}, after: {C.load()}.",
        "",
        f"Batch {args.batch} of 64x64 binary images, Adam 1e-3. One call per step: "
        f"{args.rounds} rounds of {args.steps} steps; scan: {args.scan_rounds} calls of "
        f"{args.scan} steps after a warm-up call. Ratios: median rate over the per-step "
        "median.",
        "",
        "| model | variant | steps/s | vs one call per step |",
        "| --- | --- | ---: | ---: |",
        *rows,
    ])
    print(text)
    if args.write:
        C.write_section("bench_conv_cpu", text)
        C.save_json("bench_conv_cpu", {"rates": data})


if __name__ == "__main__":
    main()
