"""Conditioning also reaches a VQ-VAE's decoder (and encoder)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.models import conditional_conv_vqvae, conditional_forward


def _model():
    return conditional_conv_vqvae((8, 8, 1), num_classes=3, num_codes=8, code_dim=4,
                                  channels=(8,), num_res_blocks=1, rngs=nnx.Rngs(0))


def test_decoder_output_depends_on_the_label():
    model = _model()
    indices = jnp.zeros((1, 4, 4), jnp.int32)
    a = model.decode_indices(indices, jnp.array([0]))
    b = model.decode_indices(indices, jnp.array([2]))
    assert a.shape == (1, 8, 8, 1) and not np.allclose(a, b)
    x = jnp.ones((1, 8, 8, 1))
    assert not np.allclose(model.encode(x, jnp.array([0])), model.encode(x, jnp.array([1])))


def test_conditional_vqvae_trains_with_the_vq_objective():
    rng = np.random.default_rng(0)
    batch = {"x": (rng.random((4, 8, 8, 1)) < 0.3).astype(np.float32),
             "y": np.array([0, 1, 2, 1], np.int32)}
    train = vaekit.make_train_step(vaekit.vq_vae(), optax.adam(1e-2), forward=conditional_forward)
    state = train.init(_model(), jax.random.key(0))
    before = float(train.evaluate(state, batch)["loss"])
    state, metrics = train.multi_step(state, jax.tree.map(lambda a: np.stack([a] * 20), batch))
    assert np.all(np.isfinite(metrics["loss"])) and "perplexity" in metrics
    assert float(train.evaluate(state, batch)["loss"]) < before
