"""VampPrior VAE (Tomczak & Welling 2018): training, sampling, the prior and bad arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, LATENT, binary_batch
from vaekit.models import VampPriorVAE, mixture_log_density
from vaekit.objectives import gaussian_log_density, sampled_kl_vae

K = 4


def tiny_vampprior(seed: int = 0, **kwargs) -> VampPriorVAE:
    rngs = nnx.Rngs(seed)
    return VampPriorVAE(
        vaekit.MLPEncoder(INPUT_SHAPE, LATENT, (16,), rngs=rngs),
        vaekit.MLPDecoder(LATENT, INPUT_SHAPE, (16,), rngs=rngs),
        K, INPUT_SHAPE, rngs=rngs, **kwargs,
    )


def test_trains_through_make_train_step_and_loss_decreases():
    train = vaekit.make_train_step(sampled_kl_vae(beta=1.0), optax.adam(1e-3))
    state = train.init(tiny_vampprior(), jax.random.key(0))
    batch = binary_batch(8)
    stacked = {"x": np.stack([batch["x"]] * 100)}
    pseudo_before = np.asarray(state.params["pseudo_inputs"])
    state, metrics = train.multi_step(state, stacked)
    loss = np.asarray(metrics["loss"])
    assert np.all(np.isfinite(loss))
    assert loss[-10:].mean() < loss[:10].mean()
    assert {"loss", "reconstruction_loss", "kl_loss", "beta"} <= set(metrics)
    assert not any(k.startswith("kl_dim_") for k in metrics)  # base KL is not this model's KL
    np.testing.assert_allclose(
        metrics["loss"], metrics["reconstruction_loss"] + metrics["kl_loss"], rtol=1e-5, atol=1e-5
    )
    # the pseudo-inputs are parameters: they move
    assert not np.allclose(np.asarray(state.params["pseudo_inputs"]), pseudo_before)


@jax.jit
def _forward_and_weight(state, x, key):
    model = nnx.merge(*state)
    out = model(x, key=key)
    log_w = model.log_importance_weight({"x": x}, key, vaekit.bernoulli_nll)
    means, logvars = model.encoder(model.pseudo_inputs[...])
    loss, _ = sampled_kl_vae()(out, {"x": x}, 0)
    return out, log_w, mixture_log_density(out.z, means, logvars), loss


def test_forward_fields_and_importance_weight():
    x = jnp.asarray(binary_batch(5)["x"])
    out, log_w, log_prior, loss = _forward_and_weight(nnx.split(tiny_vampprior()), x,
                                                      jax.random.key(3))
    assert out.recon.shape == x.shape and out.z.shape == (5, LATENT)
    assert out.log_q.shape == out.log_prior.shape == (5,)
    expected_q = jnp.sum(gaussian_log_density(out.z, out.mean, out.logvar), axis=-1)
    np.testing.assert_allclose(out.log_q, expected_q, rtol=1e-6)
    np.testing.assert_allclose(out.log_prior, log_prior, rtol=1e-6)
    np.testing.assert_allclose(
        log_w, -vaekit.bernoulli_nll(out.recon, x) + out.log_prior - out.log_q, rtol=1e-6
    )
    # E_batch[log w] is the single-sample ELBO, i.e. minus the β = 1 loss on the same draw
    np.testing.assert_allclose(jnp.mean(log_w), -loss, rtol=1e-5)


def test_generate_and_sample_prior_shapes():
    model = tiny_vampprior()
    assert model.generate(jax.random.key(0), 7).shape == (7, *INPUT_SHAPE)
    z = model.sample_prior(jax.random.key(1), 7)
    assert z.shape == (7, LATENT) and bool(jnp.all(jnp.isfinite(z)))


def test_pseudo_inputs_init_from_data():
    data = binary_batch(K)["x"]
    model = tiny_vampprior(pseudo_inputs=data)
    np.testing.assert_array_equal(np.asarray(model.pseudo_inputs[...]), data)
    default = tiny_vampprior()
    assert abs(float(jnp.mean(default.pseudo_inputs[...])) - 0.05) < 0.01


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_pseudo_inputs": 0}, "num_pseudo_inputs"),
        ({"image_shape": (0, 4)}, "image_shape"),
        ({"pseudo_inputs": np.zeros((K + 1, *INPUT_SHAPE))}, "pseudo_inputs"),
        ({"init_std": -1.0}, "init_std"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    model = tiny_vampprior()
    args = {"num_pseudo_inputs": K, "image_shape": INPUT_SHAPE, **kwargs}
    with pytest.raises(ValueError, match=name):
        VampPriorVAE(model.encoder, model.decoder, args.pop("num_pseudo_inputs"),
                     args.pop("image_shape"), rngs=nnx.Rngs(0), **args)


def test_generate_rejects_bad_num_samples():
    with pytest.raises(ValueError, match="num_samples"):
        tiny_vampprior().generate(jax.random.key(0), 0)
