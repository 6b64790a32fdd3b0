"""Recompilations while β and the capacity C follow schedules for 10,000 steps.

Usage (from the repository root)::

    python benchmarks/bench_recompile.py            # 10,000 steps each, batch 32
    python benchmarks/bench_recompile.py --write    # and update benchmarks/RESULTS.md

Counts XLA backend compilations (``jax.monitoring`` event
``/jax/core/compile/backend_compile_duration``), objective traces (a Python side effect in
the objective runs once per trace) and the step's jit cache entries, from the first call on,
with one ``train.step`` call per step:

- annealed β-VAE: β = ``optax.linear_schedule(0, 4, 10_000)``;
- capacity β-VAE: C = ``capacity_schedule(25, 10_000)`` (0 → 25 nats);
- control: β as a plain number, the step rebuilt with the new value every 1,000 steps (what
  a non-traced hyperparameter costs): 9 rebuilds after the first, so 9 more traces and
  compilations.
"""

import argparse
import time

import _common as C
import jax
import optax
from jax._src import dispatch

import vaekit

COMPILES: list[float] = []


def _listener(event: str, duration: float, **kwargs) -> None:
    if event == dispatch.BACKEND_COMPILE_EVENT:
        COMPILES.append(duration)


def run(name: str, objective_for, steps: int, batch: int, rebuild_every: int = 0) -> dict:
    batches = C.device_batches(batch, 8)
    traces: list[int] = []

    def counted(objective):
        def traced(out, b, step):
            traces.append(1)
            return objective(out, b, step)

        return traced

    train = vaekit.make_train_step(counted(objective_for(0)), optax.adam(1e-3))
    state = train.init(C.mlp_vae(), jax.random.key(0))
    state, metrics = train.step(state, batches[0])  # the first call compiles
    jax.block_until_ready(metrics)
    compiles_before, traces_before = len(COMPILES), len(traces)
    first = {k: float(v) for k, v in metrics.items() if not k.startswith("kl_dim")}
    start = time.perf_counter()
    for t in range(1, steps):
        if rebuild_every and t % rebuild_every == 0:
            train = vaekit.make_train_step(counted(objective_for(t)), optax.adam(1e-3))
        state, metrics = train.step(state, batches[t % 8])
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    last = {k: float(v) for k, v in metrics.items() if not k.startswith("kl_dim")}
    return {
        "name": name, "steps": steps, "compiles_after_first": len(COMPILES) - compiles_before,
        "traces_after_first": len(traces) - traces_before,
        "cache_entries": train.step._cache_size(), "seconds": seconds,
        "first": first, "last": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    jax.monitoring.register_event_duration_secs_listener(_listener)
    load_before = C.load()
    n = args.steps
    cases = [
        ("annealed β-VAE, β = linear_schedule(0, 4, N)",
         lambda t: vaekit.beta_vae(beta=optax.linear_schedule(0.0, 4.0, n)), "beta", 0),
        ("capacity β-VAE, C = capacity_schedule(25, N)",
         lambda t: vaekit.capacity_vae(capacity=vaekit.capacity_schedule(25.0, n)),
         "current_capacity", 0),
        ("control: β a number, step rebuilt every N/10 steps",
         lambda t: vaekit.beta_vae(beta=4.0 * t / n), "beta", n // 10),
    ]
    rows, raw = [], []
    for name, objective_for, metric, rebuild in cases:
        result = run(name, objective_for, n, args.batch, rebuild)
        raw.append(result)
        rows.append(
            f"| {name} | {result['first'][metric]:.3g} → {result['last'][metric]:.3g} | "
            f"{result['compiles_after_first']} | {result['traces_after_first']} | "
            f"{result['cache_entries']} | {n / result['seconds']:.0f} |"
        )
        print(rows[-1], flush=True)
    text = (
        "## Recompilations under β and C schedules (`benchmarks/bench_recompile.py`)\n\n"
        f"Machine: {C.machine()}, shared with other jobs; date {C.DATE}; {C.versions()}. "
        f"Load average before: {load_before}, after: {C.load()}.\n\n"
        f"N = {n:,} steps at batch {args.batch}, one `train.step` call per step, "
        "MLP VAE 784-512-256-10, Adam. Counted after the first call: XLA backend "
        "compilations (all of them in the process, via `jax.monitoring`), objective traces, "
        "and jit cache entries of the (last) step. Target: 0 compilations after the first "
        "call.\n\n"
        "| run | scheduled value, first → last step | compilations | traces | cache entries "
        "| steps/s |\n| --- | --- | ---: | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_recompile", {"load_before": load_before, "results": raw})
    if args.write:
        C.write_section("bench_recompile", text)


if __name__ == "__main__":
    main()
