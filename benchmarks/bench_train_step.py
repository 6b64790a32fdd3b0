"""make_train_step (composed β-VAE objective) vs a hand-written fused jax.jit step.

Usage (from the repository root)::

    python benchmarks/bench_train_step.py            # batches 32, 128, 1024
    python benchmarks/bench_train_step.py --write    # and update benchmarks/RESULTS.md

Both train the MLP VAE 784-512-256-10 (Bernoulli logits, β = 4, Adam 1e-3), state donated,
one jitted call per step on device-resident batches (8 batches, cycled), and, as a second
pair, ``multi_step`` scans of 50 steps against the hand-written step scanned the same way.
A third vaekit variant trains the hand step's loss as a vaekit objective (no metrics), which
splits the gap into the step's own cost and the composed objective's metrics.
"""

import argparse

import _common as C
import jax
import numpy as np
import optax
from _hand import hand_objective, make_hand_step

import vaekit

SCAN = 50
VAEKIT = (  # (row name, objective, make_train_step keywords)
    ("vaekit", lambda: vaekit.beta_vae(beta=4.0), {}),
    ("vaekit, grad_norm=True", lambda: vaekit.beta_vae(beta=4.0), {"grad_norm": True}),
    ("vaekit step, hand loss", hand_objective, {}),
)
HANDS = {"hand": "hand", "hand, vaekit tree": "nnx"}  # reference steps and their layouts
PAIRS = (  # (vaekit row, reference)
    ("vaekit", "hand"),
    ("vaekit, grad_norm=True", "hand"),
    ("vaekit step, hand loss", "hand"),
    ("vaekit", "hand, vaekit tree"),
    ("vaekit step, hand loss", "hand, vaekit tree"),
)


def variants(batch: int):
    """Per-call and scanned runs of vaekit (default, grad_norm=True) and the hand step."""
    batches = C.device_batches(batch, 8)
    stacked = {"x": jax.numpy.stack([batches[i % 8]["x"] for i in range(SCAN)])}
    runs, memory = {}, {}
    for name, objective, kwargs in VAEKIT:
        train = vaekit.make_train_step(objective(), optax.adam(1e-3), **kwargs)
        state = train.init(C.mlp_vae(), jax.random.key(0))
        memory[name] = C.xla_memory(train.step.lower(state, batches[0]).compile())
        runs[name] = C.per_call_runner(train.step, state, batches)
        runs[f"{name} scan"] = C.scan_runner(
            train.multi_step, train.init(C.mlp_vae(), jax.random.key(0)), stacked, SCAN)
    for name, layout in HANDS.items():
        hand_init, hand_step, hand_multi = make_hand_step(beta=4.0, lr=1e-3, layout=layout)
        state = hand_init(jax.random.key(0))
        memory[name] = C.xla_memory(hand_step.lower(state, batches[0]["x"]).compile())
        runs[name] = C.per_call_runner(hand_step, state, batches, lambda b: b["x"])
        runs[f"{name} scan"] = C.scan_runner(hand_multi, hand_init(jax.random.key(0)),
                                             stacked["x"], SCAN)
    for run in runs.values():
        run(SCAN)  # compile and warm up
    return runs, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    args = parser.parse_args()
    load_before = C.load()
    rows, raw = [], {}
    for batch in args.batch:
        runs, memory = variants(batch)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "memory": memory, "ratios": {}}
        for name, ref in PAIRS:
            for suffix, calls in (("", "one call per step"), (" scan", f"scan of {SCAN}")):
                ratio = C.paired_ratio(rates[name + suffix], rates[ref + suffix])
                raw[batch]["ratios"][f"{name}{suffix} / {ref}"] = ratio
                temp = (f"{C.mib(memory[name]['temp'])} / {C.mib(memory[ref]['temp'])}"
                        if not suffix else "–")
                rows.append(
                    f"| {batch} | `{name}` | {ref} | {calls} | "
                    f"{C.fmt_rate(C.summary(rates[name + suffix]))} | "
                    f"{C.fmt_rate(C.summary(rates[ref + suffix]))} | {C.fmt_ratio(ratio)} | "
                    f"{temp} |"
                )
                print(rows[-1], flush=True)
    text = (
        C.header("make_train_step vs a hand-fused jax.jit step", "bench_train_step.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before)
        + "\nMLP VAE 784-512-256-10, Bernoulli logits, β = 4, Adam; state donated; batches "
        "on the device. vaekit: `make_train_step(beta_vae(beta=4.0), optax.adam(1e-3))` (the "
        "composed objective also returns KL per latent dim, active dims and β). "
        "Hand-fused: `benchmarks/_hand.py`, loss only. Memory: XLA temp bytes of the compiled "
        "step. `grad_norm=True` adds the global gradient norm to the metrics. \"vaekit step, hand "
        "loss\": `make_train_step` of the hand step's loss written as a vaekit objective "
        "(`_hand.hand_objective`, no metrics): the cost of vaekit's step alone, without the "
        "composed objective's metrics. References: \"hand\" is the hand step with its own flat "
        "parameter dict; \"hand, vaekit tree\" is the same hand step with its parameters under "
        "vaekit's NNX paths (`layout=\"nnx\"`), so its leaves flatten in the order of vaekit's "
        "train state: the same program up to the order of its arguments. Target: "
        "vaekit ≥ 0.97× hand-fused at every batch.\n\n"
        "| batch | vaekit | reference | calls | vaekit steps/s | reference steps/s | "
        "vaekit / reference | XLA temp (vaekit / reference) |\n"
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_train_step", {"load_before": load_before, "results": raw,
                                      "numpy": np.__version__})
    if args.write:
        C.write_section("bench_train_step", text)


if __name__ == "__main__":
    main()
