"""Experiment tracking: the runner's metric rows and plots reach TensorBoard event files (read
back with TensorBoard's own event reader) and an MLflow file store (read back with its client)."""

import json

import numpy as np
import pytest

from vaekit.cli import main

TINY = ["--model", "vae", "--latent-dim", "3", "--hidden", "32", "--num-train", "128",
        "--num-val", "32", "--steps", "40", "--batch-size", "16", "--eval-every", "20",
        "--checkpoint-every", "20", "--no-progress"]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tracked") / "run"
    assert main(["train", *TINY, "--track", "tensorboard,mlflow", "--out", str(run)]) == 0
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    return run, rows, json.loads((run / "summary.json").read_text())


def test_tensorboard_events_hold_every_row_and_the_plots(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, rows, summary = tracked_run
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0,
                                                                       "scalars": 0})
    events.Reload()
    tags = events.Tags()
    for split in ("train", "val"):
        mine = [r for r in rows if r["split"] == split]
        logged = events.Scalars(f"{split}/loss")
        assert [e.step for e in logged] == [r["step"] for r in mine]
        np.testing.assert_allclose([e.value for e in logged], [r["loss"] for r in mine],
                                   rtol=1e-6)
    assert {f"plots/{name}" for name in summary["files"]} <= set(tags["images"])


def test_mlflow_run_holds_the_metrics_params_and_plots(tracked_run):
    from mlflow.tracking import MlflowClient

    run, rows, summary = tracked_run
    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("vaekit")
    (found,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(found.info.run_id, "val.loss")
    val = [r for r in rows if r["split"] == "val"]
    assert [m.step for m in history] == [r["step"] for r in val]
    np.testing.assert_allclose([m.value for m in history], [r["loss"] for r in val], rtol=1e-6)
    assert found.data.params["model.kind"] == "vae" and found.data.params["train.steps"] == "40"
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id, "plots")}
    assert {f"plots/{name}.png" for name in summary["files"]} == artifacts
    assert found.info.status == "FINISHED"


def test_unknown_tracker_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--track", "tensorbord", "--out", str(tmp_path / "r")]) == 2
    assert "did you mean 'tensorboard'?" in capsys.readouterr().err
