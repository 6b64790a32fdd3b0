"""Conditioning building blocks: label codes, concatenation, embeddings, FiLM, label dropout."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vaekit.conditioning import (
    FiLMGenerator,
    LabelEmbedding,
    broadcast_label_channels,
    check_labels,
    concat_label,
    drop_labels,
    film,
    guided_logits,
    one_hot,
)

# The test run's jaxtyping/beartype hook may reject a wrong rank first (TypeCheckError, a
# TypeError naming the parameter); without the hook the function's own ValueError names it.


def _names(name: str) -> str:
    return f"`{name}`|parameter '{name}'"


# ----------------------------------------------------------------------------------- one_hot


def test_one_hot_values_and_dtype():
    code = one_hot(jnp.array([2, 0, 1]), 3)
    chex.assert_shape(code, (3, 3))
    assert code.dtype == jnp.float32
    np.testing.assert_array_equal(code, np.eye(3)[[2, 0, 1]])


def test_one_hot_accepts_numpy_labels():
    np.testing.assert_array_equal(one_hot(np.array([1], np.int64), 2), [[0.0, 1.0]])


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_one_hot_checks_num_classes(bad):
    with pytest.raises((ValueError, TypeError), match=_names("num_classes")):
        one_hot(jnp.array([0]), bad)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_one_hot_rejects_concrete_out_of_range_labels(labels):
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 3\)"):
        one_hot(jnp.array(labels), 3)


def test_one_hot_under_jit_gives_a_zero_row_for_out_of_range_labels():
    code = jax.jit(one_hot, static_argnums=1)(jnp.array([1, 5, -1]), 3)
    np.testing.assert_array_equal(code, [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_check_labels_names_the_argument_and_skips_traced_values():
    labels = np.array([0, 1])
    assert check_labels(labels, 2) is labels
    with pytest.raises(ValueError, match="`y`"):
        check_labels(np.array([0, 2]), 2, name="y")
    with pytest.raises((ValueError, TypeError), match=_names("labels")):
        check_labels(jnp.zeros((2, 1), jnp.int32), 2)
    with pytest.raises(ValueError, match="1-D integer"):
        getattr(check_labels, "__wrapped__", check_labels)(jnp.zeros((2, 1), jnp.int32), 2)
    out = jax.jit(lambda y: check_labels(y, 2))(jnp.array([7]))
    np.testing.assert_array_equal(out, [7])


# -------------------------------------------------------------------------- concat / channels


def test_concat_label_keeps_x_first_and_exact():
    x = jax.random.normal(jax.random.key(0), (4, 5))
    code = one_hot(jnp.array([0, 1, 2, 0]), 3)
    out = concat_label(x, code)
    chex.assert_shape(out, (4, 8))
    np.testing.assert_array_equal(out[:, :5], x)
    np.testing.assert_array_equal(out[:, 5:], code)


def test_concat_label_is_differentiable_in_x():
    code = jnp.ones((2, 3))
    grad = jax.grad(lambda x: concat_label(x, code).sum())(jnp.zeros((2, 4)))
    np.testing.assert_array_equal(grad, np.ones((2, 4)))


def test_concat_label_errors_name_the_argument():
    with pytest.raises(ValueError, match="`code`"):
        concat_label(jnp.zeros((4, 2)), jnp.zeros((3, 2)))
    with pytest.raises((ValueError, TypeError), match=_names("x")):
        concat_label(jnp.zeros((4, 2, 1)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="`x`"):
        getattr(concat_label, "__wrapped__", concat_label)(jnp.zeros((4, 2, 1)), jnp.zeros((4, 2)))


def test_broadcast_label_channels_values():
    images = jax.random.uniform(jax.random.key(1), (2, 4, 6, 1))
    code = jnp.array([[1.0, 0.0, 0.5], [0.0, 2.0, 0.0]])
    out = broadcast_label_channels(images, code)
    chex.assert_shape(out, (2, 4, 6, 4))
    np.testing.assert_array_equal(out[..., :1], images)
    np.testing.assert_array_equal(out[..., 1:], np.broadcast_to(code[:, None, None], (2, 4, 6, 3)))


def test_broadcast_label_channels_errors_name_the_argument():
    with pytest.raises(ValueError, match="`code`"):
        broadcast_label_channels(jnp.zeros((2, 4, 4, 1)), jnp.zeros((3, 2)))
    with pytest.raises((ValueError, TypeError), match=_names("images")):
        broadcast_label_channels(jnp.zeros((2, 4, 4)), jnp.zeros((2, 2)))


# ------------------------------------------------------------------------------- embedding


def test_label_embedding_shapes_and_null_row():
    emb = LabelEmbedding(10, 4, rngs=nnx.Rngs(0))
    assert emb.embed.embedding[...].shape == (10, 4) and emb.null_label is None
    chex.assert_shape(emb(jnp.array([0, 9])), (2, 4))
    with_null = LabelEmbedding(10, 4, null_class=True, rngs=nnx.Rngs(0))
    assert with_null.embed.embedding[...].shape == (11, 4) and with_null.null_label == 10
    np.testing.assert_array_equal(
        with_null(jnp.array([10])), with_null.embed.embedding[...][10:11]
    )


def test_label_embedding_checks_labels_eagerly_and_zero_fills_under_jit():
    emb = LabelEmbedding(3, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`labels`"):
        emb(jnp.array([3]))
    out = nnx.jit(lambda m, y: m(y))(emb, jnp.array([3, 0]))
    np.testing.assert_array_equal(out[0], [0.0, 0.0])
    assert np.all(np.isfinite(out))


def test_label_embedding_checks_its_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        LabelEmbedding(0, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="dim"):
        LabelEmbedding(2, 0, rngs=nnx.Rngs(0))


# ------------------------------------------------------------------------------------ FiLM


@pytest.mark.parametrize("shape", [(3, 5), (3, 4, 4, 5)])
def test_film_formula_and_zero_identity(shape):
    h = jax.random.normal(jax.random.key(0), shape)
    scale = jax.random.normal(jax.random.key(1), (3, 5))
    shift = jax.random.normal(jax.random.key(2), (3, 5))
    middle = (1,) * (len(shape) - 2)
    expected = h * (1 + scale.reshape(3, *middle, 5)) + shift.reshape(3, *middle, 5)
    np.testing.assert_allclose(film(h, scale, shift), expected, rtol=1e-6)
    np.testing.assert_array_equal(film(h, jnp.zeros((3, 5)), jnp.zeros((3, 5))), h)


def test_film_errors_name_the_argument():
    h = jnp.zeros((3, 5))
    with pytest.raises(ValueError, match="`scale`"):
        film(h, jnp.zeros((3, 4)), jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="`shift`"):
        film(h, jnp.zeros((3, 5)), jnp.zeros((2, 5)))


def test_film_generator_is_the_identity_at_init_and_learns():
    gen = FiLMGenerator(4, 6, rngs=nnx.Rngs(0))
    code = one_hot(jnp.array([0, 3]), 4)
    h = jax.random.normal(jax.random.key(0), (2, 3, 3, 6))
    np.testing.assert_array_equal(film(h, *gen(code)), h)

    def loss(g):
        return jnp.sum((film(h, *g(code)) - 1.0) ** 2)

    grads = nnx.grad(loss)(gen)
    assert float(jnp.abs(grads.linear.kernel[...]).max()) > 0.0
    with pytest.raises(ValueError, match="`code`"):
        gen(jnp.zeros((2, 5)))


# --------------------------------------------------------------------------- label dropout


def test_drop_labels_extremes_and_dtype():
    labels = jnp.arange(6, dtype=jnp.int32)
    key = jax.random.key(0)
    np.testing.assert_array_equal(drop_labels(labels, key, 0.0, 10), labels)
    dropped = drop_labels(labels, key, 1, 10)
    np.testing.assert_array_equal(dropped, np.full(6, 10))
    assert dropped.dtype == jnp.int32


def test_drop_labels_rate_and_jit():
    labels = jnp.zeros(20_000, jnp.int32)
    dropped = jax.jit(drop_labels, static_argnums=(2, 3))(labels, jax.random.key(3), 0.25, 7)
    assert set(np.unique(np.asarray(dropped)).tolist()) == {0, 7}
    assert abs(float(jnp.mean(dropped == 7)) - 0.25) < 0.02


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_drop_labels_checks_p(p):
    with pytest.raises(ValueError, match="`p`"):
        drop_labels(jnp.array([0]), jax.random.key(0), p, 1)


def test_drop_labels_checks_null_label():
    with pytest.raises(ValueError, match="null_label"):
        drop_labels(jnp.array([0]), jax.random.key(0), 0.5, -1)


# ------------------------------------------------------------------------------- guidance


def test_guided_logits_interpolates_and_extrapolates():
    cond, uncond = jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 1.0]])
    np.testing.assert_array_equal(guided_logits(cond, uncond, 1.0), cond)
    np.testing.assert_array_equal(guided_logits(cond, uncond, 0), uncond)
    np.testing.assert_allclose(guided_logits(cond, uncond, 3.0), [[4.0, -5.0]])
    with pytest.raises((ValueError, TypeError), match="`cond` and `uncond`|parameter 'uncond'"):
        guided_logits(cond, jnp.zeros((1, 3)), 1.0)
