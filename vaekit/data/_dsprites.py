"""Procedural dSprites: 64x64 binary images of a square, an ellipse and a heart.

This module re-creates the factor grid of the dSprites data set (Matthey, Higgins, Hassabis &
Lerchner, 2017, "dSprites: Disentanglement testing Sprites dataset",
https://github.com/deepmind/dsprites-dataset) without downloading anything: every image is
rendered on the fly from its five generative factors.

Factors (index ranges, row-major order, ``shape`` slowest and ``pos_y`` fastest):

==============  =====  ================================================
name            size   value of index ``k``
==============  =====  ================================================
``shape``       3      ``k`` (0 = square, 1 = ellipse, 2 = heart)
``scale``       6      ``linspace(0.5, 1, 6)[k]``
``orientation`` 40     ``linspace(0, 2*pi, 40, endpoint=False)[k]``
``pos_x``       32     ``linspace(0, 1, 32)[k]``
``pos_y``       32     ``linspace(0, 1, 32)[k]``
==============  =====  ================================================

Geometry (image coordinates: row index grows downwards, column index grows to the right):

* The sprite centre is ``MARGIN + pos * (64 - 2 * MARGIN)`` pixels along each axis, so a larger
  ``pos_x`` moves the sprite right and a larger ``pos_y`` moves it *down* the image.
* Every sprite fits in a disc of radius ``scale * SPRITE_RADIUS`` (14.5) pixels around its
  centre, and ``MARGIN`` (16) ``> SPRITE_RADIUS + 1``, so no sprite ever touches the border
  rows / columns.
* ``SPRITE_RADIUS`` is chosen so that the square's half side grows by more than one pixel per
  scale step: on every grid point the sprite area strictly increases with ``scale`` (with a
  smaller radius, axis-aligned squares of adjacent scales can rasterise identically).
* ``orientation`` rotates the sprite counter-clockwise as the image is displayed (row 0 at the
  top). The square has 4-fold and the ellipse 2-fold symmetry, so some orientations repeat, as in
  the original data set.

Rendering is vectorised numpy: an implicit inside-test is evaluated on the pixel centres of a
small window around each sprite, for a whole chunk of images at once, and scattered into the
output. It is deterministic and uses no randomness. The geometry is computed in float32 with
a fixed order of operations from precomputed float32 tables (sprite centres, inverse radii,
cos / sin of the 40 orientations), written once against an array module (numpy or
``jax.numpy``): :func:`vaekit.data.render_dsprites_batch` evaluates the same code with JAX inside a
compiled program and produces bit-for-bit the same images on the CPU backend.

Example:
    >>> from vaekit.data import make_dsprites, render
    >>> split = make_dsprites(num_train=8, num_val=2, seed=0)
    >>> split.train_images.shape, split.val_factors.shape
    ((8, 64, 64, 1), (2, 5))
    >>> render([[2, 5, 0, 0, 31]]).shape  # a large upright heart, bottom-left
    (1, 64, 64, 1)
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "IMAGE_SHAPE",
    "NUM_COMBINATIONS",
    "SHAPE_NAMES",
    "DSpritesSplit",
    "factor_values",
    "factors_to_index",
    "index_to_factors",
    "make_dsprites",
    "render",
    "sample_factors",
    "split_indices",
]

FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
NUM_COMBINATIONS: int = 737280
IMAGE_SHAPE: tuple[int, int, int] = (64, 64, 1)
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")

IMAGE_SIZE = IMAGE_SHAPE[0]
SPRITE_RADIUS = 14.5
"""Radius in pixels of the disc that contains every sprite at scale 1."""
MARGIN = 16.0
"""Distance in pixels from the image edge to the sprite centre at position 0 (or 1)."""
CHUNK_SIZE = 4096
"""Images rendered per vectorised chunk (bounds the temporary memory)."""

_WINDOW = 2 * int(np.ceil(SPRITE_RADIUS)) + 2  # pixels per side of the per-sprite render window
_ELLIPSE_MINOR = 0.5  # minor/major axis ratio of the ellipse
_HEART_EXTENT = 1.25  # max distance of the heart curve from its centre (0, _HEART_OFFSET)
_HEART_OFFSET = 0.25  # vertical offset of the centre of the heart's bounding disc

assert int(np.prod(FACTOR_SIZES)) == NUM_COMBINATIONS
assert MARGIN > SPRITE_RADIUS + 1.0


def factor_values() -> tuple[np.ndarray, ...]:
    """Return the value of every index of each factor, in ``FACTOR_NAMES`` order.

    Returns:
        ``(shape, scale, orientation, pos_x, pos_y)`` with shapes ``(3,), (6,), (40,), (32,),
        (32,)``: ``arange(3)``, ``linspace(0.5, 1, 6)``,
        ``linspace(0, 2*pi, 40, endpoint=False)``, ``linspace(0, 1, 32)`` twice.
    """
    return (
        np.arange(FACTOR_SIZES[0], dtype=np.int64),
        np.linspace(0.5, 1.0, FACTOR_SIZES[1]),
        np.linspace(0.0, 2.0 * np.pi, FACTOR_SIZES[2], endpoint=False),
        np.linspace(0.0, 1.0, FACTOR_SIZES[3]),
        np.linspace(0.0, 1.0, FACTOR_SIZES[4]),
    )


def _is_integer_array(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_


def _validate_indices(indices: npt.ArrayLike, name: str = "indices") -> np.ndarray:
    """Check flat grid indices.

    ``name`` is the argument as the public caller sees it (e.g. ``'batch["index"]'``), named in the
    error messages.
    """
    array = np.asarray(indices)
    if array.ndim != 1 or not (_is_integer_array(array) or array.size == 0):
        raise ValueError(
            f"`{name}` must be a 1-D integer array with values in [0, {NUM_COMBINATIONS}), "
            f"got shape {array.shape} and dtype {array.dtype}"
        )
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= NUM_COMBINATIONS):
        raise ValueError(
            f"`{name}` must lie in [0, {NUM_COMBINATIONS}), "
            f"got values in [{array.min()}, {array.max()}]"
        )
    return array


def _validate_factors(factors: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(factors)
    ranges = ", ".join(
        f"{name} in [0, {size})" for name, size in zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)
    )
    if (
        array.ndim != 2
        or array.shape[1] != len(FACTOR_SIZES)
        or not (_is_integer_array(array) or array.size == 0)
    ):
        raise ValueError(
            f"factors must be an integer array of shape (n, {len(FACTOR_SIZES)}) with "
            f"{ranges}; got shape {array.shape} and dtype {array.dtype}"
        )
    array = array.astype(np.int64)
    bad = (array < 0) | (array >= np.asarray(FACTOR_SIZES))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"factors column {col} ({FACTOR_NAMES[col]}) must lie in [0, {FACTOR_SIZES[col]}) "
            f"(valid ranges: {ranges}); got {array[row, col]} in row {row}"
        )
    return array


def index_to_factors(indices: npt.ArrayLike) -> np.ndarray:
    """Convert flat grid indices to factor indices.

    The grid is row-major (mixed radix) over ``FACTOR_SIZES``: ``shape`` varies slowest and
    ``pos_y`` fastest, matching the order of the original dSprites ``.npz`` file.

    Args:
        indices: ``(n,)`` integers in ``[0, NUM_COMBINATIONS)``.

    Returns:
        ``(n, 5)`` int64 factor indices, columns in ``FACTOR_NAMES`` order.

    Raises:
        ValueError: if ``indices`` is not 1-D integer or is out of range.

    Example:
        >>> index_to_factors([0, 1, 32]).tolist()
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0]]
    """
    array = _validate_indices(indices)
    columns = np.unravel_index(array, FACTOR_SIZES)
    return np.stack(columns, axis=1).astype(np.int64).reshape(-1, len(FACTOR_SIZES))


def factors_to_index(factors: npt.ArrayLike) -> np.ndarray:
    """Convert factor indices to flat grid indices (inverse of :func:`index_to_factors`).

    Args:
        factors: ``(n, 5)`` integers, column ``j`` in ``[0, FACTOR_SIZES[j])``.

    Returns:
        ``(n,)`` int64 flat indices in ``[0, NUM_COMBINATIONS)``.

    Raises:
        ValueError: if ``factors`` has the wrong shape / dtype or a value is out of range.

    Example:
        >>> factors_to_index([[2, 5, 39, 31, 31]]).tolist()
        [737279]
    """
    array = _validate_factors(factors)
    return np.ravel_multi_index(tuple(array.T), FACTOR_SIZES).astype(np.int64)


def sample_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw ``n`` factor rows uniformly (with replacement) from the dSprites grid.

    Args:
        rng: numpy random generator.
        n: number of rows, ``n >= 0``.

    Returns:
        ``(n, 5)`` int64 factor indices.

    Example:
        >>> sample_factors(np.random.default_rng(0), 4).shape
        (4, 5)
    """
    _check_int("n", n, minimum=0)
    return index_to_factors(rng.integers(0, NUM_COMBINATIONS, size=n, dtype=np.int64))


