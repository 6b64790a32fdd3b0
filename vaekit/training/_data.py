"""Streaming input: batches from any iterable, put on the device by a background thread.

For data that does not fit in memory (or on the device): read batches from disk, a memmap or
a generator, and overlap that host work and the host-to-device copy with training. For data
that fits, ``fit(..., device_data=True)`` keeps it on the device instead.
"""

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import numpy as np

from vaekit._checks import check_int

_END = object()


class _Raised:
    """Carries an exception from the producer thread to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


def _offer(q: queue.Queue, stop: threading.Event, item: Any) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(
    source: Iterator[Any], put: Callable[[Any], Any], q: queue.Queue, stop: threading.Event
) -> None:
    # Holds no reference to the Prefetcher, so an abandoned one is collected and stops it.
    try:
        for batch in source:
            if not _offer(q, stop, put(batch)):
                return
    except BaseException as error:  # handed to the consumer, raised there
        _offer(q, stop, _Raised(error))
        return
    _offer(q, stop, _END)


class Prefetcher(Iterator):
    """Iterator over ``put(batch)`` for each ``batch`` of a source iterable, ``size`` ahead.

    A daemon thread pulls batches from the source, applies ``put`` (by default
    ``jax.device_put``, an asynchronous host-to-device copy) and holds at most ``size``
    finished batches in a queue, so the source runs at most ``size + 1`` batches ahead of
    training. An exception raised by the source or by ``put`` is re-raised in the consumer at
    the position it happened. Stop early with :meth:`close` (or use it as a context manager);
    the thread then stops at its next batch. Made by :func:`prefetch_to_device`.
    """

    def __init__(self, source: Iterable[Any], size: int, put: Callable[[Any], Any]):
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce, args=(iter(source), put, self._queue, self._stop), daemon=True,
            name="vaekit-prefetch",
        )
        self._thread.start()

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._done = True
            raise item.error
        return item

    def close(self) -> None:
        """Stops the background thread and drops the batches it has prefetched."""
        self._done = True
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5.0)

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch_to_device(
    batches: Iterable[Any], size: int = 2, *, put: Callable[[Any], Any] | None = None
) -> Prefetcher:
    """Iterates over ``batches`` with the next ``size`` batches already on the device.

    ``batches`` is any iterable of batches (a plain generator reading from disk is enough);
    each is passed through ``put`` in a background thread: by default ``jax.device_put``
    (default device); for data parallelism pass
    ``put=lambda b: vaekit.training.shard_batch(b, mesh)``. Use the result with
    ``train.step``, or with ``train.multi_step`` over :func:`stack_batches` groups.

    Args:
      batches: an iterable of batches (mappings of arrays, or any pytree).
      size: how many prepared batches the queue holds (``>= 1``; 2 overlaps one copy with
        one step).
      put: ``batch -> device batch``.

    Returns:
      a :class:`Prefetcher` (an iterator; close it, or use ``with``, to stop early).

    Example:
      >>> import numpy as np
      >>> def read():
      ...     for i in range(3):
      ...         yield {"x": np.full((2, 4), i, np.float32)}
      >>> with prefetch_to_device(read()) as stream:
      ...     [float(b["x"][0, 0]) for b in stream]
      [0.0, 1.0, 2.0]
    """
    size = check_int(size, "size", minimum=1)
    return Prefetcher(batches, size, jax.device_put if put is None else put)


def stack_tree(group: list[Any]) -> Any:
    """The pytrees of ``group`` stacked leaf by leaf on a new leading axis (NumPy, host)."""
    return jax.tree.map(lambda *leaves: np.stack(leaves), *group)


def stack_batches(batches: Iterable[Any], k: int) -> Iterator[Any]:
    """Groups every ``k`` consecutive batches into one, stacked on a new leading axis.

    The groups feed ``train.multi_step`` (``k`` steps fused in one ``lax.scan``). A last group
    of fewer than ``k`` batches is yielded as it is (it compiles ``multi_step`` once more).
    Stacking happens on the host (NumPy); put the result through :func:`prefetch_to_device`.

    Example:
      >>> import numpy as np
      >>> groups = stack_batches(({"x": np.zeros((2, 3))} for _ in range(5)), k=2)
      >>> [g["x"].shape for g in groups]
      [(2, 2, 3), (2, 2, 3), (1, 2, 3)]
    """
    k = check_int(k, "k", minimum=1)
    group: list[Any] = []
    for batch in batches:
        group.append(batch)
        if len(group) == k:
            yield stack_tree(group)
            group = []
    if group:
        yield stack_tree(group)
