"""MIG against wall time for candidate default runs (issue 20 item 1). Run by hand:

    python benchmarks/mig_frontier.py --name tcvae-b6 --set model.kind=beta-tcvae \
        --set train.steps=6000 --out-jsonl benchmarks/results/mig_frontier.jsonl

Each candidate is a real ``vaekit.runner.start_run`` (the same code as ``vaekit train``) in a
temporary run directory; after it finishes, Chen et al.'s MIG of its last checkpoint is computed
on the dSprites factor grid (8 values per factor, shape excluded, as ``summary.json`` reports
it) and one JSON row (config overrides, wall time, MIG, per-factor best-dimension MI) is
appended to ``--out-jsonl``.
"""

import argparse
import ast
import json
import platform
import tempfile
import time
from pathlib import Path

from vaekit.runner import RunConfig
from vaekit.runner.run import start_run


def parse_sets(items: list[str]) -> dict[str, dict]:
    sections: dict[str, dict] = {}
    for item in items:
        key, _, raw = item.partition("=")
        section, _, name = key.partition(".")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        sections.setdefault(section, {})[name] = value
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--out-jsonl", default="benchmarks/results/mig_frontier.jsonl")
    args = parser.parse_args()
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
