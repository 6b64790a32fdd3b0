"""Properties of the importance-sampled log-likelihood (Burda et al. 2016).

A linear-Gaussian model has a closed-form marginal: ``z ~ N(0, I)``, ``x | z ~ N(Wz + b, σ² I)``
gives ``x ~ N(b, W Wᵀ + σ² I)``. With orthogonal columns in ``W`` the exact posterior is a
diagonal Gaussian, so it can be the encoder of a :class:`vaekit.VAE`; then every importance
weight equals ``p(x)`` and the estimate is exact at any ``k``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vaekit
from property_tests.strategies import arrays, floats
from tests.helpers import INPUT_SHAPE, tiny_vae
from vaekit.evaluation import importance_log_weights, log_likelihood

N, D, L, SIGMA = 8, 4, 2, 0.5
GAUSSIAN = vaekit.gaussian_nll(SIGMA)
_weights = jax.jit(importance_log_weights, static_argnums=(3, 4))


def _linear_gaussian(scales, bias, seed, *, mean_shift=0.0, logvar_shift=0.0):
    """A linear VAE whose encoder is the exact posterior shifted by ``mean_shift`` posterior
    standard deviations and ``logvar_shift`` in log-variance, and the closed-form ``log p(x)``
    and ELBO of its decoder."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(D, L)))
    w = q * scales  # orthogonal columns of norms `scales`
    post_var = 1.0 / (1.0 + scales**2 / SIGMA**2)
    mean_shift = mean_shift * np.sqrt(post_var)
    a = (post_var[:, None] * w.T) / SIGMA**2  # posterior mean = a (x − b)
    rngs = nnx.Rngs(0)
    vae = vaekit.VAE(vaekit.MLPEncoder((D,), L, (), rngs=rngs),
                     vaekit.MLPDecoder(L, (D,), (), rngs=rngs))
    vae.encoder.head.kernel[...] = jnp.asarray(np.concatenate([a.T, np.zeros((D, L))], 1),
                                                jnp.float32)
    vae.encoder.head.bias[...] = jnp.asarray(
        np.concatenate([-a @ bias + mean_shift, np.log(post_var) + logvar_shift]), jnp.float32)
    vae.decoder.head.kernel[...] = jnp.asarray(w.T, jnp.float32)
    vae.decoder.head.bias[...] = jnp.asarray(bias, jnp.float32)
    cov = w @ w.T + SIGMA**2 * np.eye(D)

    def log_px(x):
        diff = np.asarray(x, np.float64) - bias
        _, logdet = np.linalg.slogdet(cov)
        maha = np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff)
        return -0.5 * (D * math.log(2 * math.pi) + logdet + maha)

    def elbo(x):
        x = np.asarray(x, np.float64)
        m = (x - bias) @ a.T + mean_shift
        v = post_var * math.exp(logvar_shift)
        resid = np.sum((x - m @ w.T - bias) ** 2, 1) + np.sum(scales**2 * v)
        expected = -D * math.log(SIGMA) - 0.5 * D * math.log(2 * math.pi) - resid / (2 * SIGMA**2)
        kl = 0.5 * np.sum(m**2 + v - 1.0 - np.log(v), 1)
        return expected - kl

    return vae, log_px, elbo


linear_models = st.tuples(arrays((L,), 0.25, 3.0), arrays((D,), -1.0, 1.0),
                          st.integers(0, 2**16))
images = arrays((N, D), -3.0, 3.0)
binary_images = hnp.arrays(np.bool_, (N, *INPUT_SHAPE)).map(lambda a: a.astype(np.float32))
seeds = st.integers(0, 2**16)


