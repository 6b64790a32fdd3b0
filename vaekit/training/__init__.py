"""The generic train step, its state, and a small host-side loop."""

from vaekit.training.loop import batch_indices, evaluate_dataset, fit
from vaekit.training.train_state import TrainState
from vaekit.training.train_step import TrainStep, default_forward, make_train_step

__all__ = [
    "TrainState",
    "TrainStep",
    "batch_indices",
    "default_forward",
    "evaluate_dataset",
    "fit",
    "make_train_step",
]
