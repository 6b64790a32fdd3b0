"""Achieved FLOP/s of the batch-1024 train step vs a large jitted float32 matmul.

Usage (from the repository root)::

    python benchmarks/bench_flops.py            # batch 1024, 2048² matmul
    python benchmarks/bench_flops.py --write    # and update benchmarks/RESULTS.md

The step's FLOPs per step are counted two ways: the model's matmuls (3 × 2 × forward
multiply-adds ≈ 6.4 MFLOP per sample) and XLA's ``cost_analysis()`` of the compiled step
(everything, elementwise work included). The reference is ``x @ y`` on two ``n × n``
float32 matrices (2n³ FLOPs) in the same process, in interleaved rounds, so it shows what
the machine's matmul reaches at that moment. Also measured: a matmul of the step's largest
shape (batch × 784 @ 784 × 512), the scale at which the step's own matmuls run.
"""

import argparse

import _common as C
import jax
import jax.numpy as jnp
import optax
from _hand import make_hand_step

import vaekit

SCAN = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--matmul", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--round-seconds", type=float, default=1.5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = C.load()
    batch, n = args.batch, args.matmul
    batches = C.device_batches(batch, 4)
    stacked = {"x": jnp.stack([batches[i % 4]["x"] for i in range(SCAN)])}
    flops_model = C.STEP_FLOPS_PER_SAMPLE * batch

    train = vaekit.make_train_step(vaekit.beta_vae(beta=4.0), optax.adam(1e-3))
    state = train.init(C.mlp_vae(), jax.random.key(0))
    flops_xla = C.xla_flops(train.step.lower(state, batches[0]).compile())
    hand_init, hand_step, _ = make_hand_step()
    hand_state = hand_init(jax.random.key(0))
    flops_xla_hand = C.xla_flops(hand_step.lower(hand_state, batches[0]["x"]).compile())

    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (n, n), jnp.float32)
    xs = jax.random.normal(jax.random.key(3), (batch, C.IN), jnp.float32)
    w = jax.random.normal(jax.random.key(4), (C.IN, C.H1), jnp.float32)
    matmul = jax.jit(lambda a, b: a @ b)

    step = C.per_call_runner(train.step, state, batches)
    scan = C.scan_runner(train.multi_step, train.init(C.mlp_vae(), jax.random.key(0)), stacked,
                         SCAN)
    hand = C.per_call_runner(hand_step, hand_state, batches, lambda b: b["x"])

    def big(k):
        for _ in range(k):
            out = matmul(a, b)
        C.block(out)
        return k

    def layer(k):
        for _ in range(k):
            out = matmul(xs, w)
        C.block(out)
        return k

    runs = {"vaekit step": step, f"vaekit scan of {SCAN}": scan, "hand-fused step": hand,
            f"matmul {n}²": big, f"matmul {batch}×784 @ 784×512": layer}
    for run in runs.values():
        run(SCAN)
    rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
    flops = {"vaekit step": flops_model, f"vaekit scan of {SCAN}": flops_model,
             "hand-fused step": flops_model, f"matmul {n}²": 2.0 * n**3,
             f"matmul {batch}×784 @ 784×512": 2.0 * batch * C.IN * C.H1}
    gflops = {name: [r * flops[name] / 1e9 for r in values] for name, values in rates.items()}
    reference = gflops[f"matmul {n}²"]
    rows = []
    for name, values in gflops.items():
        ratio = C.paired_ratio(values, reference)
        rows.append(f"| {name} | {flops[name] / 1e9:.2f} | {C.fmt_rate(C.summary(rates[name]))} "
                    f"| {C.fmt_rate(C.summary(values))} | {C.fmt_ratio(ratio)} |")
        print(rows[-1], flush=True)
    text = (
        C.header("Batch-1024 FLOP/s vs a large float32 matmul", "bench_flops.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before)
        + f"\nTrain step: `make_train_step(beta_vae(beta=4.0), optax.adam(1e-3))`, MLP VAE "
        f"784-512-256-10, batch {batch}; FLOPs per step counted as the model's matmuls, "
        f"{C.STEP_FLOPS_PER_SAMPLE / 1e6:.2f} MFLOP per sample × {batch} = "
        f"{flops_model / 1e9:.2f} GFLOP (XLA's `cost_analysis()` of the compiled step: "
        f"{flops_xla / 1e9:.2f} GFLOP for vaekit, {flops_xla_hand / 1e9:.2f} GFLOP for the "
        "hand-fused step). Ratio: achieved FLOP/s over the big matmul's in the same round. "
        "Target: ≥ 0.93.\n\n"
        "| program | GFLOP per call/step | calls or steps/s | GFLOP/s | vs big matmul |\n"
        "| --- | ---: | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_flops", {"load_before": load_before, "rates": rates,
                                 "gflops": gflops, "flops_xla": flops_xla,
                                 "flops_xla_hand": flops_xla_hand, "flops_model": flops_model})
    if args.write:
        C.write_section("bench_flops", text)


if __name__ == "__main__":
    main()
