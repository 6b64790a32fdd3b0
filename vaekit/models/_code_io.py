"""A trained VQ-VAE's code grids: images to indices (data for a prior) and indices to images."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Float, Int, Integer

from vaekit._checks import check_int, check_labels
from vaekit._types import AnyArray


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _encode(graphdef, state, x, labels):
    model = nnx.merge(graphdef, state)
    z_e = model.encode(x) if labels is None else model.encode(x, labels)
    return model.quantize(z_e, train=False).indices


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _decode(graphdef, state, codes, labels):
    model = nnx.merge(graphdef, state)
    return model.decode_indices(codes) if labels is None else model.decode_indices(codes, labels)


def _batched(fn, model: nnx.Module, data: np.ndarray, labels, batch_size: int) -> np.ndarray:
    """``fn`` over fixed-size chunks (the last one padded: one compile for any ``len(data)``)."""
    graphdef, state = nnx.split(model)
    outs = []
    for start in range(0, len(data), batch_size):
        chunk = data[start:start + batch_size]
        pad = batch_size - len(chunk) if len(data) > batch_size else 0
        ys = None if labels is None else labels[start:start + batch_size]
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], pad, axis=0)])
            ys = None if ys is None else np.concatenate([ys, np.repeat(ys[:1], pad)])
        out = fn(graphdef, state, jnp.asarray(chunk), None if ys is None else jnp.asarray(ys))
        outs.append(np.asarray(out)[: len(chunk) - pad])
    return np.concatenate(outs)


def encode_codes(
    vq_model: nnx.Module,
    images: Float[AnyArray, " n *event"],
    batch_size: int = 256,
    *,
    labels: Integer[AnyArray, " label_batch"] | None = None,
) -> Int[np.ndarray, " n *grid"]:
    """The code grid of each image: ``quantize(encode(x), train=False).indices``.

    Works for any :class:`vaekit.VQVAE` (vector quantizer: ``(n, H', W')``; FSQ: its flat
    index, ``(n, H', W')``; residual VQ: ``(n, H', W', depth)``) and, with ``labels``, for a
    :class:`vaekit.models.ConditionalVQVAE`. Eval mode: EMA codebooks are not updated. Runs in
    jitted chunks of ``batch_size`` (the last one padded, so any ``n`` compiles once).

    Args:
      vq_model: a trained VQ-VAE (``encode``, ``quantize``).
      images: ``(n, *event)`` model inputs, ``n >= 1``.
      batch_size: chunk size ``>= 1``.
      labels: ``(n,)`` labels for a conditional VQ-VAE, else ``None``.

    Returns:
      int32 NumPy indices, the data of a :class:`vaekit.models.CodePrior`.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit.models import VQVAE
      >>> from vaekit.quantizers import FSQ
      >>> rngs = nnx.Rngs(0)
      >>> vq = VQVAE(nnx.Linear(6, 3, rngs=rngs), FSQ((3, 3, 3)), nnx.Linear(3, 6, rngs=rngs))
      >>> encode_codes(vq, jnp.zeros((5, 2, 6)), batch_size=2).shape
      (5, 2)
    """
    batch_size = check_int(batch_size, "batch_size")
    images = np.asarray(images)
    if images.ndim < 1 or len(images) == 0:
        raise ValueError(f"`images` must have shape (n, ...) with n >= 1, got {images.shape}.")
    labels = check_labels(labels, len(images))
    return _batched(_encode, vq_model, images, labels, batch_size).astype(np.int32)


def decode_codes(
    vq_model: nnx.Module,
    codes: Integer[AnyArray, " n *grid"],
    batch_size: int = 256,
    *,
    labels: Integer[AnyArray, " label_batch"] | None = None,
) -> Float[np.ndarray, " n *event"]:
    """Decoder output for code grids: ``decode(quantizer.lookup(codes))`` (``decode_indices``).

    The inverse direction of :func:`encode_codes`, for grids drawn by
    :func:`vaekit.models.sample_codes`. Returns the decoder's raw output (logits for a
    Bernoulli decoder: apply ``jax.nn.sigmoid`` for pixel means). Indices must lie in
    ``[0, K)`` (checked: a ``ValueError`` names ``codes``).

    Args:
      vq_model: a trained VQ-VAE (``decode_indices``).
      codes: ``(n, *grid)`` integer indices, the shape :func:`encode_codes` returns.
      batch_size: chunk size ``>= 1``.
      labels: ``(n,)`` labels for a conditional VQ-VAE, else ``None``.

    Returns:
      float NumPy array ``(n, *event)``.

    Example:
      >>> import numpy as np
      >>> from flax import nnx
      >>> from vaekit.models import VQVAE
      >>> from vaekit.quantizers import FSQ
      >>> rngs = nnx.Rngs(0)
      >>> vq = VQVAE(nnx.Linear(6, 3, rngs=rngs), FSQ((3, 3, 3)), nnx.Linear(3, 6, rngs=rngs))
      >>> decode_codes(vq, np.zeros((4, 2), np.int32)).shape
      (4, 2, 6)
    """
    batch_size = check_int(batch_size, "batch_size")
    codes = np.asarray(codes)
    if codes.ndim < 1 or len(codes) == 0:
        raise ValueError(f"`codes` must have shape (n, ...) with n >= 1, got {codes.shape}.")
    quantizer = getattr(vq_model, "quantizer", None)
    num_codes = getattr(quantizer, "codebook_size", getattr(quantizer, "num_codes", None))
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"`codes` must be integers, got dtype {codes.dtype}.")
    if num_codes is not None and (codes.min() < 0 or codes.max() >= num_codes):
        raise ValueError(f"`codes` must lie in [0, {num_codes}), got values in "
                         f"[{codes.min()}, {codes.max()}].")
    labels = check_labels(labels, len(codes))
    return _batched(_decode, vq_model, codes.astype(np.int32), labels, batch_size)
