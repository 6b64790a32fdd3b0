"""Direct vs chunked nearest-code search: wall time and XLA peak temporary memory.

Usage (from the repository root)::

    python benchmarks/nearest_code.py                        # N = K = 65,536, D = 64
    python benchmarks/nearest_code.py --n 4096 65536 --write  # and update benchmarks/RESULTS.md

Memory is XLA's own accounting of the compiled program
(``jax.jit(f).lower(...).compile().memory_analysis()``): ``temp_size_in_bytes`` is the scratch
the program needs besides its arguments and outputs, so it is available without running it.
A variant whose temporaries exceed ``--max-run-bytes`` is compiled and measured but not run
(the direct path at N = K = 65,536 needs a 16 GiB distance matrix).
"""

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from _common import machine

from vaekit.quantizers import nearest_code

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- nearest_code:begin -->", "<!-- nearest_code:end -->"


def measure(n: int, k: int, d: int, chunk_size: int | None, repeats: int, max_run_bytes: int):
    kz, kc = jax.random.split(jax.random.key(0))
    z = jax.random.normal(kz, (n, d), jnp.float32)
    codebook = jax.random.normal(kc, (k, d), jnp.float32)
    fn = jax.jit(lambda z, c: nearest_code(z, c, chunk_size=chunk_size))
    start = time.perf_counter()
    compiled = fn.lower(z, codebook).compile()
    compile_s = time.perf_counter() - start
    mem = compiled.memory_analysis()
    temp = int(mem.temp_size_in_bytes)
    io = int(mem.argument_size_in_bytes + mem.output_size_in_bytes)
    times = []
    if temp <= max_run_bytes:
        jax.block_until_ready(compiled(z, codebook))  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(compiled(z, codebook))
            times.append(time.perf_counter() - start)
    return {
        "variant": "direct" if chunk_size is None else f"chunked ({chunk_size})",
        "n": n, "k": k, "d": d, "compile_s": compile_s, "temp": temp, "io": io,
        "time_s": statistics.median(times) if times else None,
    }


def _mib(b: int) -> str:
    return f"{b / 2**20:,.1f} MiB"


def table(rows) -> str:
    lines = [
        "| variant | N | K | D | XLA temp memory | args + outputs | time (median) | compile |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        t = f"{r['time_s']:.2f} s" if r["time_s"] is not None else "not run (memory)"
        lines.append(
            f"| {r['variant']} | {r['n']:,} | {r['k']:,} | {r['d']} | {_mib(r['temp'])} | "
            f"{_mib(r['io'])} | {t} | {r['compile_s']:.1f} s |"
        )
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replaces this benchmark's section of ``path`` (between its markers) or appends it."""
    section = f"{BEGIN}\n{text.strip()}\n{END}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + section + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[65_536])
    parser.add_argument("--k", type=int, default=65_536)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--chunk", type=int, nargs="+", default=[2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-run-bytes", type=int, default=4 * 2**30)
    parser.add_argument("--date", default="2026-11-25")
    parser.add_argument("--note", default="")
    parser.add_argument("--write", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args()

    rows = [measure(n, args.k, args.d, c, args.repeats, args.max_run_bytes)
            for n in args.n for c in [None, *args.chunk]]
    text = (
        "## Nearest-code search: direct vs chunked (`benchmarks/nearest_code.py`)\n\n"
        f"Machine: {machine()}; date {args.date}; jax {jax.__version__}; float32, "
        f"`vaekit.quantizers._nearest.nearest_code`. Memory is XLA's `memory_analysis()` of the "
        "compiled program (`temp_size_in_bytes`: scratch besides arguments and outputs).\n\n"
        + table(rows)
        + (f"\n\n{args.note}" if args.note else "")
    )
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
