"""The conditional VAE (Sohn et al. 2015): it trains through the generic step with any VAE
objective, both halves depend on the label, and it generates the digit it is asked for."""

import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.data import (
    DIGITS_IMAGE_SHAPE,
    DIGITS_NUM_CLASSES,
    DIGITS_SIZE,
    load_digits_dataset,
)
from vaekit.models import (
    ConditionalVAE,
    conditional_cnn_vae,
    conditional_forward,
    conditional_forward_with_dropout,
    conditional_mlp_vae,
    label_code_dim,
)

TINY_IMAGE = (16, 16, 1)
TINY_CLASSES = 3


def _tiny_mlp(label_code="one_hot", null_class=False, seed=0):
    return conditional_mlp_vae(TINY_IMAGE, TINY_CLASSES, 4, (16,), rngs=nnx.Rngs(seed),
                               label_code=label_code, embedding_dim=5, null_class=null_class)


def _tiny_cnn(label_code="one_hot", null_class=False, seed=0):
    return conditional_cnn_vae(TINY_IMAGE, TINY_CLASSES, 4, (8, 8), rngs=nnx.Rngs(seed),
                               hidden_size=16, label_code=label_code, embedding_dim=5,
                               null_class=null_class)


BUILDERS = {"mlp": _tiny_mlp, "cnn": _tiny_cnn}


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": (rng.random((n, *TINY_IMAGE)) < 0.3).astype(np.float32),
        "y": rng.integers(0, TINY_CLASSES, n).astype(np.int32),
    }


def _stack(batch, k):
    return jax.tree.map(lambda a: np.stack([a] * k), batch)


# ------------------------------------------------------------- conditioning actually works


def _per_class_accuracy(classifier, images, labels) -> float:
    pred = classifier.predict(np.asarray(images).reshape(len(images), -1))
    labels = np.asarray(labels)
    return float(np.mean([np.mean(pred[labels == c] == c) for c in np.unique(labels)]))


