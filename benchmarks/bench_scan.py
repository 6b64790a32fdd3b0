"""Fused multi-step (lax.scan) vs one jitted call per step; fit with host vs device data.

Usage (from the repository root)::

    python benchmarks/bench_scan.py            # batches 32, 128, 1024
    python benchmarks/bench_scan.py --write    # and update benchmarks/RESULTS.md

Same model and objective as ``bench_train_step.py`` (``make_train_step(beta_vae(4.0),
adam(1e-3))``, state donated). Variants, all training the same state type:

- one call per step: ``train.step`` on device-resident batches (8, cycled);
- scan: ``train.multi_step`` over 50 stacked device-resident batches per call;
- fit, host data: ``vaekit.fit`` on a NumPy data set (batches gathered on the host, copied
  to the device per chunk of 50 steps, metrics fetched once per chunk);
- fit, device data: ``vaekit.fit(..., device_data=True)``: the data set is copied once,
  batches are gathered inside the compiled scan.
"""

import argparse

import _common as C
import jax
import optax

import vaekit
from vaekit.training import device_resident

SCAN = 50
DATASET = 8192


def variants(batch: int):
    train = vaekit.make_train_step(vaekit.beta_vae(beta=4.0), optax.adam(1e-3))
    batches = C.device_batches(batch, 8)
    stacked = {"x": jax.numpy.stack([batches[i % 8]["x"] for i in range(SCAN)])}
    images = {"x": C.binary_images(max(DATASET, 8 * batch), seed=1)}
    device_images = device_resident(images)
    box = {name: train.init(C.mlp_vae(), jax.random.key(0)) for name in ("fit_host", "fit_device")}
    one_call_per_step = C.per_call_runner(train.step, train.init(C.mlp_vae(), jax.random.key(0)),
                                          batches)
    scan = C.scan_runner(train.multi_step, train.init(C.mlp_vae(), jax.random.key(0)), stacked,
                         SCAN)

    def fitting(name, data, device_data):
        def run(n):
            steps = max(1, round(n / SCAN)) * SCAN
            state, _ = vaekit.fit(train, box[name], data, num_steps=steps, batch_size=batch,
                                  steps_per_call=SCAN, device_data=device_data)
            C.block(state)
            box[name] = state
            return steps

        return run

    runs = {"one call per step": one_call_per_step, f"scan of {SCAN}": scan,
            "fit, host data": fitting("fit_host", images, False),
            "fit, device_data=True": fitting("fit_device", device_images, True)}
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
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}}
        rows += C.ratio_rows(batch, rates, "one call per step", raw[batch]["ratios"])
    text = (
        C.header("Fused multi-step (scan) vs one call per step", "bench_scan.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before)
        + f"\n`make_train_step(beta_vae(beta=4.0), optax.adam(1e-3))`, MLP VAE "
        f"784-512-256-10, state donated. Scan: `train.multi_step` over {SCAN} stacked "
        "device-resident batches. fit: `vaekit.fit(..., steps_per_call=50)` on a "
        f"{DATASET:,}-image NumPy data set (host gather + copy per chunk) or with "
        "`device_data=True` (copied once, gathered in the scan); fit also fetches the "
        "chunk's metrics and builds its history. Ratio: against one call per step in the "
        "same round. Target: scan ≥ 1.5× one call per step at batch 32.\n\n"
        "| batch | variant | steps/s | vs one call per step |\n"
        "| ---: | --- | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_scan", {"load_before": load_before, "results": raw})
    if args.write:
        C.write_section("bench_scan", text)


if __name__ == "__main__":
    main()
