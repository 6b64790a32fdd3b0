"""IAF posterior VAE (Kingma et al. 2016): training, MADE, flow shapes and bad arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, LATENT, binary_batch
from vaekit.models import IAFVAE, MADE, IAFFlow
from vaekit.objectives import gaussian_kl, gaussian_log_density, sampled_kl_vae


def tiny_iaf(seed: int = 0, num_flows: int = 2, **kwargs) -> IAFVAE:
    rngs = nnx.Rngs(seed)
    return IAFVAE(
        vaekit.MLPEncoder(INPUT_SHAPE, LATENT, (16,), rngs=rngs),
        vaekit.MLPDecoder(LATENT, INPUT_SHAPE, (16,), rngs=rngs),
        num_flows, 8, rngs=rngs, **kwargs,
    )


class _ContextEncoder(nnx.Module):
    """(mean, logvar, h) from an MLP encoder's features."""

    def __init__(self, context_dim: int, rngs: nnx.Rngs):
        self.base = vaekit.MLPEncoder(INPUT_SHAPE, LATENT, (16,), rngs=rngs)
        self.ctx = nnx.Linear(2 * LATENT, context_dim, rngs=rngs)

    def __call__(self, x):
        mean, logvar = self.base(x)
        return mean, logvar, jnp.tanh(self.ctx(jnp.concatenate([mean, logvar], -1)))


def test_trains_through_make_train_step_and_loss_decreases():
    train = vaekit.make_train_step(
        sampled_kl_vae(beta=optax.linear_schedule(0.5, 1.0, 50)), optax.adam(1e-3)
    )
    state = train.init(tiny_iaf(), jax.random.key(0))
    stacked = {"x": np.stack([binary_batch(8)["x"]] * 100)}
    state, metrics = train.multi_step(state, stacked)
    loss = np.asarray(metrics["loss"])
    assert np.all(np.isfinite(loss))
    assert loss[-10:].mean() < loss[:10].mean()
    np.testing.assert_allclose(np.asarray(metrics["beta"])[[0, 99]], [0.5, 1.0])
    assert "active_dims" not in metrics


@jax.jit
def _forward_and_weight(state, x, key):
    model = nnx.merge(*state)
    out = model(x, key=key)
    log_w = model.log_importance_weight({"x": x}, key, vaekit.bernoulli_nll)
    loss, _ = sampled_kl_vae()(out, {"x": x}, 0)
    return out, log_w, loss


def test_context_encoder_forward_and_importance_weight():
    rngs = nnx.Rngs(1)
    decoder = vaekit.MLPDecoder(LATENT, INPUT_SHAPE, (16,), rngs=rngs)
    model = IAFVAE(_ContextEncoder(5, rngs), decoder, num_flows=2, hidden=(8, 8),
                   latent_dim=LATENT, context_dim=5, rngs=rngs)
    x = jnp.asarray(binary_batch(4)["x"])
    out, log_w, loss = _forward_and_weight(nnx.split(model), x, jax.random.key(2))
    assert out.z.shape == (4, LATENT) and out.log_q.shape == out.log_prior.shape == (4,)
    prior = jnp.sum(gaussian_log_density(out.z, jnp.zeros_like(out.z), jnp.zeros_like(out.z)), -1)
    np.testing.assert_allclose(out.log_prior, prior, rtol=1e-6)
    np.testing.assert_allclose(
        log_w, -vaekit.bernoulli_nll(out.recon, x) + out.log_prior - out.log_q, rtol=1e-6
    )
    np.testing.assert_allclose(jnp.mean(log_w), -loss, rtol=1e-5)  # E[log w] = ELBO
    with pytest.raises(ValueError, match="encoder"):
        tiny_iaf(context_dim=5)(x, key=jax.random.key(2))


def test_zero_flows_is_the_gaussian_posterior():
    model = tiny_iaf(num_flows=0)
    x = jnp.asarray(binary_batch(4)["x"])
    out = model(x, key=jax.random.key(0))
    np.testing.assert_allclose(out.z, vaekit.reparameterize(jax.random.key(0), out.mean,
                                                            out.logvar), rtol=1e-6)
    np.testing.assert_allclose(out.log_q, jnp.sum(gaussian_log_density(out.z, out.mean,
                                                                       out.logvar), -1), rtol=1e-6)
    assert gaussian_kl(out.mean, out.logvar).shape == (4,)


def test_flow_starts_near_identity_and_made_shapes():
    flow = IAFFlow(LATENT, 3, 8, rngs=nnx.Rngs(0))
    z0 = jax.random.normal(jax.random.key(0), (6, LATENT))
    z, log_det = flow(z0)
    assert z.shape == z0.shape and log_det.shape == (6,)
    # sigma_t ~= sigmoid(2) at initialisation: log_det ~= 3 * LATENT * log sigmoid(2)
    assert float(jnp.max(log_det)) < 0.0
    made = MADE(LATENT, (8,), num_outputs=3, rngs=nnx.Rngs(0))
    assert made(z0).shape == (6, 3, LATENT)


def test_generate_shape():
    assert tiny_iaf().generate(jax.random.key(0), 5).shape == (5, *INPUT_SHAPE)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_flows": -1}, "num_flows"),
        ({"hidden": 0}, "hidden"),
        ({"hidden": ()}, "hidden"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"context_dim": -1}, "context_dim"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model = tiny_iaf()
    args = {"num_flows": 1, "hidden": 8, **kwargs}
    with pytest.raises(ValueError, match=name):
        IAFVAE(model.encoder, model.decoder, args.pop("num_flows"), args.pop("hidden"),
               rngs=nnx.Rngs(0), **args)


def test_made_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_inputs"):
        MADE(0, 8, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="output_bias"):
        MADE(3, 8, num_outputs=2, output_bias=(0.0,), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="context"):
        MADE(3, 8, context_dim=2, rngs=nnx.Rngs(0))(jnp.zeros((1, 3)))
