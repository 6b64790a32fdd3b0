"""Performance and scale: device-resident data, streaming input, mixed precision, β changes."""

import re
import threading
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.training import (
    cast_floating,
    device_resident,
    mixed_precision,
    prefetch_to_device,
    stack_batches,
    train_chunks,
)

# ----------------------------------------------------------------- device-resident data


def test_multi_step_indexed_equals_multi_step_on_gathered_batches():
    train = vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-2), donate=False)
    state0 = train.init(tiny_vae(), jax.random.key(0))
    data = {"x": binary_batch(20)["x"]}
    idx = vaekit.batch_indices(20, 4, 5, seed=3)
    host, m_host = train.multi_step(state0, {"x": data["x"][idx]})
    dev, m_dev = train.multi_step_indexed(state0, device_resident(data), jnp.asarray(idx))
    chex.assert_trees_all_close(host.params, dev.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m_host["loss"], m_dev["loss"], rtol=1e-6)


def test_fit_with_device_data_matches_host_batches_and_copies_data_once(monkeypatch):
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False)
    data = {"x": binary_batch(40)["x"]}
    host, hist_host = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)), data,
                                 num_steps=20, batch_size=8, steps_per_call=10)
    puts = []
    real_put = jax.device_put

    def counted_put(x, *args, **kwargs):
        puts.append(1)
        return real_put(x, *args, **kwargs)

    monkeypatch.setattr(jax, "device_put", counted_put)
    dev, hist_dev = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)), data,
                               num_steps=20, batch_size=8, steps_per_call=10, device_data=True)
    assert len(puts) == 1  # the data set, once; two chunks ran
    # Host-checked indices gather the very rows host indexing gives: equal bit for bit.
    chex.assert_trees_all_equal(host.params, dev.params)
    np.testing.assert_array_equal(hist_host["train"]["loss"], hist_dev["train"]["loss"])
    assert hist_dev["train_steps"].tolist() == list(range(1, 21))


def test_device_data_needs_multi_step_indexed():
    base = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2))
    hand_made = vaekit.TrainStep(base.init, base.step, base.multi_step, base.evaluate)
    state = hand_made.init(tiny_vae(), jax.random.key(0))
    chunks = train_chunks(hand_made, state, {"x": binary_batch(8)["x"]}, num_steps=2,
                          batch_size=4, device_data=True)
    with pytest.raises(ValueError, match="`device_data=True`"):
        next(chunks)


# ----------------------------------------------------------------- streaming input


def _disk_batches(path, batch_size):
    """A plain generator reading batches from a memory-mapped .npy file."""
    images = np.load(path, mmap_mode="r")
    for start in range(0, len(images) - batch_size + 1, batch_size):
        yield {"x": np.asarray(images[start : start + batch_size])}


def test_streamed_prefetched_batches_train_like_in_memory_batches(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, binary_batch(24, seed=5)["x"])
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False)
    state0 = train.init(tiny_vae(), jax.random.key(0))

    direct = state0
    for batch in _disk_batches(path, 4):
        direct, _ = train.step(direct, batch)
    streamed = state0
    with prefetch_to_device(_disk_batches(path, 4), size=2) as stream:
        for batch in stream:
            assert isinstance(batch["x"], jax.Array)
            streamed, _ = train.step(streamed, batch)
    chex.assert_trees_all_equal(direct.params, streamed.params)

    fused = state0
    for group in prefetch_to_device(stack_batches(_disk_batches(path, 4), k=4)):
        fused, metrics = train.multi_step(fused, group)
    assert int(fused.step) == 6 and metrics["loss"].shape == (2,)  # groups of 4 and 2
    chex.assert_trees_all_close(direct.params, fused.params, rtol=1e-5, atol=1e-6)


