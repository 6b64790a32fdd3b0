"""The one host loop around the compiled step: chunks, batch sources, evaluation, history.

:func:`run_chunks` is the loop under :func:`fit`, :func:`train_chunks`,
:func:`vaekit.data.stream.stream_chunks`, the ``vaekit train`` runner and the reproductions.
It splits training into chunks (:func:`chunk_plan`), asks a *batch source* for each chunk's
input (:func:`array_source`: in-memory arrays, on the host or on the device;
:func:`iterator_source`: any iterator of batches, e.g. a grain stream, optionally prefetched)
and runs the chunk fused (one ``lax.scan``) or one step per call. :class:`History` is the
typed record of the per-step and validation metrics :func:`fit` returns.
"""

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh

from vaekit._checks import check_int
from vaekit._types import AnyArray, Batch
from vaekit.training._data import prefetch_to_device, stack_tree
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep


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


def device_resident(
    data: Mapping[str, AnyArray], mesh: Mesh | None = None
) -> dict[str, jax.Array]:
    """``data`` with every array on the default device (``jax.Array`` values kept as given).

    With a ``mesh`` (a ``data_parallel`` step's ``train.options.mesh``) the arrays are
    replicated over it instead (:func:`vaekit.training.replicate`). Used by
    ``fit(..., device_data=True)``; call it once yourself to reuse the device copy across
    several ``fit`` calls.

    Example:
      >>> import numpy as np
      >>> sorted(device_resident({"x": np.zeros((4, 2))}))
      ['x']
    """
    if mesh is not None:
        from vaekit.training._parallel import replicate  # parallel imports the train step

        return replicate(dict(data), mesh)
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


def chunk_plan(
    start: int, end: int, steps_per_call: int, periods: tuple[int, ...] = ()
) -> Iterator[tuple[int, int]]:
    """``(first step, length)`` of every chunk from ``start`` to ``end`` (:func:`chunk_length`).

    Example:
      >>> list(chunk_plan(0, 12, 5, (4,)))
      [(0, 4), (4, 1), (5, 3), (8, 2), (10, 2)]
    """
    step = start
    while step < end:
        k = chunk_length(step, end, steps_per_call, *periods)
        yield step, k
        step += k


class Feed(NamedTuple):
    """One chunk's input, made by a batch source.

    Attributes:
      size: the chunk's number of steps ``k`` (a finite stream's last chunk may be short).
      batches: ``k`` batches stacked ``(k, batch, ...)`` (host or device arrays), or ``None``.
      data: a device-resident data set the chunk gathers from, or ``None``.
      indices: ``(k, batch)`` int32 host indices into ``data`` (with ``data``), or ``None``.
      source_state: the source's state after this chunk (a grain stream's ``get_state()``),
        to checkpoint with the train state; ``None`` for sources without one.
    """

    size: int
    batches: Batch | None = None
    data: Batch | None = None
    indices: np.ndarray | None = None
    source_state: Any = None


BatchSource = Callable[[Iterator[tuple[int, int]]], Iterator[Feed]]
"""``plan -> feeds``: one :class:`Feed` per ``(first step, length)`` of the plan, lazily."""


class Chunk(NamedTuple):
    """What :func:`run_chunks` yields after each chunk.

    Attributes:
      state: the train state after the chunk.
      step: the step count after the chunk.
      metrics: one host NumPy array of ``(k,)`` values per metric name.
      source_state: the batch source's state after the chunk (:attr:`Feed.source_state`).
    """

    state: TrainState
    step: int
    metrics: dict[str, np.ndarray]
    source_state: Any = None


def array_source(
    data: Mapping[str, AnyArray],
    *,
    batch_size: int,
    seed: int = 0,
    device_data: bool = False,
    mesh: Mesh | None = None,
) -> BatchSource:
    """Batches of in-memory ``data``: step ``t`` trains on batch ``t`` of :func:`batch_indices`.

    Host data give each chunk its batches stacked ``(k, batch, ...)`` (``train.multi_step``);
    with ``device_data=True`` the arrays go to the device once (:func:`device_resident`,
    over ``mesh`` if given) and each chunk is its ``(k, batch)`` indices
    (``train.multi_step_indexed``). Both give the same batches.

    Args:
      data: mapping of equally long arrays, e.g. ``{"x": images}``.
      batch_size: examples per step.
      seed: data-order seed.
      device_data: keep ``data`` on the device and send only indices.
      mesh: replicate the device data over this mesh (a ``data_parallel`` step's).

    Returns:
      a :data:`BatchSource` for :func:`run_chunks`.

    Example:
      >>> import numpy as np
      >>> source = array_source({"x": np.arange(8.0)}, batch_size=2, seed=0)
      >>> [feed.batches["x"].shape for feed in source(iter([(0, 3), (3, 1)]))]
      [(3, 2), (1, 2)]
    """
    n = len(next(iter(data.values())))
    batch_size = check_int(batch_size, "batch_size")

    def feeds(plan: Iterator[tuple[int, int]]) -> Iterator[Feed]:
        arrays = device_resident(data, mesh) if device_data else data
        for step, k in plan:
            idx = batch_indices(n, batch_size, k, seed, start_batch=step)
            if device_data:
                yield Feed(k, data=arrays, indices=idx.astype(np.int32))
            else:
                yield Feed(k, batches={key: v[idx] for key, v in arrays.items()})

    return feeds


