"""Numerical safety: losses and gradients stay finite for extreme logits and log-variances.

No loss term clamps ``logvar`` (see ``gaussian_kl_per_dim``'s docstring for why); instead each
term documents the range where it is finite and computes in float32. These properties pin
that range: decoder logits of ±1e4, posterior means of ±1e4 and log-variances of ±80 (±40 for
DIP-VAE-II, whose penalty squares ``exp(logvar)``) give finite losses *and* gradients for every
library objective, and half-precision inputs are upcast instead of overflowing. One jitted
function evaluates all objectives, so the file compiles a handful of times.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vaekit
from vaekit.models import VAEOutput

B, L, E = 4, 3, 5
OBJECTIVES = {
    "beta_vae": vaekit.beta_vae(4.0),
    "beta_vae_gaussian": vaekit.beta_vae(1.0, vaekit.gaussian_nll(1.0)),
    "beta_vae_squares": vaekit.beta_vae(1.0, vaekit.sum_of_squares),
    "capacity_vae": vaekit.capacity_vae(gamma=1000.0, c_max=25.0, capacity_num_iter=100),
    "free_bits_vae": vaekit.free_bits_vae(0.5, 1.0),
    "beta_tcvae": vaekit.beta_tcvae(1.0, 6.0, 1.0, dataset_size=1000),
    "info_vae": vaekit.info_vae(0.0, 1000.0),
    "mmd_vae": vaekit.mmd_vae(1000.0, "rbf"),
    "dip_vae_i": vaekit.dip_vae("i"),
    "dip_vae_ii": vaekit.dip_vae("ii"),
}
LOGVAR_LIMIT = {"dip_vae_ii": 40.0}  # its penalty squares exp(logvar): finite to logvar = 43


def _extreme(limit: float, shape) -> st.SearchStrategy[np.ndarray]:
    values = st.one_of(st.sampled_from([-limit, limit, 0.0]),
                       st.floats(-limit, limit, width=32, allow_subnormal=False))
    return hnp.arrays(np.float32, shape, elements=values)


@jax.jit
def _all_objectives(recon, x, mean, logvar, eps, step):
    """Loss and gradients (recon, mean, logvar) of every objective; z is reparameterised."""
    results = {}
    for name, objective in OBJECTIVES.items():
        limit = LOGVAR_LIMIT.get(name, 80.0)

        def loss_fn(recon, mean, logvar, objective=objective):
            z = mean + jnp.exp(0.5 * logvar) * eps
            loss, _ = objective(VAEOutput(recon, mean, logvar, z), {"x": x}, step)
            return loss

        results[name] = jax.value_and_grad(loss_fn, argnums=(0, 1, 2))(
            recon, mean, jnp.clip(logvar, -limit, limit)
        )
    return results


@given(
    _extreme(1e4, (B, E)),
    hnp.arrays(np.float32, (B, E), elements=st.sampled_from([0.0, 1.0, 0.5])),
    _extreme(1e4, (B, L)),
    _extreme(80.0, (B, L)),
    hnp.arrays(np.float32, (B, L), elements=st.floats(-4.0, 4.0, width=32)),
    st.sampled_from([0, 50, 10**6]),
)
def test_every_objective_has_finite_loss_and_gradients_at_extreme_values(
    recon, x, mean, logvar, eps, step
):
    results = _all_objectives(recon, x, mean, logvar, eps, jnp.int32(step))
    for name, (loss, grads) in results.items():
        assert np.isfinite(float(loss)), (name, float(loss))
        for which, grad in zip(("recon", "mean", "logvar"), grads, strict=True):
            assert np.all(np.isfinite(grad)), (name, which, grad)


@given(_extreme(1e4, (B, L)), _extreme(80.0, (B, L)))
def test_kl_is_exact_and_unclamped_at_extreme_log_variances(mean, logvar):
    kl = np.asarray(vaekit.gaussian_kl_per_dim(mean, logvar), np.float64)
    m, v = mean.astype(np.float64), logvar.astype(np.float64)
    expected = 0.5 * (m**2 + np.expm1(v) - v)
    np.testing.assert_allclose(kl, expected, rtol=1e-5, atol=1e-5)
    # No clamp: the gradient in logvar is ½·expm1(logvar) everywhere, also beyond ±30.
    grad = jax.grad(lambda lv: jnp.sum(vaekit.gaussian_kl_per_dim(mean, lv)))(logvar)
    np.testing.assert_allclose(np.asarray(grad, np.float64), 0.5 * np.expm1(v), rtol=1e-5,
                               atol=1e-6)


def test_kl_beyond_the_float32_range_is_inf_not_nan():
    kl = vaekit.gaussian_kl_per_dim(jnp.zeros((1, 2)), jnp.array([[89.0, -1e6]]))
    assert math.isinf(float(kl[0, 0])) and float(kl[0, 1]) == 0.5 * (1e6 - 1.0)


@given(st.sampled_from([np.float16, jnp.bfloat16]), _extreme(1e4, (B, L)),
       _extreme(80.0, (B, L)), _extreme(1e4, (B, E)))
def test_half_precision_inputs_are_upcast_not_overflowed(dtype, mean, logvar, logits):
    mean, logvar, logits = (a.astype(dtype) for a in (mean, logvar, logits))
    x = np.ones((B, E), dtype)
    results = {
        "kl": vaekit.gaussian_kl_per_dim(mean, logvar),
        "bernoulli": vaekit.bernoulli_nll(logits, x),
        "squares": vaekit.sum_of_squares(logits, x),
        "gaussian": vaekit.gaussian_nll(1.0)(logits, x),
        "log_density": vaekit.objectives.gaussian_log_density(mean * 0, mean * 0, logvar),
    }
    for name, value in results.items():
        assert value.dtype == jnp.float32, name
        assert np.all(np.isfinite(value)), (name, value)
    reference = vaekit.gaussian_kl_per_dim(mean.astype(np.float32), logvar.astype(np.float32))
    np.testing.assert_array_equal(results["kl"], reference)


@given(_extreme(1e4, (B, E)), hnp.arrays(np.float32, (B, E),
                                         elements=st.floats(0.0, 1.0, width=32)))
def test_bernoulli_nll_is_exact_for_extreme_logits_with_bounded_gradient(logits, x):
    nll = np.asarray(vaekit.bernoulli_nll(logits, x), np.float64)
    lg, t = logits.astype(np.float64), x.astype(np.float64)
    expected = np.sum(np.logaddexp(0.0, lg) - lg * t, axis=-1)
    np.testing.assert_allclose(nll, expected, rtol=1e-5, atol=1e-3)
    grad = np.asarray(jax.grad(lambda a: jnp.sum(vaekit.bernoulli_nll(a, x)))(logits))
    assert np.all(np.abs(grad) <= 1.0)
