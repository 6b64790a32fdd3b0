"""The VQ-VAE container: any encoder, a vector quantizer, any decoder."""

from typing import NamedTuple

from flax import nnx
from jaxtyping import Array, Integer, PRNGKeyArray

from vaekit._mode import resolve_train
from vaekit._types import AnyArray


class VQVAEOutput(NamedTuple):
    """What :class:`VQVAE` returns.

    Attributes:
      recon: decoder output for ``z_q`` (logits for Bernoulli data), ``(batch, *event)``.
      z_e: encoder output, ``(batch, ..., D)``.
      z_q: quantized ``z_e`` with the quantizer's gradient estimator applied.
      indices: code indices, ``(batch, ...)`` (a residual quantizer adds a levels axis).
      losses: the quantizer's unweighted scalar losses (``codebook_loss``, ``commitment_loss``).
      metrics: the quantizer's scalar metrics (e.g. ``perplexity``, ``codebook_usage``).
    """

    recon: Array
    z_e: Array
    z_q: Array
    indices: Array
    losses: dict[str, Array]
    metrics: dict[str, Array]


class VQVAE(nnx.Module):
    """``x -> encoder -> z_e -> quantizer -> z_q -> decoder -> recon`` (van den Oord et al. 2017).

    The encoder maps ``x`` to ``z_e (batch, ..., D)`` (e.g. a conv feature map
    ``(batch, h, w, D)``); the quantizer is a :class:`vaekit.quantizers.VectorQuantizer` or
    :class:`vaekit.quantizers.ResidualVQ` (anything called as ``quantizer(z_e, key=, train=)``
    returning a ``QuantizerOutput`` and having ``lookup(indices)``); the decoder maps ``z_q``
    to outputs. Train with :func:`vaekit.vq_vae` through :func:`vaekit.make_train_step`; EMA
    codebook statistics are updated in the forward and carried in ``TrainState.rest``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit.quantizers import VectorQuantizer
      >>> rngs = nnx.Rngs(0)
      >>> model = VQVAE(nnx.Linear(6, 4, rngs=rngs), VectorQuantizer(8, 4, rngs=rngs),
      ...               nnx.Linear(4, 6, rngs=rngs))
      >>> out = model(jnp.zeros((3, 2, 6)), key=jax.random.key(0))
      >>> out.recon.shape, out.indices.shape
      ((3, 2, 6), (3, 2))
    """

    def __init__(self, encoder: nnx.Module, quantizer: nnx.Module, decoder: nnx.Module):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.deterministic = False  # nnx.Module.eval() sets it (with the quantizer's)

    def encode(self, x: AnyArray) -> Array:
        """Encoder output ``z_e``."""
        return self.encoder(x)

    def quantize(self, z_e: AnyArray, *, key: PRNGKeyArray | None = None, train: bool = False):
        """The quantizer's output for ``z_e`` (by default in eval mode: no codebook update)."""
        return self.quantizer(z_e, key=key, train=train)

    def decode(self, z_q: AnyArray) -> Array:
        """Decoder output (logits for Bernoulli data) for quantized latents ``z_q``."""
        return self.decoder(z_q)

    def decode_indices(self, indices: Integer[AnyArray, "..."]) -> Array:
        """Decoder output for code indices (``quantizer.lookup`` then :meth:`decode`)."""
        return self.decode(self.quantizer.lookup(indices))

    def __call__(self, x: AnyArray, *, key: PRNGKeyArray,
                 train: bool | None = None) -> VQVAEOutput:
        """Encodes, quantizes (updating an EMA codebook when ``train``) and decodes ``x``."""
        z_e = self.encode(x)
        q = self.quantizer(z_e, key=key, train=resolve_train(self, train))
        return VQVAEOutput(
            recon=self.decode(q.z_q), z_e=z_e, z_q=q.z_q, indices=q.indices, losses=q.losses,
            metrics=q.metrics,
        )
