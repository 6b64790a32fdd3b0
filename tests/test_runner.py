"""The training runner: exact resume, config round trip, best/last checkpoints, bad input."""

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest

from vaekit.cli import main
from vaekit.runner import MODEL_KINDS, ConfigError, RunConfig, load_run, resume_run, start_run

TINY = {
    "model": {"latent_dim": 3, "hidden": [32]},
    "data": {"num_train": 128, "num_val": 32},
    "train": {"steps": 40, "batch_size": 16, "eval_every": 20, "checkpoint_every": 10,
              "steps_per_call": 10},
}
TINY_FLAGS = ["--latent-dim", "3", "--hidden", "32", "--num-train", "128", "--num-val", "32",
              "--prior-steps", "10",
              "--steps", "40", "--batch-size", "16", "--eval-every", "20",
              "--checkpoint-every", "10", "--no-progress"]


def tiny_config(**sections) -> RunConfig:
    return RunConfig.from_dict({k: {**TINY.get(k, {}), **sections.get(k, {})}
                                for k in {*TINY, *sections}})


def test_resumed_run_is_bit_for_bit_the_uninterrupted_run(tmp_path):
    config = tiny_config()
    start_run(config, tmp_path / "whole")
    _, stopped = start_run(config, tmp_path / "split", stop_at=20)
    assert stopped["step"] == 20 and not stopped["complete"]
    _, resumed = resume_run(tmp_path / "split")
    assert resumed["complete"]
    whole_rows = (tmp_path / "whole" / "metrics.jsonl").read_text()
    assert (tmp_path / "split" / "metrics.jsonl").read_text() == whole_rows
    a, b = load_run(tmp_path / "whole"), load_run(tmp_path / "split")
    for x, y in zip(jax.tree.leaves((a.state.params, a.state.opt_state)),
                    jax.tree.leaves((b.state.params, b.state.opt_state)), strict=True):
        np.testing.assert_array_equal(x, y)
    assert int(a.state.step) == int(b.state.step) == 40


def test_device_data_and_no_grad_norm_keep_the_losses_of_the_default_run(tmp_path):
    start_run(tiny_config(), tmp_path / "default")
    start_run(tiny_config(train={"device_data": True, "grad_norm": False}), tmp_path / "fast")

    def rows(name):
        text = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(r) for r in text]

    default, fast = rows("default"), rows("fast")
    assert all("grad_norm" in r for r in default if r["split"] == "train")
    assert not any("grad_norm" in r for r in fast)
    assert len(default) == len(fast) > 0
    for a, b in zip(default, fast, strict=True):
        assert (a["step"], a["split"]) == (b["step"], b["split"])
        np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-5)


def test_summary_reports_best_and_final_validation(tmp_path):
    _, summary = start_run(tiny_config(), tmp_path / "run")
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in val] == [20, 40]
    assert summary["best_val_loss"] == min(r["loss"] for r in val)
    assert summary["final_val"]["step"] == 40 and summary["steps_per_second"] > 0
    best = load_run(tmp_path / "run", "best")
    assert int(best.state.step) == summary["best_step"]


def test_config_round_trips_through_toml(tmp_path):
    config = tiny_config(model={"kind": "beta-vae-capacity"},
                         objective={"capacity": {"c_max": 12.5}})
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert RunConfig.from_toml(path) == config


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": {"kind": "gan"}}, "model.kind"),
        ({"model": {"latent": 3}}, "model.latent"),
        ({"train": {"steps": "10"}}, "train.steps"),
        ({"train": {"lr": -1.0}}, "train.lr"),
        ({"model": {"kind": "beta-vae"}, "objective": {"beta_vae": {"beta": -0.5}}},
         "objective.beta_vae.beta"),
        ({"extra": {}}, "extra"),
        ({"model": {"hidden": [32, 0]}}, "model.hidden"),
    ],
)
def test_bad_config_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        RunConfig.from_dict(raw)


