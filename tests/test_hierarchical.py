"""The hierarchical (Ladder) VAE: builders, training through make_train_step, metrics, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.models import (
    HierarchicalVAE,
    HierarchicalVAEOutput,
    cnn_hierarchical_vae,
    mlp_hierarchical_vae,
)
from vaekit.objectives import hierarchical_vae

IMAGE = (8, 8, 1)
LATENTS = (8, 4, 2)
HIDDEN = 16
STEPS = 40
FAST_COMPILE = {"xla_backend_optimization_level": 0}  # a tiny model: compile time dominates


def _data(n: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    # Two prototypes with pixel noise: enough structure for a few steps to lower the loss.
    protos = rng.random((2, *IMAGE)) < 0.4
    flips = rng.random((n, *IMAGE)) < 0.05
    return {"x": (protos[np.arange(n) % 2] ^ flips).astype(np.float32)}


BUILDERS = {
    "mlp": lambda: mlp_hierarchical_vae(IMAGE, LATENTS, hidden=HIDDEN, rngs=nnx.Rngs(0)),
    "cnn": lambda: cnn_hierarchical_vae(IMAGE, LATENTS, channels=(4,), hidden=HIDDEN,
                                        rngs=nnx.Rngs(0)),
}


@nnx.jit
def _apply(model, x, key):
    """Generation, the forward and the log weights in one compiled call (eager calls compile
    every op separately)."""
    keys = jax.random.split(key, 3)
    return (model.generate(keys[0], 5), model(x, key=keys[1]),
            model.log_importance_weight({"x": x}, keys[2], vaekit.bernoulli_nll))


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_trains_through_the_unchanged_train_step(kind):
    model = BUILDERS[kind]()
    assert model.num_layers == 3
    objective = hierarchical_vae(beta=optax.linear_schedule(0.5, 1.0, STEPS), free_bits=0.01)
    train = vaekit.make_train_step(objective, optax.adam(1e-2), compiler_options=FAST_COMPILE)
    state = train.init(model, jax.random.key(0))
    batch = _data()
    losses = []
    for _ in range(STEPS):
        state, metrics = train.step(state, batch)
        losses.append(float(metrics["loss"]))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])
    for layer in range(3):
        assert f"kl_layer_{layer}" in metrics and f"active_dims_layer_{layer}" in metrics
        assert f"kl_free_bits_layer_{layer}" in metrics
        assert 0 <= float(metrics[f"active_dims_layer_{layer}"]) <= LATENTS[layer]
    kl_sum = sum(float(metrics[f"kl_layer_{layer}"]) for layer in range(3))
    np.testing.assert_allclose(float(metrics["kl_loss"]), kl_sum, rtol=1e-5)
    np.testing.assert_allclose(
        float(metrics["loss"]),
        float(metrics["reconstruction_loss"]) + float(metrics["beta"] * metrics["kl_free_bits"]),
        rtol=1e-5,
    )

    samples, out, log_w = _apply(state.model(), jnp.asarray(batch["x"]), jax.random.key(1))
    assert samples.shape == (5, *IMAGE) and bool(jnp.isfinite(samples).all())
    assert isinstance(out, HierarchicalVAEOutput)
    assert [z.shape for z in out.z] == [(16, d) for d in LATENTS]
    assert [m.shape for m in out.p_mean] == [(16, d) for d in LATENTS]
    assert float(jnp.abs(out.p_mean[-1]).max()) == 0.0  # p(z_top) = N(0, I)
    assert float(jnp.abs(out.p_logvar[-1]).max()) == 0.0
    assert log_w.shape == (16,) and bool(jnp.isfinite(log_w).all())


def test_without_free_bits_the_kl_metric_is_the_penalty():
    out = HierarchicalVAEOutput(
        recon=jnp.zeros((2, 3)), z=(jnp.zeros((2, 2)),) * 3,
        q_mean=(jnp.ones((2, 2)),) * 3, q_logvar=(jnp.zeros((2, 2)),) * 3,
        p_mean=(jnp.zeros((2, 2)),) * 3, p_logvar=(jnp.zeros((2, 2)),) * 3,
    )
    loss, metrics = hierarchical_vae(beta=2.0)(out, {"x": jnp.ones((2, 3))}, jnp.int32(0))
    assert "kl_free_bits" not in metrics
    np.testing.assert_allclose(float(metrics["kl_loss"]), 3.0)  # 3 layers x 2 dims x 0.5
    np.testing.assert_allclose(float(loss), float(metrics["reconstruction_loss"]) + 6.0,
                               rtol=1e-6)
    assert float(metrics["active_dims_layer_1"]) == 2.0


@pytest.mark.parametrize("latent_dims", [(), (4, 0, 2), (4, -1), [3, 2, 0]])
def test_bad_latent_dims_raise_naming_the_argument(latent_dims):
    for build in (
        lambda: mlp_hierarchical_vae(IMAGE, latent_dims, hidden=4, rngs=nnx.Rngs(0)),
        lambda: cnn_hierarchical_vae(IMAGE, latent_dims, channels=(2,), hidden=4,
                                     rngs=nnx.Rngs(0)),
        lambda: HierarchicalVAE(nnx.Sequential(), nnx.Sequential(), latent_dims, 4,
                                rngs=nnx.Rngs(0)),
    ):
        with pytest.raises(ValueError, match="latent_dims"):
            build()


def test_other_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="hidden"):
        mlp_hierarchical_vae(IMAGE, LATENTS, hidden=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="image_shape"):
        mlp_hierarchical_vae((), LATENTS, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="image_shape"):
        cnn_hierarchical_vae((6, 6, 1), LATENTS, channels=(2, 2, 2), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="channels"):
        cnn_hierarchical_vae(IMAGE, LATENTS, channels=(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="free_bits"):
        hierarchical_vae(free_bits=-0.1)
    with pytest.raises(ValueError, match="beta"):
        hierarchical_vae(beta=-1.0)
    model = BUILDERS["mlp"]()  # the shapes of the training test: its inits are compiled
    with pytest.raises(ValueError, match="num_samples"):
        model.generate(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="`x`"):
        model(jnp.zeros((1, 3, 3, 1)), key=jax.random.key(0))
