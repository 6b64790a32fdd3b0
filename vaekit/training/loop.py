"""A small host-side loop around the compiled step: batching, chunked scans, evaluation."""

from collections.abc import Callable, Mapping

import jax
import numpy as np

from vaekit._checks import check_int
from vaekit.training.train_state import TrainState
from vaekit.training.train_step import TrainStep

History = dict[str, list[float]]


def batch_indices(
    num_examples: int, batch_size: int, num_batches: int, seed: int, start_batch: int = 0
) -> np.ndarray:
    """Indices of ``num_batches`` consecutive batches, starting at global batch ``start_batch``.

    Epoch ``e`` is the permutation ``default_rng([seed, e]).permutation(num_examples)``; the
    trailing partial batch of each epoch is dropped. Batch ``b`` is a pure function of
    ``(seed, b)``, so a run resumed at any batch sees exactly the same data.

    Returns:
      int array of shape ``(num_batches, batch_size)``.
    """
    num_examples = check_int(num_examples, "num_examples")
    batch_size = check_int(batch_size, "batch_size")
    if batch_size > num_examples:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be <= the number of examples ({num_examples})."
        )
    per_epoch = num_examples // batch_size
    out = np.empty((num_batches, batch_size), np.int64)
    cached_epoch, perm = -1, None
    for i in range(num_batches):
        epoch, within = divmod(start_batch + i, per_epoch)
        if epoch != cached_epoch:
            perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
            cached_epoch = epoch
        out[i] = perm[within * batch_size : (within + 1) * batch_size]
    return out


def _take(data: Mapping[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in data.items()}


def evaluate_dataset(
    train: TrainStep, state: TrainState, data: Mapping[str, np.ndarray], batch_size: int
) -> dict[str, float]:
    """Metrics of ``train.evaluate`` averaged over all of ``data``, weighted by batch size.

    Every example counts once: the final partial batch is evaluated as a smaller batch.
    """
    n = len(next(iter(data.values())))
    batch_size = check_int(batch_size, "batch_size")
    totals: dict[str, float] = {}
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        metrics = jax.device_get(train.evaluate(state, _take(data, idx)))
        for k, v in metrics.items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(idx)
    return {k: v / n for k, v in totals.items()}


def fit(
    train: TrainStep,
    state: TrainState,
    data: Mapping[str, np.ndarray],
    *,
    num_steps: int,
    batch_size: int,
    seed: int = 0,
    steps_per_call: int = 50,
    val_data: Mapping[str, np.ndarray] | None = None,
    eval_every: int = 0,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[TrainState, dict]:
    """Trains ``state`` for ``num_steps`` optimiser steps on in-memory ``data``.

    Steps run ``steps_per_call`` at a time through ``train.multi_step`` (one ``lax.scan``);
    batches come from :func:`batch_indices` starting at ``state.step``, so a resumed state
    continues the same data order.

    Args:
      train: from :func:`make_train_step`.
      state: from ``train.init`` (or a previous ``fit``).
      data: mapping of equally long arrays, e.g. ``{"x": images}``.
      num_steps: optimiser steps to take.
      batch_size: examples per step.
      seed: data-order seed.
      steps_per_call: steps fused per compiled call.
      val_data: optional validation mapping, evaluated every ``eval_every`` steps and at the end.
      eval_every: validation period in steps (0: only at the end).
      callback: called as ``callback(step, chunk_mean_metrics)`` after every chunk.

    Returns:
      ``(state, history)``: ``history["train"]`` maps metric names to per-step lists and
      ``history["train_steps"]`` holds their step numbers; ``history["val"]``/``"val_steps"``
      likewise for validation.
    """
    num_steps = check_int(num_steps, "num_steps")
    steps_per_call = check_int(steps_per_call, "steps_per_call")
    eval_every = check_int(eval_every, "eval_every", minimum=0)
    n = len(next(iter(data.values())))
    history: dict = {"train": {}, "train_steps": [], "val": {}, "val_steps": []}
    start = int(state.step)
    done = 0
    next_eval = eval_every if eval_every else None
    while done < num_steps:
        k = min(steps_per_call, num_steps - done)
        if next_eval is not None:
            k = min(k, next_eval - done)
        idx = batch_indices(n, batch_size, k, seed, start_batch=start + done)
        batches = {key: np.asarray(v[idx]) for key, v in data.items()}
        state, metrics = train.multi_step(state, batches)
        metrics = jax.device_get(metrics)
        for name, values in metrics.items():
            history["train"].setdefault(name, []).extend(float(v) for v in values)
        history["train_steps"].extend(range(start + done + 1, start + done + k + 1))
        done += k
        if callback is not None:
            callback(start + done, {m: float(np.mean(v)) for m, v in metrics.items()})
        at_eval = next_eval is not None and done == next_eval
        if val_data is not None and (at_eval or done == num_steps):
            for name, value in evaluate_dataset(train, state, val_data, batch_size).items():
                history["val"].setdefault(name, []).append(value)
            history["val_steps"].append(start + done)
        if at_eval:
            next_eval += eval_every
    return state, history
