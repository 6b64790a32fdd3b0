"""Convolutional models on a CPU: a chunk of steps in one ``lax.scan`` against one compiled
call per step (what ``vaekit train`` now does for conv models on a CPU), and PyTorch eager.

Usage (from the repository root; PyTorch from the ``bench`` extra, ``torch==2.13.0``)::

    python benchmarks/bench_conv_cpu.py            # print
    python benchmarks/bench_conv_cpu.py --write    # and update benchmarks/RESULTS.md

Models: the Burgess et al. CNN VAE of ``vaekit train --architecture cnn`` (4x4 stride-2
convs 32-32-64-64, dense 256, latent 10, mirrored decoder; β-VAE β = 4) and the runner's
VQ-VAE (``model.kind = "vq-vae"``: conv encoder 32-64 with 2 residual blocks, 64 EMA codes of
dimension 16 with dead-code reset, mirrored decoder; ``vq_vae(0.25)``), both on 64x64 binary
images, Adam 1e-3. Each has a PyTorch counterpart written here in plain torch, the same
layers (Conv2d/ConvTranspose2d 4x4 stride 2 padding 1, 3x3 and 1x1 convs, residual blocks),
the same objective and, for the VQ-VAE, the same EMA codebook update and dead-code reset
(under ``torch.no_grad``) and straight-through estimator; 2 threads, eager, OpenMP wait
policy PASSIVE unless ``OMP_WAIT_POLICY`` is set (the note above ``SHAPE``). The script
asserts that each PyTorch model has as many trainable parameters as the vaekit one.

The one-call-per-step and PyTorch variants run in interleaved rounds (the order alternates)
on the same batches, so a load change on the shared machine hits both alike. The scan variant
is slow enough that it runs few steps: its rate is the mean over ``--scan-rounds`` calls of
``--scan`` steps, after a warm-up call.
"""

import argparse
import os
import time

import _common as C
import jax
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.runner import RunConfig
from vaekit.runner._kinds import build_model

# PyTorch's OpenMP threads spin while they wait at a barrier (GNU OpenMP's default ACTIVE
# policy); on a loaded machine a spinning thread holds a core the other one needs, and the CNN
# VAE ran at 0.71 steps/s with 2 threads against 7 with 1 (2026-12-04, load average 6-7 on 2
# cores). PASSIVE threads sleep instead: 7.8 steps/s with 2 threads. Set before torch loads;
# OMP_WAIT_POLICY=ACTIVE in the environment restores the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHAPE = (64, 64, 1)
VQ_CONFIG = RunConfig.from_dict({"model": {"kind": "vq-vae"}}).model
PER_STEP, TORCH = "one compiled call per step", "PyTorch eager (same model)"


def cnn_vae():
    r = nnx.Rngs(0)
    return vaekit.VAE(vaekit.CNNEncoder(SHAPE, 10, (32, 32, 64, 64), rngs=r),
                      vaekit.CNNDecoder(10, SHAPE, (64, 64, 32, 32), rngs=r))


def vq_vae():
    return build_model(VQ_CONFIG, SHAPE, 0)


def num_params(model: nnx.Module) -> int:
    """Trainable parameters (``nnx.Param``; the EMA codebook is not one)."""
    return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))


# ----------------------------------------------------------------------------- vaekit


def jax_runners(make_model, objective, x: np.ndarray, *, scan: int):
    """``(per_step_run, scan_run, params)``: ``per_step_run(n)`` runs ``n`` compiled steps on
    ``x[i % len(x)]``, ``scan_run()`` one ``multi_step`` call of ``scan`` steps; both warm."""
    model = make_model()
    params = num_params(model)
    train = vaekit.make_train_step(objective, optax.adam(1e-3))
    box = [train.init(model, jax.random.key(0))]

    def per_step(n: int) -> int:
        state = box[0]
        for i in range(n):
            state, m = train.step(state, {"x": x[i % len(x)]})
        C.block(m)
        box[0] = state
        return n

    chunk = {"x": x[:scan]}

    def scan_run() -> int:
        state, m = train.multi_step(box[0], chunk)
        C.block(m)
        box[0] = state
        return scan

    per_step(1)
    return per_step, scan_run, params


# ----------------------------------------------------------------------------- PyTorch


def torch_cnn_vae():
    """The CNN VAE in torch and its loss ``xb -> scalar`` (β-VAE, β = 4, Bernoulli)."""
    import torch
    import torch.nn.functional as F

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

    def loss_fn(xb):
        logits, mean, logvar = model(xb)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="none")
        kl = 0.5 * (mean.square() + torch.expm1(logvar) - logvar).sum(-1).mean()
        return recon.sum((1, 2, 3)).mean() + 4.0 * kl

    return model, loss_fn


