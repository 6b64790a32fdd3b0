"""Vector quantization: nearest code, losses, estimators, EMA codebooks, VQ-VAE training."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import binary_batch
from vaekit.models import VQVAE
from vaekit.objectives import vq_vae
from vaekit.quantizers import (
    FSQ,
    EMAStats,
    ResidualVQ,
    VectorQuantizer,
    code_usage,
    ema_update,
    init_ema_state,
    kmeans_init,
    nearest_code,
    quantize,
    reset_dead_codes,
    rotation_trick,
)

RNG = np.random.default_rng(0)
Z = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32)  # (B, H, W, D)
CODEBOOK = RNG.normal(size=(8, 4)).astype(np.float32)


def _np_nearest(z, codebook):
    d = ((z.astype(np.float64)[:, None, :] - codebook.astype(np.float64)[None]) ** 2).sum(-1)
    return d.argmin(-1), d.min(-1)


# --------------------------------------------------------------------------- nearest code


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_nearest_code_matches_numpy(chunk_size):
    z = Z.reshape(-1, 4)
    idx, dist = nearest_code(z, CODEBOOK, chunk_size=chunk_size)
    ref_idx, ref_dist = _np_nearest(z, CODEBOOK)
    assert idx.dtype == jnp.int32 and dist.dtype == jnp.float32
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_ties_go_to_the_lowest_index(chunk_size):
    codebook = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    z = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]], np.float32)
    idx, _ = nearest_code(z, codebook, chunk_size=chunk_size)
    assert idx.tolist() == [0, 1, 0]


# --------------------------------------------------------------------------- quantize


def test_quantize_losses_and_outputs_match_numpy():
    result = quantize(Z, CODEBOOK)
    idx, _ = _np_nearest(Z.reshape(-1, 4), CODEBOOK)
    q = CODEBOOK[idx].reshape(Z.shape)
    # Sum over positions and D, mean over the batch (per-image sums).
    ref_loss = ((Z - q) ** 2).reshape(2, -1).sum(-1).mean()
    chex.assert_shape(result.indices, (2, 3, 3))
    np.testing.assert_array_equal(result.indices.reshape(-1), idx)
    np.testing.assert_array_equal(result.z_q_raw, q)
    np.testing.assert_allclose(result.z_q, q, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(result.codebook_loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(result.commitment_loss, ref_loss, rtol=1e-5)
    np.testing.assert_array_equal(result.counts, np.bincount(idx, minlength=8))


def test_perplexity_is_k_for_uniform_usage_and_one_for_a_single_code():
    counts, perplexity, usage = code_usage(jnp.arange(16) % 8, 8)
    np.testing.assert_allclose(perplexity, 8.0, rtol=1e-6)
    assert float(usage) == 1.0 and counts.tolist() == [2] * 8
    _, perplexity, usage = code_usage(jnp.full((16,), 3), 8)
    assert float(perplexity) == 1.0 and float(usage) == 1 / 8


def test_cosine_quantizes_to_normalised_codes_by_angle():
    codebook = np.array([[10.0, 0.0], [0.0, 0.1]], np.float32)
    z = np.array([[[0.1, 1.0], [3.0, 0.5]]], np.float32)  # nearer code 0 by Euclid, code 1 by angle
    result = quantize(z, codebook, cosine=True)
    assert result.indices.tolist() == [[1, 0]]
    np.testing.assert_allclose(result.z_q_raw, [[[0.0, 1.0], [1.0, 0.0]]])


def test_rotation_trick_gradient_is_the_scaled_rotation():
    e = np.array([[0.3, -1.2, 0.5]], np.float32)
    q = np.array([[1.0, 0.4, -0.7]], np.float32)
    g = np.array([[0.2, 0.9, -1.5]], np.float32)
    out, vjp = jax.vjp(lambda z: rotation_trick(z, q), e)
    np.testing.assert_allclose(out, q, rtol=1e-6, atol=1e-6)
    u, qh = e[0] / np.linalg.norm(e), q[0] / np.linalg.norm(q)
    w = (u + qh) / np.linalg.norm(u + qh)
    rot = np.eye(3) - 2 * np.outer(w, w) + 2 * np.outer(qh, u)
    np.testing.assert_allclose(rot @ u, qh, atol=1e-6)  # R takes e's direction to q's
    expected = np.linalg.norm(q) / np.linalg.norm(e) * rot.T @ g[0]
    np.testing.assert_allclose(vjp(g)[0][0], expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- gradients


def test_param_codebook_gets_gradient_only_from_the_codebook_loss():
    vq = VectorQuantizer(8, 4, ema=False, rngs=nnx.Rngs(0))
    vq.codebook[...] = jnp.asarray(CODEBOOK)
    graphdef, params, rest = nnx.split(vq, nnx.Param, ...)
    target = RNG.normal(size=Z.shape).astype(np.float32)

    def grads(which):
        def loss(params, z_e):
            out = nnx.merge(graphdef, params, rest)(z_e)
            if which == "reconstruction":  # any loss of z_q downstream of the quantizer
                return jnp.sum((out.z_q - target) ** 2)
            return out.losses[which]

        return jax.grad(loss, argnums=(0, 1))(params, Z)

    g_params, g_z = grads("reconstruction")
    assert np.all(g_params["codebook"][...] == 0.0) and np.any(g_z != 0.0)
    g_params, g_z = grads("commitment_loss")
    assert np.all(g_params["codebook"][...] == 0.0) and np.any(g_z != 0.0)
    g_params, g_z = grads("codebook_loss")
    used = np.unique(np.asarray(quantize(Z, CODEBOOK).indices))
    g_code = np.asarray(g_params["codebook"][...])
    assert np.all(g_code[used] != 0.0) and np.all(np.delete(g_code, used, axis=0) == 0.0)
    assert np.all(g_z == 0.0)


# --------------------------------------------------------------------------- EMA


def _sonnet_ema(codebook, batches, decay, eps):
    """NumPy re-implementation of Sonnet's VectorQuantizerEMA update (hidden-EMA form)."""
    k = codebook.shape[0]
    hid_n, hid_s = np.zeros(k), np.zeros_like(codebook, np.float64)
    for t, (z, idx) in enumerate(batches, start=1):
        onehot = np.eye(k)[idx]
        hid_n -= (hid_n - onehot.sum(0)) * (1 - decay)
        hid_s -= (hid_s - onehot.T @ z) * (1 - decay)
        avg_n, avg_s = hid_n / (1 - decay**t), hid_s / (1 - decay**t)
        n = avg_n.sum()
        smoothed = (avg_n + eps) / (n + k * eps) * n
        codebook = np.where((avg_n > 0)[:, None], avg_s / smoothed[:, None], codebook)
    return codebook, avg_n


