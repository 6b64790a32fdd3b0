"""Objective terms against float64 numpy references, jitted and not (chex.variants)."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import TypeCheckError

import vaekit
from tests.helpers import LATENT
from vaekit.models import VAEOutput

RNG = np.random.default_rng(0)
MEAN = RNG.normal(size=(5, 4)).astype(np.float32)
LOGVAR = RNG.normal(size=(5, 4)).astype(np.float32)
LOGITS = (4 * RNG.normal(size=(5, 3, 2))).astype(np.float32)
X = (RNG.random((5, 3, 2)) < 0.5).astype(np.float32)


def np_kl_per_dim(m, lv):
    m, lv = m.astype(np.float64), lv.astype(np.float64)
    return 0.5 * (m**2 + np.exp(lv) - 1.0 - lv)


class TestKL(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_per_dim_matches_numpy(self):
        out = self.variant(vaekit.gaussian_kl_per_dim)(MEAN, LOGVAR)
        chex.assert_shape(out, (5, 4))
        chex.assert_type(out, jnp.float32)
        np.testing.assert_allclose(out, np_kl_per_dim(MEAN, LOGVAR), rtol=1e-5, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_per_sample_is_sum_over_latent(self):
        out = self.variant(vaekit.gaussian_kl)(MEAN, LOGVAR)
        chex.assert_shape(out, (5,))
        np.testing.assert_allclose(out, np_kl_per_dim(MEAN, LOGVAR).sum(-1), rtol=1e-5)


class TestLikelihoods(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_bernoulli_matches_textbook(self):
        out = self.variant(vaekit.bernoulli_nll)(LOGITS, X)
        chex.assert_shape(out, (5,))
        p = 1.0 / (1.0 + np.exp(-LOGITS.astype(np.float64)))
        ref = -(X * np.log(p) + (1 - X) * np.log1p(-p)).reshape(5, -1).sum(-1)
        np.testing.assert_allclose(out, ref, rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_gaussian_matches_density(self):
        sigma = 0.3
        out = self.variant(vaekit.gaussian_nll(sigma))(LOGITS, X)
        diff = (X - LOGITS).astype(np.float64)
        ref = (diff**2 / (2 * sigma**2) + math.log(sigma) + 0.5 * math.log(2 * math.pi))
        np.testing.assert_allclose(out, ref.reshape(5, -1).sum(-1), rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_sum_of_squares(self):
        out = self.variant(vaekit.sum_of_squares)(LOGITS, X)
        np.testing.assert_allclose(out, ((X - LOGITS) ** 2).reshape(5, -1).sum(-1), rtol=1e-5)


def _out(latent=4):
    return VAEOutput(recon=jnp.asarray(LOGITS), mean=jnp.asarray(MEAN[:, :latent]),
                     logvar=jnp.asarray(LOGVAR[:, :latent]), z=jnp.asarray(MEAN[:, :latent]))


class TestBetaVAE(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_loss_is_recon_plus_beta_kl(self):
        objective = vaekit.beta_vae(beta=4.0)
        loss, metrics = self.variant(objective)(_out(), {"x": jnp.asarray(X)}, jnp.int32(0))
        p = 1.0 / (1.0 + np.exp(-LOGITS.astype(np.float64)))
        recon = -(X * np.log(p) + (1 - X) * np.log1p(-p)).reshape(5, -1).sum(-1).mean()
        kl = np_kl_per_dim(MEAN, LOGVAR).sum(-1).mean()
        chex.assert_shape(loss, ())
        np.testing.assert_allclose(loss, recon + 4.0 * kl, rtol=1e-5)
        np.testing.assert_allclose(metrics["reconstruction_loss"], recon, rtol=1e-5)
        np.testing.assert_allclose(metrics["kl_loss"], kl, rtol=1e-5)
        kl_dims = np_kl_per_dim(MEAN, LOGVAR).mean(0)
        for i in range(4):
            np.testing.assert_allclose(metrics[f"kl_dim_{i}"], kl_dims[i], rtol=1e-5)
        assert float(metrics["active_dims"]) == float((kl_dims > 0.01).sum())

    @chex.variants(with_jit=True, without_jit=True)
    def test_scheduled_beta_reads_the_step(self):
        objective = vaekit.beta_vae(beta=optax.linear_schedule(0.0, 2.0, 10))
        run = self.variant(objective)
        _, m5 = run(_out(), {"x": jnp.asarray(X)}, jnp.int32(5))
        _, m20 = run(_out(), {"x": jnp.asarray(X)}, jnp.int32(20))
        np.testing.assert_allclose(m5["beta"], 1.0)
        np.testing.assert_allclose(m20["beta"], 2.0)
        np.testing.assert_allclose(m5["loss"], m5["reconstruction_loss"] + m5["kl_loss"],
                                   rtol=1e-6)


@pytest.mark.parametrize("beta", [-1.0, float("nan"), float("inf")])
def test_bad_beta_is_rejected_by_name(beta):
    with pytest.raises(ValueError, match="`beta`"):
        vaekit.beta_vae(beta=beta)


def test_non_number_beta_is_rejected():
    with pytest.raises(TypeError):
        vaekit.beta_vae(beta="4")


def test_bad_sigma_is_rejected_by_name():
    with pytest.raises(ValueError, match="`sigma`"):
        vaekit.gaussian_nll(0.0)


# Under pytest the jaxtyping hook rejects a mismatched shape first (TypeCheckError naming the
# parameter); without it the function's own check raises ValueError naming both arguments.
@pytest.mark.parametrize("typecheck", [True, False])
def test_shape_mismatch_names_the_argument(typecheck):
    bern = vaekit.bernoulli_nll if typecheck else vaekit.bernoulli_nll.__wrapped__
    kl = vaekit.gaussian_kl if typecheck else vaekit.gaussian_kl.__wrapped__
    with pytest.raises((ValueError, TypeError), match="parameter 'x'|`logits` and `x`"):
        bern(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises((ValueError, TypeError), match="parameter 'logvar'|`mean` and `logvar`"):
        kl(jnp.zeros((2, 3)), jnp.zeros((2, LATENT + 1)))


def test_runtime_type_checking_is_active():
    """jaxtyping + beartype run in the test session (pytest --jaxtyping-packages)."""
    with pytest.raises(TypeCheckError, match="logvar"):
        vaekit.gaussian_kl_per_dim(jnp.zeros((2, 3)), jnp.zeros((3,)))


def test_reductions():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(vaekit.sum_event(x), [66.0, 210.0])
    np.testing.assert_allclose(vaekit.batch_mean(jnp.array([1.0, 2.0, 6.0])), 3.0)
    with pytest.raises((ValueError, TypeError), match="parameter 'x'|`x`"):
        vaekit.batch_mean(x)


def test_schedules():
    assert float(vaekit.named_schedule("linear", 0.0, 4.0, 100)(50)) == pytest.approx(2.0)
    assert float(vaekit.named_schedule("constant", 0.0, 4.0, 100)(0)) == 4.0
    cos = vaekit.named_schedule("cosine", 1.0, 3.0, 10)
    assert float(cos(0)) == pytest.approx(1.0) and float(cos(10)) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="`name`"):
        vaekit.named_schedule("cyclic?", 0.0, 1.0, 10)
    with pytest.raises(ValueError, match="`num_steps`"):
        vaekit.named_schedule("linear", 0.0, 1.0, 0)
    with jax.disable_jit():
        assert float(vaekit.as_schedule(2.5, "beta")(jnp.int32(7))) == 2.5
