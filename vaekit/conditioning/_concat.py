"""Attaching a label code to an input: concatenation on features or as constant channels."""

import jax.numpy as jnp
from jaxtyping import Array, Float

from vaekit._types import AnyArray


def _check_code(code, batch: int, name: str) -> None:
    if code.ndim != 2 or code.shape[0] != batch:
        raise ValueError(
            f"`{name}` must have shape ({batch}, code_dim) to match the batch of the input, "
            f"got {tuple(code.shape)}."
        )


def concat_label(
    x: Float[AnyArray, "batch features"], code: Float[AnyArray, "code_batch code"]
) -> Float[Array, "batch features_plus_code"]:
    """``[x, code]`` along the last axis: ``(B, F), (B, K) -> (B, F + K)``.

    ``x`` comes first, so the leading ``F`` features of the result are ``x`` exactly (``code``
    is cast to ``x``'s dtype). The conditioning of q(z|x, y) and p(x|z, y) in Sohn et al. 2015.

    Raises:
      ValueError: naming ``x`` if it is not 2-D, or ``code`` if its shape is not ``(B, K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> concat_label(jnp.ones((2, 3)), jnp.zeros((2, 4))).shape
      (2, 7)
    """
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (batch, features), got {tuple(x.shape)}.")
    _check_code(code, x.shape[0], "code")
    x = jnp.asarray(x)
    return jnp.concatenate([x, jnp.asarray(code, x.dtype)], axis=-1)


def broadcast_label_channels(
    images: Float[AnyArray, "batch height width channels"],
    code: Float[AnyArray, "code_batch code"],
) -> Float[Array, "batch height width channels_plus_code"]:
    """Appends ``code`` as constant channels: ``(B, H, W, C), (B, K) -> (B, H, W, C + K)``.

    Channel ``C + k`` of image ``b`` equals ``code[b, k]`` at every pixel; the first ``C``
    channels are ``images`` exactly. This is how a convolutional encoder sees the label in a
    conditional VAE (Sohn et al. 2015).

    Raises:
      ValueError: naming ``images`` if it is not 4-D, or ``code`` if its shape is not ``(B, K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> broadcast_label_channels(jnp.zeros((2, 8, 8, 1)), jnp.ones((2, 10))).shape
      (2, 8, 8, 11)
    """
    if images.ndim != 4:
        raise ValueError(
            f"`images` must have shape (batch, height, width, channels), got "
            f"{tuple(images.shape)}."
        )
    _check_code(code, images.shape[0], "code")
    images = jnp.asarray(images)
    batch, height, width, _ = images.shape
    maps = jnp.broadcast_to(
        jnp.asarray(code, images.dtype)[:, None, None, :], (batch, height, width, code.shape[1])
    )
    return jnp.concatenate([images, maps], axis=-1)
