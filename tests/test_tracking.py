"""Experiment tracking: the runner's metric rows and plots reach TensorBoard event files (read
back with TensorBoard's own event reader), an MLflow file store (read back with its client) and
an offline Weights & Biases run (its records read back with W&B's own protobuf messages)."""

import json
import struct

import numpy as np
import pytest

from vaekit.cli import main
from vaekit.runner import RunConfig, resume_run, start_run

TINY = ["--model", "vae", "--latent-dim", "3", "--hidden", "32", "--num-train", "128",
        "--num-val", "32", "--steps", "40", "--batch-size", "16", "--eval-every", "20",
        "--checkpoint-every", "20", "--no-progress"]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tracked") / "run"
    assert main(["train", *TINY, "--track", "tensorboard,mlflow,wandb", "--out", str(run)]) == 0
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


def wandb_records(run_file):
    """The protobuf records of a ``.wandb`` file (W&B's LevelDB-style log: a 7-byte header, then
    32 KiB blocks of chunks with a 7-byte ``crc32, length, type`` header each)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B" and magic == 0xBEE1
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # no room for a chunk header: the block's tail is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_wandb_offline_run_holds_the_metrics_config_and_plots(tracked_run):
    run, rows, summary = tracked_run
    (run_file,) = (run / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(run_file)
    history = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.history.item})
    for split in ("train", "val"):
        mine = [r for r in rows if r["split"] == split]
        logged = [(h["_step"], h[f"{split}/loss"]) for h in history if f"{split}/loss" in h]
        assert [s for s, _ in logged] == [r["step"] for r in mine]
        np.testing.assert_allclose([v for _, v in logged], [r["loss"] for r in mine], rtol=1e-6)
    (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    config = {item.key: json.loads(item.value_json) for item in run_record.config.update}
    assert config["model"]["kind"] == "vae" and config["train"]["steps"] == 40
    images = {key.split("/")[1] for h in history for key in h
              if key.startswith("plots/") and key.endswith("/_type")}
    assert images == set(summary["files"])
    media = list(run_file.parent.glob("files/media/images/plots/*.png"))
    assert len(media) == len(summary["files"])


def test_a_resumed_run_logs_every_step_once(tmp_path):
    """An interrupted session logged steps after its last checkpoint; the resumed session
    computes them again. Each tracker must hold each step once, with the resumed values."""
    config = RunConfig.from_dict({
        "model": {"kind": "vae", "latent_dim": 3, "hidden": [32]},
        "data": {"num_train": 128, "num_val": 32},
        "train": {"steps": 40, "batch_size": 16, "eval_every": 10, "checkpoint_every": 20,
                  "steps_per_call": 10, "track": ["tensorboard", "mlflow"]},
    })
    out = tmp_path / "run"
    _, stopped = start_run(config, out, stop_at=30)  # steps 21-30 logged, checkpoint at 20
    assert stopped["step"] == 30
    resume_run(out)
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in val] == [10, 20, 30, 40]

    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("vaekit").experiment_id])
    history = client.get_metric_history(found.info.run_id, "val.loss")
    assert sorted(m.step for m in history) == [10, 20, 30, 40]
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    logged = events.Scalars("val/loss")
    assert [e.step for e in logged] == [10, 20, 30, 40]
    np.testing.assert_allclose([e.value for e in logged], [r["loss"] for r in val], rtol=1e-6)
