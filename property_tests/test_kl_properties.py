"""KL(q || N(0, I)) properties: non-negative, zero exactly at the prior, agrees with Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import LATENT, arrays, floats, posteriors

kl_per_dim = jax.jit(vaekit.gaussian_kl_per_dim)


@given(posteriors())
def test_kl_is_nonnegative(posterior):
    mean, logvar = posterior
    kl = np.asarray(kl_per_dim(mean, logvar))
    assert np.all(np.isfinite(kl))
    assert np.all(kl >= 0.0)


@given(
    st.integers(0, LATENT - 1),
    st.sampled_from(["mean", "logvar"]),
    floats(0.0625, 5.0),
    st.booleans(),
)
def test_kl_is_zero_exactly_at_the_prior_and_positive_when_moved(dim, which, size, negative):
    mean = np.zeros((1, LATENT), np.float32)
    logvar = np.zeros((1, LATENT), np.float32)
    assert np.all(np.asarray(kl_per_dim(mean, logvar)) == 0.0)
    moved = mean if which == "mean" else logvar
    moved[0, dim] = -size if negative else size
    kl = np.asarray(kl_per_dim(mean, logvar))[0]
    assert kl[dim] > 0.0
    assert np.all(np.delete(kl, dim) == 0.0)


N_MC = 20_000


@jax.jit
def _mc_kl(key, mean, logvar):
    """Monte-Carlo KL: mean and standard error of log q(z) - log p(z), z ~ q."""
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, (N_MC, *mean.shape))
    log_q = -0.5 * (jnp.square(z - mean) * jnp.exp(-logvar) + logvar)
    log_p = -0.5 * jnp.square(z)
    terms = jnp.sum(log_q - log_p, axis=-1)
    return jnp.mean(terms), jnp.std(terms) / jnp.sqrt(N_MC)


@given(arrays((LATENT,), -3.0, 3.0), arrays((LATENT,), -3.0, 2.0), st.integers(0, 2**31 - 1))
def test_analytic_kl_agrees_with_monte_carlo(mean, logvar, seed):
    estimate, se = _mc_kl(jax.random.key(seed), mean, logvar)
    analytic = float(vaekit.gaussian_kl(mean[None], logvar[None])[0])
    assert abs(float(estimate) - analytic) <= 5.0 * float(se) + 1e-3, (estimate, se, analytic)
