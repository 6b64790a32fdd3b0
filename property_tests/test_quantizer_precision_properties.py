"""VQ, FSQ and LFQ given bfloat16 inputs behave like float32 on the same (bf16-rounded) values.

Decisions (nearest code, FSQ rounding and indices, LFQ signs) are those of the float32 path;
outputs keep the input's dtype; losses, distances and EMA statistics are float32; the
straight-through gradients are the identity in bfloat16.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st

from property_tests.strategies import BATCH, LATENT, arrays
from vaekit.quantizers import (
    FSQ,
    LFQ,
    VectorQuantizer,
    ema_update,
    fsq_codes_to_indices,
    fsq_indices_to_codes,
    fsq_quantize,
    init_ema_state,
    kmeans_init,
    lfq_codes_to_indices,
    lfq_quantize,
    nearest_code,
    quantize,
    reset_dead_codes,
    round_ste,
)

BF16, F32 = jnp.bfloat16, jnp.float32
K, D = 8, LATENT
Z_SHAPE = (2, 2, 4, D)  # 16 positions
N = math.prod(Z_SHAPE[:-1])


def bf16(x) -> np.ndarray:
    """``x`` rounded to bfloat16 (a NumPy array of the ml_dtypes bfloat16 type)."""
    return np.asarray(x, np.float32).astype(BF16)


def f32(x) -> np.ndarray:
    return np.asarray(x).astype(np.float32)


# ----------------------------------------------------------------------------------- VQ

VQ = {
    (est, cosine): jax.jit(lambda z, c, est=est, cosine=cosine: quantize(
        z, c, estimator=est, cosine=cosine))
    for est in ("straight_through", "rotation") for cosine in (False, True)
}
NEAREST = jax.jit(nearest_code)
VQ_GRAD = {
    est: jax.jit(jax.grad(lambda z, c, w, est=est: jnp.sum(
        (w * quantize(z, c, estimator=est).z_q).astype(F32))))
    for est in ("straight_through", "rotation")
}


@given(arrays(Z_SHAPE, -10.0, 10.0), arrays((K, D), -10.0, 10.0),
       st.sampled_from(sorted(VQ)), st.booleans())
def test_vq_bf16_picks_the_float32_codes_and_keeps_the_input_dtype(z, codebook, which,
                                                                   bf16_codebook):
    zb = bf16(z)
    cb = bf16(codebook) if bf16_codebook else f32(bf16(codebook))  # Param or EMA codebook
    low = VQ[which](zb, cb)
    ref = VQ[which](f32(zb), f32(cb))
    np.testing.assert_array_equal(low.indices, ref.indices)
    assert low.indices.dtype == jnp.int32
    np.testing.assert_array_equal(low.counts, ref.counts)
    # Outputs in the input's dtype; the forward value is exactly the chosen code in it.
    assert low.z_q.dtype == BF16, low.z_q.dtype
    assert low.z_q_raw.dtype == cb.dtype
    np.testing.assert_array_equal(f32(low.z_q), f32(np.asarray(low.z_q_raw).astype(BF16)))
    # Losses and usage are float32, those of the float32 path.
    for name in ("codebook_loss", "commitment_loss", "perplexity", "usage_fraction"):
        value = getattr(low, name)
        assert value.dtype == F32, name
        np.testing.assert_allclose(value, getattr(ref, name), rtol=1e-6, err_msg=name)
    # Distances are computed in float32: the float32 distances of the same values.
    idx, dist = NEAREST(zb.reshape(-1, D), cb)
    ref_idx, ref_dist = NEAREST(f32(zb).reshape(-1, D), f32(cb))
    assert dist.dtype == F32
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(dist, ref_dist)


@given(arrays(Z_SHAPE, -10.0, 10.0), arrays((K, D), -10.0, 10.0), arrays(Z_SHAPE, -5.0, 5.0))
def test_vq_bf16_straight_through_gradient_is_the_identity(z, codebook, w):
    grad = VQ_GRAD["straight_through"](bf16(z), f32(bf16(codebook)), bf16(w))
    assert grad.dtype == BF16
    np.testing.assert_array_equal(f32(grad), f32(bf16(w)))


def _vq_module():
    return VectorQuantizer(K, D, decay=0.9, dead_code_threshold=1.5, rngs=nnx.Rngs(0))


VQ_GRAPH, VQ_STATE = nnx.split(_vq_module())


@jax.jit
def vq_train_call(state, z, key):
    module = nnx.merge(VQ_GRAPH, state)
    out = module(z, key=key, train=True)
    return nnx.state(module), out


EMA_FNS = jax.jit(lambda state, z, i, key: (
    ema_update(state, z, i, decay=0.9),
    reset_dead_codes(state.codebook, state.cluster_size, z, key, threshold=1.0),
    kmeans_init(z, K, key, 3)))


@given(arrays(Z_SHAPE, -10.0, 10.0), st.integers(0, 2**31 - 1))
def test_ema_statistics_stay_float32_with_bf16_inputs(z, seed):
    key = jax.random.key(seed)
    zb = bf16(z)
    # The module, twice from the same state: bf16 and float32 inputs of the same values.
    state = VQ_STATE
    ref_state = VQ_STATE
    for _ in range(2):  # the second update starts from non-zero statistics
        state, out = vq_train_call(state, zb, key)
        ref_state, ref = vq_train_call(ref_state, f32(zb), key)
        np.testing.assert_array_equal(out.indices, ref.indices)
        assert out.z_q.dtype == BF16
    flat = jax.tree.leaves(state)
    for leaf, ref_leaf in zip(flat, jax.tree.leaves(ref_state), strict=True):
        assert leaf.dtype == ref_leaf.dtype and leaf.dtype in (F32, jnp.int32), leaf.dtype
        np.testing.assert_array_equal(leaf, ref_leaf)
    # The pure functions: float32 results equal to those of the float32 inputs.
    ema0 = init_ema_state(np.asarray(VQ_STATE["codebook"][...]))
    ema0 = ema0._replace(cluster_size=jnp.arange(K, dtype=F32) / 4.0)
    z_flat = zb.reshape(-1, D)
    idx = np.asarray(ref.indices).reshape(-1)
    low = jax.tree.leaves(EMA_FNS(ema0, z_flat, idx, key))
    ref_out = jax.tree.leaves(EMA_FNS(ema0, f32(z_flat), idx, key))
    for leaf, ref_leaf in zip(low, ref_out, strict=True):
        assert leaf.dtype in (F32, jnp.int32, jnp.bool_), leaf.dtype
        np.testing.assert_array_equal(leaf, ref_leaf)


# ---------------------------------------------------------------------------------- FSQ

# d = LATENT = 4. The first three have grids whose bf16 codes map back to their indices
# (L // 2 <= 255: bf16 rounding moves a digit by < 0.5; in bf16 arithmetic it did not for
# L = 511); the last one the largest int32 codebooks (2**31 − 2**21 codes), whose indices
# must come from the float32 codes.
FSQ_LEVELS = [(8, 5, 5, 5), (2, 3, 4, 7), (511, 64, 3, 2), (1024, 1024, 1023, 2)]
BF16_GRID = FSQ_LEVELS[:3]


EPS = 1e-4  # < 1 / (1024 − 1)


def _fsq_fns(levels):
    module = FSQ(levels, eps=EPS)

    def fns(z, w, idx):
        out = module(z)
        z_q, vjp = jax.vjp(lambda x: fsq_quantize(x, levels, EPS), z)
        codes = fsq_indices_to_codes(idx, levels)
        return (out.z_q, out.indices, z_q, vjp(w)[0], codes,
                fsq_codes_to_indices(codes.astype(z.dtype), levels),
                fsq_codes_to_indices(out.z_q, levels))

    return jax.jit(fns)


FSQ_FNS = {levels: _fsq_fns(levels) for levels in FSQ_LEVELS}
ROUND_STE = jax.jit(lambda x, w: jax.vjp(round_ste, x)[1](w)[0])


@given(st.sampled_from(FSQ_LEVELS), arrays((BATCH, LATENT), -10.0, 10.0),
       arrays((BATCH, LATENT), -2.0, 2.0), st.data())
def test_fsq_bf16_rounds_and_indexes_like_float32(levels, z, w, data):
    size = math.prod(levels)
    idx = np.asarray(data.draw(st.lists(st.integers(0, size - 1), min_size=BATCH,
                                        max_size=BATCH)), np.int32)
    zb = bf16(z)
    q, i, z_q, grad, codes, idx_back, from_q = FSQ_FNS[levels](zb, bf16(w), idx)
    rq, ri, rz_q, rgrad, _, ridx_back, _ = FSQ_FNS[levels](f32(zb), f32(bf16(w)), idx)
    # The float32 decisions, in the input's dtype.
    assert q.dtype == z_q.dtype == grad.dtype == BF16
    np.testing.assert_array_equal(f32(z_q), f32(np.asarray(rz_q).astype(BF16)))
    np.testing.assert_array_equal(f32(q), f32(np.asarray(rq).astype(BF16)))
    # Indices: int32, in range, equal to float32's (no bf16 rounding of the digits or sums).
    assert i.dtype == idx_back.dtype == jnp.int32
    np.testing.assert_array_equal(i, ri)
    assert np.all((np.asarray(i) >= 0) & (np.asarray(i) < size))
    np.testing.assert_array_equal(ridx_back, idx)
    # Grid points (the float32 codes of these indices) and exact index <-> code round trips.
    scaled = np.asarray(codes) * (np.array(levels) // 2)
    np.testing.assert_allclose(scaled, np.round(scaled), atol=1e-5)
    if levels in BF16_GRID:
        np.testing.assert_array_equal(idx_back, idx)  # through bf16 codes
        np.testing.assert_array_equal(from_q, i)
    # The straight-through gradient in bf16 is float32's, rounded.
    np.testing.assert_allclose(f32(grad), f32(rgrad), rtol=2**-7, atol=1e-6)


@given(arrays((BATCH, LATENT), -300.0, 300.0), arrays((BATCH, LATENT), -5.0, 5.0))
def test_round_ste_bf16_gradient_is_the_identity(x, w):
    grad = ROUND_STE(bf16(x), bf16(w))
    assert grad.dtype == BF16
    np.testing.assert_array_equal(f32(grad), f32(bf16(w)))


# ---------------------------------------------------------------------------------- LFQ

LFQ_MODULE = LFQ(LATENT)


@jax.jit
def lfq_fns(z, w):
    out = LFQ_MODULE(z, train=True)
    q, vjp = jax.vjp(lfq_quantize, z)
    return out, q, vjp(w)[0], lfq_codes_to_indices(z)


@given(arrays(Z_SHAPE, -10.0, 10.0), arrays(Z_SHAPE, -5.0, 5.0))
def test_lfq_bf16_signs_indices_and_losses_match_float32(z, w):
    zb = bf16(z)
    out, q, grad, idx = lfq_fns(zb, bf16(w))
    ref, rq, _, ridx = lfq_fns(f32(zb), f32(bf16(w)))
    assert q.dtype == out.z_q.dtype == grad.dtype == BF16
    np.testing.assert_array_equal(f32(q), rq)
    np.testing.assert_array_equal(f32(out.z_q), ref.z_q)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_array_equal(out.indices, ref.indices)
    assert out.indices.dtype == jnp.int32
    np.testing.assert_array_equal(f32(grad), f32(bf16(w)))  # straight-through: identity
    for name, value in {**out.losses, **out.metrics}.items():
        assert value.dtype == F32, name
        np.testing.assert_allclose(value, {**ref.losses, **ref.metrics}[name], rtol=1e-6,
                                   atol=1e-6, err_msg=name)
