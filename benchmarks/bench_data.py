"""dSprites rendered on the device inside the scanned train step vs on the host vs pre-rendered.

Usage (from the repository root)::

    python benchmarks/bench_data.py            # batch 64
    python benchmarks/bench_data.py --write    # and update benchmarks/RESULTS.md

Model: MLP VAE 4096-512-256-10 on 64x64 dSprites (Bernoulli logits), ``beta_vae(beta=4.0)``,
``adam(1e-3)``, state donated, ``SCAN`` steps per compiled call. Training variants:

- device render: each step gets only ``(batch,)`` flat grid indices and renders its images
  inside the compiled scan (``render_dsprites_batch``; through ``make_train_step``'s
  ``preprocess`` hook when it exists, otherwise a forward and an objective that render);
- host render: per call, indices are drawn and rendered on the host with the NumPy
  ``render``, copied to the device and trained on with ``train.multi_step``;
- device-resident images: a pre-rendered float32 data set on the device, batches gathered in
  the scan (``train.multi_step_indexed``), the fastest a fixed data set can be fed.

Also: render throughput alone (images/s, host NumPy vs jitted device renderer), and host
memory of one full pass over all 737,280 grid points through the device renderer (chunks,
per-image pixel counts fetched) against the float32 array the host path would need.
"""

import argparse
import inspect
import resource
import time
import tracemalloc

import _common as C
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.data import (
    IMAGE_SHAPE,
    NUM_COMBINATIONS,
    index_to_factors,
    render,
    render_dsprites_batch,
    render_indices_device,
)

SCAN = 20
HIDDEN = (512, 256)
LATENT = 10
DATASET = 8192  # pre-rendered images of the device-resident variant (128 MiB float32)
RENDER_BATCH = 1024
PASS_CHUNK = 8192


def model(seed: int = 0) -> vaekit.VAE:
    rngs = nnx.Rngs(seed)
    return vaekit.VAE(
        vaekit.MLPEncoder(IMAGE_SHAPE, LATENT, HIDDEN, rngs=rngs),
        vaekit.MLPDecoder(LATENT, IMAGE_SHAPE, HIDDEN[::-1], rngs=rngs),
    )


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ----------------------------------------------------------------------------- memory


def full_pass_memory() -> dict:
    """One pass over the whole grid through the device renderer; runs first, before anything
    image-sized exists on the host, so the peak RSS growth is the pass's own."""

    @jax.jit
    def pixel_counts(indices):
        return render_indices_device(indices, dtype=jnp.int32).sum(axis=(1, 2, 3))

    pixel_counts(jnp.arange(PASS_CHUNK, dtype=jnp.int32)).block_until_ready()  # compile
    rss_before, peak_before = C.rss_bytes(), peak_rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    counts = np.empty(NUM_COMBINATIONS, dtype=np.int32)
    for lo in range(0, NUM_COMBINATIONS, PASS_CHUNK):
        chunk = jnp.arange(lo, lo + PASS_CHUNK, dtype=jnp.int32)
        counts[lo:lo + PASS_CHUNK] = np.asarray(pixel_counts(chunk))
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert counts.min() > 0
    image_bytes = int(np.prod(IMAGE_SHAPE)) * 4
    # The host path's chunked equivalent: render(PASS_CHUNK rows) per chunk.
    tracemalloc.start()
    render(index_to_factors(np.arange(PASS_CHUNK)))
    _, host_chunk_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "device_pass_seconds": seconds,
        "device_pass_images_per_s": NUM_COMBINATIONS / seconds,
        "device_pass_tracemalloc_peak": traced_peak,
        "device_pass_rss_growth": max(0, C.rss_bytes() - rss_before),
        "device_pass_peak_rss_growth": peak_rss_bytes() - peak_before,
        "chunk": PASS_CHUNK,
        "device_chunk_image_bytes": PASS_CHUNK * image_bytes,
        "host_chunk_tracemalloc_peak": host_chunk_peak,
        "host_full_grid_float32_bytes": NUM_COMBINATIONS * image_bytes,
    }


# ----------------------------------------------------------------------------- render


def render_variants(batch: int) -> dict:
    rng = np.random.default_rng(0)
    host_factors = [index_to_factors(rng.integers(0, NUM_COMBINATIONS, batch)) for _ in range(4)]
    device_indices = [jnp.asarray(rng.integers(0, NUM_COMBINATIONS, batch), jnp.int32)
                      for _ in range(4)]
    device_render = jax.jit(render_indices_device)

    def host(n):  # n batches; the rates are batches/s, times `batch` for images/s
        for i in range(n):
            render(host_factors[i % 4])
        return n

    def device(n):
        for i in range(n):
            out = device_render(device_indices[i % 4])
        C.block(out)
        return n

    for run in (host, device):
        run(2)
    return {"host render (NumPy)": host, "device render (jit)": device}


# ----------------------------------------------------------------------------- training