# ----------------------------------------------------------------------------- geometry
#
# One implementation of the sprite geometry, shared by the host renderer below and the JAX
# renderer of vaekit.data.dsprites_device (``xp`` is numpy or jax.numpy). Everything is
# float32 with an explicit order of operations: float32 tables computed once in float64 numpy
# and rounded, explicit products instead of ``**``, only IEEE-exact operations (+, -, *, abs,
# max, comparisons; no division, no transcendental functions at render time).
#
# XLA:CPU is not strict IEEE by default: LLVM contracts a product feeding an add or subtract
# into one fused multiply-add (one rounding instead of two), and XLA's algebraic simplifier
# re-associates products with constants (e.g. (1.25 u) * (1.25 u) -> (u * u) * 1.5625).
# ``_fence`` marks every product that feeds an add, a subtract or another product with a
# constant: with numpy it is the identity; with JAX it is ``where(p != p, -p, p)``, equal to
# ``p`` for every input (NaN included) but opaque to both rewrites, so each product is
# rounded on its own exactly as numpy rounds it (tests/test_dsprites_device.py checks this).


def _fence(xp, p):
    """``p``, with its rounding kept: a no-op for numpy, an opaque identity for JAX."""
    if xp is np:
        return p
    return xp.where(p != p, -p, p)


