"""FSQ / LFQ: outputs on the grid, exact index round trips, straight-through, entropy bounds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from property_tests.strategies import BATCH, LATENT, arrays
from vaekit.quantizers import (
    fsq_bound,
    fsq_codes_to_indices,
    fsq_indices_to_codes,
    fsq_quantize,
    lfq_codes_to_indices,
    lfq_entropy,
    lfq_indices_to_codes,
    lfq_quantize,
    round_ste,
)

SHAPE = (BATCH, LATENT)
LEVEL_SETS = [(8, 5, 5, 5), (2, 3, 4, 7)]  # d = LATENT = 4; static, a few compiles only
TEMPERATURES = [0.1, 1.0, 10.0]


def _fsq_fns(levels):
    half_width = jnp.asarray(np.array(levels) // 2, jnp.float32)

    def value_and_grads(z, w):
        z_q, vjp = jax.vjp(lambda x: fsq_quantize(x, levels), z)
        (grad_q,) = vjp(w)
        (grad_bound,) = jax.vjp(lambda x: fsq_bound(x, levels) / half_width, z)[1](w)
        return z_q, grad_q, grad_bound

    def round_trips(z_q, indices):
        from_codes = fsq_codes_to_indices(z_q, levels)
        return from_codes, fsq_indices_to_codes(from_codes, levels), fsq_codes_to_indices(
            fsq_indices_to_codes(indices, levels), levels)

    return jax.jit(value_and_grads), jax.jit(round_trips)


FSQ_FNS = {levels: _fsq_fns(levels) for levels in LEVEL_SETS}
ROUND_STE = jax.jit(lambda x, w: (round_ste(x), jax.vjp(round_ste, x)[1](w)[0]))
LFQ_FNS = jax.jit(lambda z, w, i: (
    lfq_quantize(z), jax.vjp(lfq_quantize, z)[1](w)[0], lfq_codes_to_indices(z),
    lfq_indices_to_codes(lfq_codes_to_indices(z), LATENT),
    lfq_codes_to_indices(lfq_indices_to_codes(i, LATENT))))
ENTROPY = {t: jax.jit(lambda z, t=t: lfq_entropy(z, t)) for t in TEMPERATURES}


def indices(num_codes: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.integers(0, num_codes - 1), min_size=BATCH, max_size=BATCH).map(
        lambda xs: np.asarray(xs, np.int32))


@given(st.sampled_from(LEVEL_SETS), arrays(SHAPE, -10.0, 10.0), arrays(SHAPE, -2.0, 2.0),
       st.data())
def test_fsq_grid_round_trips_and_straight_through(levels, z, w, data):
    value_and_grads, round_trips = FSQ_FNS[levels]
    z_q, grad_q, grad_bound = value_and_grads(z, w)
    # Outputs are grid points: z_q · (L // 2) an integer in [−⌊L/2⌋, ⌈L/2⌉ − 1] per dimension.
    scaled = np.asarray(z_q) * (np.array(levels) // 2)
    grid = np.round(scaled)
    np.testing.assert_allclose(scaled, grid, atol=1e-5)
    assert np.all(grid >= -(np.array(levels) // 2))
    assert np.all(grid <= (np.array(levels) + 1) // 2 - 1)
    # Straight-through: the gradient is that of the un-rounded bound / half_width.
    np.testing.assert_allclose(grad_q, grad_bound, rtol=1e-6, atol=1e-7)
    # codes -> indices -> codes and indices -> codes -> indices are exact.
    idx = data.draw(indices(math.prod(levels)))
    from_codes, codes_back, idx_back = round_trips(z_q, idx)
    assert np.all((np.asarray(from_codes) >= 0) & (np.asarray(from_codes) < math.prod(levels)))
    np.testing.assert_array_equal(codes_back, z_q)
    np.testing.assert_array_equal(idx_back, idx)


@given(arrays(SHAPE, -100.0, 100.0), arrays(SHAPE, -2.0, 2.0))
def test_round_ste_is_round_forward_and_identity_backward(x, w):
    value, grad = ROUND_STE(x, w)
    np.testing.assert_array_equal(value, np.round(x))
    np.testing.assert_array_equal(grad, w)


@given(arrays(SHAPE, -10.0, 10.0), arrays(SHAPE, -2.0, 2.0), indices(2**LATENT))
def test_lfq_signs_bits_and_straight_through(z, w, idx):
    z_q, grad, from_z, codes_back, idx_back = LFQ_FNS(z, w, idx)
    np.testing.assert_array_equal(z_q, np.where(z > 0, 1.0, -1.0))  # exactly ±1
    np.testing.assert_array_equal(grad, w)
    np.testing.assert_array_equal(from_z, ((z > 0) * 2 ** np.arange(LATENT)).sum(-1))
    np.testing.assert_array_equal(codes_back, z_q)
    np.testing.assert_array_equal(idx_back, idx)


@given(st.sampled_from(TEMPERATURES), arrays(SHAPE, -5.0, 5.0))
def test_lfq_entropies_are_bounded(temperature, z):
    sample_h, codebook_h = (float(h) for h in ENTROPY[temperature](z))
    top = LATENT * math.log(2)
    tol = 1e-5 * top
    assert -tol <= sample_h <= top + tol
    assert -tol <= codebook_h <= top + tol
    assert codebook_h >= sample_h - tol  # concavity of H: H(mean p) >= mean H(p)
