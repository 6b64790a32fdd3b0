"""Experiment trackers fed by the runner.

TensorBoard event files, an MLflow run, and a Weights & Biases run in offline mode.

``train.track = ["tensorboard", "mlflow", "wandb"]`` (or ``vaekit train --track
tensorboard,mlflow,wandb``) logs every metric row of ``metrics.jsonl`` (``train/<name>`` chunk
means and ``val/<name>``) at its step, the config as hyperparameters, and at the end every plot
of the run as an image (TensorBoard, W&B) or artifact (MLflow). Files stay inside the run
directory: ``tensorboard/`` (``tensorboard --logdir RUN/tensorboard``), ``mlruns/`` (an MLflow
file store: ``mlflow ui --backend-store-uri RUN/mlruns``) and ``wandb/`` (offline runs, uploaded
later with ``wandb sync RUN/wandb/offline-run-*``). Each tracker is an optional extra
(``pip install "vaekit[track]"``); a missing one is a ``ConfigError`` naming the extra.

A resumed run continues its trackers' runs without duplicate points: TensorBoard purges the
events after the resumed step (``purge_step``), MLflow skips the steps it already holds, and
W&B resumes the same run id (``resume="allow"``) from the resumed step.
"""

import os
from pathlib import Path

import numpy as np

from vaekit.runner._config import TRACKERS, ConfigError, flat_config

__all__ = ["TRACKERS", "MLflowTracker", "TensorBoardTracker", "WandbTracker", "make_trackers"]


def _scalars(row: dict) -> dict[str, float]:
    split = row["split"]
    return {f"{split}/{k}": float(v) for k, v in row.items()
            if k not in ("split", "step") and isinstance(v, int | float) and np.isfinite(v)}


class TensorBoardTracker:
    """Scalars and images through tensorboardX's ``SummaryWriter`` under ``run/tensorboard``."""

    def __init__(self, out: Path, config: dict, start: int = 0):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError("`train.track` = \"tensorboard\" needs tensorboardX: "
                              "pip install \"vaekit[track]\"") from None
        # A resumed run: readers drop the earlier session's events after `start`.
        self.writer = SummaryWriter(logdir=str(out / "tensorboard"),
                                    purge_step=start + 1 if start else None)
        self.writer.add_text("config", "\n".join(
            f"    {key} = {value}" for key, value in flat_config(config).items()), 0)

    def log(self, row: dict) -> None:
        """Logs the scalars of a metrics row at its step."""
        for name, value in _scalars(row).items():
            self.writer.add_scalar(name, value, row["step"])

    def images(self, files: dict[str, str], step: int) -> None:
        """Logs plot files as images at ``step``."""
        import matplotlib.image

        for name, path in files.items():
            image = matplotlib.image.imread(path)[..., :3]
            self.writer.add_image(f"plots/{name}", image, step, dataformats="HWC")

    def close(self) -> None:
        """Closes the writer."""
        self.writer.close()


class MLflowTracker:
    """One MLflow run in the file store ``run/mlruns``.

    One MLflow run in the file store ``run/mlruns`` (experiment ``vaekit``): the config as params,
    metrics per step, plots as artifacts.
    """

    def __init__(self, out: Path, config: dict, start: int = 0):
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
            for key, value in flat_config(config).items():
                self.client.log_param(self.run_id, key, str(value)[:500])
        # Steps an interrupted session logged after its last checkpoint come again, equal, in
        # the resumed one: log each (split, step) once.
        self.logged = {split: {m.step for m in self.client.get_metric_history(
            self.run_id, f"{split}.loss")} if runs else set() for split in ("train", "val")}

    def log(self, row: dict) -> None:
        """Logs the scalars of a metrics row (once per split and step)."""
        from mlflow.entities import Metric

        if row["step"] in self.logged.setdefault(row["split"], set()):
            return
        self.logged[row["split"]].add(row["step"])
        metrics = [Metric(name.replace("/", "."), value, 0, row["step"])
                   for name, value in _scalars(row).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def images(self, files: dict[str, str], step: int) -> None:
        """Logs plot files as artifacts."""
        for path in files.values():
            self.client.log_artifact(self.run_id, path, artifact_path="plots")

    def close(self) -> None:
        """Ends the MLflow run."""
        self.client.set_terminated(self.run_id)


class WandbTracker:
    """A Weights & Biases run in offline mode under ``run/wandb``.

    A Weights & Biases run in offline mode under ``run/wandb`` (project ``vaekit``, run id from the
    run directory's name, so a resumed run continues it): the config, metrics per step, plots as
    ``wandb.Image``. Nothing is sent anywhere; ``wandb sync`` uploads it later.
    """

    def __init__(self, out: Path, config: dict, start: int = 0):
        try:
            import wandb
        except ImportError:
            raise ConfigError("`train.track` = \"wandb\" needs wandb: "
                              "pip install \"vaekit[track]\"") from None
        self.wandb = wandb
        (out / "wandb").mkdir(exist_ok=True)
        run_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in out.resolve().name)
        self.run = wandb.init(
            mode="offline", dir=str(out), project="vaekit", name=out.name, id=run_id,
            resume="allow", config=config, reinit="create_new",
            settings=wandb.Settings(console="off", x_disable_stats=True, silent=True),
        )

    def log(self, row: dict) -> None:
        """Logs the scalars of a metrics row at its step."""
        scalars = _scalars(row)
        if scalars:
            self.run.log(scalars, step=row["step"])

    def images(self, files: dict[str, str], step: int) -> None:
        """Logs plot files as images at ``step``."""
        self.run.log({f"plots/{name}": self.wandb.Image(path) for name, path in files.items()},
                     step=step)

    def close(self) -> None:
        """Finishes the W&B run."""
        self.run.finish()


def make_trackers(names: tuple[str, ...], out: Path, config: dict, start: int = 0) -> list:
    """The trackers named in ``train.track``.

    The trackers named in ``train.track`` for run directory ``out``, continuing from step ``start``
    (0: a new run).
    """
    kinds = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker, "wandb": WandbTracker}
    return [kinds[name](out, config, start) for name in names]
