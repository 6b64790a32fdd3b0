"""Encoding a data set with a VAE's encoder, and per-dimension statistics of the posterior.

Host-side helpers for evaluation: the encoder runs jitted, batch by batch, and the results come
back as numpy arrays for the (numpy) metrics.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Float, Real

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray
from vaekit.objectives._kl import gaussian_kl_per_dim


@functools.partial(jax.jit, static_argnums=0)
def _encode_batch(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array):
    model = nnx.merge(graphdef, state)
    encode = model.encode if hasattr(model, "encode") else model
    return encode(x)


def encode_dataset(
    model: nnx.Module, images: Real[AnyArray, " num *event"], batch_size: int = 256
) -> tuple[Float[np.ndarray, "num latent"], Float[np.ndarray, "num latent"]]:
    """Posterior parameters ``(means, logvars)`` of every image, computed batch by batch.

    The encoder pass is one jitted function of the model's state (``nnx.split`` / ``nnx.merge``
    at the jit boundary). Every batch has ``min(batch_size, num)`` rows: the final partial batch
    is zero-padded and the padding discarded, so the encoder compiles once per batch shape.

    Args:
      model: an NNX module with ``encode(x) -> (mean, logvar)`` (e.g. :class:`vaekit.VAE`), or
        an encoder whose call returns ``(mean, logvar)``.
      images: ``(num, *event)`` inputs, ``num >= 1`` (numpy or jax).
      batch_size: images per encoder call, ``>= 1``.

    Returns:
      ``(means, logvars)``, numpy arrays of shape ``(num, latent)``.

    Example:
      >>> import numpy as np
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> means, logvars = encode_dataset(vae, np.zeros((5, 4), np.float32), batch_size=2)
      >>> means.shape, logvars.shape
      ((5, 2), (5, 2))
    """
    batch_size = check_int(batch_size, "batch_size")
    num = images.shape[0]
    if num == 0:
        raise ValueError("`images` must hold at least one example, got 0.")
    batch = min(batch_size, num)
    graphdef, state = nnx.split(model)
    means, logvars = [], []
    for start in range(0, num, batch):
        x = jnp.asarray(images[start:start + batch])
        size = x.shape[0]
        if size < batch:
            x = jnp.concatenate([x, jnp.zeros((batch - size, *x.shape[1:]), x.dtype)])
        mean, logvar = jax.device_get(_encode_batch(graphdef, state, x))
        means.append(np.asarray(mean)[:size])
        logvars.append(np.asarray(logvar)[:size])
    return np.concatenate(means), np.concatenate(logvars)


def mean_representation(
    model: nnx.Module, batch_size: int = 256
) -> Callable[[np.ndarray], np.ndarray]:
    """The representation function ``images -> posterior means`` of a VAE (numpy in and out).

    This is the representation disentanglement_lib evaluates (its ``mean`` representation). The
    function reads the model's parameters when it is called, so it follows further training.

    Example:
      >>> import numpy as np
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> mean_representation(vae)(np.zeros((3, 4), np.float32)).shape
      (3, 2)
    """
    batch_size = check_int(batch_size, "batch_size")

    def representation_fn(images: np.ndarray) -> np.ndarray:
        return encode_dataset(model, images, batch_size)[0]

    return representation_fn


def latent_statistics(
    means: Float[AnyArray, "num latent"],
    logvars: Float[AnyArray, "num latent"],
    threshold: float | int = 0.01,
) -> dict[str, Any]:
    """Per-dimension variance of the posterior means, per-dimension KL and the active units.

    A latent dimension ``d`` is *active* when ``Var_x(E_q(z|x)[z_d]) > threshold``: the
    "active units" statistic of Burda, Grosse & Salakhutdinov (2016, "Importance Weighted
    Autoencoders", section 5.2; threshold 0.01). The variance is the population variance
    (``ddof=0``) over the ``num`` samples. The KL is ``KL(q(z_d|x) || N(0, 1))`` averaged over the
    samples (:func:`vaekit.gaussian_kl_per_dim`).

    Args:
      means: posterior means ``(num, latent)``.
      logvars: posterior log-variances, same shape.
      threshold: activity threshold on the variance of the means, ``>= 0``.

    Returns:
      A dict with ``"variance_of_means"`` ``(latent,)``, ``"kl_per_dim"`` ``(latent,)`` (mean KL
      in nats), ``"kl"`` (their sum, a float), ``"active_mask"`` (bool ``(latent,)``) and
      ``"active_dims"`` (int, the number of active dimensions).

    Example:
      >>> import numpy as np
      >>> means = np.array([[0.0, -1.0], [0.0, 1.0]])
      >>> stats = latent_statistics(means, np.zeros((2, 2)))
      >>> stats["active_dims"], stats["variance_of_means"].tolist(), stats["kl_per_dim"].tolist()
      (1, [0.0, 1.0], [0.0, 0.5])
    """
    threshold = check_number(threshold, "threshold", minimum=0.0)
    means = np.asarray(means, dtype=np.float64)
    logvars = np.asarray(logvars, dtype=np.float64)
    if means.shape != logvars.shape:
        raise ValueError(
            f"`means` and `logvars` must have the same shape, got {means.shape} and "
            f"{logvars.shape}."
        )
    if means.shape[0] == 0:
        raise ValueError("`means` must hold at least one sample, got 0.")
    for name, value in (("means", means), ("logvars", logvars)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"`{name}` must be finite (no NaN or inf).")
    variance = np.var(means, axis=0)
    kl_per_dim = np.mean(np.asarray(gaussian_kl_per_dim(means, logvars), np.float64), axis=0)
    mask = variance > threshold
    return {
        "variance_of_means": variance,
        "kl_per_dim": kl_per_dim,
        "kl": float(np.sum(kl_per_dim)),
        "active_mask": mask,
        "active_dims": int(np.sum(mask)),
    }
