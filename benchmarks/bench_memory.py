"""Host and device memory of a training set stored as uint8 (converted in the step) vs float32.

For MNIST (70,000 × 28×28×1), CelebA-64 (202,599 × 64×64×3) and the full dSprites grid
(737,280 × 64×64×1), with synthetic arrays of the real shapes (the machine that runs this has
no network): the host bytes of the uint8 array (allocated and touched, RSS measured), its
device copy (``vaekit.training.device_resident``; on a CPU backend the "device" is host
memory, so RSS again), and what float32 storage would need (4× the uint8 bytes: computed,
not allocated, where it would not fit). Procedural dSprites on the device holds only the
int32 grid indices. Then steps/s of an MLP VAE on MNIST-shaped data, device-resident uint8
with ``preprocess=uint8_to_float`` against device-resident float32, so the cost of the
in-step conversion is measured.

    python benchmarks/bench_memory.py [--skip-celeba] [--write]
"""

import argparse
import gc
import time

import _common as C
import jax
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.data import NUM_COMBINATIONS, uint8_to_float
from vaekit.training import device_resident

SHAPES = {
    "MNIST (train + test)": (70_000, 28, 28, 1),
    "CelebA-64 (all splits)": (202_599, 64, 64, 3),
    "dSprites, full grid": (NUM_COMBINATIONS, 64, 64, 1),
}
MIB = 2.0**20


def measure_uint8(shape: tuple[int, ...]) -> dict:
    gc.collect()
    before = C.rss_bytes()
    host = np.empty(shape, np.uint8)
    host.fill(7)  # touch every page
    after_host = C.rss_bytes()
    device = device_resident({"x": host})["x"]
    device.block_until_ready()
    after_device = C.rss_bytes()
    row = {
        "uint8_host_bytes": int(host.nbytes),
        "uint8_host_rss_delta": after_host - before,
        "uint8_device_bytes": int(device.nbytes),
        "uint8_device_rss_delta": after_device - after_host,
        "float32_bytes_computed": 4 * int(host.nbytes),
    }
    del host, device
    gc.collect()
    return row


def steps_per_second(images: np.ndarray, preprocess, steps: int = 400) -> float:
    rngs = nnx.Rngs(0)
    shape = images.shape[1:]
    model = vaekit.VAE(vaekit.MLPEncoder(shape, 10, (512, 256), rngs=rngs),
                       vaekit.MLPDecoder(10, shape, (256, 512), rngs=rngs))
    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-3),
                                   preprocess=preprocess)
    data = device_resident({"x": images})
    state = train.init(model, jax.random.key(0))
    state, _ = vaekit.fit(train, state, data, num_steps=100, batch_size=64,
                          steps_per_call=100, device_data=True)  # compile + warm up
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        state, _ = vaekit.fit(train, state, data, num_steps=steps, batch_size=64,
                              steps_per_call=100, device_data=True)
        jax.block_until_ready(state.params)
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def _mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB"


def table(result: dict) -> str:
    lines = [
        "| data set (synthetic, real shape) | uint8 host (allocated) | host RSS growth | "
        "uint8 device copy | RSS growth of the device copy (CPU backend) | float32 would be |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["datasets"].items():
        lines.append(
            f"| {name} | {_mib(row['uint8_host_bytes'])} | {_mib(row['uint8_host_rss_delta'])} | "
            f"{_mib(row['uint8_device_bytes'])} | {_mib(row['uint8_device_rss_delta'])} | "
            f"{_mib(row['float32_bytes_computed'])} (computed) |")
    lines.append(f"| dSprites, full grid, procedural on the device (`vaekit train` default) | "
                 f"{_mib(result['dsprites_on_device_index_bytes'])} of int32 indices | – | "
                 f"the same indices | – | – |")
    rates = result["mnist_steps_per_s"]
    return "\n".join(lines) + (
        "\n\nMLP VAE 784-512-256-10 on 60,000 MNIST-shaped images, batch 64, 100 steps per "
        "scanned call, device-resident data (`fit(..., device_data=True)`), best of 3 rounds "
        "of 400 steps: uint8 + `preprocess=uint8_to_float` "
        f"{rates['uint8 + preprocess=uint8_to_float']:.0f} steps/s, float32 "
        f"{rates['float32']:.0f} steps/s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-celeba", action="store_true")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    load_before = C.load()
    result = {"datasets": {}}
    for name, shape in SHAPES.items():
        if args.skip_celeba and name.startswith("CelebA"):
            continue
        row = measure_uint8(shape)
        result["datasets"][name] = row
        print(name, {k: _mib(v) for k, v in row.items()}, flush=True)
    result["dsprites_on_device_index_bytes"] = NUM_COMBINATIONS * 4
    rng = np.random.default_rng(0)
    mnist_like = rng.integers(0, 256, (60_000, 28, 28, 1), dtype=np.uint8)
    result["mnist_steps_per_s"] = {
        "uint8 + preprocess=uint8_to_float": steps_per_second(mnist_like, uint8_to_float),
        "float32": steps_per_second(mnist_like.astype(np.float32) / np.float32(255), None),
    }
    print(result["mnist_steps_per_s"], flush=True)
    C.save_json("bench_memory", {"load_before": load_before, **result})
    text = (f"## Data: memory of uint8 storage (`benchmarks/bench_memory.py`)\n\n"
            f"Machine: {C.machine()}; date {C.DATE}; jax {jax.__version__}. Load average "
            f"before: {load_before}, after: {C.load()}. Synthetic arrays of the real shapes "
            "(no network here); RSS from /proc/self/status. On the CPU backend the device copy "
            "is host memory too; on a GPU its size is the same `nbytes`.\n\n" + table(result))
    print(text)
    if args.write:
        C.write_section("bench_memory", text)


if __name__ == "__main__":
    main()