def test_ema_update_matches_sonnet_and_first_step_gives_cluster_means():
    codebook = RNG.normal(size=(5, 3)).astype(np.float32)
    batches = [(RNG.normal(size=(12, 3)).astype(np.float32), RNG.integers(0, 4, 12))
               for _ in range(3)]  # code 4 is never used
    state = init_ema_state(codebook)
    for t, (z, idx) in enumerate(batches, start=1):
        state = ema_update(state, z, jnp.asarray(idx), decay=0.9)
        ref_codebook, ref_n = _sonnet_ema(codebook.astype(np.float64), batches[:t], 0.9, 1e-5)
        np.testing.assert_allclose(state.codebook, ref_codebook, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.cluster_size, ref_n, rtol=1e-5)
        if t == 1:
            z0, idx0 = batches[0]
            for k in np.unique(idx0):
                np.testing.assert_allclose(state.codebook[k], z0[idx0 == k].mean(0), rtol=1e-4)
    assert int(state.step) == 3
    np.testing.assert_array_equal(state.codebook[4], codebook[4])  # unused: kept, not zeroed


def test_dead_code_reset_touches_only_dead_codes():
    codebook = RNG.normal(size=(6, 2)).astype(np.float32)
    counts = np.array([5.0, 0.0, 2.0, 1e-4, 3.0, 0.0], np.float32)
    z = RNG.normal(size=(10, 2)).astype(np.float32)
    new, new_counts, reset = reset_dead_codes(codebook, counts, z, jax.random.key(3), 1e-3)
    dead = counts < 1e-3
    assert reset.tolist() == dead.tolist()
    np.testing.assert_array_equal(new[~dead], codebook[~dead])
    np.testing.assert_array_equal(new_counts[~dead], counts[~dead])
    np.testing.assert_allclose(new_counts[dead], 1e-3)
    rows = [int(np.flatnonzero((z == r).all(1))[0]) for r in np.asarray(new[dead])]
    assert len(set(rows)) == 3  # distinct batch rows (drawn without replacement)
    again, _, _ = reset_dead_codes(codebook, counts, z, jax.random.key(3), 1e-3)
    np.testing.assert_array_equal(again, new)


