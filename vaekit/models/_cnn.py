"""Convolutional encoders and decoders (NHWC) as plain Flax NNX modules.

Two families:

* :class:`ConvEncoder` / :class:`ConvDecoder` map images to and from a *spatial* feature map,
  built from :class:`ResidualBlock` as in VQ-VAE (van den Oord et al. 2017).
* :class:`CNNEncoder` / :class:`CNNDecoder` map images to and from a *vector* latent: the
  dSprites architecture of Higgins et al. 2017 and Burgess et al. 2018, drop-in replacements for
  :class:`~vaekit.MLPEncoder` / :class:`~vaekit.MLPDecoder` in :class:`~vaekit.VAE`.

Every stride-2 layer uses a 4x4 kernel and halves (convolution) or doubles (transposed
convolution) height and width exactly, so image sizes must be divisible by ``2**len(channels)``.
"""

import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from vaekit._checks import check_int
from vaekit.models._activations import get_activation


def _check_channels(channels: object, name: str) -> tuple[int, ...]:
    """Returns ``channels`` as a non-empty tuple of positive ints or raises naming ``name``."""
    if isinstance(channels, str) or not isinstance(channels, Sequence) or len(channels) == 0:
        raise ValueError(f"`{name}` must be a non-empty sequence of integers, got {channels!r}.")
    return tuple(check_int(c, name) for c in channels)


def _check_image_shape(shape: object, name: str, num_downsamples: int) -> tuple[int, int, int]:
    """Returns ``(H, W, C)`` or raises naming ``name``; H and W divisible by 2**num_downsamples."""
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(f"`{name}` must be (height, width, channels), got {shape!r}.")
    height, width, chans = (check_int(d, name) for d in shape)
    factor = 2**num_downsamples
    if height % factor or width % factor:
        raise ValueError(
            f"`{name}` height and width must be divisible by 2**len(channels) = {factor}, "
            f"got {tuple(shape)}."
        )
    return height, width, chans


def _down(in_ch: int, out_ch: int, rngs: nnx.Rngs) -> nnx.Conv:
    """4x4 stride-2 convolution, padding 1: exactly halves even H and W."""
    return nnx.Conv(in_ch, out_ch, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), rngs=rngs)


def _up(in_ch: int, out_ch: int, rngs: nnx.Rngs) -> nnx.ConvTranspose:
    """4x4 stride-2 transposed convolution: exactly doubles H and W (PyTorch's padding=1)."""
    return nnx.ConvTranspose(in_ch, out_ch, (4, 4), strides=(2, 2), padding="SAME", rngs=rngs)


def _shape_error(name: str, expected: str, got: tuple[int, ...]) -> ValueError:
    return ValueError(f"`{name}` must have shape {expected}, got {tuple(got)}.")


