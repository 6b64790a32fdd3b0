"""The autoregressive code prior: training on structured codes, sampling, code extraction."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.models import (
    CodePrior,
    code_prior_forward,
    decode_codes,
    encode_codes,
    sample_codes,
)
from vaekit.objectives import code_prior_nll
from vaekit.quantizers import FSQ, ResidualVQ, VectorQuantizer

K, GRID = 16, (2, 3)
T = math.prod(GRID)


def tiny_prior(seed: int = 0, **kwargs) -> CodePrior:
    kwargs = {"width": 16, "num_layers": 1, "num_heads": 2, **kwargs}
    return CodePrior(K, GRID, rngs=nnx.Rngs(seed), **kwargs)


def tiny_vqvae(quantizer, dim: int = 3) -> vaekit.VQVAE:
    rngs = nnx.Rngs(0)
    return vaekit.VQVAE(nnx.Linear(6, dim, rngs=rngs), quantizer, nnx.Linear(dim, 6, rngs=rngs))


def test_prior_learns_four_patterns_and_samples_them():
    patterns = np.random.default_rng(0).integers(0, K, (4, *GRID)).astype(np.int32)
    codes = jnp.asarray(np.tile(patterns, (8, 1, 1)))  # 32 grids, every pattern 8 times
    prior = tiny_prior(dropout=0.0)
    train = vaekit.make_train_step(code_prior_nll(), optax.adam(1e-2),
                                   forward=code_prior_forward)
    state = train.init(prior, jax.random.key(0))
    stacked = {"codes": jnp.broadcast_to(codes, (150, *codes.shape))}  # 150 steps, one scan
    state, metrics = train.multi_step(state, stacked)
    final = train.evaluate(state, {"codes": codes})
    # Ideal: log2(4) bits for the first code, 0 for the rest -> 2 / T = 0.33 bits per code.
    assert float(metrics["bits_per_code"][0]) > 3.0  # starts near log2 K = 4
    assert float(final["bits_per_code"]) < 0.6
    assert float(final["accuracy"]) > 0.75
    nnx.update(prior, state.params, state.rest)
    samples = np.asarray(sample_codes(prior, jax.random.key(1), 64))
    assert samples.shape == (64, *GRID)
    matches = (samples[:, None] == patterns[None]).all(axis=(2, 3))  # (64, 4)
    assert matches.any(axis=1).mean() >= 0.95
    assert matches.any(axis=0).all()  # every pattern is drawn


def test_shapes_flat_grid_and_residual_depth():
    prior = tiny_prior()
    grid_codes = jnp.arange(2 * T).reshape(2, *GRID) % K
    logits = prior(grid_codes)
    assert logits.shape == (2, T, K)
    np.testing.assert_array_equal(logits, prior(grid_codes.reshape(2, T)))
    deep = CodePrior(K, (2, 2, 3), width=16, num_layers=1, num_heads=2, rngs=nnx.Rngs(0))
    assert deep.seq_len == 12
    assert deep(jnp.zeros((3, 2, 2, 3), jnp.int32)).shape == (3, 12, K)
    assert sample_codes(deep, jax.random.key(0), 2).shape == (2, 2, 2, 3)
    assert sample_codes(deep, jax.random.key(0), 2, grid_shape=(12,)).shape == (2, 12)


def test_zero_head_is_uniform_log2_k_bits():
    prior = tiny_prior()
    prior.head.kernel[...] = jnp.zeros_like(prior.head.kernel[...])
    prior.head.bias[...] = jnp.zeros_like(prior.head.bias[...])
    codes = jnp.arange(3 * T).reshape(3, *GRID) % K
    loss, metrics = code_prior_nll()(prior(codes), {"codes": codes}, 0)
    assert float(metrics["bits_per_code"]) == pytest.approx(math.log2(K), rel=1e-6)
    assert float(loss) == pytest.approx(T * math.log(K), rel=1e-6)


def test_class_conditional_prior():
    prior = tiny_prior(num_classes=3)
    codes = jnp.zeros((2, *GRID), jnp.int32)
    a = prior(codes, jnp.array([0, 0]))
    b = prior(codes, jnp.array([0, 2]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])  # the label reaches every position, the first included
    with pytest.raises(ValueError, match="`labels`"):
        prior(codes)
    with pytest.raises(ValueError, match="`labels`"):
        prior(codes, jnp.array([0, 3]))
    with pytest.raises(ValueError, match="`labels`"):
        tiny_prior()(codes, jnp.array([0, 1]))
    loss, _ = code_prior_nll()(code_prior_forward(prior, {"codes": codes, "y": jnp.array([1, 2])},
                                                  jax.random.key(0)), {"codes": codes}, 0)
    assert np.isfinite(float(loss))
    samples = sample_codes(prior, jax.random.key(0), 2, labels=jnp.array([0, 1]))
    assert samples.shape == (2, *GRID)


def test_dropout_only_with_a_key():
    prior = tiny_prior(dropout=0.5)
    codes = jnp.arange(T).reshape(1, *GRID)
    np.testing.assert_array_equal(prior(codes), prior(codes))
    assert not np.allclose(prior(codes), prior(codes, key=jax.random.key(0)))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"num_codes": 0}, "num_codes"), ({"grid_shape": ()}, "grid_shape"),
     ({"grid_shape": (2, 0)}, "grid_shape"), ({"width": 10, "num_heads": 4}, "width"),
     ({"dropout": 1.0}, "dropout"), ({"num_classes": -1}, "num_classes"),
     ({"num_layers": 0}, "num_layers"), ({"mlp_ratio": 0}, "mlp_ratio")],
)
def test_bad_constructor_args(kwargs, name):
    args = {"num_codes": K, "grid_shape": GRID, "width": 16, "num_heads": 2, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        CodePrior(args.pop("num_codes"), args.pop("grid_shape"), rngs=nnx.Rngs(0), **args)


def test_bad_call_and_sampling_args():
    prior = tiny_prior()
    with pytest.raises(ValueError, match="`codes`"):
        prior(jnp.zeros((2, 3, 2), jnp.int32))
    with pytest.raises(ValueError, match="`codes`"):
        prior(jnp.full((2, *GRID), K, jnp.int32))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`num_samples`"):
        sample_codes(prior, key, 0)
    with pytest.raises(ValueError, match="`grid_shape`"):
        sample_codes(prior, key, 2, grid_shape=(5,))
    with pytest.raises(ValueError, match="`temperature`"):
        sample_codes(prior, key, 2, temperature=-1.0)
    with pytest.raises(ValueError, match="`labels`"):
        sample_codes(prior, key, 2, labels=jnp.zeros((3,), jnp.int32))
    objective = code_prior_nll()
    with pytest.raises(ValueError, match="codes"):
        objective(jnp.zeros((2, T, K)), {"codes": jnp.zeros((2, T + 1), jnp.int32)}, 0)
    with pytest.raises(ValueError, match="codes"):
        objective(jnp.zeros((2, T, K)), {"codes": jnp.zeros((2, T))}, 0)
    with pytest.raises(ValueError, match="logits"):
        objective(jnp.zeros((2, T)), {"codes": jnp.zeros((2, T), jnp.int32)}, 0)


@pytest.mark.parametrize(
    ("quantizer", "depth"),
    [(lambda: VectorQuantizer(8, 3, rngs=nnx.Rngs(1)), None),
     (lambda: FSQ((3, 3, 3)), None),
     (lambda: ResidualVQ(2, functools.partial(VectorQuantizer, 8, 3), rngs=nnx.Rngs(1)), 2)],
    ids=["vq", "fsq", "residual"],
)
def test_encode_decode_codes(quantizer, depth):
    model = tiny_vqvae(quantizer())
    x = np.random.default_rng(0).normal(size=(5, 2, 6)).astype(np.float32)
    codes = encode_codes(model, x, batch_size=2)  # chunks 2, 2, 1 (padded)
    expected = np.asarray(model.quantize(model.encode(x), train=False).indices)
    assert codes.dtype == np.int32
    assert codes.shape == (5, 2) + (() if depth is None else (depth,))
    np.testing.assert_array_equal(codes, expected)
    images = decode_codes(model, codes, batch_size=3)
    np.testing.assert_allclose(images, np.asarray(model.decode_indices(jnp.asarray(codes))),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="`codes`"):
        decode_codes(model, np.full_like(codes, 10_000))
    with pytest.raises(ValueError, match="`batch_size`"):
        encode_codes(model, x, batch_size=0)
    with pytest.raises(ValueError, match="`images`"):
        encode_codes(model, x[:0])


class _NoCache(nnx.Module):
    """The same prior seen only through its full forward (no ``decode_step``)."""

    def __init__(self, prior: CodePrior):
        self.inner = prior
        self.seq_len, self.grid_shape, self.num_codes = prior.seq_len, prior.grid_shape, K

    def __call__(self, codes, labels=None):
        return self.inner(codes, labels)


@pytest.mark.parametrize("num_classes", [0, 3])
def test_incremental_decoding_equals_the_full_forward(num_classes):
    prior = tiny_prior(seed=3, num_layers=2, num_classes=num_classes)
    codes = jax.random.randint(jax.random.key(1), (4, T), 0, K)
    labels = jnp.array([0, 1, 2, 1]) if num_classes else None
    full = prior(codes, labels)
    cache = prior.init_cache(4)
    previous = jnp.zeros((4,), jnp.int32)
    for t in range(T):
        logits, cache = prior.decode_step(previous, jnp.int32(t), cache, labels)
        np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5)
        previous = codes[:, t]


def test_cached_and_uncached_sampling_draw_the_same_codes():
    prior = tiny_prior(seed=5, num_layers=2)
    for temperature in (1.0, 0.0):
        cached = sample_codes(prior, jax.random.key(7), 16, temperature=temperature)
        full = sample_codes(_NoCache(prior), jax.random.key(7), 16, temperature=temperature)
        np.testing.assert_array_equal(cached, full)