def _groups(batches: Iterator[Any], plan: Iterator[tuple[int, int]]) -> Iterator[tuple[Any, Any]]:
    """``(k batches stacked (k, B, ...), source state after them)`` per chunk, in order."""
    get_state = getattr(batches, "get_state", None)
    for _, k in plan:
        group = list(itertools.islice(batches, k))
        if not group:
            return
        yield stack_tree(group), None if get_state is None else get_state()
        if len(group) < k:
            return


def iterator_source(
    batches: Iterable[Any], *, prefetch: int = 0, put: Callable[[Any], Any] | None = None
) -> BatchSource:
    """Chunks of consecutive batches of an iterator (e.g. a grain stream), stacked on the host.

    Each chunk's ``k`` batches are stacked ``(k, B, ...)``; if the iterator has
    ``get_state()`` (``vaekit.data.stream.stream_batches``), the state after the chunk's last
    batch is the chunk's ``source_state``. A finite iterator that ends gives a last, shorter
    chunk. With ``prefetch > 0`` a background thread reads, stacks and ``put``-s (default
    ``jax.device_put``; it receives the stacked group, e.g. ``lambda g: shard_batch(g, mesh,
    batch_axis=1)``) up to ``prefetch`` chunks ahead; the state is still taken right after
    each chunk's last batch, but the iterator itself runs ahead.

    Args:
      batches: an iterable of batches, positioned at the first step to train.
      prefetch: chunks prepared ahead in a background thread (0: none).
      put: ``stacked group -> device group``.

    Returns:
      a :data:`BatchSource` for :func:`run_chunks`.

    Example:
      >>> import numpy as np
      >>> source = iterator_source({"x": np.zeros(3)} for _ in range(5))
      >>> [feed.size for feed in source(iter([(0, 2), (2, 2), (4, 2)]))]
      [2, 2, 1]
    """
    prefetch = check_int(prefetch, "prefetch", minimum=0)

    def feeds(plan: Iterator[tuple[int, int]]) -> Iterator[Feed]:
        groups = _groups(iter(batches), plan)
        if prefetch:
            move = jax.device_put if put is None else put
            groups = prefetch_to_device(groups, prefetch,
                                        put=lambda item: (move(item[0]), item[1]))
        elif put is not None:
            groups = ((put(group), state) for group, state in groups)
        with contextlib.closing(groups) as closing:
            for group, state in closing:
                yield Feed(len(jax.tree.leaves(group)[0]), batches=group, source_state=state)

    return feeds


def _batch_at(feed: Feed, t: int) -> Batch:
    if feed.indices is not None:
        return {key: v[feed.indices[t]] for key, v in feed.data.items()}
    return {key: v[t] for key, v in feed.batches.items()}


def _run_feed(
    train: TrainStep, state: TrainState, feed: Feed, fused: bool
) -> tuple[TrainState, dict[str, np.ndarray]]:
    """One chunk: one scan (``fused``) or ``feed.size`` calls of ``train.step``."""
    if feed.indices is not None and train.multi_step_indexed is None:
        raise ValueError("`device_data=True` needs `train.multi_step_indexed`; build `train` "
                         "with vaekit.make_train_step.")
    if fused and feed.indices is not None:
        state, metrics = train.multi_step_indexed(state, feed.data, feed.indices)
        return state, jax.device_get(metrics)
    if fused:
        state, metrics = train.multi_step(state, feed.batches)
        return state, jax.device_get(metrics)
    rows = []
    for t in range(feed.size):
        state, row = train.step(state, _batch_at(feed, t))
        rows.append(row)
    rows = jax.device_get(rows)
    return state, {name: np.stack([np.asarray(r[name]) for r in rows]) for name in rows[0]}


