"""β-TCVAE (MWS): the decomposition telescopes to the KL estimate; batch order does not matter."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from property_tests.strategies import BATCH, LATENT, arrays
from vaekit.models import VAEOutput
from vaekit.objectives import beta_tcvae, tc_decomposition

EVENT = (3, 2)
DECOMPOSE = jax.jit(tc_decomposition, static_argnums=3)
OBJECTIVE = beta_tcvae(alpha=1.0, beta=6.0, gamma=1.0, dataset_size=1000)
METRICS = jax.jit(lambda o, b, s: OBJECTIVE(o, b, s)[1])


def posteriors(latent=LATENT):
    """(z, mean, logvar) with z = mean + σ·ε a reparameterised sample, |ε| <= 3."""
    shape = (BATCH, latent)
    return st.tuples(arrays(shape, -3.0, 3.0), arrays(shape, -3.0, 2.0),
                     arrays(shape, -3.0, 3.0)).map(
        lambda t: ((t[0] + np.exp(0.5 * t[1]) * t[2]).astype(np.float32), t[0], t[1]))


def dataset_sizes():
    return st.sampled_from([BATCH, 1000, 60_000])  # static: a few compiles only


def _np_log_normal(z, m, lv):
    z, m, lv = (np.asarray(a, np.float64) for a in (z, m, lv))
    return -0.5 * (math.log(2 * math.pi) + lv + (z - m) ** 2 * np.exp(-lv))


@given(posteriors(), dataset_sizes())
def test_terms_sum_to_the_kl_estimate(post, n):
    z, mean, logvar = post
    terms = DECOMPOSE(z, mean, logvar, n)
    kl_estimate = np.mean(
        _np_log_normal(z, mean, logvar).sum(-1) - _np_log_normal(z, 0.0, 0.0).sum(-1)
    )
    np.testing.assert_allclose(sum(float(t) for t in terms), kl_estimate, rtol=1e-4, atol=1e-3)


@given(posteriors(), dataset_sizes())
def test_total_correlation_is_finite(post, n):
    assert all(np.isfinite(float(t)) for t in DECOMPOSE(*post, n))


@given(posteriors(latent=1), dataset_sizes())
def test_one_latent_dimension_has_no_total_correlation(post, n):
    np.testing.assert_allclose(DECOMPOSE(*post, n).total_correlation, 0.0, atol=1e-5)


@given(posteriors(), arrays((BATCH, *EVENT), -8.0, 8.0), arrays((BATCH, *EVENT), 0.0, 1.0),
       st.permutations(range(BATCH)), st.integers(0, 200))
def test_objective_is_invariant_to_batch_order(post, recon, x, perm, step):
    z, mean, logvar = post
    perm = np.asarray(perm)

    def metrics(idx):
        out = VAEOutput(recon=recon[idx], mean=mean[idx], logvar=logvar[idx], z=z[idx])
        return METRICS(out, {"x": x[idx]}, jnp.int32(step))

    whole, shuffled = metrics(np.arange(BATCH)), metrics(perm)
    for key in ("loss", "mutual_info", "total_correlation", "dimwise_kl"):
        np.testing.assert_allclose(shuffled[key], whole[key], rtol=1e-4, atol=1e-4, err_msg=key)
