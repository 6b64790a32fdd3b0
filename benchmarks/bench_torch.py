"""vaekit vs PyTorch eager and torch.compile: the same β-VAE step, side by side.

Usage (from the repository root, with the ``bench`` extra: ``pip install -e ".[bench]"``,
which pins the CPU build ``torch==2.13.0``)::

    python benchmarks/bench_torch.py            # batches 32, 128, 1024
    python benchmarks/bench_torch.py --write    # and update benchmarks/RESULTS.md

Both frameworks train the MLP VAE 784-512-256-10 (Bernoulli logits: softplus NLL summed over
pixels, mean over the batch; Gaussian KL; β = 4; Adam 1e-3, PyTorch's default ``foreach``
implementation) on the same device-resident batches, in one process, interleaved. PyTorch
runs with ``torch.set_num_threads(2)`` (the machine's cores; XLA's CPU client uses them
too). torch.compile (default inductor backend): the loss function (forward; backward through
AOTAutograd) and ``optimizer.step``, each compiled; its compile time is reported.
"""

import argparse
import time

import _common as C
import jax
import optax
import torch
import torch.nn.functional as F

import vaekit

SCAN = 50
BETA = 4.0


class TorchVAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(C.IN, C.H1), torch.nn.ReLU(), torch.nn.Linear(C.H1, C.H2),
            torch.nn.ReLU(), torch.nn.Linear(C.H2, 2 * C.LATENT))
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(C.LATENT, C.H2), torch.nn.ReLU(), torch.nn.Linear(C.H2, C.H1),
            torch.nn.ReLU(), torch.nn.Linear(C.H1, C.IN))

    def forward(self, x):
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return self.decoder(z), mean, logvar


def torch_loss(model, x):
    logits, mean, logvar = model(x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()
    kl = 0.5 * (mean.square() + torch.expm1(logvar) - logvar).sum(-1).mean()
    return recon + BETA * kl


def torch_step_fn(model, optimizer, compiled: bool):
    """One step; ``compiled``: the loss (forward + AOTAutograd backward) and the optimiser
    step each through ``torch.compile`` (the whole step in one ``torch.compile`` ran 10x
    slower here: it breaks the graph at ``backward``)."""
    loss_fn = torch.compile(torch_loss) if compiled else torch_loss
    optimizer_step = torch.compile(optimizer.step) if compiled else optimizer.step

    def step(x):
        loss = loss_fn(model, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer_step()
        return loss.detach()

    return step


def variants(batch: int, compile_seconds: dict):
    batches = C.device_batches(batch, 8)
    stacked = {"x": jax.numpy.stack([batches[i % 8]["x"] for i in range(SCAN)])}
    torch_batches = [torch.from_numpy(jax.device_get(b["x"])).contiguous() for b in batches]
    train = vaekit.make_train_step(vaekit.beta_vae(beta=BETA), optax.adam(1e-3))
    normed = vaekit.make_train_step(vaekit.beta_vae(beta=BETA), optax.adam(1e-3),
                                  grad_norm=True)
    vaekit_step = C.per_call_runner(train.step, train.init(C.mlp_vae(), jax.random.key(0)),
                                    batches)
    vaekit_scan = C.scan_runner(train.multi_step, train.init(C.mlp_vae(), jax.random.key(0)),
                                stacked, SCAN)
    normed_step = C.per_call_runner(normed.step, normed.init(C.mlp_vae(), jax.random.key(0)),
                                    batches)

    def torch_runner(compiled: bool):
        torch.manual_seed(0)
        model = TorchVAE()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        step = torch_step_fn(model, optimizer, compiled)
        if compiled:
            start = time.perf_counter()
            for i in range(3):
                float(step(torch_batches[i]))
            compile_seconds[batch] = time.perf_counter() - start

        def run(n):
            for i in range(n):
                loss = step(torch_batches[i % 8])
            float(loss)
            return n

        return run

    runs = {"vaekit, one call per step": vaekit_step, f"vaekit, scan of {SCAN}": vaekit_scan,
            "vaekit, one call per step, grad_norm=True": normed_step,
            "torch eager": torch_runner(False), "torch.compile": torch_runner(True)}
    for run in runs.values():
        run(2 * SCAN)  # warm up (torch.compile: also its later recompilations, if any)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    load_before = C.load()
    rows, raw, compile_seconds = [], {}, {}
    for batch in args.batch:
        runs = variants(batch, compile_seconds)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}}
        for name in ("vaekit, one call per step", f"vaekit, scan of {SCAN}",
                     "vaekit, one call per step, grad_norm=True"):
            for ref in ("torch eager", "torch.compile"):
                ratio = C.paired_ratio(rates[name], rates[ref])
                raw[batch]["ratios"][f"{name} / {ref}"] = ratio
        cells = [C.fmt_rate(C.summary(rates[k])) for k in runs]
        ratios = [C.fmt_ratio(raw[batch]["ratios"][k]) for k in (
            "vaekit, one call per step / torch eager", "vaekit, one call per step / torch.compile",
            f"vaekit, scan of {SCAN} / torch eager", f"vaekit, scan of {SCAN} / torch.compile",
            "vaekit, one call per step, grad_norm=True / torch eager",
            "vaekit, one call per step, grad_norm=True / torch.compile")]
        rows.append(f"| {batch} | " + " | ".join(cells + ratios) + " |")
        print(rows[-1], flush=True)
    text = (
        C.header("vaekit vs PyTorch eager and torch.compile", "bench_torch.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before,
                 torch=torch.__version__)
        + "\nSame model, loss and Adam in both; PyTorch with 2 threads. torch.compile: the "
        "loss function and `optimizer.step`, each compiled (inductor); compile time (first "
        "three calls) "
        + ", ".join(f"{s:.0f} s at batch {b}" for b, s in compile_seconds.items())
        + ". Ratios: vaekit steps/s over PyTorch's in the same round (step = one call per "
        f"step, scan = `multi_step` of {SCAN}; with grad norm = `grad_norm=True`, which "
        "PyTorch's step does not compute). Targets: ≥ 2.5× torch eager, ≥ 2× "
        "torch.compile.\n\n"
        "| batch | vaekit step | vaekit scan | vaekit step, with grad norm | torch eager | "
        "torch.compile | step / eager | step / compile | scan / eager | scan / compile | "
        "step with grad norm / eager | step with grad norm / compile |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_torch", {"load_before": load_before, "results": raw,
                                 "compile_seconds": compile_seconds,
                                 "torch": torch.__version__})
    if args.write:
        C.write_section("bench_torch", text)


if __name__ == "__main__":
    main()