def _float32_tables() -> dict[str, np.ndarray]:
    _, scales, orientations, positions_x, positions_y = factor_values()
    assert np.array_equal(positions_x, positions_y)
    centre = (MARGIN + positions_x * (IMAGE_SIZE - 2.0 * MARGIN)).astype(np.float32)
    # Multiples of 90 degrees get an exact 0 / +-1 (float64 cos(pi/2) is 6e-17, not 0).
    cos, sin = np.cos(orientations), np.sin(orientations)
    cos, sin = (np.where(np.abs(t) < 1e-12, 0.0, t).astype(np.float32) for t in (cos, sin))
    return {
        # Sprite centre in pixels, per position index (the same along both axes).
        "centre": centre,
        # First row / column of the per-sprite render window, per position index.
        "window_start": np.clip(
            np.floor(centre).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW
        ),
        # 1 / (scale * SPRITE_RADIUS), per scale index.
        "inv_radius": (1.0 / (scales * SPRITE_RADIUS)).astype(np.float32),
        "cos": cos,
        "sin": sin,
        # Pixel-centre coordinate of every row / column.
        "pixel_centre": (np.arange(IMAGE_SIZE) + 0.5).astype(np.float32),
    }


_TABLES = _float32_tables()
_ONE = np.float32(1.0)
_SQUARE_HALF_SIDE = np.float32(np.sqrt(0.5))  # corners on the unit circle
_ELLIPSE_SCALE_V = np.float32(1.0 / _ELLIPSE_MINOR)  # 2: exact
_HEART_SCALE = np.float32(_HEART_EXTENT)
_HEART_SHIFT = np.float32(_HEART_OFFSET)


def _sprite_params(xp, factors):
    """Per-image float32 geometry of in-range factor indices.

    Per-image float32 geometry ``(centre_col, centre_row, inv_radius, cos, sin)``, each ``(m,)``,
    gathered from the float32 tables for ``(m, 5)`` in-range factor indices.
    """
    table = {name: xp.asarray(_TABLES[name]) for name in ("centre", "inv_radius", "cos", "sin")}
    return (
        table["centre"][factors[:, 3]],
        table["centre"][factors[:, 4]],
        table["inv_radius"][factors[:, 1]],
        table["cos"][factors[:, 2]],
        table["sin"][factors[:, 2]],
    )


