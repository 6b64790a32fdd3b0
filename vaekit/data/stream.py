"""Out-of-core, multi-host input on grain: shuffled batches from memory-mapped arrays.

A data set written by :func:`vaekit.data.write_arrays` is read through its
memory maps (:class:`ArraySource`), shuffled and sharded across JAX processes by a grain
``MapDataset`` pipeline (the order of ``grain.samplers.IndexSampler``), a whole batch
gathered with one fancy index (:func:`stream_batches`). The order is a pure function of
``(seed, shard_index, shard_count, batch_size)``, and the iterator's state (``get_state()``:
JSON bytes) restores it exactly: a stream rebuilt with ``state=`` yields exactly the batches
the uninterrupted stream would have yielded next. :func:`stream_chunks` trains from such a
stream in the chunks of :func:`vaekit.training.train_chunks` and hands back the stream
state after each chunk, to be checkpointed with the train state (see
:func:`stream_state_to_json` for the orbax recipe).

Requires the optional dependency grain: ``pip install 'vaekit[stream]'``.

Example:
  >>> import tempfile, numpy as np
  >>> from vaekit.data import write_arrays
  >>> path = write_arrays(tempfile.mkdtemp() + "/set", {"x": np.arange(8, dtype=np.uint8)})
  >>> stream = stream_batches(path, batch_size=4, seed=0, num_epochs=1)
  >>> [b["x"].tolist() for b in stream]  # one epoch: a permutation of the 8 rows
  [[0, 4, 6, 7], [5, 3, 1, 2]]
"""

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vaekit._checks import check_int
from vaekit.data._array_store import open_arrays
from vaekit.training._loop import iterator_source, run_chunks
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep

try:
    import grain
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "vaekit.data.stream needs grain: pip install 'vaekit[stream]'"
    ) from err

StreamState = bytes
_MAX_SEED = 2**32