def test_mlp_cvae_on_digits_generates_the_requested_class():
    """Train a CVAE on the 8x8 digits, then a classifier trained on *real* digits must
    recognise the class of samples generated for each label (chance is 0.1)."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    data = load_digits_dataset(num_val=297, seed=0)
    model = conditional_mlp_vae(DIGITS_IMAGE_SHAPE, DIGITS_NUM_CLASSES, 8, (256,),
                                rngs=nnx.Rngs(0))
    labels = jnp.repeat(jnp.arange(DIGITS_NUM_CLASSES), 50)
    untrained = jax.nn.sigmoid(model.generate(jax.random.key(1), labels))

    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-3),
                                   forward=conditional_forward)
    state = train.init(model, jax.random.key(0))
    state, history = vaekit.fit(
        train, state, {"x": data.train_images, "y": data.train_labels},
        num_steps=1500, batch_size=64, steps_per_call=1500,
    )
    assert np.all(np.isfinite(history["train"]["loss"]))
    samples = jax.nn.sigmoid(state.model().generate(jax.random.key(1), labels))
    chex.assert_shape(samples, (500, *DIGITS_IMAGE_SHAPE))

    flat = data.train_images.reshape(len(data.train_images), -1)
    with threadpoolctl.threadpool_limits(1):  # BLAS threads thrash on a shared 2-core box
        classifier = linear_model.LogisticRegression(max_iter=1000).fit(flat, data.train_labels)
        real = _per_class_accuracy(classifier, data.val_images, data.val_labels)
        before = _per_class_accuracy(classifier, untrained, labels)
        after = _per_class_accuracy(classifier, samples, labels)
    # Measured (2026-11-25, 2-core CPU): real 0.978, untrained 0.108, trained 1.000.
    assert real > 0.9, real
    assert before < 0.3, before
    assert after > 0.9, after


# -------------------------------------------------------- training through the generic step


def test_cnn_cvae_trains_with_beta_vae_through_make_train_step():
    train = vaekit.make_train_step(vaekit.beta_vae(beta=4.0), optax.adam(1e-3),
                                   forward=conditional_forward, grad_norm=True)
    state = train.init(_tiny_cnn(), jax.random.key(0))
    state, metrics = train.multi_step(state, _stack(_batch(), 3))
    chex.assert_shape(metrics["loss"], (3,))
    assert int(state.step) == 3
    assert np.all(np.isfinite(metrics["loss"])) and np.all(np.isfinite(metrics["grad_norm"]))
    assert float(metrics["beta"][0]) == 4.0


def test_capacity_vae_applies_unchanged_and_learns():
    objective = vaekit.capacity_vae(gamma=10.0, c_max=5.0, capacity_num_iter=100)
    train = vaekit.make_train_step(objective, optax.adam(1e-2), forward=conditional_forward)
    state = train.init(_tiny_mlp(), jax.random.key(0))
    batch = _batch()
    before = float(train.evaluate(state, batch)["loss"])
    state, metrics = train.multi_step(state, _stack(batch, 40))
    assert {"capacity_loss", "current_capacity", "kl_loss"} <= set(metrics)
    assert float(train.evaluate(state, batch)["loss"]) < before


def test_label_dropout_forward_trains_a_null_class_model():
    model = _tiny_mlp(label_code="embedding", null_class=True)
    forward = conditional_forward_with_dropout(0.5, model.null_label)
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3), forward=forward)
    state = train.init(model, jax.random.key(0))
    state, metrics = train.multi_step(state, _stack(_batch(), 2))
    assert np.all(np.isfinite(metrics["loss"]))
    with pytest.raises(ValueError, match="`p`"):
        conditional_forward_with_dropout(1.5, 3)
    with pytest.raises((ValueError, TypeError), match="null_label"):
        conditional_forward_with_dropout(0.5, -1)


def test_conditional_forward_reads_x_and_y():
    model, batch = _tiny_mlp(), _batch()
    out = conditional_forward(model, batch, jax.random.key(0))
    ref = model(batch["x"], batch["y"], key=jax.random.key(0))
    np.testing.assert_array_equal(out.recon, ref.recon)


# ------------------------------------------------------------------------- shapes and label


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("label_code", ["one_hot", "embedding"])
def test_shapes(arch, label_code):
    model = BUILDERS[arch](label_code=label_code)
    batch = _batch()
    out = model(batch["x"], batch["y"], key=jax.random.key(0))
    assert isinstance(out, vaekit.VAEOutput)
    chex.assert_shape(out.recon, (6, *TINY_IMAGE))
    chex.assert_shape([out.mean, out.logvar, out.z], (6, 4))
    chex.assert_shape(model.generate(jax.random.key(0), jnp.array([0, 2])), (2, *TINY_IMAGE))
    assert model.latent_dim == 4
    assert model.code_dim == (5 if label_code == "embedding" else TINY_CLASSES)


def test_builders_size_encoder_and_decoder_for_the_code():
    mlp = conditional_mlp_vae((8, 8, 1), 10, 8, (256,), rngs=nnx.Rngs(0))
    assert mlp.encoder.input_shape == (74,) and mlp.decoder.latent_dim == 18
    cnn = conditional_cnn_vae((16, 16, 1), 10, 8, (8, 8), rngs=nnx.Rngs(0), null_class=True)
    assert cnn.encoder.input_shape == (16, 16, 12) and cnn.decoder.latent_dim == 19
    assert cnn.encoder_conditioning == "channels" and mlp.encoder_conditioning == "flat"
    assert label_code_dim(10, "embedding", 7, null_class=True) == 7


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("label_code", ["one_hot", "embedding"])
def test_changing_only_y_changes_encoder_and_decoder(arch, label_code):
    model = BUILDERS[arch](label_code=label_code)
    x = _batch()["x"]
    y0 = np.zeros(6, np.int32)
    y1 = np.full(6, 2, np.int32)
    mean0, _ = model.encode(x, y0)
    mean1, _ = model.encode(x, y1)
    assert np.all(np.any(np.asarray(mean0) != np.asarray(mean1), axis=1))
    z = jax.random.normal(jax.random.key(0), (6, 4))
    dec0, dec1 = model.decode(z, y0), model.decode(z, y1)
    assert np.all(np.any(np.asarray(dec0) != np.asarray(dec1), axis=(1, 2, 3)))
    np.testing.assert_array_equal(model.encode(x, y0)[0], mean0)  # deterministic


def test_generate_uses_only_the_explicit_key():
    model = _tiny_mlp()
    labels = jnp.array([0, 1, 2])
    a = model.generate(jax.random.key(0), labels)
    np.testing.assert_array_equal(a, model.generate(jax.random.key(0), labels))
    assert not np.array_equal(a, model.generate(jax.random.key(1), labels))


def test_classifier_free_guidance():
    model = _tiny_mlp(null_class=True)
    labels, key = jnp.array([0, 1, 2]), jax.random.key(0)
    cond = model.generate(key, labels)
    np.testing.assert_allclose(model.generate(key, labels, guidance_scale=1.0), cond, atol=1e-6)
    z = jax.random.normal(key, (3, model.latent_dim))
    uncond = model.decode(z, jnp.full(3, model.null_label))
    np.testing.assert_allclose(model.generate(key, labels, guidance_scale=0), uncond, atol=1e-6)
    guided = model.generate(key, labels, guidance_scale=3.0)
    np.testing.assert_allclose(guided, uncond + 3.0 * (cond - uncond), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="null_class"):
        _tiny_mlp().generate(key, labels, guidance_scale=2.0)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mismatched_batch_sizes_name_y(arch):
    model, batch = BUILDERS[arch](), _batch()
    with pytest.raises(ValueError, match="`y`"):
        model(batch["x"], batch["y"][:4], key=jax.random.key(0))
    with pytest.raises(ValueError, match="`y`"):
        model.decode(jnp.zeros((6, 4)), batch["y"][:5])


def test_mismatched_batch_sizes_name_y_under_jit():
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3),
                                   forward=conditional_forward)
    state = train.init(_tiny_mlp(), jax.random.key(0))
    batch = _batch()
    with pytest.raises(ValueError, match="`y`"):
        train.evaluate(state, {"x": batch["x"], "y": batch["y"][:3]})


def test_out_of_range_labels_name_y():
    model, batch = _tiny_mlp(), _batch()
    with pytest.raises(ValueError, match="`y` must lie"):
        model(batch["x"], np.full(6, TINY_CLASSES, np.int32), key=jax.random.key(0))
    with pytest.raises(ValueError, match="`labels` must lie"):
        model.generate(jax.random.key(0), jnp.array([-1]))
    # The null label exists only with null_class=True.
    _tiny_mlp(null_class=True).generate(jax.random.key(0), jnp.array([TINY_CLASSES]))


def test_constructor_errors_name_the_argument():
    rngs = nnx.Rngs(0)
    enc = vaekit.MLPEncoder((20,), 4, (8,), rngs=rngs)
    with pytest.raises(ValueError, match="`decoder`"):
        ConditionalVAE(enc, vaekit.MLPDecoder(3, (4,), (8,), rngs=rngs), 3)
    dec = vaekit.MLPDecoder(7, (4,), (8,), rngs=rngs)
    with pytest.raises(ValueError, match="`rngs`"):
        ConditionalVAE(enc, dec, 3, label_code="embedding", embedding_dim=3)
    with pytest.raises(ValueError, match="`label_code`"):
        ConditionalVAE(enc, dec, 3, label_code="film")
    with pytest.raises(ValueError, match="`encoder_conditioning`"):
        ConditionalVAE(enc, dec, 3, encoder_conditioning="spatial")
    with pytest.raises((ValueError, TypeError), match="num_classes"):
        ConditionalVAE(enc, dec, 0)
    with pytest.raises(ValueError, match="`image_shape`"):
        conditional_cnn_vae((16, 16), 3, 4, (8, 8), rngs=rngs)
    assert ConditionalVAE(enc, dec, 3).latent_dim == 4


# ----------------------------------------------------------------------------- digits data


def test_digits_split_shapes_ranges_and_determinism():
    pytest.importorskip("sklearn")
    split = load_digits_dataset(num_val=100, seed=3)
    chex.assert_shape([split.train_images, split.val_images],
                      [(DIGITS_SIZE - 100, 8, 8, 1), (100, 8, 8, 1)])
    assert split.train_images.dtype == np.float32 and split.train_labels.dtype == np.int32
    assert split.train_images.min() == 0.0 and split.train_images.max() == 1.0
    assert set(np.unique(split.train_labels).tolist()) == set(range(10))
    again = load_digits_dataset(num_val=100, seed=3)
    np.testing.assert_array_equal(split.val_labels, again.val_labels)
    np.testing.assert_array_equal(split.val_images, again.val_images)
    other = load_digits_dataset(num_val=100, seed=4)
    assert not np.array_equal(split.val_images, other.val_images)
    every = np.concatenate([split.train_images, split.val_images]).reshape(DIGITS_SIZE, -1)
    assert len(np.unique(every, axis=0)) == len(np.unique(
        load_digits_dataset(num_val=0).train_images.reshape(DIGITS_SIZE, -1), axis=0))


@pytest.mark.parametrize("num_val", [-1, DIGITS_SIZE, 1.5])
def test_digits_checks_num_val(num_val):
    with pytest.raises((ValueError, TypeError), match="num_val"):
        load_digits_dataset(num_val=num_val)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install vaekit\[eval\]"):
        load_digits_dataset()