def _one_line_exit_2(argv, capsys, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--beta", "-1"], "--beta"),
        (["--steps", "0"], "--steps"),
        (["--latent-dim", "0"], "--latent-dim"),
        (["--lr", "0"], "--lr"),
        (["--beta", "nan"], "--beta"),
        (["--hidden", "64,x"], "--hidden"),
        (["--model", "gan"], "--model"),
        (["--beta-schedule", "zigzag"], "--beta-schedule"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(argv, flag, capsys, tmp_path):
    _one_line_exit_2(["train", *argv, "--out", str(tmp_path / "r")], capsys, flag)
    assert not (tmp_path / "r").exists()


def test_bad_config_file_and_data_files(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nsteps = "many"\n')
    _one_line_exit_2(["train", "--config", str(bad)], capsys, "train.steps")
    _one_line_exit_2(["train", "--config", str(tmp_path / "missing.toml")], capsys, "missing")
    npz = tmp_path / "images.npz"
    np.savez(npz, images=np.zeros((10, 8, 8, 2), np.uint8))
    _one_line_exit_2(["train", "--data", "npz", "--data-path", str(npz), "--out",
                      str(tmp_path / "r")], capsys, "(N, H, W[, 1|3])")
    np.savez(npz, images=np.zeros((10, 8, 8), np.int64))
    _one_line_exit_2(["train", "--data", "npz", "--data-path", str(npz), "--out",
                      str(tmp_path / "r")], capsys, "uint8 or float")
    assert not (tmp_path / "r").exists()


def test_user_npz_trains_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    npz = tmp_path / "mine.npz"
    np.savez(npz, images=(rng.random((64, 8, 8)) * 255).astype(np.uint8))
    argv = ["train", "--data", "npz", "--data-path", str(npz), "--num-train", "48",
            "--num-val", "16", "--latent-dim", "2", "--hidden", "16", "--steps", "20",
            "--batch-size", "8", "--eval-every", "10", "--out", str(tmp_path / "r"),
            "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "r" / "reconstructions.png").exists()


def test_unwritable_output_dir(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # CI runs as root, for whom chmod cannot make a directory read-only: fake the answer.
    monkeypatch.setattr(os, "access", lambda p, mode: p != locked and real_access(p, mode))
    _one_line_exit_2(["train", "--out", str(locked / "run")], capsys, "not writable")
    assert list(locked.iterdir()) == []


def test_unknown_command_exits_2(capsys):
    _one_line_exit_2(["fly"], capsys, "invalid choice")


def test_existing_run_dir_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("x")
    _one_line_exit_2(["train", "--out", str(tmp_path / "r")], capsys, "--resume")
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["keep.txt"]


def test_cli_train_resume_sample_reconstruct(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY_FLAGS, "--out", str(run)]) == 0
    expected = {"config.toml", "metrics.jsonl", "summary.json", "checkpoints",
                "reconstructions.png", "latent_traversal.png", "prior_samples.png",
                "loss_curves.png"}
    assert expected <= {p.name for p in run.iterdir()}
    wrote = " ".join(capsys.readouterr().out.split())  # the summary line lists every file
    listed = {p.name + ("/" if p.is_dir() else "") for p in run.iterdir()}
    assert all(name in wrote for name in listed), (listed, wrote)
    assert main(["sample", str(run), "--num", "8"]) == 0
    assert main(["reconstruct", str(run), "--checkpoint", "last"]) == 0
    assert (run / "sample_best.png").exists() and (run / "reconstruct_last.png").exists()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # already complete
    _one_line_exit_2(["train", "--resume", str(run), "--steps", "5"], capsys, "--resume")


def test_incompatible_checkpoint_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    start_run(tiny_config(), run)
    text = (run / "config.toml").read_text().replace("latent_dim = 3", "latent_dim = 4")
    (run / "config.toml").write_text(text)
    _one_line_exit_2(["sample", str(run)], capsys, "does not match")
    _one_line_exit_2(["sample", str(tmp_path)], capsys, "not a vaekit run directory")


def test_nonfinite_loss_stops_with_step_and_metric(tmp_path, capsys):
    run = tmp_path / "nan"
    argv = ["train", *TINY_FLAGS, "--lr", "1e38", "--out", str(run)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "non-finite training metric" in err and "at step" in err
    assert not (run / "summary.json").exists()


def test_nonfinite_steps_can_be_skipped(tmp_path):
    _, summary = start_run(tiny_config(train={"lr": 1e38, "on_nonfinite": "skip"}),
                           tmp_path / "skip")
    rows = [json.loads(r) for r in (tmp_path / "skip" / "metrics.jsonl").read_text().splitlines()]
    assert summary["complete"]
    assert sum(r.get("skipped", 0.0) for r in rows if r["split"] == "train") > 0


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.toml"))


def test_every_model_kind_has_a_shipped_config():
    kinds = {RunConfig.from_toml(path).model.kind for path in CONFIGS}
    assert set(MODEL_KINDS) <= kinds


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_trains_end_to_end(path, tmp_path):
    """Each seed model, from its shipped config, shrunk to a few steps by flags."""
    run = tmp_path / "run"
    argv = ["train", "--config", str(path), *TINY_FLAGS, "--steps", "20",
            "--channels", "8,8", "--out", str(run)]
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["complete"] and np.isfinite(summary["final_val"]["loss"])


def test_capacity_run_plots_kl_against_c(tmp_path):
    run = tmp_path / "cap"
    _, summary = start_run(tiny_config(model={"kind": "beta-vae-capacity"},
                                       objective={"capacity": {"c_max": 5.0, "steps": 20}}),
                           run)
    assert (run / "capacity_tracking.png").exists()
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["current_capacity"] for r in rows if r["split"] == "val"] == [5.0, 5.0]


def test_main_job_runs_without_scikit_learn(tmp_path, monkeypatch):
    """`pip install vaekit` has no scikit-learn: the end-of-run evaluation must not need it."""
    import sys

    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # any `import sklearn...` now fails
    run = tmp_path / "run"
    assert main(["train", *TINY_FLAGS, "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    evaluation = summary["evaluation"]
    assert "mig.discrete_mig" in evaluation
    # Chen et al.'s MIG (shape excluded) with its gap per factor, and for every factor the
    # latent dimension carrying most of it.
    assert 0.0 <= evaluation["chen_mig.score"] <= 1.0
    factors = ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert {f"chen_mig.gap.{f}" for f in factors[1:]} <= set(evaluation)
    assert "chen_mig.gap.shape" not in evaluation
    for f in factors:
        assert 0.0 <= evaluation[f"chen_mig.best_mi.{f}"] <= 1.0
        assert evaluation[f"chen_mig.best_dim.{f}"] in range(3)  # --latent-dim 3