def train_variants(batch: int) -> tuple[dict, str]:
    objective, optimizer = vaekit.beta_vae(beta=4.0), optax.adam(1e-3)
    if "preprocess" in inspect.signature(vaekit.make_train_step).parameters:
        via = "make_train_step(preprocess=render_dsprites_batch)"
        device_train = vaekit.make_train_step(objective, optimizer,
                                              preprocess=render_dsprites_batch)
    else:  # emulate the hook: render in the forward and for the objective's likelihood
        via = "forward + objective that call render_dsprites_batch (no preprocess hook yet)"

        def forward(model, batch, key):
            return model(render_dsprites_batch(batch)["x"], key=key)

        def rendered_objective(out, batch, step):
            return objective(out, render_dsprites_batch(batch), step)

        device_train = vaekit.make_train_step(rendered_objective, optimizer, forward=forward)
    train = vaekit.make_train_step(objective, optimizer)

    rng = np.random.default_rng(1)
    stacked_indices = {"index": jnp.asarray(rng.integers(0, NUM_COMBINATIONS, (SCAN, batch)),
                                            jnp.int32)}
    device_render = C.scan_runner(device_train.multi_step,
                                  device_train.init(model(), jax.random.key(0)),
                                  stacked_indices, SCAN)

    host_box = [train.init(model(), jax.random.key(0))]

    def host_render(n):
        state = host_box[0]
        calls = max(1, round(n / SCAN))
        for _ in range(calls):
            indices = rng.integers(0, NUM_COMBINATIONS, SCAN * batch)
            images = render(index_to_factors(indices)).reshape(SCAN, batch, *IMAGE_SHAPE)
            state, out = train.multi_step(state, {"x": jnp.asarray(images)})
        C.block((state, out))
        host_box[0] = state
        return calls * SCAN

    data = {"x": jnp.asarray(render(index_to_factors(
        rng.choice(NUM_COMBINATIONS, DATASET, replace=False))))}
    resident_box = [train.init(model(), jax.random.key(0))]

    def resident(n):
        state = resident_box[0]
        calls = max(1, round(n / SCAN))
        for _ in range(calls):
            idx = jnp.asarray(rng.integers(0, DATASET, (SCAN, batch)), jnp.int32)
            state, out = train.multi_step_indexed(state, data, idx)
        C.block((state, out))
        resident_box[0] = state
        return calls * SCAN

    runs = {"device render in the scan": device_render, "host render + multi_step": host_render,
            "device-resident images (multi_step_indexed)": resident}
    for run in runs.values():
        run(SCAN)  # compile and warm up
    return runs, via


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser, rounds=5, seconds=1.0)
    parser.set_defaults(batch=[64])
    args = parser.parse_args()
    load_before = C.load()
    memory = full_pass_memory()
    print(memory, flush=True)

    batch_rates = C.interleaved(render_variants(RENDER_BATCH), rounds=args.rounds,
                                seconds=args.round_seconds)
    render_rates = {name: [r * RENDER_BATCH for r in v] for name, v in batch_rates.items()}
    render_rows = [f"| {name} | {C.fmt_rate(C.summary(v))} |" for name, v in render_rates.items()]
    render_ratio = C.paired_ratio(render_rates["device render (jit)"],
                                  render_rates["host render (NumPy)"])
    print("\n".join(render_rows), flush=True)

    rows, raw = [], {}
    for batch in args.batch:
        runs, via = train_variants(batch)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}, "device_render_via": via}
        rows += C.ratio_rows(batch, rates, "host render + multi_step", raw[batch]["ratios"])

    text = (
        C.header("dSprites rendered on the device", "bench_data.py", rounds=args.rounds,
                 seconds=args.round_seconds, load_before=load_before)
        + f"\nRender throughput, batch {RENDER_BATCH} (images/s; device: jitted "
        "`render_indices_device`, result left on the device; device / host "
        f"{C.fmt_ratio(render_ratio)}):\n\n| renderer | images/s |\n| --- | ---: |\n"
        + "\n".join(render_rows)
        + f"\n\nTraining, MLP VAE 4096-{HIDDEN[0]}-{HIDDEN[1]}-{LATENT}, `beta_vae(4.0)`, "
        f"scans of {SCAN} steps; device render via {via}; host render: NumPy `render` of "
        f"fresh indices per call; device-resident: {DATASET:,} pre-rendered images. Ratio "
        "against host render in the same round.\n\n"
        "| batch | variant | steps/s | vs host render |\n| ---: | --- | ---: | ---: |\n"
        + "\n".join(rows)
        + f"\n\nOne pass over all {NUM_COMBINATIONS:,} grid points through the device "
        f"renderer (chunks of {PASS_CHUNK:,}, per-image pixel counts fetched): "
        f"{memory['device_pass_seconds']:.1f} s, tracemalloc peak "
        f"{C.mib(memory['device_pass_tracemalloc_peak'])}, peak RSS growth "
        f"{C.mib(memory['device_pass_peak_rss_growth'])}; the host path would hold "
        f"{C.mib(memory['host_full_grid_float32_bytes'])} of float32 images for the grid "
        f"({C.mib(memory['host_chunk_tracemalloc_peak'])} tracemalloc peak per "
        f"{PASS_CHUNK:,}-image host chunk).\n"
    )
    print(text)
    C.save_json("bench_data", {"load_before": load_before, "memory": memory,
                               "render": {"batch": RENDER_BATCH, "rates": render_rates,
                                          "device_over_host": render_ratio},
                               "results": raw})
    if args.write:
        C.write_section("bench_data", text)


if __name__ == "__main__":
    main()