class ResidualBlock(nnx.Module):
    """``x + Conv1x1(act(Conv3x3(act(x))))``: the VQ-VAE residual block (van den Oord et al. 2017).

    Shapes: ``x (batch, H, W, channels) -> (batch, H, W, channels)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> block = ResidualBlock(8, 4, rngs=nnx.Rngs(0))
      >>> block(jnp.zeros((2, 16, 16, 8))).shape
      (2, 16, 16, 8)
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.channels = check_int(channels, "channels")
        self.hidden_channels = check_int(hidden_channels, "hidden_channels")
        self.conv3 = nnx.Conv(self.channels, self.hidden_channels, (3, 3), padding="SAME",
                              rngs=rngs)
        self.conv1 = nnx.Conv(self.hidden_channels, self.channels, (1, 1), rngs=rngs)
        self.activation = get_activation(activation)

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> Float[Array, "batch height width channels"]:
        """``x`` plus the residual branch, same shape."""
        if x.ndim != 4 or x.shape[-1] != self.channels:
            raise _shape_error("x", f"(batch, H, W, {self.channels})", x.shape)
        h = self.conv3(self.activation(x))
        return x + self.conv1(self.activation(h))


def _res_stack(channels: int, hidden: int, num: int, activation, rngs: nnx.Rngs) -> nnx.List:
    return nnx.List([ResidualBlock(channels, hidden, activation, rngs=rngs) for _ in range(num)])


class ConvEncoder(nnx.Module):
    """Image to spatial feature map: the VQ-VAE encoder ``z_e`` (van den Oord et al. 2017).

    Layers: one 4x4 stride-2 convolution per entry of ``channels`` (each halves H and W, with an
    activation after each), a 3x3 convolution, ``num_res_blocks`` :class:`ResidualBlock` s, an
    activation, and a final 1x1 convolution to ``out_channels`` (no activation).

    Shapes: ``x (batch, H, W, in_channels) -> (batch, H / 2**n, W / 2**n, out_channels)`` with
    ``n = len(channels)``; H and W must be divisible by ``2**n``.

    Args:
      in_channels: channels of the input image (add label channels here for conditioning).
      out_channels: channels of the output map (the codebook dimension for VQ-VAE).
      channels: output channels of the stride-2 convolutions, in order.
      num_res_blocks: residual blocks at the lowest resolution (0 allowed).
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      res_hidden_channels: hidden channels of each residual block; default ``channels[-1]``.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = ConvEncoder(3, 16, channels=(32, 64), rngs=nnx.Rngs(0))
      >>> enc(jnp.zeros((2, 32, 32, 3))).shape
      (2, 8, 8, 16)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (32, 64),
        num_res_blocks: int = 2,
        activation: str | Callable = "relu",
        *,
        res_hidden_channels: int | None = None,
        rngs: nnx.Rngs,
    ):
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.channels = _check_channels(channels, "channels")
        num_res_blocks = check_int(num_res_blocks, "num_res_blocks", minimum=0)
        width = self.channels[-1]
        res_hidden = check_int(
            width if res_hidden_channels is None else res_hidden_channels, "res_hidden_channels"
        )
        self.activation = get_activation(activation)
        widths = (self.in_channels, *self.channels)
        self.down = nnx.List(
            [_down(a, b, rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )
        self.conv = nnx.Conv(width, width, (3, 3), padding="SAME", rngs=rngs)
        self.res_blocks = _res_stack(width, res_hidden, num_res_blocks, self.activation, rngs)
        self.head = nnx.Conv(width, self.out_channels, (1, 1), rngs=rngs)

    def __call__(
        self, x: Float[Array, "batch height width in_channels"]
    ) -> Float[Array, "batch out_height out_width out_channels"]:
        """Encodes ``x`` to a downsampled feature map."""
        factor = 2 ** len(self.channels)
        if (
            x.ndim != 4
            or x.shape[-1] != self.in_channels
            or x.shape[1] % factor
            or x.shape[2] % factor
        ):
            raise _shape_error(
                "x", f"(batch, H, W, {self.in_channels}) with H and W divisible by {factor}",
                x.shape,
            )
        h = x
        for layer in self.down:
            h = self.activation(layer(h))
        h = self.conv(h)
        for block in self.res_blocks:
            h = block(h)
        return self.head(self.activation(h))


class ConvDecoder(nnx.Module):
    """Spatial feature map to image logits: the VQ-VAE decoder (van den Oord et al. 2017).

    The mirror of :class:`ConvEncoder`: a 3x3 convolution to ``channels[0]``,
    ``num_res_blocks`` :class:`ResidualBlock` s, an activation, then one 4x4 stride-2 transposed
    convolution per entry of ``channels`` (each doubles H and W); transposed convolution ``i``
    reads ``channels[i]`` channels and writes ``channels[i + 1]``, the last one writes
    ``out_channels`` (the logits, no activation), as in the paper's decoder.

    Shapes: ``z (batch, h, w, in_channels) -> (batch, h * 2**n, w * 2**n, out_channels)`` with
    ``n = len(channels)``.

    Args:
      in_channels: channels of the input map (the codebook dimension for VQ-VAE).
      out_channels: channels of the output image (logits).
      channels: input channels of the transposed convolutions, in order; pass the encoder's
        ``channels`` reversed for a mirror image.
      num_res_blocks: residual blocks at the lowest resolution (0 allowed).
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      res_hidden_channels: hidden channels of each residual block; default ``channels[0]``.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> dec = ConvDecoder(16, 3, channels=(64, 32), rngs=nnx.Rngs(0))
      >>> dec(jnp.zeros((2, 8, 8, 16))).shape
      (2, 32, 32, 3)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (64, 32),
        num_res_blocks: int = 2,
        activation: str | Callable = "relu",
        *,
        res_hidden_channels: int | None = None,
        rngs: nnx.Rngs,
    ):
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.channels = _check_channels(channels, "channels")
        num_res_blocks = check_int(num_res_blocks, "num_res_blocks", minimum=0)
        width = self.channels[0]
        res_hidden = check_int(
            width if res_hidden_channels is None else res_hidden_channels, "res_hidden_channels"
        )
        self.activation = get_activation(activation)
        self.conv = nnx.Conv(self.in_channels, width, (3, 3), padding="SAME", rngs=rngs)
        self.res_blocks = _res_stack(width, res_hidden, num_res_blocks, self.activation, rngs)
        widths = (*self.channels, self.out_channels)
        self.up = nnx.List([_up(a, b, rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)])

    def __call__(
        self, z: Float[Array, "batch height width in_channels"]
    ) -> Float[Array, "batch out_height out_width out_channels"]:
        """Decodes the feature map ``z`` to an upsampled output."""
        if z.ndim != 4 or z.shape[-1] != self.in_channels:
            raise _shape_error("z", f"(batch, h, w, {self.in_channels})", z.shape)
        h = self.conv(z)
        for block in self.res_blocks:
            h = block(h)
        h = self.activation(h)
        for i, layer in enumerate(self.up):
            h = layer(h)
            if i < len(self.up) - 1:
                h = self.activation(h)
        return h


class CNNEncoder(nnx.Module):
    """Image to the mean and log-variance of q(z|x): the β-VAE dSprites encoder.

    Architecture of Higgins et al. 2017 / Burgess et al. 2018: one 4x4 stride-2 convolution per
    entry of ``channels`` (each halves H and W), flatten, a dense layer of ``hidden_size``, and a
    dense layer to ``2 * latent_dim`` split into ``(mean, logvar)``; an activation after every
    layer but the last. Extra input channels (e.g. one-hot label maps concatenated onto ``x`` by
    a conditional VAE) need only a larger ``C`` in ``input_shape``.

    Shapes: ``x (batch, H, W, C) -> (mean, logvar)``, each ``(batch, latent_dim)``; H and W must
    be divisible by ``2**len(channels)``.

    Args:
      input_shape: ``(H, W, C)`` of the images (NHWC).
      latent_dim: size of the latent code.
      channels: output channels of the stride-2 convolutions, in order.
      hidden_size: width of the dense hidden layer.
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> enc = CNNEncoder((64, 64, 1), latent_dim=10, rngs=nnx.Rngs(0))
      >>> mean, logvar = enc(jnp.zeros((2, 64, 64, 1)))
      >>> mean.shape
      (2, 10)
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 32, 64, 64),
        hidden_size: int = 256,
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.channels = _check_channels(channels, "channels")
        self.input_shape = _check_image_shape(input_shape, "input_shape", len(self.channels))
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.activation = get_activation(activation)
        height, width, in_ch = self.input_shape
        widths = (in_ch, *self.channels)
        self.convs = nnx.List(
            [_down(a, b, rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)]
        )
        factor = 2 ** len(self.channels)
        flat = (height // factor) * (width // factor) * self.channels[-1]
        self.hidden = nnx.Linear(flat, self.hidden_size, rngs=rngs)
        self.head = nnx.Linear(self.hidden_size, 2 * self.latent_dim, rngs=rngs)

    def __call__(
        self, x: Float[Array, "batch height width channels"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior ``(mean, logvar)``, each ``(batch, latent)``, of images ``x``."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise _shape_error(
                "x", f"(batch, {', '.join(map(str, self.input_shape))})", x.shape
            )
        h = x
        for conv in self.convs:
            h = self.activation(conv(h))
        h = self.activation(self.hidden(h.reshape(h.shape[0], -1)))
        mean, logvar = jnp.split(self.head(h), 2, axis=-1)
        return mean, logvar


class CNNDecoder(nnx.Module):
    """Latent code to image logits: the β-VAE dSprites decoder.

    The mirror of :class:`CNNEncoder` (Higgins et al. 2017 / Burgess et al. 2018): a dense layer
    of ``hidden_size``, a dense layer to ``(H / 2**n) * (W / 2**n) * channels[0]`` reshaped to a
    feature map, then one 4x4 stride-2 transposed convolution per entry of ``channels`` (each
    doubles H and W); transposed convolution ``i`` reads ``channels[i]`` channels and writes
    ``channels[i + 1]``, the last one writes ``C`` (the logits, no activation).

    Shapes: ``z (batch, latent_dim) -> (batch, H, W, C)``; H and W must be divisible by
    ``2**len(channels)``.

    Args:
      latent_dim: size of the latent code.
      output_shape: ``(H, W, C)`` of the images (NHWC).
      channels: input channels of the transposed convolutions, in order.
      hidden_size: width of the dense hidden layer.
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> dec = CNNDecoder(10, (64, 64, 1), rngs=nnx.Rngs(0))
      >>> dec(jnp.zeros((2, 10))).shape
      (2, 64, 64, 1)
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        channels: Sequence[int] = (64, 64, 32, 32),
        hidden_size: int = 256,
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.channels = _check_channels(channels, "channels")
        self.output_shape = _check_image_shape(output_shape, "output_shape", len(self.channels))
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.activation = get_activation(activation)
        height, width, out_ch = self.output_shape
        factor = 2 ** len(self.channels)
        self.base_shape = (height // factor, width // factor, self.channels[0])
        self.hidden = nnx.Linear(self.latent_dim, self.hidden_size, rngs=rngs)
        self.project = nnx.Linear(self.hidden_size, math.prod(self.base_shape), rngs=rngs)
        widths = (*self.channels, out_ch)
        self.up = nnx.List([_up(a, b, rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)])

    def __call__(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch height width chans"]:
        """Decodes latents ``z`` to image outputs (e.g. logits)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise _shape_error("z", f"(batch, {self.latent_dim})", z.shape)
        h = self.activation(self.hidden(z))
        h = self.activation(self.project(h)).reshape(z.shape[0], *self.base_shape)
        for i, layer in enumerate(self.up):
            h = layer(h)
            if i < len(self.up) - 1:
                h = self.activation(h)
        return h