@given(linear_models, images, seeds)
def test_exact_posterior_gives_the_closed_form_marginal_whatever_the_draws(model, x, seed):
    vae, log_px, _ = _linear_gaussian(*model)
    result = log_likelihood(vae, x, num_samples=3, likelihood=GAUSSIAN, batch_size=N,
                            key=jax.random.key(seed))
    np.testing.assert_allclose(result.log_px, log_px(x), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(result.nll, -log_px(x).mean(), rtol=1e-4, atol=1e-3)


@given(linear_models, images, seeds, st.permutations(range(N)))
def test_each_estimate_depends_only_on_its_own_image(model, x, seed, perm):
    vae, _, _ = _linear_gaussian(*model)
    perm = np.asarray(perm)
    a = log_likelihood(vae, x, num_samples=3, likelihood=GAUSSIAN, batch_size=N,
                       key=jax.random.key(seed))
    b = log_likelihood(vae, x[perm], num_samples=3, likelihood=GAUSSIAN, batch_size=N,
                       key=jax.random.key(seed + 1))
    np.testing.assert_allclose(b.log_px, np.asarray(a.log_px)[perm], rtol=1e-5, atol=1e-4)


@given(linear_models, images, seeds, floats(-0.5, 0.5), floats(0.0, 0.5))
def test_approximate_posterior_estimate_matches_the_marginal_within_its_error(
    model, x, seed, mean_shift, logvar_shift
):
    # A proposal within half a posterior standard deviation of the exact posterior, and wider:
    # the importance weights then have finite, moderate variance, so k = 1000 draws put the
    # estimate within a few delta-method standard errors of log p(x). (A shift of several
    # posterior standard deviations makes the weights heavy-tailed: the estimate is then biased
    # low by more than its sample standard error shows, as importance sampling theory says.)
    vae, log_px, elbo = _linear_gaussian(*model, mean_shift=mean_shift,
                                         logvar_shift=logvar_shift)
    k = 1000
    log_w = np.asarray(_weights(vae, {"x": x}, jax.random.key(seed), k, GAUSSIAN), np.float64)
    # Many keys at k = 1: the mean log weight is the analytic ELBO.
    se_elbo = log_w.std(0) / math.sqrt(k)
    assert np.all(np.abs(log_w.mean(0) - elbo(x)) <= 5 * se_elbo + 1e-3)
    # All k together: the IWAE estimate is log p(x) within its standard error (delta method).
    w = np.exp(log_w - log_w.max(0))
    estimate = np.log(w.mean(0)) + log_w.max(0)
    se = w.std(0) / (w.mean(0) * math.sqrt(k))
    assert np.all(np.abs(estimate - log_px(x)) <= 5 * se + 1e-3)


@jax.jit
def _forward_log_w(model, x, key):
    """−(recon NLL + sampled KL) of the model's own forward, example by example, with the
    documented key layout ``fold_in(fold_in(key, n), 0)``."""

    def one(row, n):
        out = model(row[None], key=jax.random.fold_in(jax.random.fold_in(key, n), 0))
        log_q = jnp.sum(vaekit.objectives.gaussian_log_density(out.z, out.mean, out.logvar))
        log_p = jnp.sum(vaekit.objectives.gaussian_log_density(
            out.z, jnp.zeros_like(out.z), jnp.zeros_like(out.z)))
        return -(vaekit.bernoulli_nll(out.recon, row[None])[0] + log_q - log_p)

    return jax.vmap(one)(x, jnp.arange(x.shape[0]))


@given(binary_images, seeds, seeds)
def test_k1_weight_is_minus_recon_nll_minus_sampled_kl_of_the_forward(x, model_seed, seed):
    vae, key = tiny_vae(model_seed % 4), jax.random.key(seed)
    log_w = _weights(vae, {"x": x}, key, 1, vaekit.bernoulli_nll)[0]
    np.testing.assert_allclose(log_w, _forward_log_w(vae, x, key), rtol=1e-5, atol=1e-4)


@given(binary_images, seeds, seeds)
def test_the_bound_rises_with_k_in_expectation(x, model_seed, seed):
    vae = tiny_vae(model_seed % 4)
    log_w = np.asarray(_weights(vae, {"x": x}, jax.random.key(seed), 1000,
                                vaekit.bernoulli_nll), np.float64)

    def bound(k):  # 1000 / k independent estimates at k, per image
        groups = log_w.reshape(1000 // k, k, N)
        values = jax.nn.logsumexp(groups, axis=1) - math.log(k)
        return np.mean(values), np.std(values) / math.sqrt(values.size)

    (l1, s1), (l10, s10), (l100, s100) = bound(1), bound(10), bound(100)
    assert l1 <= l10 + 3 * (s1 + s10)
    assert l10 <= l100 + 3 * (s10 + s100)
    # The first k' samples of a larger k are the same draws.
    np.testing.assert_allclose(log_w[:12], _weights(vae, {"x": x}, jax.random.key(seed), 12,
                                                    vaekit.bernoulli_nll), rtol=1e-5, atol=1e-4)


@given(binary_images, seeds, st.sampled_from([(3, 5), (N, 12)]))
def test_batching_and_sample_chunks_do_not_change_the_estimate(x, seed, sizes):
    # (3, 5): 8 images in batches of 3 (the last one padded), 12 samples in chunks of 5.
    vae, key, k = tiny_vae(0), jax.random.key(seed), 12
    batch_size, chunk = sizes
    result = log_likelihood(vae, x, num_samples=k, key=key, batch_size=batch_size,
                            sample_chunk=chunk)
    log_w = _weights(vae, {"x": x}, key, k, vaekit.bernoulli_nll)
    expected = jax.nn.logsumexp(log_w, axis=0) - math.log(k)
    np.testing.assert_allclose(result.log_px, expected, rtol=1e-5, atol=1e-4)
