"""Procedural dSprites rendered on the device, inside compiled programs.

The JAX counterpart of :func:`vaekit.data.render` (dSprites: Matthey, Higgins, Hassabis &
Lerchner, 2017, "dSprites: Disentanglement testing Sprites dataset",
https://github.com/deepmind/dsprites-dataset). Images are rendered from flat grid indices or
factor rows by pure, static-shape ``jax.numpy`` code, so they can be made inside a jitted
training step, a ``jax.lax.scan`` body or under ``jax.vmap``: only the ``(batch,)`` int
indices need to exist before the step, never an image array on the host. (On the CPU backend
the "device" is host memory too, but the images live only in XLA's buffers of the compiled
program, not in NumPy arrays, and nothing image-sized is copied in.)

The geometry is the host renderer's own code (the float32 tables and inside-tests of
:func:`vaekit.data.render`, run with ``jax.numpy`` instead of numpy), so on the CPU backend
every image is bit for bit :func:`vaekit.data.render`'s: the tests check this on
thousands of random and adversarial grid points. The host renderer evaluates a 32 x 32
window around each sprite; here the inside-test runs on all 64 x 64 pixel centres and is
masked to the same window. Other backends (GPU / TPU) use the same float32 operations but
may round the rare pixel centre lying exactly on a sprite boundary differently.

Out-of-range values cannot raise inside a compiled program: concrete (not traced) inputs are
validated eagerly and raise ``ValueError`` like the host functions; traced inputs are clipped
into range (an index below 0 renders grid point 0, one at or above ``NUM_COMBINATIONS`` the
last grid point; a factor column is clipped to ``[0, FACTOR_SIZES[j])``).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from vaekit.data import render_indices_device
    >>> images = jax.jit(render_indices_device)(jnp.arange(4))
    >>> images.shape, images.dtype
    ((4, 64, 64, 1), dtype('float32'))
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, Int, Integer, PRNGKeyArray, Shaped

from vaekit._types import AnyArray
from vaekit.data._dsprites import (
    _INSIDE,
    _TABLES,
    _WINDOW,
    FACTOR_NAMES,
    FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_COMBINATIONS,
    _sprite_params,
    _sprite_uv,
    _validate_factors,
    _validate_indices,
)

__all__ = [
    "index_to_factors_device",
    "render_device",
    "render_dsprites_batch",
    "render_indices_device",
]


def _is_concrete(array: object) -> bool:
    return not isinstance(array, jax.core.Tracer)


def _check_integer(array: AnyArray, name: str, ndim: int) -> None:
    shape = "(batch,)" if ndim == 1 else f"(batch, {len(FACTOR_SIZES)})"
    if (
        array.ndim != ndim
        or (ndim == 2 and array.shape[1] != len(FACTOR_SIZES))
        or not jnp.issubdtype(array.dtype, jnp.integer)
    ):
        raise ValueError(
            f"{name} must be an integer array of shape {shape}, got shape "
            f"{tuple(array.shape)} and dtype {array.dtype}"
        )


@jax.jit
def _index_to_factors(indices: Array) -> Array:
    remainder = jnp.clip(indices, 0, NUM_COMBINATIONS - 1).astype(jnp.int32)
    columns = []
    for size in reversed(FACTOR_SIZES):  # pos_y is the least significant digit
        columns.append(remainder % size)
        remainder = remainder // size
    return jnp.stack(columns[::-1], axis=1)


def index_to_factors_device(indices: Integer[AnyArray, " batch"]) -> Int[Array, "batch 5"]:
    """Convert flat grid indices to factor indices on the device (jit / scan / vmap safe).

    The same row-major mixed-radix order as :func:`vaekit.data.index_to_factors`
    (``shape`` slowest, ``pos_y`` fastest; Matthey et al. 2017's ``.npz`` order).

    Args:
        indices: ``(batch,)`` integers in ``[0, NUM_COMBINATIONS)``. Traced values outside
            that range are clipped into it.

    Returns:
        ``(batch, 5)`` int32 factor indices, columns in ``FACTOR_NAMES`` order.

    Raises:
        ValueError: if ``indices`` is not 1-D integer, or is concrete and out of range.

    Example:
        >>> import jax.numpy as jnp
        >>> index_to_factors_device(jnp.array([0, 1, 32, 737279])).tolist()
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [2, 5, 39, 31, 31]]
    """
    return _checked_factors(indices, "indices")


def _checked_factors(indices, name: str) -> Array:
    """:func:`index_to_factors_device` with errors naming ``name`` (the caller's argument)."""
    _check_integer(indices, name, ndim=1)
    if _is_concrete(indices) and indices.size:
        _validate_indices(np.asarray(indices), name)
    return _index_to_factors(jnp.asarray(indices))


def _render(factors: Array, dtype: DTypeLike) -> Array:
    factors = jnp.clip(factors, 0, jnp.asarray(FACTOR_SIZES) - 1).astype(jnp.int32)
    centre_col, centre_row, inv_radius, cos, sin = (
        p[:, None, None] for p in _sprite_params(jnp, factors)
    )
    pixel = jnp.asarray(_TABLES["pixel_centre"])
    u, v = _sprite_uv(
        jnp, centre_col, centre_row, inv_radius, cos, sin, pixel[None, :, None],
        pixel[None, None, :],
    )  # (batch, 64, 64) each
    square, ellipse, heart = (inside(jnp, u, v) for inside in _INSIDE)
    shape = factors[:, 0, None, None]
    inside = jnp.where(shape == 0, square, jnp.where(shape == 1, ellipse, heart))

    # The host renderer's window: _WINDOW rows / columns from the tabled start.
    start = jnp.asarray(_TABLES["window_start"], jnp.int32)
    lines = jnp.arange(IMAGE_SIZE, dtype=jnp.int32)
    top, left = start[factors[:, 4], None], start[factors[:, 3], None]
    row_ok = (lines >= top) & (lines < top + _WINDOW)  # (batch, 64)
    col_ok = (lines >= left) & (lines < left + _WINDOW)
    mask = inside & row_ok[:, :, None] & col_ok[:, None, :]
    return mask.astype(dtype)[..., None]


_render_jit = jax.jit(_render, static_argnames="dtype")


def render_device(
    factors: Integer[AnyArray, "batch 5"], dtype: DTypeLike = jnp.float32
) -> Shaped[Array, "batch 64 64 1"]:
    """Render dSprites images from factor indices on the device (jit / scan / vmap safe).

    Bit for bit :func:`vaekit.data.render` on the CPU backend (the same float32
    geometry code, see the module docstring). Static shapes, no host arrays, no Python loop
    over images: usable inside a jitted ``jax.lax.scan`` body.

    Args:
        factors: ``(batch, 5)`` integer factor indices, column ``j`` in
            ``[0, FACTOR_SIZES[j])`` (Matthey et al. 2017's grid). Traced values outside a
            column's range are clipped into it.
        dtype: output dtype (default ``float32``); any JAX dtype, e.g. ``bool`` or ``uint8``.

    Returns:
        ``(batch, 64, 64, 1)`` array of ``dtype`` holding exactly 0 (background) and 1
        (sprite); every image has a sprite pixel and none on the border rows / columns.

    Raises:
        ValueError: if ``factors`` is not ``(batch, 5)`` integer, or is concrete and out of
            range (the host renderer's message).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> image = jax.jit(render_device)(jnp.array([[1, 5, 10, 15, 15]]))
        >>> float(image.max()), image.shape
        (1.0, (1, 64, 64, 1))
    """
    _check_integer(factors, "factors", ndim=2)
    if _is_concrete(factors) and factors.size:
        _validate_factors(np.asarray(factors))
    return _render_jit(jnp.asarray(factors), dtype=jnp.dtype(dtype))


def render_indices_device(
    indices: Integer[AnyArray, " batch"], dtype: DTypeLike = jnp.float32
) -> Shaped[Array, "batch 64 64 1"]:
    """Render the dSprites images of flat grid indices on the device.

    ``render_device(index_to_factors_device(indices), dtype)``: bit for bit
    ``render(index_to_factors(indices))`` on the CPU backend (Matthey et al. 2017's grid).

    Args:
        indices: ``(batch,)`` integers in ``[0, NUM_COMBINATIONS)`` (traced values outside
            are clipped into it).
        dtype: output dtype (default ``float32``).

    Returns:
        ``(batch, 64, 64, 1)`` 0 / 1 images of ``dtype``.

    Raises:
        ValueError: if ``indices`` is not 1-D integer, or is concrete and out of range.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> images = jax.jit(render_indices_device)(jnp.array([0, 737279]))
        >>> images.shape
        (2, 64, 64, 1)
    """
    return render_device(index_to_factors_device(indices), dtype=dtype)


def render_dsprites_batch(
    batch: Mapping[str, AnyArray], key: PRNGKeyArray | None = None
) -> dict[str, Array]:
    """Batch transform: a batch of dSprites grid indices -> the rendered training batch.

    Meant as the ``preprocess(batch, key)`` of a compiled training step (it runs inside the
    step, before the forward), so a step trains on dSprites (Matthey et al. 2017) while only
    ``(batch,)`` int indices are fed to it. Deterministic: ``key`` is accepted for the
    ``preprocess`` signature and unused.

    Args:
        batch: a mapping with ``"index"``, ``(B,)`` integer flat grid indices in
            ``[0, NUM_COMBINATIONS)`` (concrete ones are validated and raise when out of
            range; traced ones are clipped into range), and optionally other entries, which
            are passed through unchanged. It must not already hold ``"x"``, ``"y"`` or
            ``"factors"``.
        key: unused PRNG key (may be ``None``).

    Returns:
        A new dict: ``batch`` without ``"index"``, plus ``"x"``: ``(B, 64, 64, 1)`` float32
        0 / 1 images, ``"y"``: ``(B,)`` int32 shape factor (0 = square, 1 = ellipse,
        2 = heart; the label of a conditional VAE), ``"factors"``: ``(B, 5)`` int32 factor
        indices in ``FACTOR_NAMES`` order.

    Raises:
        KeyError: if ``batch`` has no ``"index"``.
        ValueError: if ``batch`` already has ``"x"``, ``"y"`` or ``"factors"``, or the
            indices are invalid (see :func:`index_to_factors_device`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> out = jax.jit(render_dsprites_batch)({"index": jnp.arange(3)}, jax.random.key(0))
        >>> sorted(out), out["x"].shape, out["y"].tolist()
        (['factors', 'x', 'y'], (3, 64, 64, 1), [0, 0, 0])
    """
    if "index" not in batch:
        raise KeyError(f"the batch must hold 'index' (flat dSprites grid indices); got keys "
                       f"{sorted(batch)}")
    clash = sorted({"x", "y", "factors"} & set(batch))
    if clash:
        raise ValueError(f"the batch already holds {clash}; render_dsprites_batch would "
                         "overwrite them")
    del key
    factors = _checked_factors(batch["index"], 'batch["index"]')
    out = {name: value for name, value in batch.items() if name != "index"}
    out["x"] = render_device(factors, dtype=jnp.float32)
    out["y"] = factors[:, FACTOR_NAMES.index("shape")]
    out["factors"] = factors
    return out
