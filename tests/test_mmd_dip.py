"""MMD kernels and estimators, InfoVAE / MMD-VAE and DIP-VAE against float64 loop references."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vaekit.models import VAEOutput
from vaekit.objectives import (
    dip_covariance,
    dip_regularizer,
    dip_vae,
    info_vae,
    inverse_multiquadric_kernel,
    mmd,
    mmd_term,
    mmd_vae,
    rbf_kernel,
)

RNG = np.random.default_rng(1)
XS = RNG.normal(size=(5, 3)).astype(np.float32)
YS = (0.5 + 1.5 * RNG.normal(size=(4, 3))).astype(np.float32)
MEAN = RNG.normal(size=(6, 3)).astype(np.float32)
LOGVAR = (0.5 * RNG.normal(size=(6, 3))).astype(np.float32)
Z = (MEAN + np.exp(0.5 * LOGVAR) * RNG.normal(size=(6, 3))).astype(np.float32)
LOGITS = (3 * RNG.normal(size=(6, 2, 2))).astype(np.float32)
X = (RNG.random((6, 2, 2)) < 0.5).astype(np.float32)


# ---- slow, obviously-correct float64 references --------------------------------------------


def np_rbf(x, y, scale):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = x.shape[1]
    out = np.zeros((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            sq = sum((x[i, k] - y[j, k]) ** 2 for k in range(d))
            out[i, j] = math.exp(-sq / (2 * d * scale))
    return out


def np_imq(x, y, scale):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = x.shape[1]
    c = 2 * d * scale
    out = np.zeros((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            sq = sum((x[i, k] - y[j, k]) ** 2 for k in range(d))
            out[i, j] = c / (c + sq)
    return out


def np_mmd(x, y, kernel, unbiased, scale=1.0):
    k = {"rbf": np_rbf, "imq": np_imq}[kernel]
    kxx, kyy, kxy = k(x, x, scale), k(y, y, scale), k(x, y, scale)
    n, m = len(x), len(y)

    def within(gram, size):
        total, count = 0.0, 0
        for i in range(size):
            for j in range(size):
                if unbiased and i == j:
                    continue
                total += gram[i, j]
                count += 1
        return total / count

    cross = sum(kxy[i, j] for i in range(n) for j in range(m)) / (n * m)
    return within(kxx, n) + within(kyy, m) - 2 * cross


def np_cov_z_mean(mu):
    mu = mu.astype(np.float64)
    b, d = mu.shape
    e_mu = [sum(mu[n, i] for n in range(b)) / b for i in range(d)]
    cov = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            e_mumu = sum(mu[n, i] * mu[n, j] for n in range(b)) / b
            cov[i, j] = e_mumu - e_mu[i] * e_mu[j]
    return cov


def np_cov_z(mu, logvar):
    cov = np_cov_z_mean(mu)
    b, d = mu.shape
    for i in range(d):
        cov[i, i] += sum(math.exp(float(logvar[n, i])) for n in range(b)) / b
    return cov


def np_od_d(cov):
    d = cov.shape[0]
    od = sum(cov[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    diag = sum((cov[i, i] - 1.0) ** 2 for i in range(d))
    return od, diag


def np_recon_kl():
    lg = LOGITS.astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-lg))
    recon = -(X * np.log(p) + (1 - X) * np.log1p(-p)).reshape(6, -1).sum(-1).mean()
    m, lv = MEAN.astype(np.float64), LOGVAR.astype(np.float64)
    kl = (0.5 * (m**2 + np.exp(lv) - 1.0 - lv)).sum(-1).mean()
    return recon, kl


def _out():
    return VAEOutput(recon=jnp.asarray(LOGITS), mean=jnp.asarray(MEAN),
                     logvar=jnp.asarray(LOGVAR), z=jnp.asarray(Z))


def _prior(seed, step):
    key = jax.random.fold_in(jax.random.key(seed), step)
    return np.asarray(jax.random.normal(key, Z.shape, jnp.float32))


# ---- kernels and MMD ---------------------------------------------------------------------------


class TestKernels(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_rbf_matches_loops(self):
        out = self.variant(lambda x, y: rbf_kernel(x, y, 0.7))(XS, YS)
        chex.assert_shape(out, (5, 4))
        chex.assert_type(out, jnp.float32)
        np.testing.assert_allclose(out, np_rbf(XS, YS, 0.7), rtol=1e-5, atol=1e-7)

    @chex.variants(with_jit=True, without_jit=True)
    def test_imq_matches_loops(self):
        out = self.variant(lambda x, y: inverse_multiquadric_kernel(x, y, 2.0))(XS, YS)
        chex.assert_shape(out, (5, 4))
        np.testing.assert_allclose(out, np_imq(XS, YS, 2.0), rtol=1e-5, atol=1e-7)

    def test_zhao_reference_kernel_is_rbf_with_half_dim_scale(self):
        d = XS.shape[1]
        sq = ((XS[:, None, :] - YS[None, :, :]).astype(np.float64) ** 2).sum(-1)
        np.testing.assert_allclose(rbf_kernel(XS, YS, d / 2), np.exp(-sq / d**2), rtol=1e-5)


class TestMMD(chex.TestCase):
    def _check(self, kernel, unbiased, scale):
        fn = self.variant(lambda x, y: mmd(x, y, kernel, unbiased=unbiased, scale=scale))
        out = fn(XS, YS)
        chex.assert_shape(out, ())
        np.testing.assert_allclose(out, np_mmd(XS, YS, kernel, unbiased, scale), rtol=1e-4,
                                   atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_biased_rbf(self):
        self._check("rbf", False, 1.0)

    @chex.variants(with_jit=True, without_jit=True)
    def test_unbiased_rbf(self):
        self._check("rbf", True, 0.5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_biased_imq(self):
        self._check("imq", False, 1.0)

    @chex.variants(with_jit=True, without_jit=True)
    def test_unbiased_imq(self):
        self._check("imq", True, 3.0)

    @chex.variants(with_jit=True, without_jit=True)
    def test_callable_kernel(self):
        def linear(x, y):
            return x @ y.T

        out = self.variant(lambda x, y: mmd(x, y, linear))(XS, YS)
        # With the linear kernel the biased MMD² is ||mean(x) − mean(y)||².
        diff = XS.astype(np.float64).mean(0) - YS.astype(np.float64).mean(0)
        np.testing.assert_allclose(out, (diff**2).sum(), rtol=1e-4)

    def test_unbiased_needs_two_samples(self):
        with pytest.raises(ValueError, match="`x`"):
            mmd(XS[:1], YS, unbiased=True)


# ---- DIP covariances and regulariser -----------------------------------------------------------


class TestDIP(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_covariance_i_matches_loops(self):
        out = self.variant(lambda m: dip_covariance(m, kind="i"))(MEAN)
        chex.assert_shape(out, (3, 3))
        np.testing.assert_allclose(out, np_cov_z_mean(MEAN), rtol=1e-5, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_covariance_ii_matches_loops(self):
        out = self.variant(lambda m, lv: dip_covariance(m, lv, kind="ii"))(MEAN, LOGVAR)
        np.testing.assert_allclose(out, np_cov_z(MEAN, LOGVAR), rtol=1e-5, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_regularizer_matches_loops(self):
        cov = np_cov_z(MEAN, LOGVAR).astype(np.float32)
        out = self.variant(lambda c: dip_regularizer(c, 3.0, 7.0))(cov)
        od, diag = np_od_d(cov.astype(np.float64))
        np.testing.assert_allclose(out, 3.0 * od + 7.0 * diag, rtol=1e-5)


# ---- objectives --------------------------------------------------------------------------------

INFO_KEYS = {"loss", "reconstruction_loss", "kl_loss", "mmd", "reconstruction_loss_weight",
             "kl_loss_weight", "mmd_weight", "active_dims"}
DIP_KEYS = {"loss", "reconstruction_loss", "kl_loss", "dip_off_diagonal", "dip_diagonal",
            "dip_off_diagonal_weight", "dip_diagonal_weight", "dip_regularizer", "active_dims"}


class TestObjectives(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_info_vae_loss(self):
        alpha, lam, seed, step = -0.5, 10.0, 3, 7
        objective = info_vae(alpha=alpha, lambda_=lam, kernel="rbf", prior_key=seed)
        loss, metrics = self.variant(objective)(_out(), {"x": jnp.asarray(X)}, jnp.int32(step))
        recon, kl = np_recon_kl()
        mmd_ref = np_mmd(Z, _prior(seed, step), "rbf", False)
        chex.assert_shape(loss, ())
        assert INFO_KEYS <= set(metrics)
        np.testing.assert_allclose(metrics["mmd"], mmd_ref, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(metrics["kl_loss_weight"], 1.5)
        np.testing.assert_allclose(metrics["mmd_weight"], 8.5)
        np.testing.assert_allclose(loss, recon + 1.5 * kl + 8.5 * mmd_ref, rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_mmd_vae_loss_and_scheduled_lambda(self):
        objective = mmd_vae(lambda_=optax.linear_schedule(0.0, 20.0, 10), kernel="imq",
                            prior_key=0)
        run = self.variant(objective)
        loss, metrics = run(_out(), {"x": jnp.asarray(X)}, jnp.int32(5))
        recon, _ = np_recon_kl()
        mmd_ref = np_mmd(Z, _prior(0, 5), "imq", False)
        assert {"loss", "reconstruction_loss", "mmd", "mmd_weight"} <= set(metrics)
        assert "kl_loss" not in metrics
        np.testing.assert_allclose(metrics["mmd_weight"], 10.0)
        np.testing.assert_allclose(loss, recon + 10.0 * mmd_ref, rtol=1e-5)

    def test_prior_sample_depends_on_step_and_key_only(self):
        term = mmd_term("rbf", prior_key=jax.random.key(3))
        a = term(_out(), {}, jnp.int32(1))
        b = term(_out(), {}, jnp.int32(2))
        assert float(a) != float(b)
        np.testing.assert_allclose(a, np_mmd(Z, _prior(3, 1), "rbf", False), rtol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_dip_vae_losses(self):
        recon, kl = np_recon_kl()
        cases = [("i", np_cov_z_mean(MEAN), 10.0, 100.0),
                 ("ii", np_cov_z(MEAN, LOGVAR), 10.0, 10.0)]
        for kind, cov, lod, ld in cases:
            loss, metrics = self.variant(dip_vae(kind))(_out(), {"x": jnp.asarray(X)},
                                                       jnp.int32(0))
            od, diag = np_od_d(cov)
            assert DIP_KEYS <= set(metrics), kind
            np.testing.assert_allclose(metrics["dip_off_diagonal_weight"], lod)
            np.testing.assert_allclose(metrics["dip_diagonal_weight"], ld)
            np.testing.assert_allclose(metrics["dip_regularizer"], lod * od + ld * diag,
                                       rtol=1e-5)
            np.testing.assert_allclose(loss, recon + kl + lod * od + ld * diag, rtol=1e-5)

    def test_dip_scheduled_lambda_d_follows_lambda_od(self):
        objective = dip_vae("i", lambda_od=optax.linear_schedule(0.0, 4.0, 4))
        _, metrics = objective(_out(), {"x": jnp.asarray(X)}, jnp.int32(2))
        np.testing.assert_allclose(metrics["dip_off_diagonal_weight"], 2.0)
        np.testing.assert_allclose(metrics["dip_diagonal_weight"], 20.0)


@pytest.mark.parametrize("name", ["info_vae_unbiased", "dip_vae_ii"])
def test_gradients_are_finite(name):
    objective = {"info_vae_unbiased": info_vae(lambda_=100.0, kernel="rbf", unbiased=True),
                 "dip_vae_ii": dip_vae("ii")}[name]

    def loss(out):
        return objective(out, {"x": jnp.asarray(X)}, jnp.int32(3))[0]

    grads = jax.jit(jax.grad(loss))(_out())
    for field, grad in grads._asdict().items():
        assert np.isfinite(np.asarray(grad)).all(), field
    assert np.abs(np.asarray(grads.mean)).sum() > 0.0


# ---- argument validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: dip_vae("i", lambda_od=-1.0), "lambda_od"),
        (lambda: dip_vae("ii", lambda_d=-0.5), "lambda_d"),
        (lambda: dip_vae("iii"), "kind"),
        (lambda: dip_covariance(jnp.zeros((4, 2)), kind="iii"), "kind"),
        (lambda: dip_covariance(jnp.zeros((4, 2)), kind="ii"), "logvar"),
        (lambda: dip_regularizer(jnp.eye(2), -1.0, 1.0), "lambda_od"),
        (lambda: dip_regularizer(jnp.eye(2), 1.0, float("nan")), "lambda_d"),
        (lambda: info_vae(alpha=1.5), "alpha"),
        (lambda: info_vae(alpha=0.0, lambda_=0.5), "lambda_"),
        (lambda: info_vae(kernel="laplace"), "kernel"),
        (lambda: info_vae(scale=0.0), "scale"),
        (lambda: info_vae(prior_key=-1), "prior_key"),
        (lambda: info_vae(prior_key=jnp.zeros((3,))), "prior_key"),
        (lambda: mmd_vae(lambda_=-1.0), "lambda_"),
        (lambda: mmd_vae(kernel="gauss"), "kernel"),
        (lambda: mmd(XS, YS, "laplace"), "kernel"),
        (lambda: mmd(XS, YS, "rbf", scale=-1.0), "scale"),
        (lambda: rbf_kernel(XS, YS, 0.0), "scale"),
        (lambda: inverse_multiquadric_kernel(XS, YS, -2.0), "scale"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(build, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build()
