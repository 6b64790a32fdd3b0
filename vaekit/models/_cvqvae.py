"""A class-conditional VQ-VAE: the label reaches both the encoder and the decoder."""

from collections.abc import Sequence

from flax import nnx
from jaxtyping import Array, Integer, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._mode import resolve_train
from vaekit._types import AnyArray
from vaekit.conditioning import broadcast_label_channels, one_hot
from vaekit.models._cnn import ConvDecoder, ConvEncoder
from vaekit.models._vqvae import VQVAEOutput


class ConditionalVQVAE(nnx.Module):
    """VQ-VAE whose encoder and decoder see the one-hot label as extra constant channels.

    ``x (B, H, W, C), y (B,) -> encoder(x ⊕ onehot(y)) -> quantizer -> decoder(z_q ⊕ onehot(y))``
    (the label broadcast onto every position, as in the conditional VAE of Sohn et al. 2015).
    The forward returns the same :class:`VQVAEOutput` as :class:`VQVAE`, so
    :func:`vaekit.vq_vae` applies unchanged; train it with
    ``make_train_step(..., forward=conditional_forward)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit.models import conditional_conv_vqvae
      >>> model = conditional_conv_vqvae((16, 16, 1), num_classes=3, num_codes=8, code_dim=4,
      ...                                channels=(8,), rngs=nnx.Rngs(0))
      >>> out = model(jnp.zeros((2, 16, 16, 1)), jnp.array([0, 2]), key=jax.random.key(0))
      >>> out.recon.shape, out.indices.shape
      ((2, 16, 16, 1), (2, 8, 8))
    """

    def __init__(self, encoder: nnx.Module, quantizer: nnx.Module, decoder: nnx.Module,
                 num_classes: int):
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.deterministic = False  # nnx.Module.eval() sets it (with the quantizer's)
        self.num_classes = check_int(num_classes, "num_classes")

    def _with_label(self, h: AnyArray, y: Integer[AnyArray, " y_batch"]) -> Array:
        return broadcast_label_channels(h, one_hot(y, self.num_classes))

    def encode(self, x: AnyArray, y: Integer[AnyArray, " y_batch"]) -> Array:
        """Encoder output ``z_e`` given the labels."""
        return self.encoder(self._with_label(x, y))

    def quantize(self, z_e: AnyArray, *, key: PRNGKeyArray | None = None, train: bool = False):
        """The quantizer's output for ``z_e`` (by default in eval mode: no codebook update)."""
        return self.quantizer(z_e, key=key, train=train)

    def decode(self, z_q: AnyArray, y: Integer[AnyArray, " y_batch"]) -> Array:
        """Decoder output for quantized latents ``z_q`` of class ``y``."""
        return self.decoder(self._with_label(z_q, y))

    def decode_indices(
        self, indices: Integer[AnyArray, "..."], y: Integer[AnyArray, " y_batch"]
    ) -> Array:
        """Decoder output for a grid of code indices of class ``y``."""
        return self.decode(self.quantizer.lookup(indices), y)

    def __call__(self, x: AnyArray, y: Integer[AnyArray, " y_batch"], *, key: PRNGKeyArray,
                 train: bool | None = None) -> VQVAEOutput:
        """Encodes ``(x, y)``, quantizes and decodes ``(z_q, y)``."""
        z_e = self.encode(x, y)
        q = self.quantizer(z_e, key=key, train=resolve_train(self, train))
        return VQVAEOutput(recon=self.decode(q.z_q, y), z_e=z_e, z_q=q.z_q, indices=q.indices,
                           losses=q.losses, metrics=q.metrics)


def conditional_conv_vqvae(
    image_shape: Sequence[int],
    num_classes: int,
    *,
    num_codes: int = 64,
    code_dim: int = 16,
    channels: Sequence[int] = (32, 64),
    num_res_blocks: int = 2,
    rngs: nnx.Rngs,
    **quantizer_kwargs,
) -> ConditionalVQVAE:
    """A class-conditional VQ-VAE.

    Conv encoder/decoder (:class:`ConvEncoder`/:class:`ConvDecoder`) around an EMA
    :class:`~vaekit.quantizers.VectorQuantizer`, both conditioned on the class.
    """
    from vaekit.quantizers import VectorQuantizer

    num_classes = check_int(num_classes, "num_classes")
    in_channels = int(image_shape[-1])
    encoder = ConvEncoder(in_channels + num_classes, code_dim, channels, num_res_blocks,
                          rngs=rngs)
    quantizer = VectorQuantizer(num_codes, code_dim, rngs=rngs, **quantizer_kwargs)
    decoder = ConvDecoder(code_dim + num_classes, in_channels, tuple(channels)[::-1],
                          num_res_blocks, rngs=rngs)
    return ConditionalVQVAE(encoder, quantizer, decoder, num_classes)