def run_chunks(
    train: TrainStep,
    state: TrainState,
    source: BatchSource,
    *,
    num_steps: int,
    steps_per_call: int = 50,
    periods: tuple[int, ...] = (),
    fused: bool = True,
) -> Iterator[Chunk]:
    """The host loop: trains chunk by chunk, yielding a :class:`Chunk` after each.

    Chunks start at ``state.step`` and end at absolute multiples of ``steps_per_call`` and
    of each non-zero period (:func:`chunk_plan`), so a run resumed at a boundary runs
    exactly the chunks of an uninterrupted one (bit-for-bit resume). ``source`` gives each
    chunk's batches (:func:`array_source`, :func:`iterator_source`); metrics are fetched with
    one ``jax.device_get`` per chunk. Stop iterating (or close the generator) to stop.

    ``fused=False`` runs each chunk as ``k`` calls of ``train.step`` from Python (same
    batches, boundaries and metrics) instead of one ``lax.scan``: the route around XLA's CPU
    backend, which runs a convolution inside any while loop (scan, fori_loop, partly unrolled
    or not) 20-50x slower than the same convolution at the top level of a program (measured
    2026-12-03, jax 0.10.2: a conv gradient step 1.9 s in a scan against 0.037 s alone; see
    benchmarks/RESULTS.md). The runner chooses it for convolutional models on a CPU.

    Args:
      train: from :func:`vaekit.make_train_step` (or :func:`vaekit.data_parallel`).
      state: the state to train on.
      source: a :data:`BatchSource`.
      num_steps: steps to train (fewer if the source ends first).
      steps_per_call: the longest chunk.
      periods: further chunk boundaries (e.g. evaluation and checkpoint periods; 0: none).
      fused: one ``lax.scan`` per chunk (``True``) or one call per step.

    Returns:
      an iterator of :class:`Chunk` ``(state, step, metrics, source_state)``.

    Example:
      >>> import jax, optax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3))
      >>> source = array_source({"x": np.zeros((16, 4), np.float32)}, batch_size=4)
      >>> chunks = run_chunks(train, train.init(model, jax.random.key(0)), source,
      ...                     num_steps=6, steps_per_call=4)
      >>> [(chunk.step, chunk.metrics["loss"].shape) for chunk in chunks]
      [(4, (4,)), (6, (2,))]
    """
    steps_per_call = check_int(steps_per_call, "steps_per_call")
    periods = tuple(check_int(p, "periods", minimum=0) for p in periods)
    step = int(state.step)
    end = step + check_int(num_steps, "num_steps")
    with contextlib.closing(source(chunk_plan(step, end, steps_per_call, periods))) as feeds:
        for feed in feeds:
            state, metrics = _run_feed(train, state, feed, fused)
            step += feed.size
            yield Chunk(state, step, metrics, feed.source_state)


def _mesh(train: TrainStep) -> Mesh | None:
    return None if train.options is None else train.options.mesh


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
    """:func:`run_chunks` on :func:`array_source` ``(data)``, yielding ``(state, step, metrics)``.

    ``metrics`` holds one value per step of the chunk (host numpy arrays). The batch of step
    ``t`` is batch ``t`` of :func:`batch_indices`. With ``device_data=True`` the arrays of
    ``data`` are put on the device once (over ``train``'s mesh for a ``data_parallel`` step;
    ``jax.Array`` values, e.g. from :func:`vaekit.training.replicate`, are used as
    they are) and each chunk goes through ``train.multi_step_indexed``, which gathers its
    batches inside the compiled scan: per chunk only the ``(k, batch_size)`` indices cross
    from the host. The batches, and so the results, are the same as without it.
    ``fused=False``: one ``train.step`` call per step (see :func:`run_chunks`).

    Example:
      >>> import jax, optax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3))
      >>> chunks = train_chunks(train, train.init(model, jax.random.key(0)),
      ...                       {"x": np.zeros((16, 4), np.float32)}, num_steps=5,
      ...                       batch_size=4, steps_per_call=4)
      >>> [step for _, step, _ in chunks]
      [4, 5]
    """
    source = array_source(data, batch_size=batch_size, seed=seed, device_data=device_data,
                          mesh=_mesh(train))
    with contextlib.closing(run_chunks(train, state, source, num_steps=num_steps,
                                       steps_per_call=steps_per_call, periods=periods,
                                       fused=fused)) as chunks:
        for chunk in chunks:
            yield chunk.state, chunk.step, chunk.metrics


_EMPTY_STEPS = np.zeros(0, np.int64)


