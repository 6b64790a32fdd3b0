"""Encoding a data set to posterior parameters and decoding latents.

For any Gaussian-latent model with ``encode(x[, y]) -> (mean, logvar)`` and ``decode(z[, y])``
(jitted, batch by batch).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from vaekit._checks import check_int, check_labels


def check_autoencoder(model: object) -> None:
    """Raises a ``ValueError`` naming ``model`` unless it has ``encode`` and ``decode``."""
    missing = [m for m in ("encode", "decode") if not callable(getattr(model, m, None))]
    if missing or not isinstance(model, nnx.Module):
        raise ValueError(
            "`model` must be an NNX module with `encode(x) -> (mean, logvar)` and `decode(z)` "
            f"methods (e.g. vaekit.VAE); {type(model).__name__} "
            + (f"has no {' or '.join(missing)}." if missing else "is not an nnx.Module.")
        )


def _call(fn, args: tuple, what: str, labels_given: bool):
    try:
        return fn(*args)
    except TypeError as err:
        hint = ("if the model is conditional, pass `labels`" if not labels_given
                else "if the model takes no labels, pass labels=None")
        raise ValueError(f"calling `model.{what}` failed ({err}); {hint}.") from err


@functools.partial(jax.jit, static_argnums=0)
def _encode(graphdef, state, x, y):
    model = nnx.merge(graphdef, state)
    args = (x,) if y is None else (x, y)
    return _call(model.encode, args, "encode", y is not None)


@functools.partial(jax.jit, static_argnums=0)
def _decode(graphdef, state, z, y):
    model = nnx.merge(graphdef, state)
    args = (z,) if y is None else (z, y)
    return _call(model.decode, args, "decode", y is not None)


def encode_posteriors(model, images, labels=None, batch_size: int = 256):
    """``(means, logvars)`` of every image.

    ``(means, logvars)`` numpy ``(N, latent)`` of every image (labels for conditional models); every
    batch has ``min(batch_size, N)`` rows (the last one zero-padded), so the encoder compiles once.
    """
    check_autoencoder(model)
    batch_size = check_int(batch_size, "batch_size")
    num = int(np.shape(images)[0]) if np.ndim(images) else 0
    if num == 0:
        raise ValueError("`images` must hold at least one example (batch first), got 0.")
    labels = check_labels(labels, num)
    batch = min(batch_size, num)
    graphdef, state = nnx.split(model)
    means, logvars = [], []
    for start in range(0, num, batch):
        x = jnp.asarray(images[start:start + batch])
        y = None if labels is None else jnp.asarray(labels[start:start + batch])
        size = x.shape[0]
        if size < batch:
            x = jnp.concatenate([x, jnp.zeros((batch - size, *x.shape[1:]), x.dtype)])
            if y is not None:
                y = jnp.concatenate([y, jnp.zeros((batch - size,), y.dtype)])
        out = jax.device_get(_encode(graphdef, state, x, y))
        if (not isinstance(out, tuple) or len(out) != 2 or np.ndim(out[0]) != 2
                or np.shape(out[0]) != np.shape(out[1])):
            raise ValueError(
                "`model.encode` must return (mean, logvar), each of shape (batch, latent); got "
                f"{type(out).__name__} {jax.tree.map(np.shape, out)}."
            )
        means.append(np.asarray(out[0])[:size])
        logvars.append(np.asarray(out[1])[:size])
    return np.concatenate(means), np.concatenate(logvars)


def decode_latents(model, z, labels=None):
    """``model.decode(z)`` (or ``decode(z, labels)``), one jitted call."""
    check_autoencoder(model)
    z = jnp.asarray(z)
    labels = check_labels(labels, z.shape[0])
    graphdef, state = nnx.split(model)
    return _decode(graphdef, state, z, None if labels is None else jnp.asarray(labels))