def torch_vq_vae():
    """The runner's VQ-VAE in torch and its loss ``xb -> scalar``: ``vq_vae(0.25)`` (Bernoulli
    NLL + codebook loss + 0.25 commitment, each summed over event dims and averaged over the
    batch), straight-through, EMA codebook (vaekit's ``ema_update``: debiased EMA, Laplace
    smoothing, unused codes kept) and dead-code reset from batch rows, in ``torch.no_grad``."""
    import torch
    import torch.nn.functional as F

    cfg = VQ_CONFIG
    k, dim = cfg.num_codes, cfg.code_dim
    decay, eps, threshold = 0.99, 1e-5, cfg.dead_code_threshold  # VectorQuantizer defaults

    class Res(torch.nn.Module):  # x + Conv1x1(relu(Conv3x3(relu(x))))
        def __init__(self, c):
            super().__init__()
            self.conv3, self.conv1 = torch.nn.Conv2d(c, c, 3, 1, 1), torch.nn.Conv2d(c, c, 1)

        def forward(self, x):
            return x + self.conv1(F.relu(self.conv3(F.relu(x))))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            ch = (1, *cfg.vq_channels)  # 1-32-64
            width = ch[-1]
            self.down = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 4, 2, 1)
                                            for a, b in zip(ch[:-1], ch[1:], strict=True))
            self.econv = torch.nn.Conv2d(width, width, 3, 1, 1)
            self.eres = torch.nn.ModuleList(Res(width) for _ in range(cfg.num_res_blocks))
            self.ehead = torch.nn.Conv2d(width, dim, 1)
            rch = ch[::-1]  # 64-32-1
            self.dconv = torch.nn.Conv2d(dim, rch[0], 3, 1, 1)
            self.dres = torch.nn.ModuleList(Res(rch[0]) for _ in range(cfg.num_res_blocks))
            self.up = torch.nn.ModuleList(torch.nn.ConvTranspose2d(a, b, 4, 2, 1)
                                          for a, b in zip(rch[:-1], rch[1:], strict=True))
            self.register_buffer("codebook", torch.empty(k, dim).uniform_(-1 / k, 1 / k))
            self.register_buffer("cluster_size", torch.zeros(k))
            self.register_buffer("embed_sum", torch.zeros(k, dim))
            self.ema_step = 0

        def encode(self, x):
            h = x
            for conv in self.down:
                h = F.relu(conv(h))
            h = self.econv(h)
            for block in self.eres:
                h = block(h)
            return self.ehead(F.relu(h))

        def decode(self, z):
            h = self.dconv(z)
            for block in self.dres:
                h = block(h)
            h = F.relu(h)
            for i, conv in enumerate(self.up):
                h = conv(h) if i == len(self.up) - 1 else F.relu(conv(h))
            return h

        @torch.no_grad()
        def nearest(self, z):
            cb = self.codebook
            d = z.square().sum(1, keepdim=True) - 2.0 * z @ cb.T + cb.square().sum(1)
            return d.argmin(1)

        @torch.no_grad()
        def update_codebook(self, z, idx):
            counts = torch.bincount(idx, minlength=k).float()
            sums = torch.zeros(k, dim).index_add_(0, idx, z)
            self.ema_step += 1
            rate = 1.0 if self.ema_step == 1 else (1 - decay) / (1 - decay**self.ema_step)
            cs = (1 - rate) * self.cluster_size + rate * counts
            es = (1 - rate) * self.embed_sum + rate * sums
            n = cs.sum()
            smoothed = (cs + eps) / (n + k * eps) * n
            updated = es / smoothed.clamp_min(torch.finfo(torch.float32).tiny)[:, None]
            cb = torch.where((cs > 0)[:, None], updated, self.codebook)
            dead = cs < threshold  # reset from distinct batch rows (N >= K here)
            cb = torch.where(dead[:, None], z[torch.randperm(z.shape[0])[:k]], cb)
            cs = torch.where(dead, torch.tensor(threshold), cs)
            es = torch.where(dead[:, None], cb * cs[:, None], es)
            self.codebook.copy_(cb)
            self.cluster_size.copy_(cs)
            self.embed_sum.copy_(es)
            return counts

        def forward(self, x):
            ze = self.encode(x)  # (B, D, h, w)
            b, _, hh, ww = ze.shape
            z = ze.permute(0, 2, 3, 1).reshape(-1, dim)
            idx = self.nearest(z)
            q = self.codebook[idx]  # the codebook before this step's update
            codebook_loss = (z.detach() - q).square().sum() / b  # no gradient (EMA codebook)
            commitment_loss = (z - q).square().sum() / b
            zq = z + (q - z).detach()  # straight-through
            counts = self.update_codebook(z.detach(), idx)
            probs = counts / counts.sum()
            perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
            usage = (counts > 0).float().mean()
            logits = self.decode(zq.view(b, hh, ww, dim).permute(0, 3, 1, 2))
            return logits, codebook_loss, commitment_loss, (perplexity, usage)

    model = Net()

    def loss_fn(xb):
        logits, codebook_loss, commitment_loss, _ = model(xb)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="none")
        return recon.sum((1, 2, 3)).mean() + codebook_loss + 0.25 * commitment_loss

    return model, loss_fn


