"""Data parallelism with ``jax.sharding``: the same compiled step, batch split over devices.

The step is :func:`vaekit.make_train_step`'s pure functions compiled by
:func:`vaekit.compile_step` with a mesh (:func:`jit_shardings`, :func:`on_mesh`): the state
is *replicated* (every device holds the whole model and optimiser state) and the batch is
*sharded* along its batch axis over a one-axis device mesh; ``jax.jit`` then partitions the
same step program over the devices (computation follows the data): each device runs the
forward and backward pass on its slice of the batch, and the batch mean in the loss becomes
an all-reduce of the gradients. The step's numbers are those of one device running the whole
batch, up to float summation order.

Under ``jax.distributed.initialize`` (several processes, e.g. one per host) the same code
runs on the global mesh: every process passes its own slice of the global batch to
:func:`shard_batch` and identical values to :func:`replicate` (see ``docs/scaling.md``).
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vaekit._types import Batch, Metrics
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep, _checked, compile_step

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None, axis_name: str = DATA_AXIS) -> Mesh:
    """A one-axis mesh named ``axis_name`` over ``devices`` (default: all global devices).

    Under ``jax.distributed`` the default covers every device of every process.

    Example:
      >>> mesh = data_mesh()
      >>> mesh.axis_names
      ('data',)
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("`devices` must name at least one device.")
    return Mesh(np.asarray(devices), (axis_name,))


