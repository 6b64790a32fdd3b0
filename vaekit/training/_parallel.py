"""Data parallelism with ``jax.sharding``: the same compiled step, batch split over devices.

Nothing here changes :func:`vaekit.make_train_step`. The state is *replicated* (every device
holds the whole model and optimiser state) and the batch is *sharded* along its batch axis
over a one-axis device mesh; ``jax.jit`` then partitions the same step program over the
devices (computation follows the data): each device runs the forward and backward pass on its
slice of the batch, and the batch mean in the loss becomes an all-reduce of the gradients.
The step's numbers are those of one device running the whole batch, up to float summation
order.

Under ``jax.distributed.initialize`` (several processes, e.g. one per host) the same code
runs on the global mesh: every process passes its own slice of the global batch to
:func:`shard_batch` and identical values to :func:`replicate` (see ``docs/scaling.md``).
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray

from vaekit._types import AnyArray, Batch, Metrics
from vaekit.training._train_state import TrainState
from vaekit.training._train_step import TrainStep

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


def data_parallel(
    train: TrainStep, mesh: Mesh, *, axis_name: str | None = None
) -> TrainStep:
    """The same ``train`` with the state replicated and every batch sharded over ``mesh``.

    Returns a :class:`TrainStep` whose functions place their inputs and call ``train``'s own
    compiled functions, so the step program, its compile-once behaviour and the donation
    setting are ``train``'s:

    - ``init(model, key)``: ``train.init`` then :func:`replicate`.
    - ``step(state, batch)``: ``batch`` sharded along axis 0.
    - ``multi_step(state, batches)``: ``(k, batch, ...)`` stacks sharded along axis 1.
    - ``multi_step_indexed(state, data, indices)``: ``data`` replicated (once per data set of
      ``jax.Array`` values, as ``fit(..., device_data=True)`` passes it: the last one is
      remembered; or pass :func:`replicate`'s result), the ``(k, batch)``
      indices sharded along axis 1, so each device gathers its own slice of every batch.
    - ``evaluate(state, batch)``: sharded when the batch divides over the devices, otherwise
      (e.g. the last partial batch of :func:`vaekit.evaluate_dataset`) replicated.

    Host arrays (NumPy) given to these functions are *global*: under ``jax.distributed``
    every process passes the same values, as :func:`vaekit.fit` and
    :func:`vaekit.evaluate_dataset` do from the same data and seed. For an input pipeline
    where each process reads its own slice, make the global batch with :func:`shard_batch`
    first (``process_local=True``, its default); ``jax.Array`` values already sharded this
    way are used as they are. Pass states made by this ``init`` or by :func:`replicate`.

    Example:
      >>> import jax, optax, vaekit
      >>> train = data_parallel(vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3)),
      ...                       data_mesh())
    """
    axis = _axis_name(mesh, axis_name)

    def place(batch: Any, batch_axis: int = 0) -> Any:
        return shard_batch(batch, mesh, axis_name=axis, batch_axis=batch_axis,
                           process_local=False)

    def init(model: nnx.Module, key: PRNGKeyArray) -> TrainState:
        return replicate(train.init(model, key), mesh)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        return train.step(state, place(batch))

    def multi_step(state: TrainState, batches: Batch) -> tuple[TrainState, Metrics]:
        return train.multi_step(state, place(batches, batch_axis=1))

    def evaluate(state: TrainState, batch: Batch) -> Metrics:
        if _divisible(batch, mesh, axis):
            return train.evaluate(state, place(batch))
        return train.evaluate(state, replicate(batch, mesh))

    multi_step_indexed = None
    if train.multi_step_indexed is not None:
        inner = train.multi_step_indexed
        last: list[Any] = [None, None]  # (the data as given, its replicated copy)

        def multi_step_indexed(
            state: TrainState, data: Batch, indices: AnyArray
        ) -> tuple[TrainState, Metrics]:
            given = jax.tree.leaves(dict(data))
            if not all(isinstance(a, jax.Array) for a in given):  # mutable: no reuse
                return inner(state, replicate(dict(data), mesh), place(indices, batch_axis=1))
            if last[0] is None or len(last[0]) != len(given) or any(
                a is not b for a, b in zip(last[0], given, strict=True)
            ):
                last[:] = [given, replicate(dict(data), mesh)]
            return inner(state, last[1], place(indices, batch_axis=1))

    return TrainStep(init=init, step=step, multi_step=multi_step, evaluate=evaluate,
                     multi_step_indexed=multi_step_indexed)
