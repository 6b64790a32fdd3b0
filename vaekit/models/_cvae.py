"""The conditional VAE (Sohn, Lee & Yan 2015): q(z|x, y) and p(x|z, y) both see the label.

The label ``y`` becomes a code (one-hot or a learned :class:`~vaekit.conditioning.LabelEmbedding`)
that is concatenated onto the flattened input of an MLP encoder, broadcast as extra channels
onto the image of a convolutional encoder, and concatenated onto ``z`` for the decoder. The
forward returns the same :class:`~vaekit.models.VAEOutput` as :class:`~vaekit.VAE`, so every
VAE objective applies unchanged: a conditional β-VAE or capacity VAE is a composition.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray, Batch
from vaekit.conditioning import (
    LabelEmbedding,
    broadcast_label_channels,
    check_labels,
    concat_label,
    drop_labels,
    guided_logits,
    one_hot,
)
from vaekit.models._cnn import CNNDecoder, CNNEncoder
from vaekit.models._mlp import MLPDecoder, MLPEncoder
from vaekit.models._reparameterize import reparameterize
from vaekit.models._vae import VAEOutput

LABEL_CODES = ("one_hot", "embedding")
ENCODER_CONDITIONING = ("auto", "flat", "channels")


def label_code_dim(
    num_classes: int, label_code: str = "one_hot", embedding_dim: int = 16,
    null_class: bool = False,
) -> int:
    """Size of the label code: ``num_classes (+1 with null_class)`` or ``embedding_dim``.

    Example:
      >>> label_code_dim(10), label_code_dim(10, null_class=True), label_code_dim(10, "embedding")
      (10, 11, 16)
    """
    num_classes = check_int(num_classes, "num_classes")
    if label_code not in LABEL_CODES:
        raise ValueError(f"`label_code` must be one of {LABEL_CODES}, got {label_code!r}.")
    if label_code == "embedding":
        return check_int(embedding_dim, "embedding_dim")
    return num_classes + int(bool(null_class))


def _encoder_mode(encoder: nnx.Module, mode: str) -> str:
    if mode not in ENCODER_CONDITIONING:
        raise ValueError(
            f"`encoder_conditioning` must be one of {ENCODER_CONDITIONING}, got {mode!r}."
        )
    if mode != "auto":
        return mode
    rank = len(getattr(encoder, "input_shape", ()))
    if rank not in (1, 3):
        raise ValueError(
            "`encoder_conditioning` cannot be inferred: the encoder needs an `input_shape` of "
            "length 1 (flat: MLP) or 3 (image: CNN); pass 'flat' or 'channels'."
        )
    return "flat" if rank == 1 else "channels"


class ConditionalVAE(nnx.Module):
    """``(x, y) -> q(z|x, y) -> z -> p(x|z, y)``: the CVAE of Sohn et al. (2015).

    The encoder receives the input with the label code attached: ``concat(flatten(x), code)``
    (``encoder_conditioning="flat"``: build an MLP encoder with ``input_shape=(H*W*C + K,)``) or
    ``x`` with ``K`` constant code channels (``"channels"``: build a CNN encoder with
    ``input_shape=(H, W, C + K)``); ``"auto"`` picks from the length of ``encoder.input_shape``.
    The decoder receives ``concat(z, code)``, so it is built with ``latent_dim + K`` inputs.
    :func:`conditional_mlp_vae` and :func:`conditional_cnn_vae` build matching sizes.

    With ``null_class=True`` label ``num_classes`` is the "null" (unconditional) label: train
    with label dropout (:func:`conditional_forward_with_dropout`) and sample with
    ``generate(..., guidance_scale=s)`` for classifier-free guidance (Ho & Salimans 2022).

    Shapes: ``x (B, *image)``, ``y (B,)`` int ``-> VAEOutput(recon (B, *image), mean, logvar,
    z (B, latent))``. Concrete labels are checked eagerly (ValueError naming ``y``); under
    ``jax.jit`` an out-of-range label gets an all-zero code.

    Args:
      encoder: returns ``(mean, logvar)`` for the conditioned input.
      decoder: maps ``(B, latent_dim + K)`` to outputs (logits for Bernoulli data).
      num_classes: number of real classes ``>= 1``.
      label_code: ``"one_hot"`` (``K = num_classes (+1)``) or ``"embedding"``
        (``K = embedding_dim``, a learned :class:`~vaekit.conditioning.LabelEmbedding`).
      embedding_dim: embedding size for ``label_code="embedding"``.
      null_class: add the null label ``num_classes`` for classifier-free guidance.
      encoder_conditioning: ``"auto"``, ``"flat"`` or ``"channels"`` (see above).
      latent_dim: size of z; default ``decoder.latent_dim - K``.
      rngs: initialisation of the label embedding (required for ``"embedding"``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> cvae = conditional_mlp_vae((8, 8, 1), 10, 4, (32,), rngs=nnx.Rngs(0))
      >>> out = cvae(jnp.zeros((3, 8, 8, 1)), jnp.array([0, 1, 2]), key=jax.random.key(1))
      >>> out.recon.shape, out.z.shape
      ((3, 8, 8, 1), (3, 4))
    """

    def __init__(
        self,
        encoder: nnx.Module,
        decoder: nnx.Module,
        num_classes: int,
        *,
        label_code: str = "one_hot",
        embedding_dim: int = 16,
        null_class: bool = False,
        encoder_conditioning: str = "auto",
        latent_dim: int | None = None,
        rngs: nnx.Rngs | None = None,
    ):
        self.encoder = encoder
        self.decoder = decoder
        self.num_classes = check_int(num_classes, "num_classes")
        self.null_class = bool(null_class)
        self.num_labels = self.num_classes + int(self.null_class)
        self.label_code = label_code
        self.code_dim = label_code_dim(num_classes, label_code, embedding_dim, null_class)
        self.encoder_conditioning = _encoder_mode(encoder, encoder_conditioning)
        if label_code == "embedding":
            if rngs is None:
                raise ValueError("`rngs` is required when label_code='embedding'.")
            self.embedding = LabelEmbedding(num_classes, self.code_dim, null_class=null_class,
                                            rngs=rngs)
        else:
            self.embedding = None
        if latent_dim is None:
            decoder_in = getattr(decoder, "latent_dim", None)
            if decoder_in is None:
                raise ValueError("`latent_dim` is required: the decoder has no `latent_dim`.")
            if decoder_in <= self.code_dim:
                raise ValueError(
                    f"`decoder` must take latent_dim + {self.code_dim} (label code) inputs, "
                    f"got decoder.latent_dim = {decoder_in}."
                )
            latent_dim = decoder_in - self.code_dim
        self.latent_dim = check_int(latent_dim, "latent_dim")

    @property
    def null_label(self) -> int | None:
        """The null (unconditional) label ``num_classes``, or None without ``null_class``."""
        return self.num_classes if self.null_class else None

    def code(self, y: Integer[AnyArray, " batch"]) -> Float[Array, "batch code"]:
        """The label code ``(B, K)`` of labels ``y (B,)`` (concrete labels are checked)."""
        check_labels(y, self.num_labels, name="y")
        if self.embedding is not None:
            return self.embedding(y)
        return one_hot(y, self.num_labels)

    def _check_batch(self, batch: int, y) -> None:
        if y.ndim != 1 or y.shape[0] != batch:
            raise ValueError(f"`y` must have shape ({batch},) to match the batch, got {y.shape}.")

    def encode(
        self, x: Float[AnyArray, " batch *image"], y: Integer[AnyArray, " y_batch"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """Posterior parameters ``(mean, logvar)`` of q(z|x, y)."""
        self._check_batch(x.shape[0], y)
        code = self.code(y)
        x = jnp.asarray(x)
        if self.encoder_conditioning == "flat":
            return self.encoder(concat_label(x.reshape(x.shape[0], -1), code))
        if x.ndim != 4:
            raise ValueError(f"`x` must have shape (batch, H, W, C), got {tuple(x.shape)}.")
        return self.encoder(broadcast_label_channels(x, code))

    def decode(self, z: Float[AnyArray, "batch latent"], y: Integer[AnyArray, " y_batch"]) -> Array:
        """Decoder output of p(x|z, y) (logits for Bernoulli data)."""
        self._check_batch(z.shape[0], y)
        return self.decoder(concat_label(z, self.code(y)))

    def __call__(
        self, x: Float[AnyArray, " batch *image"], y: Integer[AnyArray, " y_batch"], *,
        key: PRNGKeyArray,
    ) -> VAEOutput:
        """Encodes ``(x, y)``, samples ``z`` with ``key`` and decodes ``(z, y)``."""
        mean, logvar = self.encode(x, y)
        z = reparameterize(key, mean, logvar)
        return VAEOutput(recon=self.decode(z, y), mean=mean, logvar=logvar, z=z)

    def generate(
        self, key: PRNGKeyArray, labels: Integer[AnyArray, " batch"], *,
        guidance_scale: float | int | None = None,
    ) -> Array:
        """Decodes one prior draw z ~ N(0, I) per label: decoder outputs ``(B, *image)``.

        With ``guidance_scale`` (needs ``null_class=True``) the same z is also decoded with the
        null label and the outputs are mixed by :func:`~vaekit.conditioning.guided_logits`:
        ``uncond + s · (cond − uncond)``; ``s = 1`` equals plain conditional decoding.

        Example:
          >>> import jax, jax.numpy as jnp
          >>> from flax import nnx
          >>> cvae = conditional_mlp_vae((8, 8, 1), 10, 4, (32,), rngs=nnx.Rngs(0))
          >>> cvae.generate(jax.random.key(0), jnp.arange(10)).shape
          (10, 8, 8, 1)
        """
        check_labels(labels, self.num_labels, name="labels")
        z = jax.random.normal(key, (labels.shape[0], self.latent_dim))
        cond = self.decode(z, labels)
        if guidance_scale is None:
            return cond
        scale = check_number(guidance_scale, "guidance_scale")
        if not self.null_class:
            raise ValueError("`guidance_scale` needs a model built with null_class=True.")
        null = jnp.full(labels.shape, self.num_classes, jnp.asarray(labels).dtype)
        return guided_logits(cond, self.decode(z, null), scale)


def conditional_forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> Any:
    """``model(batch["x"], batch["y"], key=key)`` for any conditional model (CVAE, VQ-VAE).

    Example:
      >>> import optax, vaekit
      >>> train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3),
      ...                                forward=conditional_forward)
    """
    return model(batch["x"], batch["y"], key=key)


def conditional_forward_with_dropout(p: float | int, null_label: int) -> Callable:
    """A forward that replaces each label by ``null_label`` with probability ``p`` first.

    For classifier-free guidance: build the model with ``null_class=True`` and pass
    ``null_label=num_classes``. The dropout key is split from the step's key, so runs stay
    reproducible from their seed.

    Example:
      >>> forward = conditional_forward_with_dropout(0.1, null_label=10)
    """
    p = check_number(p, "p", minimum=0.0)
    if p > 1.0:
        raise ValueError(f"`p` must be <= 1, got {p!r}.")
    null_label = check_int(null_label, "null_label", minimum=0)

    def forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> VAEOutput:
        drop_key, model_key = jax.random.split(key)
        y = drop_labels(batch["y"], drop_key, p, null_label)
        return model(batch["x"], y, key=model_key)

    return forward


def _image_shape(image_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(image_shape, str) or not isinstance(image_shape, Sequence) or not image_shape:
        raise ValueError(f"`image_shape` must be a non-empty sequence, got {image_shape!r}.")
    return tuple(check_int(d, "image_shape") for d in image_shape)


def conditional_mlp_vae(
    image_shape: Sequence[int],
    num_classes: int,
    latent_dim: int,
    hidden_sizes: Sequence[int] = (256,),
    *,
    rngs: nnx.Rngs,
    label_code: str = "one_hot",
    embedding_dim: int = 16,
    null_class: bool = False,
    activation: str | Callable = "relu",
) -> ConditionalVAE:
    """A CVAE with an MLP encoder on ``flatten(x) ++ code`` and an MLP decoder on ``z ++ code``.

    The encoder is ``MLPEncoder((prod(image_shape) + K,), latent_dim, hidden_sizes)`` and the
    decoder ``MLPDecoder(latent_dim + K, image_shape, reversed(hidden_sizes))`` with ``K`` from
    :func:`label_code_dim`.

    Example:
      >>> from flax import nnx
      >>> cvae = conditional_mlp_vae((8, 8, 1), 10, 8, (256,), rngs=nnx.Rngs(0))
      >>> cvae.encoder.input_shape, cvae.decoder.latent_dim
      ((74,), 18)
    """
    shape = _image_shape(image_shape)
    latent_dim = check_int(latent_dim, "latent_dim")
    k = label_code_dim(num_classes, label_code, embedding_dim, null_class)
    encoder = MLPEncoder((math.prod(shape) + k,), latent_dim, hidden_sizes, activation, rngs=rngs)
    decoder = MLPDecoder(latent_dim + k, shape, tuple(hidden_sizes)[::-1], activation, rngs=rngs)
    return ConditionalVAE(encoder, decoder, num_classes, label_code=label_code,
                          embedding_dim=embedding_dim, null_class=null_class,
                          encoder_conditioning="flat", rngs=rngs)


def conditional_cnn_vae(
    image_shape: Sequence[int],
    num_classes: int,
    latent_dim: int,
    channels: Sequence[int] = (32, 32, 64, 64),
    *,
    rngs: nnx.Rngs,
    hidden_size: int = 256,
    label_code: str = "one_hot",
    embedding_dim: int = 16,
    null_class: bool = False,
    activation: str | Callable = "relu",
) -> ConditionalVAE:
    """A CVAE with CNN encoder and decoder.

    A CVAE with a CNN encoder on ``x`` plus ``K`` code channels and a CNN decoder on ``z ++ code``.

    The encoder is ``CNNEncoder((H, W, C + K), latent_dim, channels, hidden_size)`` and the
    decoder ``CNNDecoder(latent_dim + K, (H, W, C), reversed(channels), hidden_size)``; H and W
    must be divisible by ``2**len(channels)``.

    Example:
      >>> from flax import nnx
      >>> cvae = conditional_cnn_vae((16, 16, 1), 3, 4, (8, 8), rngs=nnx.Rngs(0))
      >>> cvae.encoder.input_shape, cvae.decoder.latent_dim
      ((16, 16, 4), 7)
    """
    shape = _image_shape(image_shape)
    if len(shape) != 3:
        raise ValueError(f"`image_shape` must be (height, width, channels), got {shape!r}.")
    latent_dim = check_int(latent_dim, "latent_dim")
    k = label_code_dim(num_classes, label_code, embedding_dim, null_class)
    height, width, chans = shape
    encoder = CNNEncoder((height, width, chans + k), latent_dim, channels, hidden_size,
                         activation, rngs=rngs)
    decoder = CNNDecoder(latent_dim + k, shape, tuple(channels)[::-1], hidden_size, activation,
                         rngs=rngs)
    return ConditionalVAE(encoder, decoder, num_classes, label_code=label_code,
                          embedding_dim=embedding_dim, null_class=null_class,
                          encoder_conditioning="channels", rngs=rngs)
