"""The generic train step, its state, and a small host-side loop."""

from vaekit.training.loop import (
    batch_indices,
    chunk_length,
    evaluate_dataset,
    fit,
    train_chunks,
)
from vaekit.training.train_state import TrainState
from vaekit.training.train_step import TrainStep, default_forward, make_train_step

__all__ = [
    "TrainState",
    "TrainStep",
    "batch_indices",
    "chunk_length",
    "default_forward",
    "evaluate_dataset",
    "fit",
    "make_train_step",
    "train_chunks",
]