class ArraySource:
    """grain random-access source over equally long arrays: ``source[i] == {name: a[i]}``.

    Built from a :func:`~vaekit.data.write_arrays` directory (read-only memory
    maps: a row is read from disk when it is indexed) or from a mapping of in-memory arrays.
    Rows keep their dtype (uint8 images stay uint8). ``repr`` names only the structure
    (rows, names, row shapes, dtypes), which grain checks when it restores a stream state, so
    a data set moved to another path still resumes. Pickled (grain's worker processes), a
    directory source travels as its path and re-opens its memory maps.

    Example:
      >>> import numpy as np
      >>> source = ArraySource({"x": np.arange(6).reshape(3, 2)})
      >>> len(source), source[1]["x"].tolist()
      (3, [2, 3])
    """

    def __init__(self, data: str | os.PathLike | Mapping[str, np.ndarray]):
        if isinstance(data, str | os.PathLike):
            self._directory: Path | None = Path(data).resolve()
            arrays: Mapping[str, np.ndarray] = open_arrays(self._directory)
        elif isinstance(data, Mapping) and data:
            self._directory = None
            arrays = data
        else:
            raise ValueError(
                f"`data` must be a data set directory or a non-empty mapping of arrays, got "
                f"{type(data).__name__}."
            )
        self._arrays = {name: _as_rows(name, a) for name, a in arrays.items()}
        lengths = {name: len(a) for name, a in self._arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"`data` arrays must be equally long, got lengths {lengths}.")
        self._length = next(iter(lengths.values()))

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The underlying ``{name: (N, ...) array}`` (memory maps for a directory)."""
        return dict(self._arrays)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | np.integer) -> dict[str, np.ndarray]:
        return {name: np.asarray(a[index]) for name, a in self._arrays.items()}

    def gather(self, indices: Any) -> dict[str, np.ndarray]:
        """``{name: a[indices]}``: the rows ``indices`` (in that order) as one batch."""
        indices = np.asarray(indices, np.int64)
        return {name: np.asarray(a[indices]) for name, a in self._arrays.items()}

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}: {a.shape[1:]} {a.dtype}" for name, a in self._arrays.items())
        return f"ArraySource(num_examples={self._length}, arrays={{{fields}}})"

    def __reduce__(self):
        if self._directory is not None:
            return ArraySource, (str(self._directory),)
        return ArraySource, (self._arrays,)


def _as_rows(name: str, array: Any) -> np.ndarray:
    array = array if isinstance(array, np.ndarray) else np.asarray(array)
    if array.ndim < 1:
        raise ValueError(f"`data[{name!r}]` must have a leading example axis, got a scalar.")
    return array


def _shard_options(shard_index: int | None, shard_count: int | None):
    """``ShardByJaxProcess`` when neither is given, else the explicit shard; never uneven."""
    if shard_index is None and shard_count is None:
        return grain.sharding.ShardByJaxProcess(drop_remainder=True)
    if shard_index is None or shard_count is None:
        raise ValueError("pass both `shard_index` and `shard_count`, or neither (then "
                         "jax.process_index() / jax.process_count()).")
    shard_count = check_int(shard_count, "shard_count")
    shard_index = check_int(shard_index, "shard_index", minimum=0)
    if shard_index >= shard_count:
        raise ValueError(f"`shard_index` ({shard_index}) must be < `shard_count` "
                         f"({shard_count}).")
    return grain.sharding.ShardOptions(shard_index, shard_count, drop_remainder=True)


def make_loader(
    data: str | os.PathLike | Mapping[str, np.ndarray] | ArraySource,
    *,
    batch_size: int,
    seed: int,
    num_epochs: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    drop_remainder: bool = True,
    worker_count: int = 0,
    num_threads: int = 0,
    prefetch_buffer_size: int = 0,
) -> "grain.DataLoader":
    """A ``grain.DataLoader`` yielding the batches of :func:`stream_batches`, row by row.

    Same arguments and the same batches in the same order, but the standard grain pipeline:
    ``grain.samplers.IndexSampler(shuffle=True, seed=seed)``, the source read one row at a
    time and stacked by ``grain.transforms.Batch`` (several times slower than
    :func:`stream_batches`' gather); its iterators' ``get_state()`` is grain's own JSON
    bytes. Use it where a ``DataLoader`` is expected (e.g. grain's orbax handler
    ``grain.checkpoint.CheckpointSave``, when no prefetch runs ahead of training).
    """
    source = data if isinstance(data, ArraySource) else ArraySource(data)
    batch_size, seed, num_epochs = _check_order(batch_size, seed, num_epochs)
    shard = _shard_options(shard_index, shard_count)
    _check_per_shard(source, batch_size, shard)
    sampler = grain.samplers.IndexSampler(len(source), shard_options=shard, shuffle=True,
                                 num_epochs=num_epochs, seed=seed)
    return grain.DataLoader(
        data_source=source, sampler=sampler, shard_options=shard,
        operations=[grain.transforms.Batch(batch_size, drop_remainder=bool(drop_remainder))],
        worker_count=check_int(worker_count, "worker_count", minimum=0),
        read_options=grain.ReadOptions(
            num_threads=check_int(num_threads, "num_threads", minimum=0),
            prefetch_buffer_size=check_int(prefetch_buffer_size, "prefetch_buffer_size",
                                           minimum=0)),
    )


_STATE_FORMAT = "vaekit.stream"
_STATE_VERSION = 1


class BatchStream(Iterator):
    """An iterator of batches with a JSON state: what :func:`stream_batches` returns.

    ``get_state()`` is JSON bytes: the grain iterator's position and the stream's
    configuration (seed, batch size, shard, worker count, data structure), which
    ``set_state`` checks, so a state never silently resumes a different stream.
    """

    def __init__(self, iterator: Iterator[Any], config: dict[str, Any]):
        self._iterator = iterator
        self.config = config

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._iterator)

    def close(self) -> None:
        """Stops grain's read threads and worker processes (if any)."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "BatchStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_state(self) -> StreamState:
        """The position after the batches yielded so far (JSON bytes)."""
        state = {"format": _STATE_FORMAT, "version": _STATE_VERSION, "config": self.config,
                 "iterator": self._iterator.get_state()}
        return _dumps(state)

    def set_state(self, state: StreamState) -> None:
        """Moves to the position of a ``get_state()`` of a stream with the same configuration.

        Raises:
          ValueError: naming ``state`` when it is not a stream state or belongs to a stream
            with another configuration (the differing fields are listed).
        """
        try:
            parsed = json.loads(_as_state_bytes(state).decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"`state` is not a stream state (not JSON: {err}).") from None
        if not (isinstance(parsed, dict) and parsed.get("format") == _STATE_FORMAT
                and parsed.get("version") == _STATE_VERSION and "iterator" in parsed):
            raise ValueError("`state` is not a vaekit stream state (from get_state()).")
        theirs = parsed.get("config", {})
        differ = sorted(k for k in self.config.keys() | theirs.keys()
                        if self.config.get(k) != theirs.get(k))
        if differ:
            detail = ", ".join(f"{k}: {theirs.get(k)!r} in the state, {self.config.get(k)!r} "
                               "here" for k in differ)
            raise ValueError(f"`state` belongs to a different stream ({detail}).")
        self._iterator.set_state(parsed["iterator"])


def stream_batches(
    data: str | os.PathLike | Mapping[str, np.ndarray] | ArraySource,
    *,
    batch_size: int,
    seed: int,
    num_epochs: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    drop_remainder: bool = True,
    worker_count: int = 0,
    num_threads: int = 0,
    prefetch_buffer_size: int = 0,
    state: StreamState | None = None,
) -> BatchStream:
    """An iterator of shuffled batches ``{name: (batch_size, ...) array}`` (dtypes kept).

    Deterministic: the batches are a pure function of ``(data, batch_size, seed, shard_index,
    shard_count)`` (and ``num_epochs``, which only ends the stream). Shard ``i`` of ``c``
    reads the contiguous rows ``[i * m, (i + 1) * m)``, ``m = N // c`` (the ``N % c`` last
    rows are never read, so every process yields equally many batches); epoch ``e`` of a
    shard is a seeded permutation of its ``m`` rows (different for every epoch), and the
    shards together cover each epoch of the ``c * m`` rows once. Batches run on across
    epoch boundaries: with ``m`` divisible by ``batch_size`` each batch lies in one epoch.
    The order is that of ``grain.DataLoader`` with ``grain.samplers.IndexSampler(shuffle=
    True, seed=seed)`` (:func:`make_loader`), but each batch is gathered from the memory
    maps with one fancy index instead of row by row (about 7x the examples per second).

    ``get_state()`` returns JSON bytes: pass them as ``state=`` to a stream built with the
    same arguments (a different ``seed``, ``batch_size``, shard, ``worker_count`` or data
    structure is an error) and it yields exactly the batches the uninterrupted stream would
    have yielded next.

    Args:
      data: a :func:`~vaekit.data.write_arrays` directory, a mapping of
        equally long arrays, or an :class:`ArraySource`.
      batch_size: examples per batch (per process).
      seed: shuffle seed, ``0 <= seed < 2**32``.
      num_epochs: epochs to stream; ``None`` streams forever.
      shard_index: this process's shard; by default ``jax.process_index()`` (grain's
        ``ShardByJaxProcess``).
      shard_count: the number of shards; by default ``jax.process_count()``.
      drop_remainder: drop the last, shorter batch of a finite stream.
      worker_count: grain worker processes gathering batches (0: in this process). The
        same batches in the same order for any value, but a state resumes only a stream
        with the same ``worker_count``. Workers start in about 10 s (they import vaekit);
        outside an ``absl.app`` this marks absl's flags as parsed (grain needs them).
      num_threads: grain's read threads (0: read on demand; best for memory maps of local
        files, where threads mostly contend for the GIL).
      prefetch_buffer_size: grain's read-ahead buffer in batches (0: read on demand).
      state: a ``get_state()`` of an earlier stream to resume from.

    Returns:
      a :class:`BatchStream` (``next``, ``get_state()``, ``set_state(state)``, ``close()``).

    Example:
      >>> import numpy as np
      >>> data = {"x": np.zeros((10, 4, 4, 1), np.uint8), "y": np.arange(10)}
      >>> stream = stream_batches(data, batch_size=4, seed=0, shard_index=1, shard_count=2)
      >>> batch = next(stream)  # from rows 5..9, the second of two shards
      >>> batch["x"].shape, batch["x"].dtype, bool(np.all(batch["y"] >= 5))
      ((4, 4, 4, 1), dtype('uint8'), True)
      >>> resumed = stream_batches(data, batch_size=4, seed=0, shard_index=1, shard_count=2,
      ...                          state=stream.get_state())
      >>> np.array_equal(next(resumed)["y"], next(stream)["y"])
      True
    """
    source = data if isinstance(data, ArraySource) else ArraySource(data)
    batch_size, seed, num_epochs = _check_order(batch_size, seed, num_epochs)
    shard = _shard_options(shard_index, shard_count)
    per_shard = _check_per_shard(source, batch_size, shard)
    start = shard.shard_index * per_shard
    ds = (grain.MapDataset.range(start, start + per_shard).shuffle(seed=seed)
          .repeat(num_epochs)
          .batch(batch_size, drop_remainder=bool(drop_remainder), batch_fn=source.gather))
    read = grain.ReadOptions(
        num_threads=check_int(num_threads, "num_threads", minimum=0),
        prefetch_buffer_size=check_int(prefetch_buffer_size, "prefetch_buffer_size",
                                       minimum=0))
    iter_ds = ds.to_iter_dataset(read)
    worker_count = check_int(worker_count, "worker_count", minimum=0)
    if worker_count:
        _mark_absl_flags_parsed()
        iter_ds = iter_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    config = {"seed": seed, "batch_size": batch_size, "shard_index": shard.shard_index,
              "shard_count": shard.shard_count, "worker_count": worker_count,
              "source": repr(source)}
    stream = BatchStream(iter(iter_ds), config)
    if state is not None:
        stream.set_state(state)
    return stream


def _mark_absl_flags_parsed() -> None:
    """Mark absl flags parsed so that Grain's worker processes can read them.

    Grain 0.2's worker processes read absl flags, which fail unless flags were parsed (as
    ``absl.app.run`` does); outside an absl app, mark them parsed with their defaults.
    """
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _check_order(
    batch_size: object, seed: object, num_epochs: object
) -> tuple[int, int, int | None]:
    batch_size = check_int(batch_size, "batch_size")
    seed = check_int(seed, "seed", minimum=0)
    if seed >= _MAX_SEED:
        raise ValueError(f"`seed` must be < 2**32, got {seed}.")
    if num_epochs is not None:
        num_epochs = check_int(num_epochs, "num_epochs")
    return batch_size, seed, num_epochs


def _check_per_shard(source: ArraySource, batch_size: int, shard) -> int:
    per_shard = len(source) // shard.shard_count
    if batch_size > per_shard:
        raise ValueError(f"`batch_size` ({batch_size}) must be <= the examples per shard "
                         f"({per_shard} = {len(source)} // {shard.shard_count} shards).")
    return per_shard


def _dumps(state: dict) -> StreamState:
    return json.dumps(state, indent=1, sort_keys=True).encode()


def _as_state_bytes(state: object) -> bytes:
    if isinstance(state, bytes):
        return state
    if isinstance(state, str):
        return state.encode()
    raise ValueError(f"`state` must be the bytes of get_state(), got {type(state).__name__}.")


def stream_state_to_json(state: StreamState) -> dict:
    """A stream state (``get_state()`` bytes) as a JSON object, for ``ocp.args.JsonSave``.

    To checkpoint it atomically with the train state, save both items in one orbax step
    with a manager that names its items (which also restores checkpoints saved before as a
    single item, under ``"default"``)::

      manager = ocp.CheckpointManager(path, item_names=("default", "stream"), options=...)
      manager.save(step, args=ocp.args.Composite(
          default=ocp.args.StandardSave(tree),
          stream=ocp.args.JsonSave(stream_state_to_json(stream_state))))
      restored = manager.restore(step, args=ocp.args.Composite(
          default=ocp.args.StandardRestore(abstract_tree), stream=ocp.args.JsonRestore()))
      stream = stream_batches(..., state=stream_state_from_json(restored["stream"]))
    """
    return json.loads(_as_state_bytes(state).decode())


def stream_state_from_json(obj: Mapping[str, Any]) -> StreamState:
    """The inverse of :func:`stream_state_to_json`: bytes for ``stream_batches(state=...)``."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"`obj` must be a JSON object (dict), got {type(obj).__name__}.")
    return _dumps(dict(obj))


def stream_chunks(
    train: TrainStep,
    state: TrainState,
    stream: Iterator[Any],
    *,
    num_steps: int,
    steps_per_call: int = 50,
    periods: tuple[int, ...] = (),
    prefetch: int = 0,
    put: Callable[[Any], Any] | None = None,
) -> Iterator[tuple[TrainState, int, dict[str, np.ndarray], StreamState]]:
    """Trains on ``stream`` chunk by chunk, yielding ``(state, step, metrics, stream_state)``.

    :func:`vaekit.training.run_chunks` on
    :func:`vaekit.training.iterator_source` ``(stream)``; it yields a
    :class:`~vaekit.training.Chunk`, a named 4-tuple. The chunks are those of
    :func:`vaekit.training.train_chunks`: from ``state.step``,
    up to absolute multiples of ``steps_per_call`` and of each non-zero period
    (:func:`~vaekit.training.chunk_length`), ``k`` batches stacked ``(k, B, ...)``
    through one ``train.multi_step``. ``metrics`` holds ``(k,)`` host arrays per name.
    ``stream_state`` is the stream's ``get_state()`` after exactly the ``k * chunks``
    batches trained on so far: checkpoint it with the train state, and a stream rebuilt
    from it (``stream_batches(..., state=stream_state)``) continues the run bit for bit.
    ``stream`` must be positioned at batch ``state.step`` (fresh for a fresh state).

    With ``prefetch > 0`` a background thread reads, stacks and ``put``-s (default
    ``jax.device_put``; it receives the stacked ``(k, B, ...)`` group, e.g.
    ``lambda g: shard_batch(g, mesh, batch_axis=1)`` for data parallelism) up to
    ``prefetch`` chunks ahead of training; the stream state of each chunk is taken in that
    thread right after the chunk's last batch, so it is still exact, but the ``stream``
    object itself runs ahead: rebuild it from a yielded state rather than reusing it.
    A finite stream that ends trains its last, shorter chunk and stops.

    Example:
      >>> import jax, optax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-3))
      >>> state = train.init(model, jax.random.key(0))
      >>> data = {"x": np.random.default_rng(0).random((32, 4), np.float32)}
      >>> stream = stream_batches(data, batch_size=8, seed=0)
      >>> for state, step, metrics, stream_state in stream_chunks(
      ...         train, state, stream, num_steps=6, steps_per_call=4):
      ...     print(step, metrics["loss"].shape)
      4 (4,)
      6 (2,)
    """
    chunks = run_chunks(train, state, iterator_source(stream, prefetch=prefetch, put=put),
                        num_steps=num_steps, steps_per_call=steps_per_call, periods=periods)
    with contextlib.closing(chunks):
        yield from chunks
