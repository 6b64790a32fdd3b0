"""One generic, compiled-once training step for any NNX model and any objective."""

import collections
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh
from jaxtyping import Array, PRNGKeyArray

from vaekit._types import Batch, Metrics, Objective
from vaekit.training._train_state import TrainState

TRAIN_STREAM = 0
EVAL_STREAM = 1

Forward = Callable[[nnx.Module, Batch, PRNGKeyArray], Any]
Preprocess = Callable[[Batch, PRNGKeyArray], Batch]
"""``(batch, key) -> batch``: runs inside the compiled step before the forward and objective
(e.g. uint8 images to float, dynamic binarisation, rendering images from indices)."""

PREPROCESS_STREAM = 0x70726570
"""Folded into a step's key to give the preprocess its own key (the forward's is unchanged)."""


def default_forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> Any:
    """``model(batch["x"], key=key)``: the forward of :class:`vaekit.VAE` and friends."""
    return model(batch["x"], key=key)


StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
IndexedMultiStep = Callable[[TrainState, Batch, Array], tuple[TrainState, Metrics]]


class StepFunctions(NamedTuple):
    """The pure, un-jitted functions of a training step (:func:`step_functions`).

    Plain JAX functions of arrays, with no jit, donation or sharding: compile them with
    :func:`compile_step` (what :func:`make_train_step` does), or ``jax.jit``, ``jax.vmap`` or
    compose them yourself (e.g. ``jax.vmap(fns.step)`` trains a batch of states at once).

    Attributes:
      init: ``(model, key) -> TrainState``; splits the model and initialises the optimiser.
      step: ``(state, batch) -> (state, metrics)``; one optimiser step.
      evaluate: ``(state, batch) -> metrics``; the objective without an update, on the
        forward of an ``nnx.Module.eval()`` copy of the model.
    """

    init: Callable[[nnx.Module, PRNGKeyArray], TrainState]
    step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
    evaluate: Callable[[TrainState, Batch], Metrics]


class CompileOptions(NamedTuple):
    """How :func:`compile_step` compiled a :class:`TrainStep` (kept on it as ``options``).

    Attributes:
      donate: the state's buffers are donated to ``step``/``multi_step``/``multi_step_indexed``.
      compiler_options: XLA options passed to ``jax.jit`` (``None``: XLA's defaults).
      mesh: ``None``, or the ``jax.sharding.Mesh`` the state is replicated over and the batch
        split over (:func:`vaekit.data_parallel`).
      axis_name: the mesh axis the batch is split over (``None`` without a mesh).
    """

    donate: bool = True
    compiler_options: dict[str, Any] | None = None
    mesh: Mesh | None = None
    axis_name: str | None = None


class TrainStep(NamedTuple):
    """The compiled functions :func:`make_train_step` (:func:`compile_step`) returns.

    Attributes:
      init: ``(model, key) -> TrainState``; splits the model and initialises the optimiser
        (with a mesh: then replicates the state over it).
      step: ``(state, batch) -> (state, metrics)``; one jitted optimiser step.
      multi_step: ``(state, batches) -> (state, metrics)``; ``k`` steps fused with
        ``jax.lax.scan`` over batches stacked on a leading axis; metrics stacked ``(k,)``.
      evaluate: ``(state, batch) -> metrics``; the objective without an update, on the
        forward of an ``nnx.Module.eval()`` copy of the model (``nnx.Dropout`` off,
        ``nnx.BatchNorm`` on its running averages, no EMA codebook update or dead-code reset).
      multi_step_indexed: ``(state, data, indices) -> (state, metrics)``; ``k`` steps fused
        like ``multi_step``, where step ``t`` trains on ``{name: a[indices[t]] for name, a in
        data.items()}``, gathered inside the compiled scan. ``data`` (the whole data set, not
        donated) can stay on the device, so only the ``(k, batch)`` int indices cross from the
        host per call (``fit(..., device_data=True)``). Host (NumPy) indices outside
        ``[0, n)`` raise a ``ValueError`` naming ``indices`` before anything runs, and the
        checked indices gather exactly the rows host indexing gives. Device (``jax.Array``)
        indices are not fetched to be checked; they run a second compiled scan in which an
        index outside ``[0, n)`` (negative ones too) gathers the fill value of
        ``jnp.take(mode="fill")``: NaN for float data, the dtype's maximum for unsigned and
        its minimum for signed integers (not flagged), never a clipped or wrapped row.
        ``None`` for a ``TrainStep`` built by hand with four fields.
      fns: the pure :class:`StepFunctions` these were compiled from (``None`` for a
        ``TrainStep`` built by hand): jit, vmap or compose them yourself.
      options: the :class:`CompileOptions` they were compiled with (``None`` when built by
        hand).
    """

    init: Callable[[nnx.Module, PRNGKeyArray], TrainState]
    step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
    multi_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
    evaluate: Callable[[TrainState, Batch], Metrics]
    multi_step_indexed: IndexedMultiStep | None = None
    fns: StepFunctions | None = None
    options: CompileOptions | None = None


