"""permute_dims: each column keeps its multiset of values; the same key gives the same result."""

import jax
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from property_tests.strategies import arrays
from vaekit.objectives import permute_dims

PERMUTE = jax.jit(permute_dims)
SHAPES = st.sampled_from([(1, 1), (8, 4), (5, 10)])  # a few compiles only


@st.composite
def samples(draw):
    shape = draw(SHAPES)
    return draw(arrays(shape, -1e3, 1e3)), draw(st.integers(0, 2**31 - 1))


@given(samples())
def test_each_column_keeps_its_multiset(sample):
    z, seed = sample
    out = np.asarray(PERMUTE(z, jax.random.key(seed)))
    assert out.shape == z.shape
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(z, axis=0))


@given(samples())
def test_each_column_is_a_permutation_of_the_batch(sample):
    # With distinct values, every output entry comes from the same column of the input.
    z, seed = sample
    batch, latent = z.shape
    distinct = np.arange(batch * latent, dtype=np.float32).reshape(batch, latent) + 0 * z
    out = np.asarray(PERMUTE(distinct, jax.random.key(seed)))
    for j in range(latent):
        assert sorted(out[:, j].tolist()) == distinct[:, j].tolist()


@given(samples())
def test_pure_same_key_same_permutation(sample):
    z, seed = sample
    key = jax.random.key(seed)
    np.testing.assert_array_equal(PERMUTE(z, key), PERMUTE(z, key))
    np.testing.assert_array_equal(PERMUTE(z, key), permute_dims(z, key))
