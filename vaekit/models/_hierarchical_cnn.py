"""The convolutional Ladder VAE: convolutional bottom-up features, dense latents."""

from collections.abc import Callable, Sequence

from flax import nnx
from jaxtyping import Array

from vaekit._checks import check_int
from vaekit.models._activations import get_activation
from vaekit.models._cnn import CNNDecoder, _check_channels, _check_image_shape, _down
from vaekit.models._hierarchical import HierarchicalVAE, _check_latent_dims


class _ConvStem(nnx.Module):
    """4x4 stride-2 convolutions (one per ``channels`` entry), flatten, ``act(Linear)``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 hidden: int, activation: Callable, *, rngs: nnx.Rngs):
        self.image_shape = image_shape
        height, width, in_ch = image_shape
        widths = (in_ch, *channels)
        self.convs = nnx.List(
            [_down(a, b, rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )
        factor = 2 ** len(channels)
        flat = (height // factor) * (width // factor) * channels[-1]
        self.linear = nnx.Linear(flat, hidden, rngs=rngs)
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"`x` must have shape (batch, {', '.join(map(str, self.image_shape))}), "
                f"got {tuple(x.shape)}."
            )
        h = x
        for conv in self.convs:
            h = self.activation(conv(h))
        return self.activation(self.linear(h.reshape(h.shape[0], -1)))


def cnn_hierarchical_vae(
    image_shape: Sequence[int],
    latent_dims: Sequence[int],
    channels: Sequence[int] = (32, 64),
    hidden: int = 256,
    *,
    activation: str | Callable = "relu",
    rngs: nnx.Rngs,
) -> HierarchicalVAE:
    """A convolutional :class:`HierarchicalVAE` (Ladder VAE, Sønderby et al. 2016).

    The bottom of the bottom-up path is convolutional: one 4x4 stride-2 convolution per entry
    of ``channels`` (each halves H and W), flatten, ``act(Linear)`` to ``hidden`` features;
    the stochastic layers are dense vectors; the decoder is :class:`CNNDecoder` from
    ``z_0`` with ``channels`` reversed (a mirror image). NHWC images; H and W must be
    divisible by ``2**len(channels)``.

    Args:
      image_shape: ``(H, W, C)``.
      latent_dims: stochastic layer sizes, bottom first, e.g. ``(16, 8, 4)``.
      channels: output channels of the encoder's stride-2 convolutions, in order.
      hidden: width of the dense hidden layers (bottom-up, top-down and decoder).
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      rngs: parameter initialisation.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> vae = cnn_hierarchical_vae((8, 8, 1), (8, 4, 2), channels=(4, 8), hidden=16,
      ...                            rngs=nnx.Rngs(0))
      >>> vae.generate(jax.random.key(0), 2).shape
      (2, 8, 8, 1)
    """
    channels = _check_channels(channels, "channels")
    image_shape = _check_image_shape(image_shape, "image_shape", len(channels))
    latent_dims = _check_latent_dims(latent_dims)
    hidden = check_int(hidden, "hidden")
    act = get_activation(activation)
    return HierarchicalVAE(
        _ConvStem(image_shape, channels, hidden, act, rngs=rngs),
        CNNDecoder(latent_dims[0], image_shape, channels[::-1], hidden, act, rngs=rngs),
        latent_dims, hidden, activation=act, rngs=rngs,
    )
