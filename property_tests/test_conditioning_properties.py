"""Hypothesis properties of conditioning: codes, concatenation, FiLM identity, label dropout,
and that a conditional VAE's encoder and decoder depend on the label.

Shapes are fixed and small, so each jitted/eager kernel compiles once.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from property_tests.strategies import arrays
from vaekit.conditioning import (
    FiLMGenerator,
    broadcast_label_channels,
    concat_label,
    drop_labels,
    film,
    one_hot,
)
from vaekit.models import conditional_mlp_vae

BATCH = 4
CLASSES = 5
IMAGE = (4, 4, 1)

labels_st = hnp.arrays(np.int32, (BATCH,), elements=st.integers(0, CLASSES - 1))
seeds = st.integers(0, 2**31 - 1)

_CVAE = conditional_mlp_vae(IMAGE, CLASSES, 3, (16,), rngs=nnx.Rngs(0))
_FILM = FiLMGenerator(CLASSES, 6, rngs=nnx.Rngs(0))


@given(labels_st)
def test_one_hot_rows_sum_to_one_with_the_one_at_the_label(labels):
    code = np.asarray(one_hot(labels, CLASSES))
    np.testing.assert_array_equal(code.sum(axis=1), np.ones(BATCH))
    np.testing.assert_array_equal(code[np.arange(BATCH), labels], np.ones(BATCH))
    assert set(np.unique(code).tolist()) <= {0.0, 1.0}


@given(arrays((BATCH, 6), -1e6, 1e6), labels_st)
def test_concat_preserves_x_exactly_in_the_leading_features(x, labels):
    code = one_hot(labels, CLASSES)
    out = np.asarray(concat_label(x, code))
    assert out.shape == (BATCH, 6 + CLASSES)
    np.testing.assert_array_equal(out[:, :6], x)
    np.testing.assert_array_equal(out[:, 6:], code)


@given(arrays((BATCH, 2, 3, 1), -10.0, 10.0), arrays((BATCH, 3), -5.0, 5.0))
def test_broadcast_channels_equal_the_code_at_every_pixel(images, code):
    out = np.asarray(broadcast_label_channels(images, code))
    assert out.shape == (BATCH, 2, 3, 4)
    np.testing.assert_array_equal(out[..., :1], images)
    for row in range(2):
        for col in range(3):
            np.testing.assert_array_equal(out[:, row, col, 1:], code)


@given(arrays((BATCH, 3, 6), -1e3, 1e3))
def test_film_with_zero_parameters_is_the_identity(h):
    zeros = np.zeros((BATCH, 6), np.float32)
    np.testing.assert_array_equal(film(h, zeros, zeros), h)


@given(arrays((BATCH, 3, 6), -1e3, 1e3), labels_st)
def test_film_generator_at_init_is_the_identity(h, labels):
    scale, shift = _FILM(one_hot(labels, CLASSES))
    np.testing.assert_array_equal(film(h, scale, shift), h)


@given(labels_st, seeds)
def test_label_dropout_p0_is_identity_and_p1_is_all_null(labels, seed):
    key = jax.random.key(seed)
    np.testing.assert_array_equal(drop_labels(labels, key, 0.0, CLASSES), labels)
    np.testing.assert_array_equal(drop_labels(labels, key, 1.0, CLASSES), np.full(BATCH, CLASSES))


@given(labels_st, seeds, st.floats(0.0, 1.0))
def test_label_dropout_keeps_or_nulls_each_label(labels, seed, p):
    out = np.asarray(drop_labels(labels, jax.random.key(seed), p, CLASSES))
    assert np.all((out == labels) | (out == CLASSES))


@given(arrays((BATCH, *IMAGE), 0.0, 1.0), labels_st, st.integers(1, CLASSES - 1))
def test_encoder_and_decoder_outputs_depend_on_the_label(x, labels, shift):
    other = (labels + shift) % CLASSES  # a different label in every row
    mean, logvar = _CVAE.encode(x, labels)
    mean2, logvar2 = _CVAE.encode(x, other)
    changed = np.any(np.asarray(mean) != np.asarray(mean2), axis=1)
    changed |= np.any(np.asarray(logvar) != np.asarray(logvar2), axis=1)
    assert changed.all()
    z = jnp.asarray(mean)
    dec, dec2 = np.asarray(_CVAE.decode(z, labels)), np.asarray(_CVAE.decode(z, other))
    assert np.all(np.any((dec != dec2).reshape(BATCH, -1), axis=1))
