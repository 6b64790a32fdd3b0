"""FactorVAE through the unchanged make_train_step: gradient routing, two Adams, training."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, binary_batch
from vaekit.models._factor_vae import (
    PERMUTATION_STREAM,
    Discriminator,
    FactorVAEModel,
    factor_vae_mlp,
)
from vaekit.objectives import (
    DISCRIMINATOR_ADAM,
    VAE_ADAM,
    density_ratio_tc,
    discriminator_loss,
    factor_vae,
    factor_vae_optimizer,
    permute_dims,
    submodule_labels,
)

GAMMA = 35.0
LATENT = 3


def tiny_factor_vae(seed: int = 0) -> FactorVAEModel:
    return factor_vae_mlp(INPUT_SHAPE, LATENT, (16,), (16, 16), rngs=nnx.Rngs(seed))


def _split(tree):
    """(vae subtree, discriminator subtree) of a state-shaped tree, as plain leaves."""
    return jax.tree.leaves(tree["vae"]), jax.tree.leaves(tree["discriminator"])


BATCH = {"x": jnp.asarray(binary_batch(8)["x"])}
OBJECTIVE = factor_vae(GAMMA)
GRAPHDEF, PARAMS, REST = nnx.split(tiny_factor_vae(), nnx.Param, ...)


@jax.jit
def all_gradients(params, rest, batch, key, step):
    """Gradients w.r.t. every parameter of the total loss and of each part."""

    def metrics_of(p):
        out = nnx.merge(GRAPHDEF, p, rest, copy=True)(batch["x"], key=key)
        return OBJECTIVE(out, batch, step)

    def part(name):
        def f(p):
            loss, m = metrics_of(p)
            if name == "loss":
                return loss
            if name == "vae":  # recomputed from its terms, not from the reported vae_loss
                return m["reconstruction_loss"] + m["kl_loss"] + GAMMA * m["total_correlation"]
            return m["disc_loss"]

        return jax.grad(f)(params)

    return {name: part(name) for name in ("loss", "vae", "disc")}


@pytest.fixture(scope="module")
def gradients():
    key = jax.random.key(3)
    grads = all_gradients(PARAMS, REST, BATCH, key, jnp.int32(0))
    return grads, (GRAPHDEF, PARAMS, REST, BATCH, key)


def test_discriminator_gradients_are_those_of_disc_loss_alone(gradients):
    grads, _ = gradients
    total, disc = _split(grads["loss"])[1], _split(grads["disc"])[1]
    assert any(float(jnp.abs(g).max()) > 0 for g in disc)
    for a, b in zip(total, disc, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for g in _split(grads["vae"])[1]:  # the TC estimate leaves the discriminator alone
        assert float(jnp.abs(g).max()) == 0.0


def test_vae_gradients_are_those_of_vae_loss_alone(gradients):
    grads, _ = gradients
    total, vae = _split(grads["loss"])[0], _split(grads["vae"])[0]
    for a, b in zip(total, vae, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for g in _split(grads["disc"])[0]:  # the discriminator's loss leaves the VAE alone
        assert float(jnp.abs(g).max()) == 0.0


def test_vae_gradients_match_a_fixed_discriminator_reference(gradients):
    # Reference without the model's stop-gradients: differentiate w.r.t. the VAE only, with
    # the discriminator a closed-over constant module.
    grads, (graphdef, params, rest, batch, key) = gradients
    model = nnx.merge(graphdef, params, rest, copy=True)
    vae_graph, vae_params, vae_rest = nnx.split(model.vae, nnx.Param, ...)
    disc = model.discriminator

    def vae_loss(p):
        recon, mean, logvar, z = nnx.merge(vae_graph, p, vae_rest, copy=True)(batch["x"], key=key)
        nll = vaekit.batch_mean(vaekit.bernoulli_nll(recon, batch["x"]))
        kl = vaekit.batch_mean(vaekit.gaussian_kl(mean, logvar))
        logits = disc(z)
        return nll + kl + GAMMA * jnp.mean(logits[:, 0] - logits[:, 1])

    reference = jax.tree.leaves(jax.jit(jax.grad(vae_loss))(vae_params))
    for a, b in zip(_split(grads["loss"])[0], reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_forward_uses_the_step_key_for_z_and_a_folded_key_for_the_permutation():
    model = tiny_factor_vae()
    x = jnp.asarray(binary_batch(8)["x"])
    key = jax.random.key(7)
    out = model(x, key=key)
    chex.assert_trees_all_close(out.z, model.vae(x, key=key).z)
    expected = permute_dims(out.z, jax.random.fold_in(key, PERMUTATION_STREAM))
    chex.assert_trees_all_close(out.z_permuted, expected)
    chex.assert_trees_all_close(out.disc_logits, model.discriminator(out.z), atol=1e-6)
    chex.assert_trees_all_close(out.tc_logits, out.disc_logits, atol=1e-6)  # same values
    chex.assert_shape([out.tc_logits, out.disc_logits, out.disc_logits_permuted], (8, 2))


def test_trains_through_make_train_step_as_two_separate_adams():
    train = vaekit.make_train_step(OBJECTIVE, factor_vae_optimizer(), donate=False,
                                   grad_norm=True)
    state = train.init(tiny_factor_vae(), jax.random.key(5))
    params, rest = state.params, state.rest
    vae_adam, disc_adam = optax.adam(**VAE_ADAM), optax.adam(**DISCRIMINATOR_ADAM)
    opt_states = vae_adam.init(params["vae"]), disc_adam.init(params["discriminator"])
    history = []

    @jax.jit
    def two_adams(grads, opt_states, params):
        new, states = {}, []
        for name, adam, opt_state in zip(("vae", "discriminator"), (vae_adam, disc_adam),
                                         opt_states, strict=True):
            updates, opt_state = adam.update(grads[name], opt_state, params[name])
            new[name] = optax.apply_updates(params[name], updates)
            states.append(opt_state)
        return new, tuple(states)

    for t in range(3):
        batch = {"x": jnp.asarray(binary_batch(8, seed=t + 1)["x"])}
        state, metrics = train.step(state, batch)
        history.append(jax.device_get(metrics))
        # The same step by hand: the step's key, the total loss's gradient, two separate Adams.
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(5), t), 0)
        grads = all_gradients(params, rest, batch, key, jnp.int32(t))["loss"]
        params, opt_states = two_adams(grads, opt_states, params)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(PARAMS), jax.tree.leaves(state.params), strict=True):
        assert not np.array_equal(a, b)  # both networks were updated
    for metrics in history:
        for name in ("loss", "vae_loss", "disc_loss", "total_correlation", "disc_accuracy",
                     "reconstruction_loss", "kl_loss", "grad_norm"):
            assert np.isfinite(metrics[name]), name
        np.testing.assert_allclose(metrics["loss"], metrics["vae_loss"] + metrics["disc_loss"],
                                   rtol=1e-5, atol=1e-4)
        assert metrics["gamma"] == GAMMA
    # The model stays usable by evaluation code (encode/decode of the VAE).
    mean, logvar = state.model().encode(BATCH["x"][:4])
    chex.assert_shape([mean, logvar], (4, LATENT))


def test_submodule_labels():
    params = nnx.state(tiny_factor_vae(), nnx.Param)
    labels = submodule_labels(params)
    assert set(jax.tree.leaves(labels["vae"])) == {"vae"}
    assert set(jax.tree.leaves(labels["discriminator"])) == {"discriminator"}
    renamed = submodule_labels(params, {"vae": "a", "discriminator": "b"})
    assert set(jax.tree.leaves(renamed)) == {"a", "b"}
    with pytest.raises(ValueError, match="no label for the submodule 'discriminator'"):
        submodule_labels(params, {"vae": "a"})


def test_pure_terms_and_errors():
    assert float(density_ratio_tc(jnp.array([[3.0, 1.0], [0.0, 0.0]]))) == 1.0
    confident = jnp.array([[10.0, -10.0]] * 4), jnp.array([[-10.0, 10.0]] * 4)
    loss, accuracy = discriminator_loss(*confident)
    assert float(loss) < 1e-6 and float(accuracy) == 1.0
    with pytest.raises((ValueError, TypeError), match="tc_logits"):
        density_ratio_tc(jnp.zeros((4, 3)))
    with pytest.raises((ValueError, TypeError), match="logits_permuted"):
        discriminator_loss(jnp.zeros((4, 2)), jnp.zeros(4))
    with pytest.raises((ValueError, TypeError), match="z"):
        permute_dims(jnp.zeros(4), jax.random.key(0))
    with pytest.raises(ValueError, match="gamma"):
        factor_vae(gamma=-1.0)
    with pytest.raises(ValueError, match="`z`"):
        Discriminator(3, (4,), rngs=nnx.Rngs(0))(jnp.zeros((2, 4)))


def test_permute_dims_is_keyed_and_jittable():
    z = jnp.arange(40.0).reshape(10, 4)
    a = permute_dims(z, jax.random.key(0))
    b = jax.jit(permute_dims)(z, jax.random.key(0))
    chex.assert_trees_all_equal(a, b)
    assert not np.array_equal(a, permute_dims(z, jax.random.key(1)))
    assert not np.array_equal(a, z)
    # Columns are permuted independently: the row structure is destroyed.
    assert len({tuple(np.argsort(np.asarray(a)[:, j])) for j in range(4)}) > 1