def test_prefetch_runs_at_most_size_plus_one_ahead_and_stops_on_close():
    pulled = []

    def endless():
        i = 0
        while True:
            pulled.append(i)
            yield {"x": np.full((2,), i, np.float32)}
            i += 1

    stream = prefetch_to_device(endless(), size=2)
    first = next(stream)
    time.sleep(0.3)  # let the producer fill the queue
    assert float(first["x"][0]) == 0.0
    assert len(pulled) <= 1 + 2 + 1  # consumed + queued + one in hand
    assert [float(next(stream)["x"][0]) for _ in range(3)] == [1.0, 2.0, 3.0]
    stream.close()
    assert not any(t.name == "vaekit-prefetch" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(stream)


def test_prefetch_reraises_the_source_error_in_order():
    def failing():
        yield {"x": np.zeros(2)}
        raise OSError("disk gone")

    stream = prefetch_to_device(failing())
    next(stream)
    with pytest.raises(OSError, match="disk gone"):
        next(stream)
    with pytest.raises(ValueError, match="`size`"):
        prefetch_to_device(failing(), size=0)


# ----------------------------------------------------------------- mixed precision


class Tracked(nnx.Variable):
    """Float non-parameter state the forward updates."""


class TrackingVAE(nnx.Module):
    def __init__(self):
        self.vae = tiny_vae()
        self.mean_z = Tracked(jnp.zeros((), jnp.float32))

    def __call__(self, x, *, key):
        out = self.vae(x, key=key)
        self.mean_z[...] = 0.9 * self.mean_z[...] + 0.1 * jnp.mean(out.z)
        return out


def test_mixed_precision_keeps_float32_state_and_loss_close_to_float32():
    batch = binary_batch(32)
    f32 = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False)
    bf16 = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False,
                                  forward=mixed_precision(compute_dtype=jnp.bfloat16))
    state0 = bf16.init(TrackingVAE(), jax.random.key(0))
    ref, low = f32.evaluate(state0, batch), bf16.evaluate(state0, batch)
    assert low["loss"].dtype == jnp.float32
    np.testing.assert_allclose(float(low["loss"]), float(ref["loss"]), rtol=2e-2)

    state, metrics = bf16.multi_step(state0, jax.tree.map(lambda a: np.stack([a] * 30), batch))
    assert np.all(np.isfinite(metrics["loss"])) and metrics["loss"][-1] < metrics["loss"][0]
    for leaf in jax.tree.leaves((state.params, state.opt_state, state.rest)):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32
    assert float(state.rest["mean_z"][...]) != 0.0  # non-Param state still updated

    # The matmuls really run in bfloat16 (every dot_general, nested jaxprs included).
    model = state0.model()
    jaxpr = str(jax.make_jaxpr(lambda m: mixed_precision()(m, batch, jax.random.key(0)))(model))
    dot_dtypes = re.findall(r":(\w+)\[[\d,]*\] = dot_general", jaxpr)
    assert dot_dtypes and set(dot_dtypes) == {"bf16"}, dot_dtypes


def test_cast_floating_and_bad_dtype():
    out = cast_floating({"a": jnp.ones(2), "i": jnp.arange(2)}, jnp.bfloat16)
    assert out["a"].dtype == jnp.bfloat16 and out["i"].dtype == jnp.int32
    with pytest.raises(ValueError, match="`compute_dtype`"):
        mixed_precision(compute_dtype=jnp.int32)


# ----------------------------------------------------------------- hyperparameter changes


