"""Vector quantization: exact code rows, estimators, usage bounds, EMA means, chunking, RVQ."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from property_tests.strategies import arrays
from vaekit.quantizers import (
    ResidualVQ,
    VectorQuantizer,
    ema_update,
    init_ema_state,
    nearest_code,
    quantize,
)

N, K, D = 16, 8, 4
Z_SHAPE = (2, 2, 4, D)  # (B, H, W, D): 16 positions

vq_fn = {
    est: jax.jit(lambda z, c, est=est: quantize(z, c, estimator=est))
    for est in ("straight_through", "rotation")
}
st_grad = jax.jit(jax.grad(lambda z, c, w: jnp.sum(w * quantize(z, c).z_q)))
nearest = jax.jit(nearest_code, static_argnames="chunk_size")
ema_first = jax.jit(lambda c, z, i: ema_update(init_ema_state(c), z, i, decay=0.99))

rvq = ResidualVQ(3, functools.partial(VectorQuantizer, K, D, ema=False, init="uniform"),
                 rngs=nnx.Rngs(0))
rvq_graph, rvq_state = nnx.split(rvq)


@jax.jit
def rvq_round_trip(state, z):
    model = nnx.merge(rvq_graph, state)
    out = model(z, train=False)
    return out, model.lookup(out.indices)


@given(arrays(Z_SHAPE, -10.0, 10.0), arrays((K, D), -10.0, 10.0), st.sampled_from(list(vq_fn)))
def test_quantized_values_are_codebook_rows_and_forward_is_z_q(z, codebook, estimator):
    result = vq_fn[estimator](z, codebook)
    idx = np.asarray(result.indices)
    assert idx.shape == Z_SHAPE[:-1] and idx.min() >= 0 and idx.max() < K
    np.testing.assert_array_equal(result.z_q_raw, codebook[idx])  # exact rows, no rounding
    # The estimator's forward value is the code (up to one rounding of z + (q − z)).
    np.testing.assert_allclose(result.z_q, result.z_q_raw, rtol=1e-5, atol=1e-4)
    assert 1.0 <= float(result.perplexity) <= K
    assert 0.0 < float(result.usage_fraction) <= 1.0
    assert int(np.sum(result.counts)) == N


@given(arrays(Z_SHAPE, -10.0, 10.0), arrays((K, D), -10.0, 10.0), arrays(Z_SHAPE, -5.0, 5.0))
def test_straight_through_jacobian_is_the_identity(z, codebook, w):
    np.testing.assert_array_equal(st_grad(z, codebook, w), w)


@given(arrays((N, 3), -10.0, 10.0), hnp.arrays(np.int32, (N,), elements=st.integers(0, 4)))
def test_first_ema_update_sets_used_codes_to_their_cluster_means(z, idx):
    codebook = np.full((5, 3), 7.0, np.float32)
    state = ema_first(codebook, z, idx)
    for k in range(5):
        members = z[idx == k]
        if len(members):  # Laplace smoothing perturbs by <= eps (1/c + K/n) relative
            np.testing.assert_allclose(state.codebook[k], members.mean(0), rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(state.codebook[k], codebook[k])
    np.testing.assert_array_equal(state.cluster_size, np.bincount(idx, minlength=5))


SEARCH_SHAPES = [(5, 7, 2), (33, 37, 5), (20, 12, 7)]  # (N, K, chunk): chunks never divide K


@given(st.sampled_from(SEARCH_SHAPES), st.data())
def test_chunked_and_direct_search_agree(shape, data):
    n, k, chunk = shape
    z = data.draw(arrays((n, 3), -10.0, 10.0))
    codebook = data.draw(arrays((k, 3), -10.0, 10.0))
    if data.draw(st.booleans()):  # duplicate codes: exact ties across chunks
        codebook = np.concatenate([codebook[: k // 2], codebook[: k - k // 2]])
    direct, d_direct = nearest(z, codebook)
    chunked, d_chunked = nearest(z, codebook, chunk_size=chunk)
    exact = ((z[:, None, :].astype(np.float64) - codebook[None]) ** 2).sum(-1)
    # float32 rounding of ||z||² − 2 z·e + ||e||² scales with the squared norms.
    tol = 1e-5 * (1.0 + (z.astype(np.float64) ** 2).sum(-1) + (codebook**2).sum(-1).max())
    assert np.all(np.abs(np.asarray(d_direct) - np.asarray(d_chunked)) <= tol)
    for i, (a, b) in enumerate(zip(np.asarray(direct), np.asarray(chunked), strict=True)):
        # The same code, or two codes whose distances tie up to float32 rounding.
        assert a == b or abs(exact[i, a] - exact[i, b]) <= tol[i], (i, a, b)
        assert exact[i, a] <= exact[i].min() + tol[i]
        near = np.flatnonzero(exact[i] <= exact[i].min() + tol[i])
        if all(np.array_equal(codebook[j], codebook[near[0]]) for j in near):
            assert a == b == near[0]  # only copies of one code are nearest: lowest index


@given(arrays(Z_SHAPE, -2.0, 2.0))
def test_residual_vq_lookup_reproduces_the_forward_exactly(z):
    out, looked_up = rvq_round_trip(rvq_state, z)
    assert out.indices.shape == (*Z_SHAPE[:-1], 3)
    np.testing.assert_array_equal(looked_up, out.z_q_raw)
    np.testing.assert_allclose(out.z_q, out.z_q_raw, rtol=1e-5, atol=1e-5)


SEPARATED = np.concatenate([4.0 * np.eye(D), -4.0 * np.eye(D)]).astype(np.float32)  # (8, 4)


@given(hnp.arrays(np.int32, (N,), elements=st.integers(0, K - 1)), arrays((N, D), -0.4375, 0.4375))
def test_bf16_and_f32_inputs_give_the_same_unambiguous_indices(idx, noise):
    z = SEPARATED[idx] + noise  # within 0.9 of its code; other codes are >= 5.6 away
    for dtype in (jnp.float32, jnp.bfloat16):
        got, _ = nearest(jnp.asarray(z, dtype), jnp.asarray(SEPARATED, dtype))
        np.testing.assert_array_equal(got, idx)
