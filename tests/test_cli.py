"""`vaekit train`: bad flags give one line and exit code 2; a tiny run writes every file."""

import json

import pytest

from vaekit.cli import main


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--beta", "-1"], "--beta"),
        (["--steps", "0"], "--steps"),
        (["--steps", "-5"], "--steps"),
        (["--latent-dim", "0"], "--latent-dim"),
        (["--lr", "0"], "--lr"),
        (["--beta", "nan"], "--beta"),
        (["--hidden", "64,x"], "--hidden"),
        (["--beta-schedule", "zigzag"], "--beta-schedule"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(argv, flag, capsys):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err, err


def test_batch_larger_than_data_is_a_usage_error(capsys):
    assert main(["train", "--num-train", "10", "--batch-size", "20"]) == 2
    assert "`batch_size`" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys):
    assert main(["fly"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_tiny_train_run_writes_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--steps", "60", "--batch-size", "16", "--num-train", "128",
            "--num-val", "32", "--eval-every", "30", "--latent-dim", "3", "--hidden", "32",
            "--beta-steps", "20", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    expected = {"metrics.jsonl", "summary.json", "reconstructions.png", "latent_traversal.png",
                "prior_samples.png", "loss_curves.png"}
    assert expected <= {p.name for p in out.iterdir()}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "val"] == [30, 60]
    assert rows[0]["split"] == "train" and {"loss", "kl_loss", "beta"} <= set(rows[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["steps"] == 60
    assert summary["final_val"]["beta"] == pytest.approx(4.0)
    assert str(out) in capsys.readouterr().out.replace("\n", "")
