"""Properties of the hierarchical (Ladder) VAE: its Gaussian–Gaussian KL, its ELBO, free bits."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from hypothesis import given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import BATCH, LATENT, arrays, floats
from vaekit.models import HierarchicalVAEOutput, mlp_hierarchical_vae, precision_weighted_merge
from vaekit.objectives import gaussian_kl_between, gaussian_log_density, hierarchical_vae

# The shapes of tests/test_hierarchical.py: their parameter inits compile once per process.
IMAGE = (8, 8, 1)
LATENTS = (8, 4, 2)
SAMPLES = 2048
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@functools.cache
def _model():
    return mlp_hierarchical_vae(IMAGE, LATENTS, hidden=16, rngs=nnx.Rngs(0))


def gaussians(batch: int = BATCH, latent: int = LATENT, spread: float = 3.0):
    shape = (batch, latent)
    return st.tuples(*(arrays(shape, -spread, spread) for _ in range(4)))


def binary_images(n: int):
    return arrays((n, *IMAGE), 0.0, 1.0).map(lambda a: (a > 0.5).astype(np.float32))


_kl = jax.jit(gaussian_kl_between)


@given(gaussians(spread=8.0))
def test_kl_is_nonnegative_and_zero_only_at_equality(params):
    mean_q, logvar_q, mean_p, logvar_p = params
    kl = np.asarray(_kl(mean_q, logvar_q, mean_p, logvar_p))
    assert kl.shape == (BATCH, LATENT) and (kl >= 0).all()
    np.testing.assert_array_equal(np.asarray(_kl(mean_q, logvar_q, mean_q, logvar_q)), 0.0)
    differs = (np.abs(mean_q - mean_p) > 1e-2) | (np.abs(logvar_q - logvar_p) > 1e-2)
    assert (kl[differs] > 0).all()


@jax.jit
def _sampled_kl(key, mean_q, logvar_q, mean_p, logvar_p):
    """Per-element mean and standard error of log q(z) − log p(z) over SAMPLES draws z ~ q."""
    eps = jax.random.normal(key, (SAMPLES, *mean_q.shape))
    z = mean_q + jnp.exp(0.5 * logvar_q) * eps
    flat = lambda a: jnp.broadcast_to(a, z.shape).reshape(-1, a.shape[-1])  # noqa: E731
    diff = (gaussian_log_density(flat(z), flat(mean_q), flat(logvar_q))
            - gaussian_log_density(flat(z), flat(mean_p), flat(logvar_p))).reshape(z.shape)
    return diff.mean(0), diff.std(0) / np.sqrt(SAMPLES)


@given(gaussians(batch=2, latent=LATENT, spread=2.0))
def test_analytic_kl_is_the_mean_of_sampled_log_ratios(params):
    mean, stderr = _sampled_kl(jax.random.key(0), *params)
    analytic = _kl(*params)
    np.testing.assert_array_less(np.abs(np.asarray(mean - analytic)),
                                 5.0 * np.asarray(stderr) + 1e-3)


@given(gaussians(spread=6.0))
def test_merge_is_symmetric_and_shrinks_the_variance(params):
    mean_a, logvar_a, mean_b, logvar_b = params
    mean, logvar = precision_weighted_merge(mean_a, logvar_a, mean_b, logvar_b)
    mean_swapped, logvar_swapped = precision_weighted_merge(mean_b, logvar_b, mean_a, logvar_a)
    np.testing.assert_allclose(mean, mean_swapped, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logvar, logvar_swapped, rtol=1e-6, atol=1e-6)
    assert (np.asarray(logvar) <= np.minimum(logvar_a, logvar_b) + 1e-6).all()
    lo, hi = np.minimum(mean_a, mean_b), np.maximum(mean_a, mean_b)
    assert ((np.asarray(mean) >= lo - 1e-5) & (np.asarray(mean) <= hi + 1e-5)).all()


@functools.partial(jax.jit, compiler_options=FAST_COMPILE)
def _log_weight_and_loss(state, x, key):
    model = nnx.merge(*state)
    batch = {"x": x}
    log_w = model.log_importance_weight(batch, key, vaekit.bernoulli_nll)
    out = model(x, key=key)  # the same key: the same draws as the log weight
    loss, _ = hierarchical_vae()(out, batch, jnp.int32(0))
    # Per sample: log w + recon + Σ_l KL_l has mean 0 given the upper layers.
    per_sample = log_w + vaekit.bernoulli_nll(out.recon, x)
    for qm, qlv, pm, plv in zip(out.q_mean, out.q_logvar, out.p_mean, out.p_logvar,
                                strict=True):
        per_sample = per_sample + jnp.sum(gaussian_kl_between(qm, qlv, pm, plv), axis=-1)
    return log_w.mean(), loss, per_sample.std() / np.sqrt(x.shape[0])


@given(binary_images(1), st.integers(0, 2**16))
def test_expected_log_weight_is_the_negative_elbo_loss(image, seed):
    x = jnp.broadcast_to(jnp.asarray(image), (SAMPLES, *IMAGE))  # SAMPLES draws for one image
    mean_log_w, loss, stderr = _log_weight_and_loss(nnx.split(_model()), x,
                                                    jax.random.key(seed))
    assert abs(float(mean_log_w + loss)) < 5.0 * float(stderr) + 1e-3


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def _per_example_loss(objective, state, x, keys, step):
    model = nnx.merge(*state)
    out = jax.vmap(lambda xi, ki: model(xi[None], key=ki))(x, keys)  # one key per example
    out = jax.tree.map(lambda a: a[:, 0], out)
    return objective(out, {"x": x}, step)[1]


_SCHEDULED = hierarchical_vae(beta=optax.linear_schedule(0.0, 2.0, 100))


@given(binary_images(BATCH), st.integers(0, 2**16), st.integers(0, 200))
def test_loss_of_a_batch_is_the_mean_of_its_halves(images, seed, step):
    state, keys = nnx.split(_model()), jax.random.split(jax.random.key(seed), BATCH)
    metric = functools.partial(_per_example_loss, _SCHEDULED, state, step=jnp.int32(step))
    whole = metric(images, keys)
    half = BATCH // 2
    first, second = metric(images[:half], keys[:half]), metric(images[half:], keys[half:])
    for name in ("loss", "reconstruction_loss", "kl_loss", "kl_layer_0", "kl_layer_2"):
        np.testing.assert_allclose(0.5 * (first[name] + second[name]), whole[name],
                                   rtol=1e-5, atol=1e-4)


def _record(layers):
    n = layers[0][0].shape[0]
    return HierarchicalVAEOutput(
        recon=jnp.zeros((n, 2)), z=tuple(jnp.asarray(q[0]) for q in layers),
        q_mean=tuple(jnp.asarray(q[0]) for q in layers),
        q_logvar=tuple(jnp.asarray(q[1]) for q in layers),
        p_mean=tuple(jnp.asarray(q[2]) for q in layers),
        p_logvar=tuple(jnp.asarray(q[3]) for q in layers),
    )


@given(gaussians(), gaussians(spread=1.0), arrays((2, BATCH, LATENT), -0.125, 0.125),
       gaussians(), floats(0.0625, 2.0), st.integers(0, 2))
def test_free_bits_floor_each_layer_and_stop_gradients_of_a_collapsed_one(
    upper, near, offsets, lower, free_bits, collapsed
):
    # Layer `collapsed` has q within 0.125 of p (KL < 0.03 nats a dimension, below the floor).
    near = (near[0] + offsets[0], near[1] + offsets[1], near[0], near[1])
    layers = [lower, upper]
    layers.insert(collapsed, near)
    objective = hierarchical_vae(free_bits=free_bits)
    batch = {"x": jnp.zeros((BATCH, 2))}

    def loss_of(params):
        return objective(_record(params), batch, jnp.int32(0))

    (loss, metrics), grads = jax.value_and_grad(loss_of, has_aux=True)(
        [tuple(jnp.asarray(a) for a in layer) for layer in layers]
    )
    for layer in range(3):
        assert float(metrics[f"kl_free_bits_layer_{layer}"]) >= free_bits * LATENT - 1e-6
        assert float(metrics[f"kl_free_bits_layer_{layer}"]) >= float(
            metrics[f"kl_layer_{layer}"]) - 1e-4
    np.testing.assert_allclose(float(metrics[f"kl_free_bits_layer_{collapsed}"]),
                               free_bits * LATENT, rtol=1e-6)
    for grad in grads[collapsed]:
        np.testing.assert_array_equal(np.asarray(grad), 0.0)