def test_ema_module_updates_stats_in_train_mode_only():
    vq = VectorQuantizer(8, 4, decay=0.9, rngs=nnx.Rngs(0))
    assert isinstance(vq.codebook, EMAStats) and not nnx.state(vq, nnx.Param)
    before = np.asarray(vq.codebook[...])
    vq(Z, key=jax.random.key(0), train=False)
    np.testing.assert_array_equal(vq.codebook[...], before)
    out = vq(Z, key=jax.random.key(0))
    assert int(vq.ema_step[...]) == 1
    # Step 1: used codes are their cluster means; unused codes were dead and were reset, with
    # EMA sums consistent with their counts.
    z_flat, idx = Z.reshape(-1, 4), np.asarray(out.indices).reshape(-1)
    for k in np.unique(idx):
        np.testing.assert_allclose(vq.codebook[k], z_flat[idx == k].mean(0), rtol=1e-4)
    np.testing.assert_allclose(
        vq.embed_sum[...], vq.codebook[...] * vq.cluster_size[...][:, None], rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="`key`"):
        vq(Z)


def test_kmeans_init_finds_separated_clusters():
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], np.float32)
    z = np.repeat(centres, 4, axis=0) + RNG.normal(scale=0.1, size=(12, 2)).astype(np.float32)
    found = np.asarray(kmeans_init(z, 3, jax.random.key(0), num_iters=5))
    for c in centres:
        assert np.min(np.linalg.norm(found - c, axis=1)) < 0.2


def test_init_kmeans_restarts_the_ema_statistics():
    # After EMA history, k-means centroids must not be pulled back toward the old running
    # means: the next train-mode step is a first step again (exact cluster means).
    vq = VectorQuantizer(4, 1, decay=0.99, dead_code_threshold=None, rngs=nnx.Rngs(0))
    for i in range(5):
        vq(jnp.array([[[0.0], [0.1], [1.0], [1.1]]]), key=jax.random.key(i))
    assert int(vq.ema_step[...]) == 5
    z2 = jnp.array([[[10.0], [20.0], [30.0], [40.0]]])
    vq.init_kmeans(z2, jax.random.key(0))
    assert int(vq.ema_step[...]) == 0
    np.testing.assert_array_equal(vq.cluster_size[...], 0.0)
    np.testing.assert_array_equal(vq.embed_sum[...], 0.0)
    out = vq(z2, key=jax.random.key(9))
    idx = np.asarray(out.indices).reshape(-1)
    for k in np.unique(idx):
        np.testing.assert_allclose(vq.codebook[k], np.asarray(z2).reshape(-1, 1)[idx == k].mean(0),
                                   rtol=1e-5)


# --------------------------------------------------------------------------- residual VQ


def test_residual_vq_sums_levels_and_lookup_round_trips():
    rvq = ResidualVQ(3, functools.partial(VectorQuantizer, 8, 4, ema=False), rngs=nnx.Rngs(1))
    out = rvq(Z * 0.1)
    chex.assert_shape(out.indices, (2, 3, 3, 3))
    np.testing.assert_array_equal(rvq.lookup(out.indices), out.z_q_raw)
    np.testing.assert_allclose(out.z_q, out.z_q_raw, rtol=1e-6, atol=1e-6)
    level_outs, residual = [], jnp.asarray(Z * 0.1)
    for level in rvq.levels:
        level_outs.append(level(residual))
        residual = residual - level_outs[-1].z_q_raw
    np.testing.assert_allclose(out.losses["commitment_loss"],
                               sum(o.losses["commitment_loss"] for o in level_outs), rtol=1e-6)
    assert set(out.metrics) == {f"{m}_{i}" for m in ("perplexity", "codebook_usage")
                                for i in range(3)}


