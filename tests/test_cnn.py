"""Convolutional encoders and decoders: shapes, dtypes, errors, and training through a VAE."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.models import CNNDecoder, CNNEncoder, ConvDecoder, ConvEncoder, ResidualBlock

# One small configuration shared by every test: eager parameter initialisation compiles once
# per distinct kernel shape, so reusing shapes keeps the file fast.
CH, HID, LATENT = (4, 8), 16, 3
SMALL = {"channels": CH, "num_res_blocks": 1}
SHAPES = [(16, 16, 1), (32, 32, 3)]


def _images(shape, n=2, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, *shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_residual_block_preserves_shape(shape):
    block = ResidualBlock(shape[-1], 8, rngs=nnx.Rngs(0))
    x = _images(shape)
    y = block(x)
    chex.assert_shape(y, x.shape)
    chex.assert_type(y, jnp.float32)
    assert not np.allclose(y, x)  # the residual branch contributes


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_encoder_decoder_round_trip_shapes(shape):
    h, w, c = shape
    rngs = nnx.Rngs(0)
    enc = ConvEncoder(c, 8, **SMALL, rngs=rngs)
    dec = ConvDecoder(8, c, channels=CH[::-1], num_res_blocks=1, rngs=rngs)
    z_e = enc(_images(shape))
    chex.assert_shape(z_e, (2, h // 4, w // 4, 8))
    recon = dec(z_e)
    chex.assert_shape(recon, (2, *shape))
    chex.assert_type([z_e, recon], jnp.float32)
    assert len(enc.down) == 2 and len(enc.res_blocks) == 1 and len(dec.up) == 2


def test_conv_encoder_three_downsamples_and_no_res_blocks():
    enc = ConvEncoder(1, 8, channels=(4, 4, 8), num_res_blocks=0, activation="gelu",
                      rngs=nnx.Rngs(0))
    chex.assert_shape(enc(_images((16, 16, 1))), (2, 2, 2, 8))
    dec = ConvDecoder(8, 1, channels=(8, 4, 4), num_res_blocks=0, rngs=nnx.Rngs(1))
    chex.assert_shape(dec(jnp.zeros((2, 2, 2, 8))), (2, 16, 16, 1))


@pytest.mark.parametrize("shape", SHAPES)
def test_cnn_encoder_decoder_shapes(shape):
    rngs = nnx.Rngs(0)
    enc = CNNEncoder(shape, LATENT, channels=CH, hidden_size=HID, rngs=rngs)
    dec = CNNDecoder(LATENT, shape, channels=CH[::-1], hidden_size=HID, rngs=rngs)
    assert enc.input_shape == shape and enc.latent_dim == LATENT
    assert dec.output_shape == shape and dec.latent_dim == LATENT
    mean, logvar = enc(_images(shape))
    chex.assert_shape([mean, logvar], (2, LATENT))
    recon = dec(mean)
    chex.assert_shape(recon, (2, *shape))
    chex.assert_type([mean, logvar, recon], jnp.float32)


def test_default_architecture_on_64x64_dsprites_shape():
    """One (abstract) forward of the default Burgess et al. 2018 architecture: ``jax.eval_shape``
    traces initialisation and forward with every check, without compiling (the ~15 new kernel
    shapes would otherwise dominate this file's run time; small sizes run for real above)."""

    def forward(x):
        enc = CNNEncoder((64, 64, 1), 10, rngs=nnx.Rngs(0))
        dec = CNNDecoder(10, (64, 64, 1), rngs=nnx.Rngs(1))
        # 64 -> 32 -> 16 -> 8 -> 4, flattened 4 * 4 * 64 into 256 units, and back.
        assert enc.hidden.in_features == 4 * 4 * 64 and enc.hidden.out_features == 256
        assert dec.project.out_features == 4 * 4 * 64 and len(dec.up) == 4
        mean, logvar = enc(x)
        return mean, logvar, dec(mean)

    mean, logvar, recon = jax.eval_shape(forward, jax.ShapeDtypeStruct((2, 64, 64, 1), jnp.float32))
    assert mean.shape == logvar.shape == (2, 10) and recon.shape == (2, 64, 64, 1)
    assert mean.dtype == logvar.dtype == recon.dtype == jnp.float32


def test_cnn_encoder_takes_extra_label_channels():
    num_labels = 3
    enc = CNNEncoder((16, 16, 1 + num_labels), LATENT, channels=CH, hidden_size=HID,
                     rngs=nnx.Rngs(0))
    x = _images((16, 16, 1))
    onehot = jax.nn.one_hot(jnp.array([0, 2]), num_labels)
    labels = jnp.broadcast_to(onehot[:, None, None, :], (2, 16, 16, num_labels))
    mean, _ = enc(jnp.concatenate([x, labels], axis=-1))
    chex.assert_shape(mean, (2, LATENT))


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda r: CNNEncoder((20, 16, 1), 2, channels=(4, 4, 4), rngs=r), "input_shape"),
        (lambda r: CNNEncoder((16, 16), 2, rngs=r), "input_shape"),
        (lambda r: CNNEncoder((16, 16, 0), 2, channels=(4,), rngs=r), "input_shape"),
        (lambda r: CNNEncoder((16, 16, 1), 0, channels=(4,), rngs=r), "latent_dim"),
        (lambda r: CNNEncoder((16, 16, 1), 2, channels=(4, 0), rngs=r), "channels"),
        (lambda r: CNNEncoder((16, 16, 1), 2, channels=(), rngs=r), "channels"),
        (lambda r: CNNEncoder((16, 16, 1), 2, channels=(4,), hidden_size=0, rngs=r),
         "hidden_size"),
        (lambda r: CNNDecoder(2, (16, 24, 1), channels=(4, 4, 4, 4), rngs=r), "output_shape"),
        (lambda r: CNNDecoder(0, (16, 16, 1), channels=(4,), rngs=r), "latent_dim"),
        (lambda r: CNNDecoder(2, (16, 16, 1), channels=(4,), activation="swishy", rngs=r),
         "activation"),
        (lambda r: ConvEncoder(0, 4, rngs=r), "in_channels"),
        (lambda r: ConvEncoder(1, 0, rngs=r), "out_channels"),
        (lambda r: ConvEncoder(1, 4, channels=(4, -1), rngs=r), "channels"),
        (lambda r: ConvEncoder(1, 4, num_res_blocks=-1, rngs=r), "num_res_blocks"),
        (lambda r: ConvEncoder(1, 4, res_hidden_channels=0, rngs=r), "res_hidden_channels"),
        (lambda r: ConvDecoder(4, 0, rngs=r), "out_channels"),
        (lambda r: ConvDecoder(4, 1, channels=(), rngs=r), "channels"),
        (lambda r: ResidualBlock(0, 4, rngs=r), "channels"),
        (lambda r: ResidualBlock(4, 0, rngs=r), "hidden_channels"),
    ],
)
def test_bad_constructor_arguments_are_named(make, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        make(nnx.Rngs(0))


def test_wrong_input_shapes_are_rejected_by_name():
    rngs = nnx.Rngs(0)
    enc = CNNEncoder((16, 16, 1), LATENT, channels=CH, hidden_size=HID, rngs=rngs)
    with pytest.raises(ValueError, match=r"`x` must have shape \(batch, 16, 16, 1\)"):
        enc(jnp.zeros((2, 16, 16, 2)))
    dec = CNNDecoder(LATENT, (16, 16, 1), channels=CH[::-1], hidden_size=HID, rngs=rngs)
    with pytest.raises(ValueError, match="`z` must have shape"):
        dec(jnp.zeros((2, LATENT + 1)))
    conv_enc = ConvEncoder(1, 8, **SMALL, rngs=rngs)
    with pytest.raises(ValueError, match="`x` must have shape .* divisible by 4"):
        conv_enc(jnp.zeros((2, 18, 16, 1)))
    with pytest.raises(ValueError, match="`x` must have shape"):
        conv_enc(jnp.zeros((2, 16, 16, 3)))
    conv_dec = ConvDecoder(8, 1, channels=CH[::-1], num_res_blocks=1, rngs=rngs)
    with pytest.raises(ValueError, match="`z` must have shape"):
        conv_dec(jnp.zeros((2, 4, 4, 5)))
    with pytest.raises(ValueError, match="`x` must have shape"):
        ResidualBlock(8, 8, rngs=rngs)(jnp.zeros((2, 8, 8, 3)))


def _cnn_vae(seed=0):
    rngs = nnx.Rngs(seed)
    shape = (16, 16, 1)
    return vaekit.VAE(
        CNNEncoder(shape, LATENT, channels=CH, hidden_size=HID, rngs=rngs),
        CNNDecoder(LATENT, shape, channels=CH[::-1], hidden_size=HID, rngs=rngs),
    )


def test_cnn_vae_trains_and_lowers_the_loss():
    x = np.zeros((8, 16, 16, 1), np.float32)  # a 4x4 square at a different place per image
    for i in range(8):
        x[i, i + 2 : i + 6, 12 - i : 16 - i] = 1.0
    batch = {"x": x}
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3), grad_norm=True)
    state = train.init(_cnn_vae(), jax.random.key(0))
    stacked = jax.tree.map(lambda a: np.stack([a] * 40), batch)
    state, metrics = train.multi_step(state, stacked)  # one compile: 40 steps in one scan
    losses = np.asarray(metrics["loss"])
    chex.assert_shape(losses, (40,))
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(metrics["grad_norm"]))
    assert int(state.step) == 40 and train.multi_step._cache_size() == 1
    # losses[0] is the loss before any update; average the last few to damp sampling noise.
    assert losses[-5:].mean() < 0.95 * losses[0], losses


def test_generate_with_cnn_decoder():
    samples = _cnn_vae().generate(jax.random.key(0), 3)
    chex.assert_shape(samples, (3, 16, 16, 1))
    chex.assert_type(samples, jnp.float32)
