"""The targets of the training benchmarks against the latest measured numbers.

Usage (from the repository root, after running the ``bench_*.py`` scripts)::

    python benchmarks/summarize.py            # print the table
    python benchmarks/summarize.py --write    # and update benchmarks/RESULTS.md

Reads ``benchmarks/results/*.json`` (each ``bench_*.py`` run writes its own) and needs only
the standard library.
"""

import argparse
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def _load(name: str) -> dict | None:
    path = HERE / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ratio(r: dict) -> str:
    return f"{r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def _verdict(value: float, target: float, higher: bool = True) -> str:
    ok = value >= target if higher else value <= target
    return "met" if ok else "**missed**"


def rows() -> list[str]:
    out = []
    data = _load("bench_train_step")
    if data:
        for batch, result in data["results"].items():
            for key, label, target in (
                ("vaekit / hand", "default metrics", 0.97),
                ("vaekit, grad_norm=True / hand", "`grad_norm=True` (more work than the hand "
                 "step: informative)", None),
                ("vaekit step, hand loss / hand", "the hand step's loss, no metrics "
                 "(informative)", None),
                ("vaekit / hand, vaekit tree", "against the hand step with vaekit's parameter "
                 "tree (informative)", None),
            ):
                r = result["ratios"][key]
                out.append(f"| make_train_step / hand-fused, batch {batch}, one call per step, "
                           f"{label} | {'–' if target is None else f'≥ {target}×'} | "
                           f"{r['median']:.3f}× ({r['min']:.2f}–{r['max']:.2f}) | "
                           f"{'–' if target is None else _verdict(r['median'], target)} |")
    data = _load("bench_tcvae")
    if data:
        for batch, result in data["results"].items():
            r = result["ratios"]["β-TCVAE"]
            flops = result["flops"]["β-TCVAE"] / result["flops"]["β-VAE"]
            out.append(f"| β-TCVAE / β-VAE step, batch {batch}: speed (FLOPs) | ≥ 0.91× "
                       f"(≤ 1.1×) | {_ratio(r)} ({flops:.3f}×) | "
                       f"{_verdict(r['median'], 1 / 1.1)} ({_verdict(flops, 1.1, False)}) |")
    data = _load("bench_scan")
    if data:
        for batch, result in data["results"].items():
            r = result["ratios"]["scan of 50"]
            target = "≥ 1.5×" if batch == "32" else "–"
            verdict = _verdict(r["median"], 1.5) if batch == "32" else "–"
            out.append(f"| scan / one call per step, batch {batch} | {target} | {_ratio(r)} | "
                       f"{verdict} |")
    data = _load("bench_objectives")
    if data:
        for batch, result in data["results"].items():
            for name in ("capacity β-VAE", "EMA VQ-VAE"):
                r = result["ratios"][f"{name} / scan"]
                out.append(f"| {name} / plain VAE, batch {batch} (scan) | ≥ 0.9× | {_ratio(r)} | "
                           f"{_verdict(r['median'], 0.9)} |")
    data = _load("bench_compile")
    if data:
        for variant, runs in data["results"].items():
            values = [run["first_call"] for run in runs]
            med = statistics.median(values)
            target = "≤ 1.5 s" if variant.startswith("vaekit") else "–"
            verdict = _verdict(med, 1.5, higher=False) if variant.startswith("vaekit") else "–"
            out.append(f"| first call (trace + compile + run), {variant} | {target} | "
                       f"{med:.2f} s ({min(values):.2f}–{max(values):.2f}) | {verdict} |")
    data = _load("bench_recompile")
    if data:
        for result in data["results"]:
            control = result["name"].startswith("control")
            target = "(control)" if control else "0"
            verdict = "–" if control else _verdict(-result["compiles_after_first"], 0)
            out.append(f"| compilations after the first call, {result['name']} | {target} | "
                       f"{result['compiles_after_first']} | {verdict} |")
    data = _load("bench_flops")
    if data:
        big = [k for k in data["gflops"] if k.startswith("matmul") and "@" not in k][0]
        for name in ("vaekit step", "hand-fused step"):
            ratios = [a / b for a, b in zip(data["gflops"][name], data["gflops"][big],
                                            strict=True)]
            med = statistics.median(ratios)
            xla = med * data["flops_xla"] / data["flops_model"]
            out.append(f"| batch-1024 FLOP/s / {big}, {name} (model count; XLA count) | ≥ 0.93 "
                       f"| {med:.2f} ({min(ratios):.2f}–{max(ratios):.2f}); {xla:.2f} | "
                       f"{_verdict(med, 0.93)} |")
    data = _load("bench_torch")
    if data:
        for batch, result in data["results"].items():
            for ref, target in (("torch eager", 2.5), ("torch.compile", 2.0)):
                r = result["ratios"][f"vaekit, one call per step / {ref}"]
                s = result["ratios"][f"vaekit, scan of 50 / {ref}"]
                best = max(r["median"], s["median"])
                out.append(f"| vaekit / {ref}, batch {batch} (step; scan) | ≥ {target}× | "
                           f"{_ratio(r)}; {_ratio(s)} | {_verdict(best, target)} |")
    data = _load("bench_artifex")
    if data:
        for batch, result in data["results"].items():
            for key, r in result["ratios"].items():
                target = {"VAETrainer": 1.5, "Trainer.": 3.0, "staged": 1.3}
                t = next(v for k, v in target.items() if k in key.split(" / ")[1])
                out.append(f"| {key}, batch {batch} | ≥ {t}× | {_ratio(r)} | "
                           f"{_verdict(r['median'], t)} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    text = (
        "## Training benchmarks: targets (`benchmarks/summarize.py`)\n\n"
        "From the latest run of each `bench_*.py` (their sections below give machine, load, "
        "versions and all variants). Ratios: median (min–max) of per-round ratios.\n\n"
        "| measure | target | measured | |\n| --- | ---: | ---: | --- |\n" + "\n".join(rows())
    )
    print(text)
    if args.write:
        begin, end = "<!-- targets:begin -->", "<!-- targets:end -->"
        old = RESULTS.read_text()
        section = f"{begin}\n{text}\n{end}"
        if begin in old and end in old:
            new = old[: old.index(begin)] + section + old[old.index(end) + len(end):]
        else:  # first section after the title
            head, _, rest = old.partition("\n\n")
            new = f"{head}\n\n{section}\n\n{rest}"
        RESULTS.write_text(new)


if __name__ == "__main__":
    main()
