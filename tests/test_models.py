"""Encoders, decoders and the VAE container: shapes, dtypes, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, LATENT, tiny_vae


def test_vae_forward_returns_typed_record_with_shapes():
    out = tiny_vae()(jnp.zeros((5, *INPUT_SHAPE)), key=jax.random.key(0))
    assert isinstance(out, vaekit.VAEOutput)
    chex.assert_shape(out.recon, (5, *INPUT_SHAPE))
    chex.assert_shape([out.mean, out.logvar, out.z], (5, LATENT))
    chex.assert_type([out.recon, out.mean, out.logvar, out.z], jnp.float32)


def test_generate_decodes_prior_samples():
    samples = tiny_vae().generate(jax.random.key(0), 7)
    chex.assert_shape(samples, (7, *INPUT_SHAPE))
    with pytest.raises(ValueError, match="`num_samples`"):
        tiny_vae().generate(jax.random.key(0), 0)


def test_hidden_sizes_and_activation_are_configurable():
    rngs = nnx.Rngs(0)
    enc = vaekit.MLPEncoder((4,), 2, (8, 6, 5), activation="tanh", rngs=rngs)
    assert [layer.out_features for layer in enc.hidden] == [8, 6, 5]
    mean, logvar = enc(jnp.ones((3, 4)))
    chex.assert_shape([mean, logvar], (3, 2))
    dec = vaekit.MLPDecoder(2, (4,), (), activation=jax.nn.gelu, rngs=rngs)
    chex.assert_shape(dec(mean), (3, 4))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"hidden_sizes": (8, -1)}, "hidden_sizes"),
        ({"activation": "swishy"}, "activation"),
        ({"input_shape": (0, 2)}, "input_shape"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, name):
    args = {"input_shape": (4,), "latent_dim": 2, "hidden_sizes": (8,), **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        vaekit.MLPEncoder(**args, rngs=nnx.Rngs(0))


def test_decoder_rejects_wrong_latent_size():
    dec = vaekit.MLPDecoder(3, (4,), (8,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`z` must have shape"):
        dec(jnp.zeros((2, 4)))


def test_reparameterize_is_differentiable_and_keyed():
    mean, logvar = jnp.ones((4, 2)), jnp.zeros((4, 2))
    a = vaekit.reparameterize(jax.random.key(0), mean, logvar)
    b = vaekit.reparameterize(jax.random.key(0), mean, logvar)
    np.testing.assert_array_equal(a, b)
    grad = jax.grad(lambda m: vaekit.reparameterize(jax.random.key(0), m, logvar).sum())(mean)
    np.testing.assert_allclose(grad, np.ones((4, 2)))
