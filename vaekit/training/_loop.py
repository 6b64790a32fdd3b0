"""A small host-side loop around the compiled step: batching, chunked scans, evaluation."""

from collections.abc import Callable, Iterator, Mapping

import jax
import numpy as np

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep

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


def device_resident(data: Mapping[str, AnyArray]) -> dict[str, jax.Array]:
    """``data`` with every array on the default device (``jax.Array`` values kept as given).

    Used by ``fit(..., device_data=True)``; call it once yourself to reuse the device copy
    across several ``fit`` calls.
    """
    return {k: v if isinstance(v, jax.Array) else jax.device_put(v) for k, v in data.items()}


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


def chunk_length(step: int, end: int, steps_per_call: int, *periods: int) -> int:
    """Steps in the chunk starting at ``step``.

    Up to the next multiple of ``steps_per_call`` or of any non-zero period (e.g. evaluation,
    checkpoints), and never past ``end``.

    Boundaries are absolute step numbers, so a run resumed at a boundary splits the rest of
    training into exactly the chunks an uninterrupted run uses (bit-for-bit resume).
    """
    k = min(end - step, steps_per_call - step % steps_per_call)
    for period in periods:
        if period:
            k = min(k, period - step % period)
    return k


def train_chunks(
    train: TrainStep,
    state: TrainState,
    data: Mapping[str, AnyArray],
    *,
    num_steps: int,
    batch_size: int,
    seed: int = 0,
    steps_per_call: int = 50,
    periods: tuple[int, ...] = (),
    device_data: bool = False,
    fused: bool = True,
) -> Iterator[tuple[TrainState, int, dict[str, np.ndarray]]]:
    """Trains chunk by chunk, yielding ``(state, step, metrics)`` after each chunk.

    ``metrics`` holds one value per step of the chunk (host numpy arrays, fetched with one
    ``jax.device_get`` per chunk). Chunk boundaries are absolute multiples of
    ``steps_per_call`` and of each non-zero period (:func:`chunk_length`); the batch of step
    ``t`` is batch ``t`` of :func:`batch_indices`. This is the loop under :func:`fit` and the
    ``vaekit train`` runner; stop iterating to stop.

    With ``device_data=True`` the arrays of ``data`` are put on the device once (``jax.Array``
    values, e.g. from :func:`vaekit.training._parallel.replicate`, are used as they are) and
    each chunk goes through ``train.multi_step_indexed``, which gathers its batches inside
    the compiled scan: per chunk only the ``(k, batch_size)`` indices cross from the host.
    The batches, and so the results, are the same as without it.

    ``fused=False`` runs each chunk as ``k`` calls of ``train.step`` from Python (same batches,
    same chunk boundaries and metrics) instead of one ``lax.scan``: the route around XLA's CPU
    backend, which runs a convolution inside any while loop (scan, fori_loop, partly unrolled
    or not) 20-50x slower than the same convolution at the top level of a program (measured
    2026-12-03, jax 0.10.2: a conv gradient step 1.9 s in a scan against 0.037 s alone; see
    benchmarks/RESULTS.md). The runner chooses it for convolutional models on a CPU.
    """
    steps_per_call = check_int(steps_per_call, "steps_per_call")
    n = len(next(iter(data.values())))
    if device_data:
        if train.multi_step_indexed is None:
            raise ValueError(
                "`device_data=True` needs `train.multi_step_indexed`; build `train` with "
                "vaekit.make_train_step."
            )
        data = device_resident(data)
    step = int(state.step)
    end = step + check_int(num_steps, "num_steps")
    while step < end:
        k = chunk_length(step, end, steps_per_call, *periods)
        idx = batch_indices(n, batch_size, k, seed, start_batch=step)
        if not fused:
            rows = []
            for t in range(k):
                state, row = train.step(state, {key: v[idx[t]] for key, v in data.items()})
                rows.append(row)
            rows = jax.device_get(rows)
            metrics = {name: np.stack([np.asarray(r[name]) for r in rows]) for name in rows[0]}
            step += k
            yield state, step, metrics
            continue
        if device_data:
            state, metrics = train.multi_step_indexed(state, data, idx.astype(np.int32))
        else:
            state, metrics = train.multi_step(state, {key: v[idx] for key, v in data.items()})
        step += k
        yield state, step, jax.device_get(metrics)


def fit(
    train: TrainStep,
    state: TrainState,
    data: Mapping[str, AnyArray],
    *,
    num_steps: int,
    batch_size: int,
    seed: int = 0,
    steps_per_call: int = 50,
    val_data: Mapping[str, np.ndarray] | None = None,
    eval_every: int = 0,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    device_data: bool = False,
    fused: bool = True,
) -> tuple[TrainState, dict]:
    """Trains ``state`` for ``num_steps`` optimiser steps on in-memory ``data``.

    Steps run in chunks through ``train.multi_step`` (one ``lax.scan`` per chunk) whose
    boundaries are absolute multiples of ``steps_per_call`` and ``eval_every``
    (:func:`chunk_length`); batches come from :func:`batch_indices` starting at ``state.step``.
    So a state saved at a boundary and trained on gives exactly what one longer call gives.

    Args:
      train: from :func:`make_train_step`.
      state: from ``train.init`` (or a previous ``fit``).
      data: mapping of equally long arrays, e.g. ``{"x": images}``.
      num_steps: optimiser steps to take.
      batch_size: examples per step.
      seed: data-order seed.
      steps_per_call: steps fused per compiled call.
      val_data: optional validation mapping, evaluated at every multiple of ``eval_every`` and
        at the end.
      eval_every: validation period in steps (0: only at the end).
      callback: called as ``callback(step, chunk_mean_metrics)`` after every chunk.
      device_data: keep ``data`` on the device and gather each chunk's batches inside the
        compiled scan (``train.multi_step_indexed``): no host-to-device copy of batches per
        chunk. Same batches and results as the default; the data set must fit in device
        memory (for data that does not, see :func:`vaekit.training.prefetch_to_device`).
      fused: ``False`` calls ``train.step`` once per step (see :func:`train_chunks`; for
        convolutional models on a CPU).

    Returns:
      ``(state, history)``: ``history["train"]`` maps metric names to per-step lists and
      ``history["train_steps"]`` holds their step numbers; ``history["val"]``/``"val_steps"``
      likewise for validation.
    """
    eval_every = check_int(eval_every, "eval_every", minimum=0)
    history: dict = {"train": {}, "train_steps": [], "val": {}, "val_steps": []}
    end_step = int(state.step) + check_int(num_steps, "num_steps")
    chunks = train_chunks(train, state, data, num_steps=num_steps, batch_size=batch_size,
                          seed=seed, steps_per_call=steps_per_call, periods=(eval_every,),
                          device_data=device_data, fused=fused)
    for state, step, metrics in chunks:
        k = len(next(iter(metrics.values())))
        for name, values in metrics.items():
            history["train"].setdefault(name, []).extend(float(v) for v in values)
        history["train_steps"].extend(range(step - k + 1, step + 1))
        if callback is not None:
            callback(step, {m: float(np.mean(v)) for m, v in metrics.items()})
        at_eval = bool(eval_every) and step % eval_every == 0
        if val_data is not None and (at_eval or step == end_step):
            for name, value in evaluate_dataset(train, state, val_data, batch_size).items():
                history["val"].setdefault(name, []).append(value)
            history["val_steps"].append(step)
    return state, history