def test_number_beta_is_fixed_when_built_and_rebuilding_takes_effect():
    hyper = {"beta": 2.0}
    train = vaekit.make_train_step(vaekit.beta_vae(beta=hyper["beta"]), optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    hyper["beta"] = 8.0  # after building, before the first step: no effect
    state, metrics = train.step(state, binary_batch())
    assert float(metrics["beta"]) == 2.0
    state, metrics = train.step(state, binary_batch())
    assert float(metrics["beta"]) == 2.0

    # The documented way: rebuild the step (the state carries over; one new compile) ...
    rebuilt = vaekit.make_train_step(vaekit.beta_vae(beta=hyper["beta"]), optax.adam(1e-3))
    state, metrics = rebuilt.step(state, binary_batch())
    assert float(metrics["beta"]) == 8.0 and int(state.step) == 3


@pytest.mark.parametrize("build", [
    lambda: vaekit.beta_vae(beta=2.0),
    lambda: vaekit.capacity_vae(gamma=1000.0, c_max=25.0),
    lambda: vaekit.vq_vae(),
    lambda: vaekit.dip_vae(),
    lambda: vaekit.factor_vae(),
])
def test_setting_a_hyperparameter_on_a_built_objective_is_an_error(build):
    """Artifex's trainer.config.beta = x after compiling is silently ignored; here it raises."""
    objective = build()
    with pytest.raises(AttributeError, match="immutable.*schedule"):
        objective.beta = 8.0
    with pytest.raises(AttributeError, match="immutable"):
        objective.terms = ()
    with pytest.raises(AttributeError, match="immutable"):
        del objective.terms
    train = vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-3))
    with pytest.raises(AttributeError):
        train.objective = build()  # the built step is an immutable NamedTuple too


def test_beta_changes_through_a_schedule_without_recompiling():
    traces = []
    base = vaekit.beta_vae(beta=optax.piecewise_constant_schedule(2.0, {3: 4.0}))

    def counted(out, batch, step):
        traces.append(1)
        return base(out, batch, step)

    train = vaekit.make_train_step(counted, optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    betas = []
    for _ in range(5):
        state, metrics = train.step(state, binary_batch())
        betas.append(float(metrics["beta"]))
    assert betas == [2.0, 2.0, 2.0, 8.0, 8.0] and len(traces) == 1


def test_a_mutable_value_read_by_a_user_objective_is_frozen_at_trace_time():
    """The pitfall docs/scaling.md warns about: it changes only when the step retraces."""
    hyper = {"beta": 2.0}

    def objective(out, batch, step):
        recon = vaekit.batch_mean(vaekit.bernoulli_nll(out.recon, batch["x"]))
        beta = jnp.asarray(hyper["beta"], jnp.float32)  # read while tracing, then a constant
        return recon + beta * vaekit.batch_mean(vaekit.gaussian_kl(out.mean, out.logvar)), {
            "beta": beta
        }

    train = vaekit.make_train_step(objective, optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    state, metrics = train.step(state, binary_batch(8))
    hyper["beta"] = 8.0
    state, metrics = train.step(state, binary_batch(8))
    assert float(metrics["beta"]) == 2.0  # same shapes: the compiled step, old value
    state, metrics = train.step(state, binary_batch(4))
    assert float(metrics["beta"]) == 8.0  # a new batch shape retraced and read it


def test_grad_norm_is_opt_in_and_leaves_the_update_unchanged():
    batches = jax.tree.map(lambda a: np.stack([a] * 3), binary_batch())
    with_norm = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), grad_norm=True)
    without = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2))
    a, metrics_a = with_norm.multi_step(with_norm.init(tiny_vae(), jax.random.key(0)), batches)
    b, metrics_b = without.multi_step(without.init(tiny_vae(), jax.random.key(0)), batches)
    assert "grad_norm" in metrics_a and "grad_norm" not in metrics_b
    chex.assert_trees_all_close(a.params, b.params, rtol=1e-6, atol=1e-7)


def test_compiler_options_reach_the_compiled_step():
    batches = jax.tree.map(lambda a: np.stack([a] * 3), binary_batch())
    default = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2))
    faster = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2),
                                    compiler_options={"xla_backend_optimization_level": 1})
    a, _ = default.multi_step(default.init(tiny_vae(), jax.random.key(0)), batches)
    b, _ = faster.multi_step(faster.init(tiny_vae(), jax.random.key(0)), batches)
    chex.assert_trees_all_close(a.params, b.params, rtol=1e-5, atol=1e-6)
    bad = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2),
                                 compiler_options={"no_such_xla_option": 1})
    with pytest.raises(Exception, match="no_such_xla_option"):
        bad.step(bad.init(tiny_vae(), jax.random.key(0)), binary_batch())
