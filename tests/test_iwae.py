"""The IWAE objective (Burda et al. 2016) and its DReG gradient (Tucker et al. 2019)."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jaxtyping import TypeCheckError

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.objectives import IWAEOutput, effective_sample_size, iwae, iwae_bound, iwae_forward

K = 5
_LOG_2PI = math.log(2.0 * math.pi)


def _eps(key, n, latent, k):
    """The documented key layout: example n, sample i -> fold_in(fold_in(key, n), i)."""

    def one(i, b):
        return jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, b), i), (1, latent))[0]

    return jax.vmap(jax.vmap(one, (None, 0)), (0, None))(jnp.arange(k), jnp.arange(n))


def _reference_log_w(model, x, eps, *, stop_z=False, stop_q=False):
    """Textbook log w = log p(x|z) + log N(z; 0, I) − log q(z|x), written out by hand."""
    mean, logvar = model.encode(x)
    z = mean + jnp.exp(0.5 * logvar) * eps  # (k, B, L)
    if stop_z:
        z = jax.lax.stop_gradient(z)
    if stop_q:
        mean, logvar = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(logvar)

    def one(zz):
        log_px = -vaekit.bernoulli_nll(model.decode(zz), x)
        log_p = jnp.sum(-0.5 * (_LOG_2PI + zz**2), -1)
        log_q = jnp.sum(-0.5 * (_LOG_2PI + logvar + (zz - mean) ** 2 * jnp.exp(-logvar)), -1)
        return log_px + log_p - log_q, log_px, log_q - log_p

    return jax.vmap(one)(z)


MODEL = tiny_vae(1)
GRAPHDEF, PARAMS, REST = nnx.split(MODEL, nnx.Param, ...)
BATCH = binary_batch(4)


@functools.partial(jax.jit, static_argnames=("k", "dreg"))
def _loss_and_grad(params, x, key, *, k, dreg):
    """Loss, metrics and parameter gradient of ``iwae(k, dreg=dreg)`` (compiled once each)."""
    objective = iwae(k, dreg=dreg)

    def loss(p):
        m = nnx.merge(GRAPHDEF, p, REST)
        return objective(objective.forward(m, {"x": x}, key), {"x": x}, 0)

    (value, metrics), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return value, metrics, grads


@jax.jit
def _references(params, x, key):
    """By hand: the k = 1 ELBO parts, and the DReG gradients as the gradients of
    −mean_b Σ_i stop(w̃_i)^p · log w_i with q's parameters stopped in log q: p = 2 for the
    encoder (decoder part ignored), p = 1 and z stopped for the decoder."""
    model = nnx.merge(GRAPHDEF, params, REST)
    _, log_px, kl = _reference_log_w(model, x, _eps(key, 4, 3, 1))
    eps = _eps(key, 4, 3, K)

    def surrogate(p, power, stop_z):
        m = nnx.merge(GRAPHDEF, p, REST)
        log_w = _reference_log_w(m, x, eps, stop_z=stop_z, stop_q=True)[0]
        w = jax.lax.stop_gradient(jax.nn.softmax(log_w, axis=0))
        return -jnp.mean(jnp.sum(w**power * log_w, axis=0))

    encoder = jax.grad(surrogate)(params, 2, False)["encoder"]
    decoder = jax.grad(surrogate)(params, 1, True)["decoder"]
    return (log_px, kl), (encoder, decoder)


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in
               zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_k1_equals_single_sample_elbo_with_the_same_noise():
    key, x = jax.random.key(1), jnp.asarray(BATCH["x"])
    loss, metrics, _ = _loss_and_grad(PARAMS, x, key, k=1, dreg=False)
    (log_px, kl), _ = _references(PARAMS, x, key)
    np.testing.assert_allclose(loss, jnp.mean(-log_px[0] + kl[0]), rtol=1e-5)
    np.testing.assert_allclose(metrics["reconstruction_loss"], jnp.mean(-log_px), rtol=1e-5)
    np.testing.assert_allclose(metrics["kl_loss"], jnp.mean(kl), rtol=1e-5, atol=1e-6)
    assert float(metrics["ess"]) == 1.0


def test_iwae_loss_is_below_the_elbo_loss_in_expectation():
    x = jnp.asarray(BATCH["x"])
    keys = jax.random.split(jax.random.key(0), 30)
    bound = np.array([float(_loss_and_grad(PARAMS, x, k, k=K, dreg=False)[0]) for k in keys])
    elbo = np.array([float(_loss_and_grad(PARAMS, x, k, k=1, dreg=False)[0]) for k in keys])
    noise = 3 * (bound.std() + elbo.std()) / math.sqrt(len(keys))
    assert bound.mean() < elbo.mean() - noise
    # On the same samples the bound is above their mean log weight (Jensen), always.
    loss, metrics, _ = _loss_and_grad(PARAMS, x, keys[0], k=K, dreg=False)
    assert float(metrics["elbo"]) <= -float(loss) + 1e-5


def test_dreg_gradient_matches_the_textbook_surrogate():
    key, x = jax.random.key(1), jnp.asarray(BATCH["x"])
    loss, metrics, grads = _loss_and_grad(PARAMS, x, key, k=K, dreg=True)
    # Encoder: Σ w̃² ∂log w/∂z ∂z/∂φ; decoder: Σ w̃ ∂log w/∂θ (Tucker et al. 2019, eq. 7).
    _, (encoder, decoder) = _references(PARAMS, x, key)
    assert _max_diff(grads["encoder"], encoder) < 1e-5
    assert _max_diff(grads["decoder"], decoder) < 1e-5
    # Plain IWAE: the same loss and decoder gradient, a different encoder estimator.
    plain_loss, plain_metrics, plain = _loss_and_grad(PARAMS, x, key, k=K, dreg=False)
    assert float(plain_loss) == float(loss)
    assert set(metrics) == set(plain_metrics) == {"loss", "elbo", "ess", "reconstruction_loss",
                                                   "kl_loss"}
    assert _max_diff(plain["decoder"], decoder) < 1e-5
    assert _max_diff(plain["encoder"], encoder) > 1e-3


def test_trains_through_make_train_step_and_lowers_the_loss():
    objective = iwae(K)
    train = vaekit.make_train_step(objective, optax.adam(1e-2), forward=objective.forward)
    state = train.init(tiny_vae(0), jax.random.key(0))
    batch = {"x": jnp.asarray(binary_batch(16)["x"])}
    losses = []
    for _ in range(25):
        state, metrics = train.step(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0
    assert 1.0 <= float(metrics["ess"]) <= K


class _ProtocolModel(nnx.Module):
    """A model that only supplies log w: a fixed Gaussian 'posterior' and prior, no decoder."""

    def __init__(self):
        self.shift = nnx.Param(jnp.zeros(()))

    def log_importance_weight(self, batch, key, likelihood):
        z = jax.random.normal(key, (batch["x"].shape[0],))
        return -jnp.sum(batch["x"], axis=tuple(range(1, batch["x"].ndim))) + self.shift * z


def test_model_protocol_is_used_and_dreg_refuses_it():
    model, batch = _ProtocolModel(), binary_batch(4)
    out = jax.jit(iwae(3).forward)(model, batch, jax.random.key(0))
    assert out.log_px_given_z is None and out.log_w.shape == (3, 4)
    loss, metrics = iwae(3)(out, batch, 0)
    assert set(metrics) == {"loss", "elbo", "ess"}
    np.testing.assert_allclose(loss, jnp.mean(jnp.sum(batch["x"], axis=(1, 2, 3))), rtol=1e-6)
    with pytest.raises(ValueError, match="dreg"):
        iwae(3, dreg=True).forward(model, batch, jax.random.key(0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_samples"):
        iwae(0)
    # Under pytest the jaxtyping/beartype hook may reject a wrong type first (TypeCheckError,
    # naming the argument too); without it the ValueError of the checks does.
    with pytest.raises((ValueError, TypeCheckError), match="num_samples"):
        iwae_forward(1.5)
    with pytest.raises((ValueError, TypeCheckError), match="likelihood"):
        iwae(2, likelihood="bernoulli")
    with pytest.raises((ValueError, TypeCheckError), match="dreg"):
        iwae(2, dreg=1)
    with pytest.raises(ValueError, match="forward"):
        iwae(2)(IWAEOutput(log_w=jnp.zeros((3, 4))), {}, 0)
    with pytest.raises(ValueError, match="model"):
        iwae(2).forward(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), binary_batch(2), jax.random.key(0))
    with pytest.raises((ValueError, TypeCheckError), match="log_w"):
        iwae_bound(jnp.zeros(3))
    with pytest.raises(AttributeError, match="immutable"):
        iwae(2).num_samples = 3


def test_bound_and_effective_sample_size_values():
    log_w = jnp.log(jnp.array([[1.0, 1.0], [3.0, 0.0]]))
    np.testing.assert_allclose(iwae_bound(log_w), [math.log(2.0), math.log(0.5)], rtol=1e-6)
    np.testing.assert_allclose(effective_sample_size(log_w), [1.6, 1.0], rtol=1e-6)
    assert repr(iwae(2, dreg=True)) == "IWAEObjective(num_samples=2, dreg=True)"
