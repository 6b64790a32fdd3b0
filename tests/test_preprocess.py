"""make_train_step(preprocess=): uint8 storage, dynamic binarisation, chaining, device data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import vaekit
from tests.helpers import INPUT_SHAPE, tiny_vae
from vaekit.data import chain, dynamic_binarize, uint8_to_float


def _uint8_images(n=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *INPUT_SHAPE), dtype=np.uint8)


def _params_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def _train(data, *, preprocess=None, device_data=False, steps=12):
    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-2),
                                   preprocess=preprocess)
    state = train.init(tiny_vae(), jax.random.key(0))
    state, history = vaekit.fit(train, state, data, num_steps=steps, batch_size=8,
                                steps_per_call=4, device_data=device_data)
    return state, history


def test_uint8_storage_trains_exactly_like_float_images_converted_on_the_host():
    images = _uint8_images()
    as_float = images.astype(np.float32) / np.float32(255.0)
    ref, ref_hist = _train({"x": as_float})
    for device_data in (False, True):
        got, hist = _train({"x": images}, preprocess=uint8_to_float, device_data=device_data)
        assert _params_equal(got.params, ref.params), device_data
        np.testing.assert_array_equal(hist["train"]["loss"], ref_hist["train"]["loss"])


def test_device_data_keeps_uint8_on_the_device():
    data = vaekit.training.device_resident({"x": _uint8_images()})
    assert data["x"].dtype == jnp.uint8
    state, _ = _train(data, preprocess=uint8_to_float, device_data=True, steps=4)
    assert int(state.step) == 4


def test_without_preprocess_the_batch_reaches_the_objective_unchanged():
    seen = {}

    def objective(out, batch, step):
        seen["dtype"] = batch["x"].dtype
        return vaekit.beta_vae(beta=1.0)(out, {"x": batch["x"].astype(jnp.float32)}, step)

    train = vaekit.make_train_step(objective, optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    train.evaluate(state, {"x": np.zeros((2, *INPUT_SHAPE), np.float32)})
    assert seen["dtype"] == jnp.float32


def test_the_objective_sees_the_preprocessed_batch_in_step_and_evaluate():
    seen = []

    def objective(out, batch, step):
        seen.append((batch["x"].dtype, sorted(batch)))
        return vaekit.beta_vae(beta=1.0)(out, batch, step)

    def add_flag(batch, key):
        return {**batch, "flag": jnp.ones(())}

    train = vaekit.make_train_step(objective, optax.adam(1e-3),
                                   preprocess=chain(uint8_to_float, add_flag))
    state = train.init(tiny_vae(), jax.random.key(0))
    batch = {"x": _uint8_images(4)}
    train.evaluate(state, batch)
    train.step(state, batch)
    assert seen == [(jnp.float32, ["flag", "x"])] * 2


def test_dynamic_binarization_redraws_every_step_and_resumes_identically():
    images = np.full((16, *INPUT_SHAPE), 128, np.uint8)
    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-2),
                                   preprocess=dynamic_binarize)

    def fit(state, steps):
        return vaekit.fit(train, state, {"x": images}, num_steps=steps, batch_size=8,
                          steps_per_call=2)

    full, full_hist = fit(train.init(tiny_vae(), jax.random.key(3)), 6)
    half, h1 = fit(train.init(tiny_vae(), jax.random.key(3)), 2)
    resumed, h2 = fit(half, 4)
    assert _params_equal(resumed.params, full.params)
    np.testing.assert_array_equal(
        np.concatenate([h1["train"]["loss"], h2["train"]["loss"]]), full_hist["train"]["loss"])
    # The same images (all 128) are binarised differently under different keys, into {0, 1}.
    draw = jax.jit(lambda k: dynamic_binarize({"x": images}, k)["x"])
    first, second = np.asarray(draw(jax.random.key(0))), np.asarray(draw(jax.random.key(1)))
    assert set(np.unique(first)) == {0.0, 1.0}
    assert not np.array_equal(first, second)


def test_uint8_to_float_rejects_bad_batches_naming_the_entry():
    with pytest.raises(KeyError, match="'x'"):
        uint8_to_float({"y": np.zeros(2, np.int32)})
    with pytest.raises(TypeError, match=r"batch\['x'\]"):
        uint8_to_float({"x": np.zeros(2, np.int32)})
    with pytest.raises(TypeError, match="transforms"):
        chain(uint8_to_float, 3)


def test_uint8_to_float_on_the_device_equals_numpy_division_bit_for_bit():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = np.asarray(jax.jit(uint8_to_float)({"x": x})["x"])
    np.testing.assert_array_equal(got, x.astype(np.float32) / np.float32(255.0))