def _axis_name(mesh: Mesh, axis_name: str | None) -> str:
    if axis_name is None:
        if len(mesh.axis_names) != 1:
            raise ValueError(
                f"`axis_name` is required for a mesh with axes {mesh.axis_names}: name the "
                "axis the batch is split over."
            )
        return mesh.axis_names[0]
    if axis_name not in mesh.axis_names:
        raise ValueError(f"`axis_name` {axis_name!r} is not an axis of the mesh {mesh.axis_names}.")
    return axis_name


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _put_replicated(x: Any, sharding: NamedSharding) -> Any:
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
        return x
    if _is_key(x):
        impl = jax.random.key_impl(x)
        return jax.random.wrap_key_data(_put_replicated(jax.random.key_data(x), sharding),
                                        impl=impl)
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Every array leaf of ``tree`` (a ``TrainState``, a data set, …) copied to all of ``mesh``.

    Leaves already replicated on ``mesh`` are kept. Under ``jax.distributed`` every process
    must pass the same values (e.g. the state initialised from the same seed).

    Example:
      >>> import jax.numpy as jnp
      >>> mesh = data_mesh()
      >>> replicate({"w": jnp.ones(3)}, mesh)["w"].sharding.is_fully_replicated
      True
    """
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda x: _put_replicated(x, sharding), tree)


def shard_batch(
    batch: Any,
    mesh: Mesh,
    *,
    axis_name: str | None = None,
    batch_axis: int = 0,
    process_local: bool = True,
) -> Any:
    """Every array leaf of ``batch`` split along ``batch_axis`` over the mesh axis ``axis_name``.

    Single process: ``batch`` is the whole batch; its size along ``batch_axis`` must be a
    multiple of the number of devices on that axis. Under ``jax.distributed`` with
    ``process_local=True`` (the default) each process passes *its own* slice of the global
    batch (all slices equally long) and the result is the global array, ``process_count``
    times longer along ``batch_axis``; with ``process_local=False`` every process passes the
    same global batch. Leaves that already are ``jax.Array`` values with this sharding are
    kept. Use ``batch_axis=1`` for the ``(k, batch, ...)`` stacks of ``multi_step``.

    Example:
      >>> import numpy as np
      >>> mesh = data_mesh()
      >>> shard_batch({"x": np.zeros((8, 3))}, mesh)["x"].shape
      (8, 3)
    """
    axis = _axis_name(mesh, axis_name)
    devices = mesh.shape[axis]
    spec = PartitionSpec(*([None] * batch_axis), axis)
    sharding = NamedSharding(mesh, spec)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
            return x
        shape = np.shape(x)
        if len(shape) <= batch_axis:
            raise ValueError(
                f"`batch` arrays must have a batch axis {batch_axis}, got shape {shape}."
            )
        global_size = shape[batch_axis] * (jax.process_count() if process_local else 1)
        if global_size % devices:
            raise ValueError(
                f"`batch` size along axis {batch_axis} ({global_size} in all processes) must "
                f"be a multiple of the {devices} devices of mesh axis {axis!r}."
            )
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        host = np.asarray(x)
        if process_local:
            return jax.make_array_from_process_local_data(sharding, host)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, batch)


def _divisible(batch: Any, mesh: Mesh, axis: str) -> bool:
    return all(np.shape(x)[0] % mesh.shape[axis] == 0 for x in jax.tree.leaves(batch))


def _placed(fn: Callable, *places: Callable[[Any], Any]) -> Callable:
    """``fn`` with argument ``i + 1`` put through ``places[i]`` first (several processes)."""

    def call(state: TrainState, *args: Any) -> Any:
        return fn(state, *(place(a) for place, a in zip(places, args, strict=True)))

    return call


def jit_shardings(mesh: Mesh, axis_name: str | None = None) -> dict[str, dict[str, Any]]:
    """The ``jax.jit`` sharding arguments :func:`vaekit.compile_step` uses with a ``mesh``.

    The state is replicated (``P()``) in and out; a batch is split on axis 0, the
    ``(k, batch, ...)`` stacks of ``multi_step`` and the ``(k, batch)`` indices of
    ``multi_step_indexed`` on axis 1, over ``axis_name``; the indexed data set is replicated;
    metrics come back replicated. ``evaluate_replicated`` is for a batch that does not divide
    over the devices.

    Returns:
      ``{"out", "step", "multi_step", "multi_step_indexed", "evaluate",
      "evaluate_replicated"}``: keyword arguments for ``jax.jit``.

    Example:
      >>> sorted(jit_shardings(data_mesh())["step"])
      ['in_shardings']
    """
    axis = _axis_name(mesh, axis_name)
    rep = NamedSharding(mesh, PartitionSpec())
    rows = NamedSharding(mesh, PartitionSpec(axis))
    stacked = NamedSharding(mesh, PartitionSpec(None, axis))
    return {"out": {"out_shardings": rep},
            "step": {"in_shardings": (rep, rows)},
            "multi_step": {"in_shardings": (rep, stacked)},
            "multi_step_indexed": {"in_shardings": (rep, rep, stacked)},
            "evaluate": {"in_shardings": (rep, rows)},
            "evaluate_replicated": {"in_shardings": (rep, rep)}}


def _conform(tree: Any, sharding: NamedSharding) -> Any:
    """``tree`` with each ``jax.Array`` not laid out as ``sharding`` moved to it.

    Host arrays are left to ``jax.jit``, which places them by its ``in_shardings``.
    """

    def conform(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.sharding.is_equivalent_to(sharding, x.ndim):
            return jax.device_put(x, sharding)
        return x

    return jax.tree.map(conform, tree)


def on_mesh(
    train: TrainStep, indexed: tuple[Callable, Callable], evaluate_replicated: Callable,
    mesh: Mesh,
) -> TrainStep:
    """``train`` (jitted with :func:`jit_shardings`) with the host-side parts of a mesh.

    ``indexed`` holds the two jitted ``multi_step_indexed`` scans (host-checked indices,
    device indices) before the host index check, which :func:`vaekit.training.check_indices`
    adds back around the placed functions. ``init`` replicates the new state; ``evaluate``
    routes a batch that does not divide over the devices to ``evaluate_replicated``. In one
    process a ``jax.Array`` input laid out otherwise (e.g. a batch gathered from a replicated
    data set, or replicated validation data) is moved to the sharding its ``jax.jit``
    expects, and host arrays are placed by ``jax.jit`` itself; under ``jax.distributed`` host
    inputs are first made global arrays with :func:`shard_batch`/:func:`replicate` (every
    process passes the same values).
    """
    axis = train.options.axis_name
    fns = train.fns
    step, multi_step, evaluate = train.step, train.multi_step, train.evaluate
    shardings = jit_shardings(mesh, axis)
    rows, stacked = (shardings[name]["in_shardings"][-1] for name in ("step", "multi_step"))
    rep = shardings["evaluate_replicated"]["in_shardings"][-1]

    def place(batch: Any, batch_axis: int = 0) -> Any:
        return shard_batch(batch, mesh, axis_name=axis, batch_axis=batch_axis,
                           process_local=False)

    def copy(tree: Any) -> Any:
        return replicate(tree, mesh)

    if jax.process_count() > 1:  # host arrays must become global arrays first
        stacks = functools.partial(place, batch_axis=1)
        step, multi_step = _placed(step, place), _placed(multi_step, stacks)
        indexed = tuple(_placed(fn, lambda data: copy(dict(data)), stacks) for fn in indexed)
        evaluate = _placed(evaluate, place)
        evaluate_replicated = _placed(evaluate_replicated, copy)
    else:  # device arrays laid out otherwise are moved, not refused by jax.jit
        step = _placed(step, functools.partial(_conform, sharding=rows))
        multi_step = _placed(multi_step, functools.partial(_conform, sharding=stacked))
        indexed = tuple(_placed(fn, functools.partial(_conform, sharding=rep),
                                functools.partial(_conform, sharding=stacked))
                        for fn in indexed)
        evaluate = _placed(evaluate, functools.partial(_conform, sharding=rows))
        evaluate_replicated = _placed(evaluate_replicated, functools.partial(_conform,
                                                                             sharding=rep))

    def evaluate_any(state: TrainState, batch: Batch) -> Metrics:
        if _divisible(batch, mesh, axis):
            return evaluate(state, batch)
        return evaluate_replicated(state, batch)

    return train._replace(init=lambda model, key: replicate(fns.init(model, key), mesh),
                          step=step, multi_step=multi_step, evaluate=evaluate_any,
                          multi_step_indexed=_checked(*indexed))


def data_parallel(
    train: TrainStep, mesh: Mesh, *, axis_name: str | None = None
) -> TrainStep:
    """The same ``train`` with the state replicated and every batch sharded over ``mesh``.

    ``train.fns`` compiled again by :func:`vaekit.compile_step` with ``mesh`` (and
    ``train``'s donation and compiler options): the same step program, each ``jax.jit``
    given shardings, so ``jax.jit`` partitions it over the devices:

    - ``init(model, key)``: ``train.fns.init`` then :func:`replicate`.
    - ``step(state, batch)``: ``batch`` sharded along axis 0.
    - ``multi_step(state, batches)``: ``(k, batch, ...)`` stacks sharded along axis 1.
    - ``multi_step_indexed(state, data, indices)``: ``data`` replicated, the ``(k, batch)``
      indices sharded along axis 1, so each device gathers its own slice of every batch.
      Pass :func:`replicate`'s result as ``data`` (``fit(..., device_data=True)`` does):
      data on another device are copied to the mesh at every call.
    - ``evaluate(state, batch)``: sharded when the batch divides over the devices, otherwise
      (e.g. the last partial batch of :func:`vaekit.evaluate_dataset`) replicated.

    Host arrays (NumPy) given to these functions are *global*: under ``jax.distributed``
    every process passes the same values, as :func:`vaekit.fit` and
    :func:`vaekit.evaluate_dataset` do from the same data and seed. For an input pipeline
    where each process reads its own slice, make the global batch with :func:`shard_batch`
    first (``process_local=True``, its default); ``jax.Array`` values already sharded this
    way are used as they are. A ``jax.Array`` committed to one device raises a sharding
    mismatch in ``jax.jit``: put it with :func:`shard_batch`. Pass states made by this
    ``init`` or by :func:`replicate`.

    Raises:
      ValueError: ``train`` has no ``fns`` (a ``TrainStep`` built by hand: compile its pure
        functions with :func:`vaekit.compile_step` instead).

    Example:
      >>> import jax, optax, vaekit
      >>> train = data_parallel(vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3)),
      ...                       data_mesh())
      >>> train.options.mesh.axis_names
      ('data',)
    """
    if train.fns is None or train.options is None:
        raise ValueError("`train` must come from vaekit.make_train_step or "
                         "vaekit.compile_step (it has no pure `fns` to compile with a mesh).")
    options = train.options
    return compile_step(train.fns, donate=options.donate,
                        compiler_options=options.compiler_options, mesh=mesh,
                        axis_name=axis_name)
