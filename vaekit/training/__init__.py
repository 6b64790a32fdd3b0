"""The generic train step, its state, the host loop, data feeding, precision and parallelism."""

from vaekit.training._data import Prefetcher, prefetch_to_device, stack_batches
from vaekit.training._loop import (
    BatchSource,
    Chunk,
    Feed,
    History,
    array_source,
    batch_indices,
    chunk_length,
    chunk_plan,
    device_resident,
    evaluate_dataset,
    fit,
    iterator_source,
    run_chunks,
    train_chunks,
)
from vaekit.training._parallel import DATA_AXIS, data_mesh, data_parallel, replicate, shard_batch
from vaekit.training._precision import cast_floating, mixed_precision
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import (
    CompileOptions,
    StepFunctions,
    TrainStep,
    check_indices,
    compile_step,
    default_forward,
    make_train_step,
    step_functions,
)

__all__ = [
    "DATA_AXIS",
    "BatchSource",
    "Chunk",
    "CompileOptions",
    "Feed",
    "History",
    "Prefetcher",
    "StepFunctions",
    "TrainState",
    "TrainStep",
    "array_source",
    "batch_indices",
    "cast_floating",
    "check_indices",
    "chunk_length",
    "chunk_plan",
    "compile_step",
    "data_mesh",
    "data_parallel",
    "default_forward",
    "device_resident",
    "evaluate_dataset",
    "fit",
    "iterator_source",
    "make_train_step",
    "mixed_precision",
    "prefetch_to_device",
    "replicate",
    "run_chunks",
    "shard_batch",
    "stack_batches",
    "step_functions",
    "train_chunks",
]
