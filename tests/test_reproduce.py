"""`vaekit reproduce`: every reproduction's smoke profile end to end, the result schema, the CLI.

The smoke runs go through ``vaekit.cli.main`` in one subprocess with
``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` (XLA compiles faster; a smoke run is almost all
compilation), so the whole pipeline of all five reproductions costs about 20-30 s on 2 cores.
The quick profiles are not part of the test run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vaekit.cli import main
from vaekit.reproduce import (
    REPRODUCTIONS,
    RESULT_KEYS,
    SCHEMA,
    append_jsonl,
    append_markdown_row,
    get_reproduction,
    markdown_row,
    read_result,
    reproduction_config,
    run_reproduction,
    summarize,
    validate_result,
)
from vaekit.reproduce._results import TABLE_MARKER

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys
from vaekit.cli import main
out = sys.argv[1]
for name in {names!r}:
    assert main(["reproduce", name, "--smoke", "--out", out]) == 0, name
"""


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    env = {**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(names=REPRODUCTIONS), str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_smoke_run_writes_a_result_that_follows_the_schema(smoke_runs, name):
    out, _ = smoke_runs
    directory = out / f"{name}-smoke"
    result = read_result(directory / "result.json")  # validates the schema
    assert list(result) == list(RESULT_KEYS)
    assert result["schema"] == SCHEMA and result["name"] == name
    assert result["profile"] == "smoke" and result["seeds"] == [0]
    assert result["config"] == json.loads(json.dumps(reproduction_config(name, "smoke")))
    assert result["metrics"], "no metrics"
    for metric, summary in result["metrics"].items():
        assert summary["mean"] is not None and np.isfinite(summary["mean"]), metric
        assert summary["std"] == 0.0 and len(summary["per_seed"]) == 1
    assert result["wall_time_s"] > 0
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["jax_backend"] == "cpu"
    assert len(result["machine"]["load_average_end"]) == 3
    assert result["versions"]["jax"] and result["versions"]["vaekit"]
    assert result["date"][:2] == "20" and "T" in result["date"]
    assert result["command"].startswith(f"vaekit reproduce {name} --smoke --seeds 0")
    assert result["notes"] and result["published"]
    for plot in result["plots"]:
        data = (directory / plot).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000, plot


def test_every_run_is_logged(smoke_runs):
    out, stdout = smoke_runs
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["name"] for r in rows] == list(REPRODUCTIONS)
    for row in rows:
        validate_result(row)
    assert "generated_accuracy" in stdout and "result.json" in stdout