def _sprite_uv(xp, centre_col, centre_row, inv_radius, cos, sin, pixel_row, pixel_col):
    """Sprite-frame coordinates ``(u, v)`` of pixel centres, float32.

    The per-image parameters are ``(m, 1, 1)``, ``pixel_row`` is ``(m, H, 1)`` and
    ``pixel_col`` ``(m, 1, W)`` (pixel-centre coordinates), so every product is taken on the
    ``(m, 1, W)`` / ``(m, H, 1)`` vectors and only the final sums are ``(m, H, W)``.
    ``(dx, dy)`` is the pixel centre's offset from the sprite centre in units of the sprite
    radius, "up" (towards row 0) positive; the pixel grid is rotated by ``-theta``, i.e. the
    sprite by ``+theta`` (counter-clockwise as displayed).
    """
    dx = _fence(xp, (pixel_col - centre_col) * inv_radius)  # (m, 1, W)
    dy = _fence(xp, (centre_row - pixel_row) * inv_radius)  # (m, H, 1)
    u = _fence(xp, cos * dx) + _fence(xp, sin * dy)
    v = _fence(xp, cos * dy) - _fence(xp, sin * dx)
    return u, v


def _inside_square(xp, u, v):
    # Corners on the unit circle: half side 1/sqrt(2).
    return xp.maximum(xp.abs(u), xp.abs(v)) <= _SQUARE_HALF_SIDE


def _inside_ellipse(xp, u, v):
    # Major axis along u (radius 1), minor axis along v: u^2 + (v / minor)^2 <= 1.
    w = v * _ELLIPSE_SCALE_V  # exact (times 2)
    return _fence(xp, u * u) + _fence(xp, w * w) <= _ONE


def _inside_heart(xp, u, v):
    # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, lobes towards +v, fitted into the unit disc; compared
    # as (x^2 + y^2 - 1)^3 <= x^2 y^3 (the same for IEEE floats, and no rounded difference).
    x = _fence(xp, _HEART_SCALE * u)
    y = _fence(xp, _HEART_SCALE * v) + _HEART_SHIFT
    x2 = _fence(xp, x * x)
    y2 = _fence(xp, y * y)
    s = x2 + y2 - _ONE
    return s * s * s <= x2 * (y2 * y)


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


def _render_chunk(factors: np.ndarray, out: np.ndarray) -> None:
    """Render ``(m, 5)`` validated factors into ``out`` of shape ``(m, 64, 64)`` (zeroed)."""
    centre_col, centre_row, inv_radius, cos, sin = (
        p[:, None, None] for p in _sprite_params(np, factors)
    )
    offsets = np.arange(_WINDOW)
    rows = _TABLES["window_start"][factors[:, 4]][:, None] + offsets  # (m, W)
    cols = _TABLES["window_start"][factors[:, 3]][:, None] + offsets  # (m, W)
    pixel = _TABLES["pixel_centre"]
    u, v = _sprite_uv(
        np, centre_col, centre_row, inv_radius, cos, sin, pixel[rows][:, :, None],
        pixel[cols][:, None, :],
    )  # (m, W, W) each

    inside = np.zeros(u.shape, dtype=bool)
    for shape_index, inside_fn in enumerate(_INSIDE):
        select = factors[:, 0] == shape_index
        if select.any():
            inside[select] = inside_fn(np, u[select], v[select])

    batch = np.arange(len(factors))[:, None, None]
    out[batch, rows[:, :, None], cols[:, None, :]] = inside