class History(Mapping[str, Any]):
    """The metrics of a training run, per step and per validation (what :func:`fit` returns).

    ``train`` maps each metric to its float64 values, one per step, at the steps
    ``train_steps``; ``val`` maps each validation metric to one value per validation, at
    ``val_steps``. :meth:`append_train` and :meth:`append_val` add a chunk; the arrays are
    joined when read (once per change). It is a read-only mapping of those four fields, as
    the dict ``fit`` returned before: ``history["train"]`` is ``history.train``, ``"val" in
    history``, ``history.get``, ``keys``/``items`` and ``dict(history)`` work, and
    :meth:`to_dict` gives plain lists for ``json.dump``. Two histories are equal only if they
    are the same object.

    Example:
      >>> import numpy as np
      >>> history = History()
      >>> history.append_train(2, {"loss": np.array([3.0, 2.0])})
      >>> history.append_train(3, {"loss": np.array([1.0])})
      >>> history.append_val(3, {"loss": 1.5})
      >>> history.train_steps.tolist(), history["train"]["loss"].tolist()
      ([1, 2, 3], [3.0, 2.0, 1.0])
      >>> history.last("loss"), history.mean("loss", last=2), history.last("loss", "val")
      (1.0, 1.5, 1.5)
      >>> sorted(history), "val" in history, history.to_dict()["val_steps"]
      (['train', 'train_steps', 'val', 'val_steps'], True, [3])
    """

    _FIELDS = ("train", "train_steps", "val", "val_steps")
    __eq__ = object.__eq__  # not Mapping's: comparing dicts of arrays has no single truth value
    __hash__ = object.__hash__

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, list[np.ndarray]]] = {"train": {}, "val": {}}
        self._steps: dict[str, list[np.ndarray]] = {"train": [], "val": []}
        self._joined: dict[str, Any] = {}

    def append_train(self, step: int, metrics: Mapping[str, AnyArray]) -> None:
        """Adds a chunk of ``k`` per-step values per metric, ending at step ``step``."""
        arrays = {name: np.asarray(v, np.float64).reshape(-1) for name, v in metrics.items()}
        k = len(next(iter(arrays.values()))) if arrays else 0
        self._add("train", np.arange(step - k + 1, step + 1, dtype=np.int64), arrays)

    def append_val(self, step: int, metrics: Mapping[str, float]) -> None:
        """Adds one validation, at step ``step``."""
        arrays = {name: np.asarray([v], np.float64) for name, v in metrics.items()}
        self._add("val", np.asarray([step], np.int64), arrays)

    def _add(self, split: str, steps: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        for name, values in arrays.items():
            if len(values) != len(steps):
                raise ValueError(f"`metrics` {name!r} has {len(values)} values for "
                                 f"{len(steps)} steps.")
            self._parts[split].setdefault(name, []).append(values)
        self._steps[split].append(steps)
        self._joined.clear()

    def _join(self, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if split not in self._joined:
            steps = self._steps[split]
            self._joined[split] = (
                {name: np.concatenate(parts) for name, parts in self._parts[split].items()},
                np.concatenate(steps) if steps else _EMPTY_STEPS.copy())
        return self._joined[split]

    @property
    def train(self) -> dict[str, np.ndarray]:
        """Per-step training metrics: ``{name: (num_steps,) float64}``."""
        return self._join("train")[0]

    @property
    def train_steps(self) -> np.ndarray:
        """The step number (1-based, after the update) of each ``train`` value."""
        return self._join("train")[1]

    @property
    def val(self) -> dict[str, np.ndarray]:
        """Validation metrics: ``{name: (num_validations,) float64}``."""
        return self._join("val")[0]

    @property
    def val_steps(self) -> np.ndarray:
        """The step of each validation."""
        return self._join("val")[1]

    def __getitem__(self, key: str) -> Any:
        """``history["train"]`` is ``history.train`` (also ``train_steps``, ``val``, ...)."""
        if key not in self._FIELDS:
            raise KeyError(f"{key!r}: a History has {', '.join(self._FIELDS)}.")
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._FIELDS)

    def __len__(self) -> int:
        return len(self._FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """The four fields as plain lists (``{name: [float]}`` for the metrics), for JSON."""
        return {"train": {k: v.tolist() for k, v in self.train.items()},
                "train_steps": self.train_steps.tolist(),
                "val": {k: v.tolist() for k, v in self.val.items()},
                "val_steps": self.val_steps.tolist()}

    def last(self, name: str, split: str = "train") -> float:
        """The last value of metric ``name`` of ``split`` (``"train"`` or ``"val"``)."""
        return float(self._values(name, split)[-1])

    def mean(self, name: str, split: str = "train", *, last: int | None = None) -> float:
        """The mean of metric ``name`` of ``split`` (over its ``last`` values if given)."""
        values = self._values(name, split)
        if last is not None:
            values = values[-check_int(last, "last"):]
        return float(np.mean(values))

    def _values(self, name: str, split: str) -> np.ndarray:
        if split not in ("train", "val"):
            raise ValueError(f"`split` must be 'train' or 'val', got {split!r}.")
        values = self._join(split)[0]
        if name not in values or not len(values[name]):
            raise KeyError(f"no {split} metric {name!r}; recorded: {sorted(values)}.")
        return values[name]

    def __repr__(self) -> str:
        return (f"History({len(self.train_steps)} steps of {sorted(self.train)}, "
                f"{len(self.val_steps)} validations)")


def _is_source(data: Any) -> bool:
    return callable(data) and not isinstance(data, Mapping)


def fit(
    train: TrainStep,
    state: TrainState,
    data: Mapping[str, AnyArray] | BatchSource,
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
) -> tuple[TrainState, History]:
    """Trains ``state`` for ``num_steps`` optimiser steps on ``data``.

    Steps run in chunks through ``train.multi_step`` (one ``lax.scan`` per chunk) whose
    boundaries are absolute multiples of ``steps_per_call`` and ``eval_every``
    (:func:`chunk_length`); batches come from :func:`batch_indices` starting at ``state.step``.
    So a state saved at a boundary and trained on gives exactly what one longer call gives.
    The loop is :func:`run_chunks`.

    Args:
      train: from :func:`make_train_step`.
      state: from ``train.init`` (or a previous ``fit``).
      data: mapping of equally long arrays, e.g. ``{"x": images}``; or a batch source
        (:func:`iterator_source` of a stream: ``batch_size``, ``seed`` and ``device_data``
        then apply only to ``val_data``/not at all, and a finite stream may end early).
      num_steps: optimiser steps to take.
      batch_size: examples per step (and per validation batch).
      seed: data-order seed.
      steps_per_call: steps fused per compiled call.
      val_data: optional validation mapping, evaluated at every multiple of ``eval_every`` and
        at the end (the last step taken, also when a finite stream ends early).
      eval_every: validation period in steps (0: only at the end).
      callback: called as ``callback(step, chunk_mean_metrics)`` after every chunk.
      device_data: keep ``data`` on the device and gather each chunk's batches inside the
        compiled scan (``train.multi_step_indexed``): no host-to-device copy of batches per
        chunk. Same batches and results as the default; the data set must fit in device
        memory (for data that does not, see :func:`vaekit.training.prefetch_to_device`).
      fused: ``False`` calls ``train.step`` once per step (see :func:`run_chunks`; for
        convolutional models on a CPU).

    Returns:
      ``(state, history)``: a :class:`History`; ``history.train`` (also
      ``history["train"]``) maps metric names to per-step float64 arrays at the steps
      ``history.train_steps``; ``history.val``/``val_steps`` likewise for validation.

    Example:
      >>> import jax, optax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3))
      >>> data = {"x": np.zeros((16, 4), np.float32)}
      >>> state, history = vaekit.fit(train, train.init(model, jax.random.key(0)), data,
      ...                             num_steps=6, batch_size=4, val_data=data)
      >>> history.train_steps.tolist(), history.val_steps.tolist()
      ([1, 2, 3, 4, 5, 6], [6])
    """
    eval_every = check_int(eval_every, "eval_every", minimum=0)
    history = History()
    end_step = int(state.step) + check_int(num_steps, "num_steps")
    source = data if _is_source(data) else array_source(
        data, batch_size=batch_size, seed=seed, device_data=device_data, mesh=_mesh(train))
    chunks = run_chunks(train, state, source, num_steps=num_steps,
                        steps_per_call=steps_per_call, periods=(eval_every,), fused=fused)
    validated = None
    with contextlib.closing(chunks):
        for state, step, metrics, _ in chunks:
            history.append_train(step, metrics)
            if callback is not None:
                callback(step, {m: float(np.mean(v)) for m, v in metrics.items()})
            at_eval = bool(eval_every) and step % eval_every == 0
            if val_data is not None and (at_eval or step == end_step):
                history.append_val(step, evaluate_dataset(train, state, val_data, batch_size))
                validated = step
    if val_data is not None and validated != (final := int(state.step)):  # a stream ended early
        history.append_val(final, evaluate_dataset(train, state, val_data, batch_size))
    return state, history