def torch_runner(make, x: np.ndarray):
    """``(run, params)``: ``run(n)`` runs ``n`` eager Adam steps on ``x[i % len(x)]`` (NCHW)."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model, loss_fn = make()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3)))

    def run(n: int) -> int:
        for i in range(n):
            loss = loss_fn(xt[i % len(xt)])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return n

    run(1)
    return run, params


# ----------------------------------------------------------------------------- main


def measure(name, make_jax, objective, make_torch, x, args) -> tuple[dict, dict]:
    per_step, scan_run, jax_params = jax_runners(make_jax, objective, x, scan=args.scan)
    variants = {PER_STEP: per_step}
    counts = {"vaekit": jax_params}
    try:
        variants[TORCH], counts["torch"] = torch_runner(make_torch, x)
        print(f"{name}: trainable parameters vaekit {jax_params:,}, torch {counts['torch']:,}",
              flush=True)
        assert counts["torch"] == jax_params, (name, counts)
    except ImportError:
        print("torch not installed: PyTorch row skipped")
    rates: dict[str, list[float]] = {v: [] for v in variants}
    names = list(variants)
    for r in range(args.rounds):
        for v in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            done = variants[v](args.steps)
            rates[v].append(done / (time.perf_counter() - start))
    scan_name = f"lax.scan of {args.scan} steps"
    scan_run()  # warm-up (compiles)
    rates[scan_name] = []
    for _ in range(args.scan_rounds):
        start = time.perf_counter()
        done = scan_run()
        rates[scan_name].append(done / (time.perf_counter() - start))
    return rates, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--scan", type=int, default=5)
    parser.add_argument("--scan-rounds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = C.load()
    x = (np.random.default_rng(0).random((max(args.scan, args.steps), args.batch, *SHAPE))
         < 0.3).astype(np.float32)
    rows, data, params = [], {}, {}
    models = (("CNN VAE", cnn_vae, vaekit.beta_vae(4.0), torch_cnn_vae),
              ("VQ-VAE", vq_vae, vaekit.vq_vae(0.25), torch_vq_vae))
    for name, make_jax, objective, make_torch in models:
        rates, params[name] = measure(name, make_jax, objective, make_torch, x, args)
        base = np.median(rates[PER_STEP])
        torch_rates = rates.get(TORCH)
        for variant, values in rates.items():
            if variant == TORCH or torch_rates is None:
                vs_torch = "—"
            elif variant == PER_STEP:  # interleaved rounds: paired ratios
                vs_torch = C.fmt_ratio(C.paired_ratio(values, torch_rates))
            else:
                vs_torch = f"{np.median(values) / np.median(torch_rates):.3f}×"
            row = (f"| {name} | {variant} | {C.fmt_rate(C.summary(values))} | "
                   f"{np.median(values) / base:.2f}× | {vs_torch} |")
            rows.append(row)
            print(row, flush=True)
        data[name] = rates
    count_text = "; ".join(
        f"{name} {c['vaekit']:,}" + (f" (PyTorch {c['torch']:,})" if "torch" in c else "")
        for name, c in params.items())
    text = "\n".join([
        "## Convolutional models on the CPU: scan vs one call per step, and PyTorch "
        "(`benchmarks/bench_conv_cpu.py`)",
        "",
        f"Machine: {C.machine()}, shared with other jobs (loaded: see the load average); "
        f"date {C.DATE}; {C.versions(torch=_torch_version())}. Load average (1/5/15 min) "
        f"before: {load_before}, after: {C.load()}.",
        "",
        f"Batch {args.batch} of 64x64 binary images, Adam 1e-3. One call per step and PyTorch "
        f"eager (2 threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}): "
        f"{args.rounds} interleaved rounds of {args.steps} steps each, "
        f"same batches; scan: {args.scan_rounds} call(s) of {args.scan} steps after a warm-up "
        "call. steps/s as median (min–max) over rounds. \"vs one call per step\": median rate "
        "over the per-step median; \"vaekit / PyTorch\": per-step, the median (min–max) of "
        "per-round ratios; scan, ratio of medians (below 1: vaekit slower). Trainable "
        f"parameters (asserted equal): {count_text}.",
        "",
        "| model | variant | steps/s | vs one call per step | vaekit / PyTorch |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
    ])
    print(text)
    if args.write:
        C.write_section("bench_conv_cpu", text)
        C.save_json("bench_conv_cpu", {"rates": data, "params": params})


def _torch_version() -> str:
    try:
        import torch
    except ImportError:
        return "not installed"
    return torch.__version__


if __name__ == "__main__":
    main()
