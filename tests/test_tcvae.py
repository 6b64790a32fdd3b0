"""β-TCVAE (MWS) against slow float64 numpy loops, jitted and not (chex.variants)."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vaekit.models import VAEOutput
from vaekit.objectives import (
    TCTerms,
    beta_tcvae,
    gaussian_log_density,
    tc_decomposition,
)

B, D, N = 5, 3, 100
RNG = np.random.default_rng(0)
MEAN = RNG.normal(size=(B, D)).astype(np.float32)
LOGVAR = RNG.uniform(-2.0, 1.0, size=(B, D)).astype(np.float32)
Z = (MEAN + np.exp(0.5 * LOGVAR) * RNG.normal(size=(B, D))).astype(np.float32)
LOGITS = (2 * RNG.normal(size=(B, 4))).astype(np.float32)
X = (RNG.random((B, 4)) < 0.5).astype(np.float32)


def np_log_normal(z, m, lv):
    return -0.5 * (math.log(2 * math.pi) + lv + (z - m) ** 2 / math.exp(lv))


def np_logsumexp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def np_tc(z, mean, logvar, n):
    """Obviously-correct MWS decomposition: explicit loops over i, j, d in float64."""
    z, mean, logvar = (np.asarray(a, np.float64) for a in (z, mean, logvar))
    m, d_ = z.shape
    log_nm = math.log(n * m)
    mi = tc = dwkl = 0.0
    for i in range(m):
        log_qzx = sum(np_log_normal(z[i, d], mean[i, d], logvar[i, d]) for d in range(d_))
        log_pz = sum(np_log_normal(z[i, d], 0.0, 0.0) for d in range(d_))
        joint = [sum(np_log_normal(z[i, d], mean[j, d], logvar[j, d]) for d in range(d_))
                 for j in range(m)]
        log_qz = np_logsumexp(joint) - log_nm
        log_prod = sum(
            np_logsumexp([np_log_normal(z[i, d], mean[j, d], logvar[j, d]) for j in range(m)])
            - log_nm
            for d in range(d_)
        )
        mi += (log_qzx - log_qz) / m
        tc += (log_qz - log_prod) / m
        dwkl += (log_prod - log_pz) / m
    return mi, tc, dwkl


def _out():
    return VAEOutput(recon=jnp.asarray(LOGITS), mean=jnp.asarray(MEAN),
                     logvar=jnp.asarray(LOGVAR), z=jnp.asarray(Z))


class TestTCVAE(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_log_density_matches_loops(self):
        out = self.variant(gaussian_log_density)(Z, MEAN, LOGVAR)
        chex.assert_shape(out, (B, D))
        ref = [[np_log_normal(float(Z[i, d]), float(MEAN[i, d]), float(LOGVAR[i, d]))
                for d in range(D)] for i in range(B)]
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_decomposition_matches_loops(self):
        terms = self.variant(tc_decomposition, static_argnums=3)(Z, MEAN, LOGVAR, N)
        assert isinstance(terms, TCTerms)
        chex.assert_shape(list(terms), ())
        np.testing.assert_allclose(terms, np_tc(Z, MEAN, LOGVAR, N), rtol=1e-5, atol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_objective_metrics(self):
        objective = beta_tcvae(alpha=0.5, beta=6.0, gamma=2.0, dataset_size=N)
        loss, metrics = self.variant(objective)(_out(), {"x": jnp.asarray(X)}, jnp.int32(3))
        mi, tc, dwkl = np_tc(Z, MEAN, LOGVAR, N)
        p = 1.0 / (1.0 + np.exp(-LOGITS.astype(np.float64)))
        recon = -(X * np.log(p) + (1 - X) * np.log1p(-p)).sum(-1).mean()
        m64, lv64 = MEAN.astype(np.float64), LOGVAR.astype(np.float64)
        kl = (0.5 * (m64**2 + np.exp(lv64) - 1 - lv64)).sum(-1).mean()
        expected = {
            "reconstruction_loss": recon, "mutual_info": mi, "total_correlation": tc,
            "dimwise_kl": dwkl, "mutual_info_weight": 0.5, "total_correlation_weight": 6.0,
            "dimwise_kl_weight": 2.0, "reconstruction_loss_weight": 1.0, "kl_loss": kl,
            "loss": recon + 0.5 * mi + 6.0 * tc + 2.0 * dwkl,
        }
        for key, value in expected.items():
            np.testing.assert_allclose(metrics[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
        chex.assert_shape(loss, ())
        np.testing.assert_allclose(loss, metrics["loss"])
        assert {f"kl_dim_{i}" for i in range(D)} | {"active_dims"} <= set(metrics)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"beta": -1.0}, "beta"), ({"alpha": float("nan")}, "alpha"), ({"gamma": -0.1}, "gamma"),
     ({"dataset_size": 0}, "dataset_size"), ({"active_threshold": -1.0}, "active_threshold")],
)
def test_bad_arguments_are_rejected_by_name(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        beta_tcvae(**{"dataset_size": N, **kwargs})


def test_dataset_smaller_than_batch_is_rejected():
    with pytest.raises(ValueError, match="`dataset_size`"):
        tc_decomposition(Z, MEAN, LOGVAR, B - 1)
    objective = jax.jit(beta_tcvae(dataset_size=B - 1))
    with pytest.raises(ValueError, match="`dataset_size`"):
        objective(_out(), {"x": jnp.asarray(X)}, jnp.int32(0))


def test_scheduled_beta_compiles_once():
    objective = beta_tcvae(beta=optax.linear_schedule(1.0, 6.0, 4), dataset_size=N)
    traces = []

    def counted(out, batch, step):
        traces.append(None)  # Python side effect: runs only when traced
        return objective(out, batch, step)

    run = jax.jit(counted)
    betas = [float(run(_out(), {"x": jnp.asarray(X)}, jnp.int32(s))[1]
                   ["total_correlation_weight"]) for s in range(5)]
    assert len(traces) == 1
    np.testing.assert_allclose(betas, [1.0, 2.25, 3.5, 4.75, 6.0], rtol=1e-6)
