"""Pure step functions, the one compile helper, the checked device gather, History."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.training import History, data_mesh, data_parallel


def _train():
    return vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-2), donate=False)


def test_user_jit_of_the_pure_step_equals_the_compiled_step():
    train = _train()
    state = train.init(tiny_vae(), jax.random.key(0))
    batch = binary_batch(8)
    a, ma = train.step(state, batch)
    b, mb = jax.jit(train.fns.step)(state, batch)
    chex.assert_trees_all_close(a.params, b.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ma["loss"], mb["loss"], rtol=1e-6)


def test_the_pure_step_vmaps_over_batches():
    train = _train()
    state = train.init(tiny_vae(), jax.random.key(0))
    batches = [binary_batch(8, seed=i) for i in range(2)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *batches)
    # Metrics only: a vmapped TrainState would carry a batch of keys, which its
    # scalar-key annotation (checked by beartype in the test run) refuses.
    metrics = jax.vmap(lambda batch: train.fns.step(state, batch)[1])(stacked)
    for i, batch in enumerate(batches):
        _, one = train.step(state, batch)
        np.testing.assert_allclose(metrics["loss"][i], one["loss"], rtol=1e-5)


def test_data_parallel_is_compile_step_with_a_mesh():
    train = _train()
    wrapped = data_parallel(train, data_mesh())
    assert wrapped.fns is train.fns
    assert wrapped.options.mesh is not None and wrapped.options.donate is False
    with pytest.raises(ValueError, match="`train`"):
        data_parallel(vaekit.TrainStep(train.init, train.step, train.multi_step,
                                       train.evaluate), data_mesh())


def test_out_of_range_host_indices_are_an_error_naming_the_argument():
    train = _train()
    state = train.init(tiny_vae(), jax.random.key(0))
    data = {"x": binary_batch(8)["x"]}
    with pytest.raises(ValueError, match="`indices` must lie in \\[0, 8\\)"):
        train.multi_step_indexed(state, data, np.array([[0, 8]], np.int32))
    with pytest.raises(ValueError, match="`indices`"):
        train.multi_step_indexed(state, data, np.array([[-1, 0]], np.int32))


@pytest.mark.parametrize("bad", [8, -1, -8])
def test_out_of_range_device_indices_gather_nan_not_a_clipped_or_wrapped_row(bad):
    train = _train()
    state = train.init(tiny_vae(), jax.random.key(0))
    data = {"x": jnp.asarray(binary_batch(8)["x"])}
    _, metrics = train.multi_step_indexed(state, data, jnp.array([[0, bad]], jnp.int32))
    assert not np.isfinite(metrics["loss"][0])
    _, fine = train.multi_step_indexed(state, data, jnp.array([[0, 7]], jnp.int32))
    assert np.isfinite(fine["loss"][0])


def test_history_appends_chunks_and_reads_like_the_old_dict():
    history = History()
    history.append_train(2, {"loss": np.array([3.0, 2.0], np.float32)})
    history.append_train(4, {"loss": np.array([1.0, 0.0], np.float32)})
    history.append_val(4, {"loss": 0.5})
    assert history.train_steps.tolist() == [1, 2, 3, 4]
    assert history["train"]["loss"].dtype == np.float64
    assert history["train"]["loss"][-1] == 0.0
    assert history.mean("loss", last=2) == 0.5 and history.last("loss", "val") == 0.5
    assert history.val_steps.tolist() == [4]
    with pytest.raises(KeyError):
        history["nope"]
    with pytest.raises(ValueError, match="`metrics`"):
        history.append_train(6, {"loss": np.zeros(2), "kl": np.zeros(3)})
    # The dict protocol the old return value had: membership, iteration, get, JSON.
    assert "val" in history and "nope" not in history and len(history) == 4
    assert list(history) == ["train", "train_steps", "val", "val_steps"]
    assert history.get("nope") is None and history.get("val") is history.val
    assert dict(history)["train_steps"].tolist() == [1, 2, 3, 4]
    assert json.loads(json.dumps(history.to_dict())) == {
        "train": {"loss": [3.0, 2.0, 1.0, 0.0]}, "train_steps": [1, 2, 3, 4],
        "val": {"loss": [0.5]}, "val_steps": [4]}


def test_fit_returns_a_history():
    train = _train()
    _, history = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)),
                            {"x": binary_batch(16)["x"]}, num_steps=5, batch_size=4,
                            steps_per_call=2)
    assert isinstance(history, History) and history.train_steps.tolist() == [1, 2, 3, 4, 5]


def test_fit_validates_at_the_end_when_a_finite_stream_ends_early():
    train = _train()
    data = {"x": binary_batch(20)["x"]}
    batches = ({"x": data["x"][i * 4:(i + 1) * 4]} for i in range(5))
    state, history = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)),
                                vaekit.training.iterator_source(batches), num_steps=8,
                                batch_size=4, steps_per_call=4, val_data=data)
    assert int(state.step) == 5 and history.train_steps.tolist() == [1, 2, 3, 4, 5]
    assert history.val_steps.tolist() == [5]
    want = vaekit.evaluate_dataset(train, state, data, 4)["loss"]
    np.testing.assert_allclose(history.last("loss", "val"), want, rtol=1e-6)
