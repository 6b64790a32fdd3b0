"""Hypothesis property tests for vaekit.data._dsprites_device.

Every example is padded to one fixed batch size, so each jitted function compiles once.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vaekit.data import (
    FACTOR_SIZES,
    NUM_COMBINATIONS,
    factors_to_index,
    index_to_factors,
    index_to_factors_device,
    render,
    render_device,
    render_dsprites_batch,
)

BATCH = 8
indices_st = st.integers(min_value=0, max_value=NUM_COMBINATIONS - 1)
factor_row_st = st.tuples(*(st.integers(0, size - 1) for size in FACTOR_SIZES)).map(list)

render_jit = jax.jit(render_device)
index_to_factors_jit = jax.jit(index_to_factors_device)
batch_jit = jax.jit(render_dsprites_batch)


def _pad(rows: list, fill) -> np.ndarray:
    return np.asarray(rows + [fill] * (BATCH - len(rows)), dtype=np.int32)


@settings()
@given(st.lists(factor_row_st, min_size=1, max_size=BATCH))
def test_device_image_equals_host_image(rows):
    factors = _pad(rows, rows[0])
    device = np.asarray(render_jit(jnp.asarray(factors)))
    assert np.array_equal(device, render(factors))


@settings()
@given(st.lists(indices_st, min_size=1, max_size=BATCH))
def test_index_factors_index_round_trip_on_device(indices):
    padded = _pad(indices, 0)
    factors = np.asarray(index_to_factors_jit(jnp.asarray(padded)))
    assert factors.dtype == np.int32 and factors.shape == (BATCH, 5)
    assert (factors >= 0).all() and (factors < np.asarray(FACTOR_SIZES)).all()
    np.testing.assert_array_equal(factors, index_to_factors(padded))
    np.testing.assert_array_equal(factors_to_index(factors), padded)


@settings()
@given(st.lists(indices_st, min_size=BATCH, max_size=BATCH))
def test_batch_transform_is_the_rendered_batch(indices):
    indices = np.asarray(indices, dtype=np.int32)
    out = batch_jit({"index": jnp.asarray(indices)}, jax.random.key(0))
    factors = index_to_factors(indices)
    np.testing.assert_array_equal(np.asarray(out["factors"]), factors)
    np.testing.assert_array_equal(np.asarray(out["y"]), factors[:, 0])
    assert np.array_equal(np.asarray(out["x"]), render(factors))


@settings()
@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=BATCH, max_size=BATCH))
def test_traced_indices_are_clipped_into_the_grid(indices):
    indices = np.asarray(indices, dtype=np.int32)
    factors = np.asarray(index_to_factors_jit(jnp.asarray(indices)))
    clipped = np.clip(indices.astype(np.int64), 0, NUM_COMBINATIONS - 1)
    np.testing.assert_array_equal(factors, index_to_factors(clipped))
