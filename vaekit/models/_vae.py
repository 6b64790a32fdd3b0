"""A Gaussian VAE container: any encoder, any decoder, the reparameterisation trick."""

from typing import NamedTuple

import jax
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit.models._reparameterize import reparameterize


class VAEOutput(NamedTuple):
    """What :class:`VAE` returns: decoder output, posterior parameters and the sample.

    Attributes:
      recon: decoder output for ``z`` (logits for Bernoulli data), ``(batch, *event)``.
      mean: posterior means, ``(batch, latent)``.
      logvar: posterior log-variances, ``(batch, latent)``.
      z: the reparameterised sample, ``(batch, latent)``.
    """

    recon: Array
    mean: Array
    logvar: Array
    z: Array


class VAE(nnx.Module):
    """``x -> encoder -> (mean, logvar) -> z -> decoder -> recon`` (Kingma & Welling 2014).

    The encoder returns ``(mean, logvar)``; the decoder maps ``(batch, latent)`` to outputs.
    Randomness comes only from the explicit ``key``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit import MLPDecoder, MLPEncoder, VAE
      >>> rngs = nnx.Rngs(0)
      >>> vae = VAE(MLPEncoder((4,), 2, (8,), rngs=rngs), MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> vae(jnp.zeros((3, 4)), key=jax.random.key(1)).recon.shape
      (3, 4)
    """

    def __init__(self, encoder: nnx.Module, decoder: nnx.Module):
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: Array) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """Posterior parameters ``(mean, logvar)`` of q(z|x)."""
        return self.encoder(x)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        """Decoder output (logits for Bernoulli data) for latent codes ``z``."""
        return self.decoder(z)

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> VAEOutput:
        """Encodes ``x``, samples ``z`` with ``key`` and decodes it."""
        mean, logvar = self.encode(x)
        z = reparameterize(key, mean, logvar)
        return VAEOutput(recon=self.decode(z), mean=mean, logvar=logvar, z=z)

    def generate(
        self, key: PRNGKeyArray, num_samples: int, latent_dim: int | None = None
    ) -> Array:
        """Decodes ``num_samples`` draws from the prior N(0, I) (decoder outputs, e.g. logits).

        ``latent_dim`` defaults to the decoder's ``latent_dim`` attribute.
        """
        num_samples = check_int(num_samples, "num_samples")
        if latent_dim is None:
            latent_dim = getattr(self.decoder, "latent_dim", None)
            if latent_dim is None:
                raise ValueError("`latent_dim` is required: the decoder has no `latent_dim`.")
        return self.decode(jax.random.normal(key, (num_samples, latent_dim)))
