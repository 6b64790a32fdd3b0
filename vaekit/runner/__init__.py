"""The training runner behind ``vaekit train``: configs, checkpoints, exact resume."""

from vaekit.runner._checkpoint import CheckpointError, Checkpoints
from vaekit.runner._config import (
    MODEL_KINDS,
    ConfigError,
    DataConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
)
from vaekit.runner._kinds import KINDS, Kind, register_kind, unregister_kind
from vaekit.runner._lock import RunDirInUse
from vaekit.runner._run import (
    NonFiniteError,
    RunInterrupted,
    StorageError,
    build_run,
    load_run,
    resume_run,
    start_run,
)

__all__ = [
    "KINDS",
    "MODEL_KINDS",
    "CheckpointError",
    "Checkpoints",
    "ConfigError",
    "DataConfig",
    "Kind",
    "ModelConfig",
    "NonFiniteError",
    "ObjectiveConfig",
    "RunConfig",
    "RunDirInUse",
    "RunInterrupted",
    "StorageError",
    "TrainConfig",
    "build_run",
    "load_run",
    "register_kind",
    "resume_run",
    "start_run",
    "unregister_kind",
]
