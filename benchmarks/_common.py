"""Shared pieces of the training benchmarks: the model, the timing harness, RESULTS.md.

Every benchmark times its variants side by side in one process: each variant is compiled and
warmed up first, then the variants run in interleaved rounds (the order rotates every round)
so a load change on the shared machine hits all of them alike. A round runs a variant for a
fixed number of steps, calibrated to about ``--round-seconds``, and ends with
``block_until_ready``. Reported: steps/s as the median and min–max over rounds, and ratios as
the median (min–max) of the per-round ratios, which pairs rounds that ran close in time.
"""

import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import vaekit

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
JSON_DIR = HERE / "results"
DATE = time.strftime("%Y-%m-%d")  # the day a benchmark runs (earlier sections keep theirs)

IN, H1, H2, LATENT = 784, 512, 256, 10
# Forward matmul multiply-adds per sample: encoder 784·512 + 512·256 + 256·20, decoder
# 10·256 + 256·512 + 512·784; a training step costs about 3x the forward (forward, and two
# matmuls per layer backward), 2 FLOPs per multiply-add.
FORWARD_MACS = IN * H1 + H1 * H2 + H2 * 2 * LATENT + LATENT * H2 + H2 * H1 + H1 * IN
STEP_FLOPS_PER_SAMPLE = 3 * 2 * FORWARD_MACS  # ≈ 6.4 MFLOP
BATCHES = (32, 128, 1024)


def mlp_vae(seed: int = 0) -> vaekit.VAE:
    """The benchmark model: MLP VAE 784-512-256-10, decoder 10-256-512-784 (Bernoulli logits)."""
    rngs = nnx.Rngs(seed)
    return vaekit.VAE(
        vaekit.MLPEncoder((IN,), LATENT, (H1, H2), rngs=rngs),
        vaekit.MLPDecoder(LATENT, (IN,), (H2, H1), rngs=rngs),
    )


def binary_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random binary 784-pixel images (about 30 % on), float32."""
    return (np.random.default_rng(seed).random((n, IN)) < 0.3).astype(np.float32)


# ----------------------------------------------------------------------------- machine


def cpu_name() -> str:
    try:
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"CPU ({cpu_name()}, {os.cpu_count()} cores)"
    return f"{device.device_kind} ({device.platform})"


def rss_bytes() -> int:
    """This process's resident set size (``VmRSS`` of /proc/self/status), bytes; 0 if absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def versions(**extra: str) -> str:
    import flax
    import optax

    parts = {"python": platform.python_version(), "jax": jax.__version__,
             "flax": flax.__version__, "optax": optax.__version__, **extra}
    return ", ".join(f"{k} {v}" for k, v in parts.items())


# ----------------------------------------------------------------------------- timing


def block(tree) -> None:
    jax.block_until_ready(tree)


def calibrate(run: Callable[[int], int], seconds: float, probe: int = 3) -> int:
    """Steps per round so that one round takes about ``seconds`` (``run`` is warm)."""
    start = time.perf_counter()
    done = run(probe)
    per_step = (time.perf_counter() - start) / done
    return max(1, int(seconds / max(per_step, 1e-7)))


def interleaved(
    variants: dict[str, Callable[[int], int]], *, rounds: int, seconds: float
) -> dict[str, list[float]]:
    """Steps/s of each variant in each round.

    ``variants[name](n)`` runs about ``n`` steps, blocks until they are done and returns how
    many it ran. The variants must be compiled and warm. Rounds are interleaved with a
    rotating order.
    """
    names = list(variants)
    steps = {name: calibrate(variants[name], seconds) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            done = variants[name](steps[name])
            rates[name].append(done / (time.perf_counter() - start))
    return rates


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def paired_ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """Median (min, max) over rounds of ``a[r] / b[r]``."""
    return summary([x / y for x, y in zip(a, b, strict=True)])


def fmt_rate(s: dict[str, float]) -> str:
    return f"{_num(s['median'])} ({_num(s['min'])}–{_num(s['max'])})"


def fmt_ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.2f}× ({s['min']:.2f}–{s['max']:.2f})"


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def xla_memory(compiled) -> dict[str, int]:
    """XLA's accounting of a compiled program: scratch and argument + output bytes."""
    mem = compiled.memory_analysis()
    if mem is None:
        return {"temp": 0, "io": 0}
    return {"temp": int(mem.temp_size_in_bytes),
            "io": int(mem.argument_size_in_bytes + mem.output_size_in_bytes)}


