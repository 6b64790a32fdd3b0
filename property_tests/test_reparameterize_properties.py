"""Reparameterised samples have the posterior's mean and variance."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import LATENT, arrays

N = 4096


@jax.jit
def _samples(key, mean, logvar):
    return vaekit.reparameterize(key, jnp.broadcast_to(mean, (N, LATENT)),
                                 jnp.broadcast_to(logvar, (N, LATENT)))


@given(arrays((LATENT,), -5.0, 5.0), arrays((LATENT,), -4.0, 3.0), st.integers(0, 2**31 - 1))
def test_samples_have_the_posterior_mean_and_variance(mean, logvar, seed):
    z = np.asarray(_samples(jax.random.key(seed), mean, logvar), np.float64)
    var = np.exp(logvar.astype(np.float64))
    mean_se = np.sqrt(var / N)
    var_se = var * np.sqrt(2.0 / (N - 1))
    assert np.all(np.abs(z.mean(0) - mean) <= 5.0 * mean_se + 1e-6)
    assert np.all(np.abs(z.var(0, ddof=1) - var) <= 5.0 * var_se + 1e-6)