def render(factors: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """Render dSprites images from factor indices.

    Args:
        factors: ``(n, 5)`` integer factor indices (see :data:`FACTOR_SIZES`).
        dtype: output dtype (default ``float32``).

    Returns:
        ``(n, 64, 64, 1)`` array of ``dtype`` holding exactly 0 (background) and 1 (sprite).
        Every image contains at least one sprite pixel and none on the border rows / columns.

    Raises:
        ValueError: if ``factors`` has the wrong shape / dtype or a value is out of range.

    Example:
        >>> image = render([[1, 5, 10, 15, 15]])  # large ellipse near the centre
        >>> float(image.max()), image.shape
        (1.0, (1, 64, 64, 1))
    """
    array = _validate_factors(factors)
    images = np.zeros((len(array), IMAGE_SIZE, IMAGE_SIZE), dtype=dtype)
    for start in range(0, len(array), CHUNK_SIZE):
        stop = start + CHUNK_SIZE
        _render_chunk(array[start:stop], images[start:stop])
    return images[..., None]


class DSpritesSplit(NamedTuple):
    """Train / validation split of procedural dSprites.

    Attributes:
        train_images: ``(num_train, 64, 64, 1)`` binary images.
        train_factors: ``(num_train, 5)`` int64 factor indices.
        val_images: ``(num_val, 64, 64, 1)`` binary images.
        val_factors: ``(num_val, 5)`` int64 factor indices.
    """

    train_images: np.ndarray
    train_factors: np.ndarray
    val_images: np.ndarray
    val_factors: np.ndarray


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def split_indices(num_train: int, num_val: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The flat grid indices of :func:`make_dsprites`'s split, without rendering anything.

    ``num_train + num_val`` distinct indices drawn with
    ``np.random.default_rng(seed).choice(NUM_COMBINATIONS, size, replace=False)``: the first
    ``num_train`` train, the rest validation. Feed them to the device renderer
    (``{"index": train_index}`` with ``make_train_step(preprocess=render_dsprites_batch)``)
    to train on exactly the images ``make_dsprites`` would render, with no host image array.

    Returns:
        ``(train_index (num_train,), val_index (num_val,))``, int32.

    Raises:
        ValueError: as :func:`make_dsprites`.

    Example:
        >>> train, val = split_indices(4, 2, seed=0)
        >>> train.shape, val.shape, len(set(train) | set(val))
        ((4,), (2,), 6)
    """
    _check_int("num_train", num_train, minimum=1)
    _check_int("num_val", num_val, minimum=0)
    total = int(num_train) + int(num_val)
    if total > NUM_COMBINATIONS:
        raise ValueError(
            f"num_train + num_val must be <= NUM_COMBINATIONS = {NUM_COMBINATIONS}, "
            f"got num_train={num_train}, num_val={num_val}"
        )
    indices = np.random.default_rng(seed).choice(NUM_COMBINATIONS, size=total, replace=False)
    indices = indices.astype(np.int32)
    return indices[:num_train], indices[num_train:]


def make_dsprites(
    num_train: int, num_val: int = 0, seed: int = 0, dtype: npt.DTypeLike = np.float32
) -> DSpritesSplit:
    """Sample a train / validation split of distinct dSprites grid points and render them.

    ``num_train + num_val`` distinct flat indices are drawn with
    ``np.random.default_rng(seed).choice(NUM_COMBINATIONS, size, replace=False)``; the first
    ``num_train`` form the training set and the rest the validation set, so the two are disjoint.

    Args:
        num_train: number of training images, ``>= 1``.
        num_val: number of validation images, ``>= 0``.
        seed: seed of the numpy generator; the same seed gives the same split.
        dtype: image dtype (default ``float32``).

    Returns:
        A :class:`DSpritesSplit` (images ``(n, 64, 64, 1)``, factors ``(n, 5)`` int64).

    Raises:
        ValueError: if ``num_train < 1``, ``num_val < 0`` or
            ``num_train + num_val > NUM_COMBINATIONS``.

    Example:
        >>> split = make_dsprites(num_train=100, num_val=10, seed=1)
        >>> split.train_images.shape, split.val_images.shape
        ((100, 64, 64, 1), (10, 64, 64, 1))
    """
    train_index, val_index = split_indices(num_train, num_val, seed)
    train_factors, val_factors = index_to_factors(train_index), index_to_factors(val_index)
    return DSpritesSplit(
        train_images=render(train_factors, dtype=dtype),
        train_factors=train_factors,
        val_images=render(val_factors, dtype=dtype),
        val_factors=val_factors,
    )