def _as_metrics(loss: jax.Array, metrics: Metrics) -> Metrics:
    out = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
    out.setdefault("loss", jnp.asarray(loss, jnp.float32))
    for name, value in out.items():
        if value.shape != ():
            raise ValueError(f"metric {name!r} must be a scalar, got shape {value.shape}.")
    return out


def _global_norm(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in leaves))


def _check_loss(loss: jax.Array) -> None:
    if jnp.shape(loss) != ():
        raise ValueError(
            f"the objective must return a scalar loss, got shape {jnp.shape(loss)}; reduce over "
            "the batch (vaekit.batch_mean) before returning it."
        )


def step_functions(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    *,
    forward: Forward = default_forward,
    skip_nonfinite: bool = False,
    grad_norm: bool = False,
    preprocess: Preprocess | None = None,
) -> StepFunctions:
    """The pure ``init``/``step``/``evaluate`` of a training step, not compiled.

    What :func:`make_train_step` compiles (its arguments of the same names mean the same);
    :func:`compile_step` compiles them, or use them in your own ``jax.jit``/``jax.vmap``.

    Args:
      objective: ``(out, batch, step) -> (scalar loss, dict of scalar metrics)``.
      optimizer: any ``optax.GradientTransformation``.
      forward: ``(model, batch, key) -> out``; default ``model(batch["x"], key=key)``.
      skip_nonfinite: keep the previous state for a step whose loss or gradient is not
        finite (reported as ``skipped = 1``).
      grad_norm: also report ``grad_norm``, the global gradient norm before the update.
      preprocess: ``(batch, key) -> batch`` applied inside the step before the forward.

    Returns:
      A :class:`StepFunctions` ``(init, step, evaluate)`` of plain JAX functions.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> fns = vaekit.step_functions(vaekit.beta_vae(beta=4.0), optax.adam(1e-3))
      >>> state, metrics = jax.jit(fns.step)(fns.init(model, jax.random.key(0)),
      ...                                    {"x": jax.numpy.zeros((2, 4))})
      >>> int(state.step), sorted(metrics)[:2]
      (1, ['active_dims', 'beta'])
    """

    def prepare(batch: Batch, key: PRNGKeyArray) -> Batch:
        if preprocess is None:
            return batch
        return preprocess(batch, jax.random.fold_in(key, PREPROCESS_STREAM))

    def run_objective(params, rest, graphdef, batch, key, step, train=True):
        batch = prepare(batch, key)
        model = nnx.merge(graphdef, params, rest, copy=True)
        if not train:  # evaluation: dropout off, BatchNorm running averages, no EMA updates
            model.eval()
        out = forward(model, batch, key)
        loss, metrics = objective(out, batch, step)
        _check_loss(loss)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return loss, (metrics, nnx.to_pure_dict(new_rest))

    def step_fn(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        key = state.step_key(TRAIN_STREAM)
        def loss_of(params):
            return run_objective(params, state.rest, state.graphdef, batch, key, state.step)

        (loss, (metrics, rest)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = _as_metrics(loss, metrics)
        if grad_norm or skip_nonfinite:
            norm = _global_norm(grads)
        if grad_norm:
            metrics["grad_norm"] = norm
        if skip_nonfinite:
            ok = jnp.isfinite(loss) & jnp.isfinite(norm)
            keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(ok, new, old))
            params, opt_state = keep(params, state.params), keep(opt_state, state.opt_state)
            rest = keep(rest, state.rest)
            metrics["skipped"] = 1.0 - ok.astype(jnp.float32)
        new_state = state.replace(params=params, rest=rest, opt_state=opt_state,
                                  step=state.step + 1)
        return new_state, metrics

    def evaluate_fn(state: TrainState, batch: Batch) -> Metrics:
        key = state.step_key(EVAL_STREAM)
        loss, (metrics, _) = run_objective(
            state.params, state.rest, state.graphdef, batch, key, state.step, train=False
        )
        return _as_metrics(loss, metrics)

    def init(model: nnx.Module, key: PRNGKeyArray) -> TrainState:
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        # Plain nested dicts of arrays (the variable types live in `graphdef`): JAX flattens
        # them in C++ at the jit boundary, about 60 µs a call faster than `nnx.State`.
        params, rest = nnx.to_pure_dict(params), nnx.to_pure_dict(rest)
        return TrainState(
            graphdef=graphdef,
            params=params,
            rest=rest,
            opt_state=optimizer.init(params),
            step=jnp.zeros((), jnp.int32),
            key=key,
        )

    return StepFunctions(init=init, step=step_fn, evaluate=evaluate_fn)


def _scan(step: StepFn) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """``step`` scanned over batches stacked on a leading axis (``multi_step``)."""

    def multi_step(state: TrainState, batches: Batch) -> tuple[TrainState, Metrics]:
        return jax.lax.scan(step, state, batches)

    return multi_step


def _gather(a: Array, idx: Array, checked: bool) -> Array:
    """Rows ``idx`` of ``a``.

    As given when ``checked`` (host-checked, so in range); otherwise every index outside
    ``[0, n)``, negative ones too, gathers ``jnp.take``'s fill value.
    """
    if checked:
        return jnp.take(a, idx, axis=0, mode="clip")  # in range: never clips
    return jnp.take(a, jnp.where(idx < 0, a.shape[0], idx), axis=0, mode="fill")


def _scan_indexed(step: StepFn, checked: bool) -> IndexedMultiStep:
    """``step`` scanned over ``(k, batch)`` indices into ``data``, gathered in the scan.

    ``checked``: the indices were checked on the host (:func:`check_indices`), and the
    gather is the plain one (the same batches, bit for bit, as indexing on the host).
    Otherwise (device indices, never fetched to be checked) an index outside ``[0, n)``
    gathers the fill value (NaN for floats), never a clipped or wrapped row.
    """

    def multi_step_indexed(
        state: TrainState, data: Batch, indices: Array
    ) -> tuple[TrainState, Metrics]:
        def body(carry: TrainState, idx: Array) -> tuple[TrainState, Metrics]:
            return step(carry, {name: _gather(a, idx, checked) for name, a in data.items()})

        return jax.lax.scan(body, state, indices)

    return multi_step_indexed


def check_indices(indices: Any, data: Batch) -> None:
    """Raises a ``ValueError`` naming ``indices`` if a host index lies outside ``[0, n)``.

    ``n`` is the length of ``data``'s arrays. ``jax.Array`` (device) indices are not
    fetched to be checked (that would wait for the device); NumPy arrays and lists are.

    Example:
      >>> import numpy as np
      >>> check_indices(np.array([[0, 3]]), {"x": np.zeros((4, 2))})
      >>> check_indices(np.array([[0, 4]]), {"x": np.zeros((4, 2))})
      Traceback (most recent call last):
      ...
      ValueError: `indices` must lie in [0, 4) (the rows of `data`), got values from 0 to 4.
    """
    if isinstance(indices, jax.Array) or not data:
        return
    host = np.asarray(indices)
    n = min(len(a) for a in jax.tree.leaves(dict(data)))
    if host.size and (host.min() < 0 or host.max() >= n):
        raise ValueError(f"`indices` must lie in [0, {n}) (the rows of `data`), got values "
                         f"from {host.min()} to {host.max()}.")


def _checked(checked: IndexedMultiStep, unchecked: IndexedMultiStep) -> IndexedMultiStep:
    """Host indices through :func:`check_indices` to ``checked``, device ones to ``unchecked``.

    One host check per call, not per step.
    """

    def multi_step_indexed(
        state: TrainState, data: Batch, indices: Any
    ) -> tuple[TrainState, Metrics]:
        if isinstance(indices, jax.Array):
            return unchecked(state, data, indices)
        check_indices(indices, data)
        return checked(state, data, indices)

    return multi_step_indexed


def compile_step(
    fns: StepFunctions,
    *,
    donate: bool = True,
    compiler_options: dict[str, Any] | None = None,
    mesh: Mesh | None = None,
    axis_name: str | None = None,
) -> TrainStep:
    """Compiles :class:`StepFunctions` into a :class:`TrainStep`: the one place that jits.

    ``step`` and ``evaluate`` are jitted as they are, ``multi_step`` is ``step`` in a
    ``jax.lax.scan`` over stacked batches and ``multi_step_indexed`` the same scan gathering
    each batch from a device-resident data set (host indices checked first,
    :func:`check_indices`). ``init`` is not jitted.

    Args:
      fns: from :func:`step_functions` (or your own functions with the same contract).
      donate: donate the input state's buffers (in-place update).
      compiler_options: XLA options for compiling every program, passed to ``jax.jit``.
      mesh: data parallelism: the state is replicated over this ``jax.sharding.Mesh`` and
        every batch split along its batch axis over ``axis_name``, by the shardings of the
        same ``jax.jit`` (see :func:`vaekit.data_parallel`, which calls this).
      axis_name: the mesh axis the batch is split over (default: the mesh's only axis).

    Returns:
      A :class:`TrainStep` with ``fns`` and ``options`` (:class:`CompileOptions`) set.

    Example:
      >>> import jax, optax, vaekit
      >>> fns = vaekit.step_functions(vaekit.beta_vae(), optax.adam(1e-3))
      >>> train = vaekit.compile_step(fns, donate=False)
      >>> train.fns is fns, train.options.donate
      (True, False)
    """
    shard: dict[str, dict[str, Any]] = collections.defaultdict(dict)
    if mesh is not None:
        from vaekit.training._parallel import jit_shardings  # parallel imports this module

        shard.update(jit_shardings(mesh, axis_name))
        axis_name = shard["step"]["in_shardings"][1].spec[0]
    donated = (0,) if donate else ()
    jit = functools.partial(jax.jit, **_jit_options(compiler_options), **shard["out"])
    indexed = tuple(jit(_scan_indexed(fns.step, checked), donate_argnums=donated,
                        **shard["multi_step_indexed"]) for checked in (True, False))
    train = TrainStep(
        init=fns.init,
        step=jit(fns.step, donate_argnums=donated, **shard["step"]),
        multi_step=jit(_scan(fns.step), donate_argnums=donated, **shard["multi_step"]),
        evaluate=jit(fns.evaluate, **shard["evaluate"]),
        multi_step_indexed=_checked(*indexed),
        fns=fns,
        options=CompileOptions(donate, compiler_options, mesh, axis_name),
    )
    if mesh is None:
        return train
    from vaekit.training._parallel import on_mesh

    return on_mesh(train, indexed, jit(fns.evaluate, **shard["evaluate_replicated"]), mesh)


def _jit_options(compiler_options: dict[str, Any] | None) -> dict[str, Any]:
    return {} if compiler_options is None else {"compiler_options": dict(compiler_options)}


def make_train_step(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    *,
    forward: Forward = default_forward,
    donate: bool = True,
    skip_nonfinite: bool = False,
    grad_norm: bool = False,
    compiler_options: dict[str, Any] | None = None,
    preprocess: Preprocess | None = None,
) -> TrainStep:
    """Builds the single training step every vaekit model trains through.

    ``objective(out, batch, step) -> (loss, metrics)`` may be a library objective or any user
    function with that signature. The step splits the NNX model at the jit boundary, takes
    gradients with respect to ``nnx.Param`` only, applies ``optimizer`` (built once; changing
    hyperparameters are schedules of the traced step), and returns the model's other state as
    the forward left it. It compiles once per batch shape; a scheduled β never recompiles.

    Args:
      objective: ``(out, batch, step) -> (scalar loss, dict of scalar metrics)``.
      optimizer: any ``optax.GradientTransformation``.
      forward: ``(model, batch, key) -> out``; default ``model(batch["x"], key=key)``.
      donate: donate the input state's buffers to the step (in-place update).
      skip_nonfinite: when the loss or any gradient is NaN/Inf, keep the previous parameters,
        optimiser state and model state for that step (the step counter still advances) and
        report ``skipped = 1``; otherwise such a step is applied and shows in the metrics.
      grad_norm: also report ``grad_norm``, the global gradient norm before the update.
        Opt-in because it is a full extra pass over the gradients that XLA:CPU does not fuse
        into the step: on a 2-core CPU it costs 13–24 % of a batch-32 to batch-128 step of a
        1.1 M-parameter MLP VAE (``benchmarks/RESULTS.md``); ``vaekit train`` turns it on.
      compiler_options: XLA options for compiling the step's programs, passed to
        ``jax.jit``; e.g. ``{"xla_backend_optimization_level": 1}`` cuts the XLA compile
        time of the MLP VAE's step by about a third on a CPU at the same step time
        (``docs/scaling.md``).
      preprocess: ``(batch, key) -> batch``, applied inside the compiled step (and in
        ``evaluate``) before the forward and the objective, with a key of its own derived
        from the step's key. Storage stays compact and the conversion is fused into the step:
        :func:`vaekit.data.uint8_to_float` for uint8 images,
        :func:`vaekit.data.dynamic_binarize` for the standard dynamically binarised MNIST,
        :func:`vaekit.data.render_dsprites_batch` to render procedural dSprites on the device
        from grid indices, :func:`vaekit.data.chain` to combine them. ``None``: the batch is
        used as given.

    Returns:
      A :class:`TrainStep` ``(init, step, multi_step, evaluate, multi_step_indexed, fns,
      options)``: :func:`compile_step` of :func:`step_functions`.
      Metrics are float32 scalars: the objective's metrics, ``loss``, and ``grad_norm`` when
      ``grad_norm=True``.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(beta=4.0), optax.adam(1e-3))
      >>> state = train.init(model, jax.random.key(0))
      >>> state, metrics = train.step(state, {"x": jax.numpy.zeros((2, 4))})
      >>> int(state.step)
      1
    """
    fns = step_functions(objective, optimizer, forward=forward, skip_nonfinite=skip_nonfinite,
                         grad_norm=grad_norm, preprocess=preprocess)
    return compile_step(fns, donate=donate, compiler_options=compiler_options)
