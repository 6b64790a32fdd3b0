"""The reference: a hand-written, fused ``jax.jit`` β-VAE step of the benchmark model.

Plain dict parameters, the forward, Bernoulli-logits NLL, Gaussian KL and the Adam update
written out in one jitted function (state donated), returning only the loss. It computes
what ``vaekit.make_train_step(vaekit.beta_vae(beta), optax.adam(lr))`` computes, without the
NNX split/merge, the composed objective's bookkeeping or the extra metrics.
"""

import functools

import jax
import jax.numpy as jnp
import optax
from _common import H1, H2, IN, LATENT

LAYERS = {"e1": (IN, H1), "e2": (H1, H2), "e3": (H2, 2 * LATENT),
          "d1": (LATENT, H2), "d2": (H2, H1), "d3": (H1, IN)}


def init_params(key: jax.Array) -> dict:
    params = {}
    for (name, (fan_in, fan_out)), k in zip(LAYERS.items(), jax.random.split(key, len(LAYERS)),
                                            strict=True):
        w = jax.random.truncated_normal(k, -2.0, 2.0, (fan_in, fan_out)) / jnp.sqrt(fan_in)
        params[name] = {"w": w, "b": jnp.zeros((fan_out,))}
    return params


def _dense(p: dict, h: jax.Array) -> jax.Array:
    return h @ p["w"] + p["b"]


def loss_fn(params: dict, x: jax.Array, key: jax.Array, beta: float) -> jax.Array:
    h = jax.nn.relu(_dense(params["e1"], x))
    h = jax.nn.relu(_dense(params["e2"], h))
    mean, logvar = jnp.split(_dense(params["e3"], h), 2, axis=-1)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    h = jax.nn.relu(_dense(params["d1"], z))
    h = jax.nn.relu(_dense(params["d2"], h))
    logits = _dense(params["d3"], h)
    recon = jnp.sum(jax.nn.softplus(logits) - logits * x, axis=-1)
    kl = 0.5 * jnp.sum(jnp.square(mean) + jnp.expm1(logvar) - logvar, axis=-1)
    return jnp.mean(recon) + beta * jnp.mean(kl)


def make_hand_step(beta: float = 4.0, lr: float = 1e-3):
    """``(init(key) -> state, step(state, x) -> (state, loss))``, ``step`` jitted and donating."""
    optimizer = optax.adam(lr)

    def init(key: jax.Array):
        params = init_params(key)
        return params, optimizer.init(params), jnp.zeros((), jnp.int32), key

    def step(state, x):
        params, opt_state, count, key = state
        loss, grads = jax.value_and_grad(loss_fn)(params, x, jax.random.fold_in(key, count),
                                                  beta)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, count + 1, key), loss

    def multi_step(state, xs):
        return jax.lax.scan(step, state, xs)

    return (init, jax.jit(step, donate_argnums=0),
            jax.jit(functools.partial(multi_step), donate_argnums=0))
