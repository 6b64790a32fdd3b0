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
output. It is deterministic and uses no randomness.

Example:
    >>> from vaekit.data.dsprites import make_dsprites, render
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


def _validate_indices(indices: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(indices)
    if array.ndim != 1 or not (_is_integer_array(array) or array.size == 0):
        raise ValueError(
            f"indices must be a 1-D integer array with values in [0, {NUM_COMBINATIONS}), "
            f"got shape {array.shape} and dtype {array.dtype}"
        )
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= NUM_COMBINATIONS):
        raise ValueError(
            f"indices must lie in [0, {NUM_COMBINATIONS}), "
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


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Corners on the unit circle: half side 1/sqrt(2).
    return np.maximum(np.abs(u), np.abs(v)) <= np.sqrt(0.5)


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Major axis along u (radius 1), minor axis along v.
    return u * u + (v / _ELLIPSE_MINOR) ** 2 <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, lobes towards +v, fitted into the unit disc.
    x = _HEART_EXTENT * u
    y = _HEART_EXTENT * v + _HEART_OFFSET
    x2 = x * x
    return (x2 + y * y - 1.0) ** 3 - x2 * y**3 <= 0.0


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


def _render_chunk(factors: np.ndarray, out: np.ndarray) -> None:
    """Render ``(m, 5)`` validated factors into ``out`` of shape ``(m, 64, 64)`` (zeroed)."""
    _, scales, orientations, positions_x, positions_y = factor_values()
    span = IMAGE_SIZE - 2.0 * MARGIN
    centre_col = MARGIN + positions_x[factors[:, 3]] * span  # (m,)
    centre_row = MARGIN + positions_y[factors[:, 4]] * span  # (m,)
    radius = scales[factors[:, 1]] * SPRITE_RADIUS  # (m,)
    theta = orientations[factors[:, 2]]  # (m,)

    offsets = np.arange(_WINDOW)
    top = np.clip(np.floor(centre_row).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
    left = np.clip(np.floor(centre_col).astype(np.int64) - _WINDOW // 2, 0, IMAGE_SIZE - _WINDOW)
    rows = top[:, None] + offsets  # (m, W)
    cols = left[:, None] + offsets  # (m, W)

    # Pixel-centre offsets from the sprite centre; "up" is towards row 0.
    dx = (cols + 0.5 - centre_col[:, None])[:, None, :] / radius[:, None, None]  # (m, 1, W)
    dy = (centre_row[:, None] - rows - 0.5)[:, :, None] / radius[:, None, None]  # (m, W, 1)
    cos = np.cos(theta)[:, None, None]
    sin = np.sin(theta)[:, None, None]
    # Rotate the pixel grid by -theta, i.e. the sprite by +theta (counter-clockwise).
    u = cos * dx + sin * dy  # (m, W, W)
    v = cos * dy - sin * dx

    inside = np.zeros(u.shape, dtype=bool)
    for shape_index, inside_fn in enumerate(_INSIDE):
        select = factors[:, 0] == shape_index
        if select.any():
            inside[select] = inside_fn(u[select], v[select])

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
    _check_int("num_train", num_train, minimum=1)
    _check_int("num_val", num_val, minimum=0)
    total = int(num_train) + int(num_val)
    if total > NUM_COMBINATIONS:
        raise ValueError(
            f"num_train + num_val must be <= NUM_COMBINATIONS = {NUM_COMBINATIONS}, "
            f"got num_train={num_train}, num_val={num_val}"
        )
    rng = np.random.default_rng(seed)
    indices = rng.choice(NUM_COMBINATIONS, size=total, replace=False)
    factors = index_to_factors(indices)
    train_factors, val_factors = factors[:num_train], factors[num_train:]
    return DSpritesSplit(
        train_images=render(train_factors, dtype=dtype),
        train_factors=train_factors,
        val_images=render(val_factors, dtype=dtype),
        val_factors=val_factors,
    )
