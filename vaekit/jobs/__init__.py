"""End-to-end jobs behind the ``vaekit`` command line."""

from vaekit.jobs.train import TrainConfig, run_train

__all__ = ["TrainConfig", "run_train"]
