"""The generic train step, its state, the host loop, data feeding, precision and parallelism."""

from vaekit.training._data import Prefetcher, prefetch_to_device, stack_batches
from vaekit.training._loop import (
    batch_indices,
    chunk_length,
    device_resident,
    evaluate_dataset,
    fit,
    train_chunks,
)
from vaekit.training._parallel import DATA_AXIS, data_mesh, data_parallel, replicate, shard_batch
from vaekit.training._precision import cast_floating, mixed_precision
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep, default_forward, make_train_step

__all__ = [
    "DATA_AXIS",
    "Prefetcher",
    "TrainState",
    "TrainStep",
    "batch_indices",
    "cast_floating",
    "chunk_length",
    "data_mesh",
    "data_parallel",
    "default_forward",
    "device_resident",
    "evaluate_dataset",
    "fit",
    "make_train_step",
    "mixed_precision",
    "prefetch_to_device",
    "replicate",
    "shard_batch",
    "stack_batches",
    "train_chunks",
]