def test_residual_vq_level_factory_is_checked():
    with pytest.raises((ValueError, TypeError), match="level"):  # vaekit's or beartype's
        ResidualVQ(2, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`level` must return a VectorQuantizer"):
        ResidualVQ(2, lambda rngs: FSQ((3, 3)), rngs=nnx.Rngs(0))
    sizes = iter([8, 4])
    with pytest.raises(ValueError, match="different \\(num_codes, dim\\)"):
        ResidualVQ(2, lambda rngs: VectorQuantizer(next(sizes), 4, rngs=rngs), rngs=nnx.Rngs(0))


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_codes": 0}, "num_codes"),
        ({"decay": 1.0}, "decay"),
        ({"decay": 0.0}, "decay"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"estimator": "gumbel"}, "estimator"),
        ({"init": "normal"}, "init"),
        ({"dead_code_threshold": -1.0}, "dead_code_threshold"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, name):
    args = {"num_codes": 8, "dim": 4, **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        VectorQuantizer(**args, rngs=nnx.Rngs(0))


def test_bad_call_arguments_are_named():
    vq = VectorQuantizer(8, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`z_e`"):
        vq(jnp.zeros((2, 5)), train=False)
    with pytest.raises(ValueError, match="`indices`"):
        vq.lookup(jnp.array([0, 8]))
    with pytest.raises(ValueError, match="`commitment_cost`"):
        vq_vae(commitment_cost=-1.0)
    with pytest.raises(ValueError, match="`estimator`"):
        quantize(Z, CODEBOOK, estimator="gumbel")


@pytest.mark.parametrize("typecheck", [True, False])
def test_dimension_mismatch_names_the_argument(typecheck):
    fn = nearest_code if typecheck else nearest_code.__wrapped__
    with pytest.raises((ValueError, TypeError), match="parameter 'codebook'|`z` and `codebook`"):
        fn(jnp.zeros((3, 4)), jnp.zeros((5, 3)))


# --------------------------------------------------------------------------- VQ-VAE training


class TinyEncoder(nnx.Module):
    def __init__(self, dim, rngs):
        self.conv = nnx.Conv(1, 8, (3, 3), strides=(2, 2), rngs=rngs)
        self.proj = nnx.Conv(8, dim, (1, 1), rngs=rngs)

    def __call__(self, x):
        return self.proj(jax.nn.relu(self.conv(x)))


class TinyDecoder(nnx.Module):
    def __init__(self, dim, rngs):
        self.up = nnx.ConvTranspose(dim, 8, (2, 2), strides=(2, 2), rngs=rngs)
        self.out = nnx.Conv(8, 1, (3, 3), rngs=rngs)

    def __call__(self, z):
        return self.out(jax.nn.relu(self.up(z)))


def test_vqvae_trains_through_make_train_step_with_ema_state_in_rest():
    rngs = nnx.Rngs(0)
    model = VQVAE(TinyEncoder(4, rngs), VectorQuantizer(16, 4, rngs=rngs), TinyDecoder(4, rngs))
    train = vaekit.make_train_step(vq_vae(), optax.adam(1e-2), grad_norm=True)
    state = train.init(model, jax.random.key(0))
    assert "quantizer" not in state.params  # an EMA quantizer has no parameters
    assert "codebook" in state.rest["quantizer"]
    codebook0 = np.asarray(state.rest["quantizer"]["codebook"][...])
    batch = binary_batch()  # (8, 6, 6, 1): z_e is (8, 3, 3, 4)
    before = train.evaluate(state, batch)
    state, metrics = train.multi_step(state, jax.tree.map(lambda a: np.stack([a] * 30), batch))
    after = train.evaluate(state, batch)
    assert {"loss", "reconstruction_loss", "codebook_loss", "commitment_loss",
            "commitment_loss_weight", "codebook_loss_weight", "perplexity", "codebook_usage",
            "grad_norm"} == set(metrics)
    assert int(state.rest["quantizer"]["ema_step"][...]) == 30
    assert not np.allclose(state.rest["quantizer"]["codebook"][...], codebook0)
    assert float(after["loss"]) < 0.9 * float(before["loss"]), (before["loss"], after["loss"])
    assert np.all(np.asarray(metrics["perplexity"]) >= 1.0)
    model = state.model()
    out = model(batch["x"], key=jax.random.key(1), train=False)
    np.testing.assert_allclose(model.decode_indices(out.indices), out.recon, rtol=1e-5,
                               atol=1e-5)