def xla_flops(compiled) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost.get("flops", math.nan)) if cost else math.nan


# ----------------------------------------------------------------------------- output


def header(title: str, script: str, *, rounds: int, seconds: float, load_before: str,
           **extra_versions: str) -> str:
    return (
        f"## {title} (`benchmarks/{script}`)\n\n"
        f"Machine: {machine()}, shared with other jobs; date {DATE}; "
        f"{versions(**extra_versions)}. Load average (1/5/15 min) before: {load_before}, "
        f"after: {load()}. {rounds} interleaved rounds of about {seconds:g} s per variant "
        "after compilation and warm-up; steps/s as median (min–max) over rounds, ratios as "
        "the median (min–max) of per-round ratios.\n"
    )


def ratio_rows(batch: int, rates: dict[str, list[float]], base: str,
               ratios: dict[str, dict]) -> list[str]:
    """Table rows ``| batch | variant | steps/s | ratio to base |``, printed as they are made;
    each variant's paired ratio to ``rates[base]`` is stored in ``ratios``."""
    rows = []
    for name, values in rates.items():
        ratios[name] = paired_ratio(values, rates[base])
        rows.append(f"| {batch} | {name} | {fmt_rate(summary(values))} | "
                    f"{fmt_ratio(ratios[name])} |")
        print(rows[-1], flush=True)
    return rows


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replaces the section between ``<!-- name:begin -->`` and ``<!-- name:end -->``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + section + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new)


def save_json(name: str, data: dict) -> None:
    JSON_DIR.mkdir(exist_ok=True)
    data = {"date": DATE, "machine": machine(), "load_after": load(),
            "argv": sys.argv[1:], **data}
    (JSON_DIR / f"{name}.json").write_text(json.dumps(data, indent=1, default=float) + "\n")


def add_common_args(parser, *, rounds: int = 7, seconds: float = 1.0) -> None:
    parser.add_argument("--batch", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--round-seconds", type=float, default=seconds)
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")


def per_call_runner(step: Callable, state, batches: list, unpack: Callable = lambda b: b):
    """A ``run(n) -> n`` that calls ``step(state, unpack(batch))`` ``n`` times (batches cycled),
    blocks on the result and keeps the state for the next call (donated states stay valid)."""
    box = [state]

    def run(n: int) -> int:
        state = box[0]
        for i in range(n):
            state, out = step(state, unpack(batches[i % len(batches)]))
        block((state, out))
        box[0] = state
        return n

    return run


def scan_runner(multi_step: Callable, state, stacked, k: int):
    """A ``run(n) -> steps`` that calls ``multi_step(state, stacked)`` (``k`` steps a call)
    ``max(1, round(n / k))`` times, blocks, and keeps the state."""
    box = [state]

    def run(n: int) -> int:
        state = box[0]
        calls = max(1, round(n / k))
        for _ in range(calls):
            state, out = multi_step(state, stacked)
        block((state, out))
        box[0] = state
        return calls * k

    return run


def device_batches(batch: int, count: int, seed: int = 0) -> list[dict[str, jax.Array]]:
    """``count`` different device-resident batches (a step cycles through them)."""
    data = binary_images(batch * count, seed)
    return [{"x": jnp.asarray(data[i * batch:(i + 1) * batch])} for i in range(count)]
