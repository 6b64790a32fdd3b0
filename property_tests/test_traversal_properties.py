"""Property tests for vaekit.plots.traverse_latents."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vaekit.plots import traverse_latents

LATENT = 6
STEPS = 4

# Finite, normal float32 values (subnormals excluded: some backends flush them to zero).
_floats = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)
z_bases = arrays(np.float32, (LATENT,), elements=_floats)
values_arrays = arrays(np.float32, (STEPS,), elements=_floats)
# Distinct dims; only 6 possible lengths, so the inner jit compiles at most 6 times.
dims_lists = st.lists(st.integers(0, LATENT - 1), min_size=1, max_size=LATENT, unique=True)


@given(z_base=z_bases, dims=dims_lists, values=values_arrays)
def test_traverse_latents_sets_only_the_swept_coordinate(z_base, dims, values):
    out = np.asarray(traverse_latents(jnp.asarray(z_base), dims, jnp.asarray(values)))
    assert out.shape == (len(dims), STEPS, LATENT)
    assert out.dtype == np.float32
    for i, d in enumerate(dims):
        np.testing.assert_array_equal(out[i, :, d], values)
        others = [k for k in range(LATENT) if k != d]
        expected = np.broadcast_to(z_base[others], (STEPS, len(others)))
        np.testing.assert_array_equal(out[i][:, others], expected)


@given(dims=st.lists(st.integers(-20, 20), min_size=1, max_size=3))
def test_traverse_latents_rejects_out_of_range_dims(dims):
    z = jnp.zeros(LATENT)
    v = jnp.ones(STEPS)
    if all(0 <= d < LATENT for d in dims):
        assert traverse_latents(z, dims, v).shape == (len(dims), STEPS, LATENT)
    else:
        with pytest.raises(ValueError, match="dims"):
            traverse_latents(z, dims, v)