def test_seeds_reach_the_run_and_the_summary(tmp_path, monkeypatch, capsys):
    module = get_reproduction("cvae")
    calls = []

    def fake_run(config, seeds, out):  # records its arguments instead of training
        calls.append((config, list(seeds), out))
        (out / "plot.png").write_bytes(b"png")
        return [{"generated_accuracy": 0.5 + s / 10} for s in seeds], ["plot.png"]

    monkeypatch.setattr(module, "run", fake_run)
    assert main(["reproduce", "cvae", "--quick", "--seeds", "3,4", "5", "--out",
                 str(tmp_path)]) == 0
    assert calls[0][1] == [3, 4, 5] and calls[0][0] == reproduction_config("cvae", "quick")
    result = read_result(tmp_path / "cvae-quick" / "result.json")
    assert result["seeds"] == [3, 4, 5] and result["profile"] == "quick"
    accuracy = result["metrics"]["generated_accuracy"]
    assert accuracy["per_seed"] == [0.8, 0.9, 1.0]
    assert accuracy["mean"] == pytest.approx(0.9) and accuracy["std"] == pytest.approx(
        np.std([0.8, 0.9, 1.0]))
    assert result["command"] == f"vaekit reproduce cvae --quick --seeds 3 4 5 --out {tmp_path}"
    assert "0.9 ± 0.082" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["reproduce", "nope"], "invalid choice: 'nope'"),
     (["reproduce", "cvae", "--smoke", "--full"], "not allowed with"),
     (["reproduce", "cvae", "--seeds", "x"], "--seeds: must be an integer"),
     (["reproduce", "cvae", "--seeds", "-1"], "--seeds: must be >= 0")],
)
def test_bad_command_lines_exit_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_registry_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown reproduction 'nope'"):
        get_reproduction("nope")
    with pytest.raises(ValueError, match="`profile`"):
        reproduction_config("cvae", "medium")
    with pytest.raises(ValueError, match="`overrides` key 'stepz'"):
        run_reproduction("cvae", "smoke", out=tmp_path, overrides={"stepz": 1})
    with pytest.raises(ValueError, match="`seeds`"):
        run_reproduction("cvae", "smoke", seeds=[-1], out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_every_profile_is_complete():
    for name in REPRODUCTIONS:
        module = get_reproduction(name)
        assert set(module.PROFILES) == {"smoke", "quick", "full"}
        assert set(module.DEFAULT_SEEDS) == set(module.NOTES) == {"smoke", "quick", "full"}
        assert set(module.PROFILES["quick"]) == set(module.PROFILES["full"])
        assert set(module.PROFILES["smoke"]) == set(module.PROFILES["quick"])
        for entry in module.PUBLISHED.values():
            assert {"value", "source"} <= set(entry)


def test_smoke_profiles_skip_variants_that_still_build():
    # The smoke runs train two of four models / variants / schedules; the others must build.
    from flax import nnx

    from vaekit.reproduce import _annealing as annealing
    from vaekit.reproduce import _disentanglement as disentanglement
    from vaekit.reproduce import _vq as vq

    # nnx.eval_shape: the modules are built abstractly (no parameter initialisation runs).
    config = reproduction_config("disentanglement", "smoke")
    for kind in disentanglement.MODELS:
        built = []
        model = nnx.eval_shape(lambda kind=kind, built=built: built.append(
            disentanglement.build(kind, config, 0, 256)) or built[0][0])
        assert isinstance(model, nnx.Module) and callable(built[0][1]), kind
    config = reproduction_config("vq", "smoke")
    for variant in vq.VARIANTS:
        built = []
        nnx.eval_shape(lambda variant=variant, built=built: built.append(
            vq.build(variant, config, 0)) or built[0][0])
        assert built[0][2] == (1000 if variant == "fsq" else 512)
    config = {**reproduction_config("annealing", "quick"), "steps": 100}
    betas = {name: [float(s(0)), float(s(100))] for name, s in
             annealing.schedules(config).items()}
    assert betas["constant"] == [1.0, 1.0] and betas["linear"] == [0.0, 1.0]
    assert betas["cyclical"] == [0.0, 1.0] and betas["logistic"][0] < 0.01
    with pytest.raises(ValueError, match="unknown schedules"):
        annealing.schedules({**config, "schedules": ["sawtooth"]})


def test_summary_table_row_and_logs(tmp_path):
    summary = summarize([{"a": 1.0, "b": float("nan")}, {"a": 2.0, "b": 4.0}])
    assert summary["a"] == {"mean": 1.5, "std": 0.5, "per_seed": [1.0, 2.0]}
    assert summary["b"] == {"mean": 4.0, "std": 0.0, "per_seed": [None, 4.0]}
    with pytest.raises(ValueError, match="reports metrics"):
        summarize([{"a": 1.0}, {"b": 1.0}])
    result = {
        "schema": SCHEMA, "name": "cvae", "profile": "quick", "seeds": [0, 1],
        "config": {}, "metrics": summary, "published": {"a": {"value": 2, "source": "X"}},
        "wall_time_s": 12.3, "machine": {"cpu_count": 2, "jax_backend": "cpu",
                                          "load_average_start": [4.91, 4.0, 3.0]},
        "date": "2026-11-25T10:00:00", "versions": {},
        "plots": [], "command": "vaekit reproduce cvae", "notes": [],
    }
    validate_result(result)
    with pytest.raises(ValueError, match="`seeds`"):
        validate_result({**result, "seeds": []})
    with pytest.raises(ValueError, match="per_seed"):
        validate_result({**result, "seeds": [0]})
    with pytest.raises(ValueError, match="missing the keys"):
        validate_result({k: v for k, v in result.items() if k != "machine"})
    row = markdown_row(result, "a", label="accuracy")
    assert row == ("| cvae | accuracy | 1.500 ± 0.500 | 2 (X) | `vaekit reproduce cvae` | "
                   "quick, seeds 0, 1 | 2-core CPU, load 4.9 | 12 s | 2026-11-25 |")
    doc = tmp_path / "doc.md"
    doc.write_text(f"# t\n\n{TABLE_MARKER}\n\n| h |\n| --- |\n| old |\n\nafter\n")
    append_markdown_row(doc, row)
    assert doc.read_text().splitlines()[6:8] == ["| old |", row]
    with pytest.raises(ValueError, match="no line"):
        append_markdown_row(_plain(tmp_path), row)
    log = append_jsonl(result, tmp_path / "log" / "results.jsonl")
    append_jsonl(result, log)
    assert len(log.read_text().splitlines()) == 2


def _plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.md"
    path.write_text("no table\n")
    return path
