"""Ex-post GMM sampling of a trained autoencoder.

Ex-post GMM sampling of a trained autoencoder (Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders", section 4): fit a mixture to the posterior means of the training set, then decode
mixture draws instead of prior draws.
"""

import numpy as np
from flax import nnx
from jaxtyping import Array, Integer, PRNGKeyArray, Real

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.samplers._codes import check_autoencoder, decode_latents, encode_posteriors
from vaekit.samplers._gmm import GaussianMixture, fit_gmm, sample_gmm


def fit_latent_gmm(
    model: nnx.Module,
    images: Real[AnyArray, " num *event"],
    num_components: int = 10,
    *,
    key: PRNGKeyArray,
    labels: Integer[AnyArray, " num"] | None = None,
    batch_size: int = 256,
    num_iters: int = 100,
    covariance: str = "full",
    reg: float = 1e-6,
) -> GaussianMixture:
    """A :class:`GaussianMixture` fitted (:func:`fit_gmm`) to the posterior means of ``images``.

    ``model`` is any NNX module with ``encode(x) -> (mean, logvar)`` and ``decode(z)``
    (:class:`vaekit.VAE`, CNN VAEs, ...); with ``labels`` it is called as ``encode(x, labels)``
    (:class:`vaekit.ConditionalVAE`: one mixture over the codes of all classes). The encoder
    runs jitted in batches of ``batch_size``.

    Args:
      model: the trained model.
      images: ``(num, *event)`` training inputs, as the model's encoder takes them.
      num_components: ``K``, ``1 <= K <= num`` (Ghosh et al. use 10).
      key: PRNG key of the k-means++ initialisation.
      labels: ``(num,)`` integer labels for a conditional model, else ``None``.
      batch_size: images per encoder batch.
      num_iters: see :func:`fit_gmm`.
      covariance: see :func:`fit_gmm`.
      reg: see :func:`fit_gmm`.

    Returns:
      The fitted mixture over the latent space ``(K, latent)``.

    Example:
      >>> import jax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> images = np.random.default_rng(0).random((20, 4)).astype(np.float32)
      >>> gmm = fit_latent_gmm(vae, images, 3, key=jax.random.key(0), num_iters=5)
      >>> sample_with_gmm(vae, gmm, jax.random.key(1), 6).shape
      (6, 4)
    """
    means, _ = encode_posteriors(model, images, labels, batch_size)
    if not np.all(np.isfinite(means)):
        raise ValueError("`model.encode` gave non-finite codes for `images`.")
    return fit_gmm(means, num_components, key=key, num_iters=num_iters,
                   covariance=covariance, reg=reg)


def sample_with_gmm(
    model: nnx.Module,
    gmm: GaussianMixture,
    key: PRNGKeyArray,
    n: int,
    *,
    labels: Integer[AnyArray, " n"] | None = None,
) -> Array:
    """Decoder outputs ``(n, *event)`` (e.g. logits) of ``n`` latents drawn from ``gmm``.

    ``model.decode(z)`` or, with ``labels`` ``(n,)``, ``model.decode(z, labels)``; one jitted
    call (compiled once per ``n``).

    Example: see :func:`fit_latent_gmm`.
    """
    check_autoencoder(model)
    n = check_int(n, "n")
    return decode_latents(model, sample_gmm(gmm, key, n), labels)
