"""Experiment trackers fed by the runner: TensorBoard event files and an MLflow run.

``train.track = ["tensorboard", "mlflow"]`` (or ``vaekit train --track tensorboard,mlflow``)
logs every metric row of ``metrics.jsonl`` (``train/<name>`` chunk means and ``val/<name>``)
at its step, the config as hyperparameters, and at the end every plot of the run as an image
(TensorBoard) or artifact (MLflow). Files stay inside the run directory: ``tensorboard/``
(``tensorboard --logdir RUN/tensorboard``) and ``mlruns/`` (an MLflow file store:
``mlflow ui --backend-store-uri RUN/mlruns``). Each tracker is an optional extra
(``pip install "vaekit[track]"``); a missing one is a ``ConfigError`` naming the extra.
"""

import os
from pathlib import Path

import numpy as np

from vaekit.runner.config import TRACKERS, ConfigError

__all__ = ["TRACKERS", "MLflowTracker", "TensorBoardTracker", "make_trackers"]


def _scalars(row: dict) -> dict[str, float]:
    split = row["split"]
    return {f"{split}/{k}": float(v) for k, v in row.items()
            if k not in ("split", "step") and isinstance(v, int | float) and np.isfinite(v)}


class TensorBoardTracker:
    """Scalars and images through tensorboardX's ``SummaryWriter`` under ``run/tensorboard``."""

    def __init__(self, out: Path, config: dict):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError("`train.track` = \"tensorboard\" needs tensorboardX: "
                              "pip install \"vaekit[track]\"") from None
        self.writer = SummaryWriter(logdir=str(out / "tensorboard"))
        self.writer.add_text("config", "\n".join(
            f"    [{section}] {key} = {value}" for section, table in config.items()
            for key, value in table.items()), 0)

    def log(self, row: dict) -> None:
        for name, value in _scalars(row).items():
            self.writer.add_scalar(name, value, row["step"])

    def images(self, files: dict[str, str], step: int) -> None:
        import matplotlib.image

        for name, path in files.items():
            image = matplotlib.image.imread(path)[..., :3]
            self.writer.add_image(f"plots/{name}", image, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


class MLflowTracker:
    """One MLflow run in the file store ``run/mlruns`` (experiment ``vaekit``): the config as
    params, metrics per step, plots as artifacts."""

    def __init__(self, out: Path, config: dict):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("`train.track` = \"mlflow\" needs mlflow: "
                              "pip install \"vaekit[track]\"") from None
        # A local file store is the self-contained choice for a run directory; MLflow 3 keeps
        # it in maintenance mode behind this switch.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
        experiment = self.client.get_experiment_by_name("vaekit")
        experiment_id = (experiment.experiment_id if experiment is not None
                         else self.client.create_experiment("vaekit"))
        runs = self.client.search_runs([experiment_id], max_results=1)
        self.run_id = runs[0].info.run_id if runs else self.client.create_run(
            experiment_id, run_name=out.name).info.run_id  # a resumed run continues its run
        if not runs:
            for section, table in config.items():
                for key, value in table.items():
                    self.client.log_param(self.run_id, f"{section}.{key}", str(value)[:500])

    def log(self, row: dict) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(name.replace("/", "."), value, 0, row["step"])
                   for name, value in _scalars(row).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def images(self, files: dict[str, str], step: int) -> None:
        for path in files.values():
            self.client.log_artifact(self.run_id, path, artifact_path="plots")

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def make_trackers(names: tuple[str, ...], out: Path, config: dict) -> list:
    """The trackers named in ``train.track`` for run directory ``out``."""
    kinds = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker}
    return [kinds[name](out, config) for name in names]
