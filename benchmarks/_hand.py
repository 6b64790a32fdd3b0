"""The reference: a hand-written, fused ``jax.jit`` β-VAE step of the benchmark model.

Plain dict parameters, the forward, Bernoulli-logits NLL, Gaussian KL and the Adam update
written out in one jitted function (state donated), returning only the loss. It computes
what ``vaekit.make_train_step(vaekit.beta_vae(beta), optax.adam(lr))`` computes, without the
NNX split/merge, the composed objective's bookkeeping or the extra metrics.

``layout="nnx"`` stores the same parameters under vaekit's NNX paths
(``{"encoder": {"hidden": {0: {"bias", "kernel"}, 1: …}, "head": …}, "decoder": …}``): the
same computation with the parameter leaves in the order vaekit's train state flattens them,
which XLA:CPU schedules differently (``benchmarks/RESULTS.md``, bench_train_step).
"""

import functools

import jax
import jax.numpy as jnp
import optax
from _common import H1, H2, IN, LATENT

LAYERS = {"e1": (IN, H1), "e2": (H1, H2), "e3": (H2, 2 * LATENT),
          "d1": (LATENT, H2), "d2": (H2, H1), "d3": (H1, IN)}


# Where each layer lives in vaekit's NNX parameter tree (MLPEncoder / MLPDecoder).
NNX_PATHS = {"e1": ("encoder", "hidden", 0), "e2": ("encoder", "hidden", 1),
             "e3": ("encoder", "head"), "d1": ("decoder", "hidden", 0),
             "d2": ("decoder", "hidden", 1), "d3": ("decoder", "head")}


def init_params(key: jax.Array, layout: str = "hand") -> dict:
    params = {}
    for (name, (fan_in, fan_out)), k in zip(LAYERS.items(), jax.random.split(key, len(LAYERS)),
                                            strict=True):
        w = jax.random.truncated_normal(k, -2.0, 2.0, (fan_in, fan_out)) / jnp.sqrt(fan_in)
        if layout == "hand":
            params[name] = {"w": w, "b": jnp.zeros((fan_out,))}
        else:
            *outer, last = NNX_PATHS[name]
            node = params
            for part in outer:
                node = node.setdefault(part, {})
            node[last] = {"kernel": w, "bias": jnp.zeros((fan_out,))}
    return params


def _layer(params: dict, name: str) -> tuple[jax.Array, jax.Array]:
    """``(w, b)`` of layer ``name`` in either layout."""
    if name in params:
        return params[name]["w"], params[name]["b"]
    node = params
    for part in NNX_PATHS[name]:
        node = node[part]
    return node["kernel"], node["bias"]


def _dense(params: dict, name: str, h: jax.Array) -> jax.Array:
    w, b = _layer(params, name)
    return h @ w + b


def loss_fn(params: dict, x: jax.Array, key: jax.Array, beta: float) -> jax.Array:
    h = jax.nn.relu(_dense(params, "e1", x))
    h = jax.nn.relu(_dense(params, "e2", h))
    mean, logvar = jnp.split(_dense(params, "e3", h), 2, axis=-1)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
    h = jax.nn.relu(_dense(params, "d1", z))
    h = jax.nn.relu(_dense(params, "d2", h))
    return beta_vae_loss(_dense(params, "d3", h), x, mean, logvar, beta)


def beta_vae_loss(logits: jax.Array, x: jax.Array, mean: jax.Array, logvar: jax.Array,
                  beta: float) -> jax.Array:
    """Bernoulli-logits NLL + β·KL, summed over dims and averaged over the batch (no metrics)."""
    recon = jnp.sum(jax.nn.softplus(logits) - logits * x, axis=-1)
    kl = 0.5 * jnp.sum(jnp.square(mean) + jnp.expm1(logvar) - logvar, axis=-1)
    return jnp.mean(recon) + beta * jnp.mean(kl)


def hand_objective(beta: float = 4.0):
    """The hand step's loss as a vaekit objective ``(out, batch, step) -> (loss, {})``.

    Through ``make_train_step`` it separates the cost of vaekit's step (NNX split/merge, the
    train state, the metrics plumbing) from the composed objective's extra metrics.
    """

    def objective(out, batch, step):
        return beta_vae_loss(out.recon, batch["x"], out.mean, out.logvar, beta), {}

    return objective


def make_hand_step(beta: float = 4.0, lr: float = 1e-3, layout: str = "hand"):
    """``(init(key) -> state, step(state, x) -> (state, loss), multi_step)``, jitted, donating.

    ``layout``: ``"hand"`` (flat ``{"e1": {"w", "b"}, …}``) or ``"nnx"`` (vaekit's paths).
    """
    optimizer = optax.adam(lr)

    def init(key: jax.Array):
        params = init_params(key, layout)
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
