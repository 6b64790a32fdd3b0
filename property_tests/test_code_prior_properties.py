"""Properties of the code prior: exact causality, the NLL, and ancestral sampling."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import assume, given
from hypothesis import strategies as st

from vaekit.models import CodePrior, sample_codes
from vaekit.objectives import code_prior_nll

K, GRID, B = 8, (2, 3), 3
T = math.prod(GRID)

_graphdef, _ = nnx.split(CodePrior(K, GRID, width=16, num_layers=2, num_heads=2,
                                   rngs=nnx.Rngs(0)))


def prior_of(seed: int) -> CodePrior:
    return CodePrior(K, GRID, width=16, num_layers=2, num_heads=2, rngs=nnx.Rngs(seed))


@jax.jit
def _logits(state, codes):
    return nnx.merge(_graphdef, state)(codes)


def logits_of(prior: CodePrior, codes) -> np.ndarray:
    return np.asarray(_logits(nnx.state(prior), jnp.asarray(codes, jnp.int32)))


codes_st = st.lists(st.integers(0, K - 1), min_size=B * T, max_size=B * T).map(
    lambda v: np.asarray(v, np.int32).reshape(B, *GRID))


@given(st.integers(0, 2**16), codes_st, codes_st, st.integers(0, T - 1))
def test_logits_at_t_ignore_tokens_at_and_after_t(seed, codes, other, t):
    """Changing any token at positions >= t leaves the logits at positions <= t bit-equal."""
    prior = prior_of(seed)
    flat, noise = codes.reshape(B, T), other.reshape(B, T)
    changed = np.concatenate([flat[:, :t], noise[:, t:]], axis=1)
    np.testing.assert_array_equal(logits_of(prior, flat)[:, : t + 1],
                                  logits_of(prior, changed)[:, : t + 1])


@given(st.integers(0, 2**16), codes_st, st.integers(0, T - 2), st.integers(1, K - 1))
def test_logits_after_t_see_token_t(seed, codes, t, shift):
    """For a random init, changing token t changes the logits at t + 1."""
    prior = prior_of(seed)
    flat = codes.reshape(B, T)
    changed = flat.copy()
    changed[:, t] = (changed[:, t] + shift) % K
    a, b = logits_of(prior, flat), logits_of(prior, changed)
    assert np.all(np.any(a[:, t + 1] != b[:, t + 1], axis=-1))


@given(st.integers(0, 2**16), st.sampled_from([2, 5, 16]))
def test_objective_is_summed_negative_log_softmax(seed, k):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(B, T, k)) * 3).astype(np.float32)
    codes = rng.integers(0, k, (B, T)).astype(np.int32)
    loss, metrics = code_prior_nll()(jnp.asarray(logits), {"codes": jnp.asarray(codes)}, 0)
    x = logits.astype(np.float64)
    log_z = np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
    nll = log_z - np.take_along_axis(x, codes[..., None], -1)[..., 0]
    np.testing.assert_allclose(float(loss), nll.sum(-1).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["bits_per_code"]), nll.mean() / np.log(2),
                               rtol=1e-5)
    acc = np.mean(x.argmax(-1) == codes)
    np.testing.assert_allclose(float(metrics["accuracy"]), acc)


@given(st.sampled_from([1, 3, 1024]), st.floats(-50.0, 50.0))
def test_uniform_logits_give_log2_k_bits_per_code(k, level):
    codes = jnp.asarray(np.arange(B * T).reshape(B, T) % k, jnp.int32)
    _, metrics = code_prior_nll()(jnp.full((B, T, k), level, jnp.float32), {"codes": codes}, 0)
    np.testing.assert_allclose(float(metrics["bits_per_code"]), math.log2(k), atol=1e-5)


def _greedy(prior: CodePrior) -> tuple[np.ndarray, float]:
    """Independent greedy decoding with a Python loop; also the smallest top-2 logit gap."""
    codes, gap = np.zeros((1, T), np.int32), np.inf
    for t in range(T):
        row = np.sort(logits_of(prior, codes)[0, t])
        codes[0, t] = int(np.argmax(logits_of(prior, codes)[0, t]))
        gap = min(gap, float(row[-1] - row[-2]))
    return codes.reshape(1, *GRID), gap


@given(st.integers(0, 2**16), st.integers(0, 2**16))
def test_zero_temperature_is_argmax_and_small_temperature_tends_to_it(seed, key_seed):
    prior = prior_of(seed)
    greedy, gap = _greedy(prior)
    key = jax.random.key(key_seed)
    np.testing.assert_array_equal(np.asarray(sample_codes(prior, key, 2, temperature=0))[:1],
                                  greedy)
    assume(gap > 1e-4)  # exact near-ties would make the limit ill-defined
    cold = np.asarray(sample_codes(prior, key, 2, temperature=1e-7))
    np.testing.assert_array_equal(cold, np.concatenate([greedy, greedy]))


@given(st.integers(0, 2**16), st.integers(0, 2**16), st.floats(0.05, 20.0))
def test_samples_are_valid_indices(seed, key_seed, temperature):
    samples = np.asarray(sample_codes(prior_of(seed), jax.random.key(key_seed), 4,
                                      temperature=temperature))
    assert samples.shape == (4, *GRID) and samples.dtype == np.int32
    assert samples.min() >= 0 and samples.max() < K


class ChainPrior(nnx.Module):
    """Deterministic prior: ``c_0 = first``, ``c_t = (c_{t-1} + steps[t]) mod K``."""

    def __init__(self, first: int, steps: np.ndarray):
        self.grid_shape, self.seq_len, self.num_codes = GRID, T, K
        # Variables, not Python attributes: one compiled sampler for every example.
        self.first = nnx.Variable(jnp.asarray(first, jnp.int32))
        self.steps = nnx.Variable(jnp.asarray(steps, jnp.int32))

    def __call__(self, codes, labels=None):
        codes = codes.reshape(codes.shape[0], T)
        steps = self.steps[...]
        start = jnp.broadcast_to(self.first[...] - steps[0], (codes.shape[0], 1))
        previous = jnp.concatenate([start, codes[:, :-1]], axis=1)
        target = (previous + steps) % K
        return 1e4 * jax.nn.one_hot(target, K)


@given(st.integers(0, K - 1), st.lists(st.integers(0, K - 1), min_size=T, max_size=T),
       st.integers(0, 2**16), st.floats(0.5, 2.0))
def test_deterministic_prior_is_reproduced_by_sampling(first, steps, key_seed, temperature):
    """Each drawn token feeds the next conditional: a deterministic chain comes back exactly."""
    steps = np.asarray(steps)
    expected = (first + np.cumsum(np.concatenate([[0], steps[1:]]))) % K
    samples = np.asarray(sample_codes(ChainPrior(first, steps), jax.random.key(key_seed), 5,
                                      temperature=temperature))
    np.testing.assert_array_equal(samples.reshape(5, T), np.tile(expected, (5, 1)))
