"""MIG against wall time for candidate default runs (issue 20 item 1). Run by hand:

    python benchmarks/mig_frontier.py --name tcvae-b6 --set model.kind=beta-tcvae \
        --set train.steps=6000 --out-jsonl benchmarks/results/mig_frontier.jsonl

Each candidate is a real ``vaekit.runner.start_run`` (the same code as ``vaekit train``) in a
temporary run directory; after it finishes, Chen et al.'s MIG of its last checkpoint is computed
on the dSprites factor grid (8 values per factor, shape excluded, as ``summary.json`` reports
it) and one JSON row (config overrides, wall time, MIG, per-factor best-dimension MI) is
appended to ``--out-jsonl``. ``--summarize`` turns the rows of ``--out-jsonl`` into the
``mig_frontier`` table of ``benchmarks/RESULTS.md`` (``--write``) instead of training.
"""

import argparse
import ast
import json
import platform
import tempfile
import time
from pathlib import Path

import _common as C

from vaekit.runner import RunConfig, start_run
from vaekit.runner._config import flat_config


def parse_sets(items: list[str]) -> dict[str, dict]:
    """``["objective.tcvae.beta=6", ...]`` as nested overrides for ``RunConfig.replace``."""
    sections: dict[str, dict] = {}
    for item in items:
        key, _, raw = item.partition("=")
        *path, name = key.split(".")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        table = sections
        for part in path:
            table = table.setdefault(part, {})
        table[name] = value
    return sections


def describe(overrides: dict[str, dict]) -> str:
    return ", ".join(f"{key}={value}" for key, value in flat_config(overrides).items()) or (
        "defaults")


def summarize(path: str, write: bool) -> str:
    """A markdown table of every row of ``path``, one per run, in the order they ran."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    factors = ("pos_x", "pos_y", "scale", "orientation")
    lines = [
        "## MIG of candidate default runs (`benchmarks/mig_frontier.py`)\n",
        f"Each row is one `vaekit train` run (procedural dSprites, a fresh batch of the 737,280 "
        f"images every step, MLP 4096-512-256, latent 10 unless set) with the overrides shown, "
        f"on {rows[0]['machine'] if rows else '?'}; dates {sorted({r['date'] for r in rows})}. "
        "The machine was shared with other jobs (a CI run, tests): wall and training seconds "
        "are upper bounds of an idle 2-core machine. Chen et al.'s MIG on the factor grid (8 "
        "values per factor, shape excluded) of the last checkpoint; its gap per factor; "
        "active: latent dimensions with KL > 0.01 nats on validation. Overrides are relative "
        "to the defaults the rows were run against (2026-12-04, before the default changed): "
        "`beta-vae-annealed` (β 0 → 4 over 1,000 steps), `tc_beta` 6, Adam 5e-4, batch 64, "
        "6,000 steps, seed 0. The new default (`beta-tcvae`, `tc_beta` 15, Adam 1e-3) is the "
        "`tcvae-b15-lr1e-3` rows. The rows' override keys are the flat `[objective]` keys of "
        "that date: `objective.tc_beta` is now `objective.tcvae.beta`, `objective.c_max` "
        "`objective.capacity.c_max` (docs/runs.md).\n",
        "| run | overrides | steps | train s | wall s | Chen MIG | "
        + " | ".join(f"gap {f}" for f in factors) + " | active |",
        "| --- | --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in factors)
        + " | ---: |",
    ]
    for r in rows:
        gaps = " | ".join(f"{r.get(f'chen_mig.gap.{f}', float('nan')):.3f}" for f in factors)
        lines.append(f"| {r['name']} | {describe(r['overrides'])} | {r['steps']} | "
                     f"{r['train_seconds']:.0f} | {r['wall_seconds']:.0f} | "
                     f"{r['chen_mig.score']:.3f} | {gaps} | {r['latents.val_active_dims']} |")
    text = "\n".join(lines)
    print(text)
    if write:
        C.write_section("mig_frontier", text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--out-jsonl", default="benchmarks/results/mig_frontier.jsonl")
    parser.add_argument("--summarize", action="store_true")
    parser.add_argument("--write", action="store_true", help="with --summarize: RESULTS.md")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.out_jsonl, args.write)
        return
    if not args.name:
        parser.error("--name is required to run a candidate")
    overrides = parse_sets(args.sets)
    config = RunConfig().replace(**overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, summary = start_run(config, Path(tmp) / "run")
        wall = time.perf_counter() - t0
    evaluation = summary.get("evaluation", {})
    row = {
        "name": args.name, "overrides": overrides, "wall_seconds": round(wall, 1),
        "train_seconds": round(summary["session_seconds"], 1),
        "steps": summary["step"],
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "date": time.strftime("%Y-%m-%d"),
        **{k: v for k, v in evaluation.items() if k.startswith(("mig", "chen_mig", "factor_mi",
                                                                 "latents"))},
    }
    print(json.dumps(row))
    with open(args.out_jsonl, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
