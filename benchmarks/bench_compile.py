"""First-call compile time of the train step, each round in a fresh Python process.

Usage (from the repository root)::

    python benchmarks/bench_compile.py            # batch 128, 5 rounds
    python benchmarks/bench_compile.py --write    # and update benchmarks/RESULTS.md

A round starts a new interpreter (so no trace, lowering or compilation cache of an earlier
round helps), imports vaekit, builds the step and times its first call on a batch — trace,
lowering, XLA compilation and the one execution — then splits the same work into
``lower`` (trace + lowering to StableHLO) and ``compile`` (XLA) on a second, freshly built
step. The variants alternate between processes. Import time is reported separately.
"""

import time

_STARTED = time.perf_counter()  # before jax, flax, optax and vaekit are imported

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import _common as C  # noqa: E402
import jax  # noqa: E402
import optax  # noqa: E402
from _hand import make_hand_step  # noqa: E402

import vaekit  # noqa: E402

VARIANTS = ("vaekit step", "vaekit step, grad_norm=True", "vaekit step, O1",
            "vaekit multi_step (50)", "hand-fused step")
O1 = {"xla_backend_optimization_level": 1}


def child(variant: str, batch: int) -> None:
    imported = time.perf_counter() - _STARTED
    x = C.binary_images(batch)

    def build():
        if variant == "hand-fused step":
            init, step, _ = make_hand_step()
            return step, init(jax.random.key(0)), jax.numpy.asarray(x)
        kwargs = {"grad_norm": True} if "grad_norm=True" in variant else {}
        if variant.endswith("O1"):
            kwargs["compiler_options"] = O1
        train = vaekit.make_train_step(vaekit.beta_vae(beta=4.0), optax.adam(1e-3), **kwargs)
        state = train.init(C.mlp_vae(), jax.random.key(0))
        if variant.startswith("vaekit step"):
            return train.step, state, {"x": jax.numpy.asarray(x)}
        return train.multi_step, state, {"x": jax.numpy.asarray(x[None].repeat(50, 0))}

    fn, state, batch_arg = build()
    start = time.perf_counter()
    state, out = fn(state, batch_arg)
    jax.block_until_ready(out)
    first_call = time.perf_counter() - start
    calls, steps_per_call = 20, 50 if "multi_step" in variant else 1
    start = time.perf_counter()
    for _ in range(calls):
        state, out = fn(state, batch_arg)
    jax.block_until_ready(out)
    step_ms = (time.perf_counter() - start) / (calls * steps_per_call) * 1e3
    fn, state, batch_arg = build()
    start = time.perf_counter()
    lowered = fn.lower(state, batch_arg)
    lower_s = time.perf_counter() - start
    start = time.perf_counter()
    lowered.compile()
    compile_s = time.perf_counter() - start
    print(json.dumps({"import": imported, "first_call": first_call, "lower": lower_s,
                      "compile": compile_s, "step_ms": step_ms}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch)
        return
    load_before = C.load()
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)]
        for variant in order:
            out = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--batch", str(args.batch)],
                capture_output=True, text=True, check=True, cwd=C.HERE,
            )
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(variant, results[variant][-1], flush=True)
    rows = []
    for variant, runs in results.items():
        cols = []
        for key in ("first_call", "lower", "compile", "import", "step_ms"):
            values = [run[key] for run in runs]
            unit = " ms" if key == "step_ms" else " s"
            cols.append(f"{statistics.median(values):.2f}{unit} "
                        f"({min(values):.2f}–{max(values):.2f})")
        rows.append(f"| {variant} | " + " | ".join(cols) + " |")
    text = (
        f"## First-call compile time (`benchmarks/bench_compile.py`)\n\n"
        f"Machine: {C.machine()}, shared with other jobs; date {C.DATE}; jax {jax.__version__}. "
        f"Load average before: {load_before}, after: {C.load()}. {args.rounds} rounds, each "
        "variant in a fresh process per round (alternating order); median (min–max).\n\n"
        f"Batch {args.batch}, MLP VAE 784-512-256-10, `beta_vae(beta=4.0)`, Adam. First call: "
        "trace + lowering + XLA compilation + one execution of a newly built step. lower / "
        "compile: the same work split with `.lower()` and `.compile()` on a second fresh "
        "step in the same process (so its trace may reuse caches the first call filled). "
        "Import: `import jax, flax, optax, vaekit` (and the benchmark's helpers). Step after: "
        "time per step of the next 20 calls (a rough check that a faster compile does not "
        "cost step time). O1: `make_train_step(..., compiler_options="
        "{'xla_backend_optimization_level': 1})`. Target: first call ≤ 1.5 s.\n\n"
        "| variant | first call | lower (trace) | compile (XLA) | import | step after |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_compile", {"load_before": load_before, "results": results})
    if args.write:
        C.write_section("bench_compile", text)


if __name__ == "__main__":
    main()
