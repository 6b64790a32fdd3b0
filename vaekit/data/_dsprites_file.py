"""The real DeepMind dSprites file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

Matthey, Higgins, Hassabis & Lerchner, 2017, "dSprites: Disentanglement testing Sprites
dataset", https://github.com/google-deepmind/dsprites-dataset. Apache 2.0 licence. 737,280
64x64 binary images, every combination of colour (1), shape (3), scale (6), orientation (40),
pos_x (32), pos_y (32) exactly once, in row-major factor order. (:func:`vaekit.data.render`
re-creates the same factor grid procedurally, without the file.)

Read with ``np.load(..., allow_pickle=False)``: only ``imgs`` ``(737280, 64, 64)`` uint8 in
{0, 1} and ``latents_classes`` ``(737280, 6)`` int64 are read. The file's ``metadata`` entry is
a pickled Python object and is never loaded (with ``allow_pickle=False`` numpy refuses to).

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from vaekit.data._dsprites_file import read_dsprites_npz
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dsprites.npz"
    >>> np.savez_compressed(path, imgs=np.ones((2, 64, 64), np.uint8),
    ...                     latents_classes=np.array([[0, 2, 5, 39, 31, 0], [0] * 6]))
    >>> images, factors = read_dsprites_npz(path)
    >>> images.shape, int(images.max()), factors[0].tolist()
    ((2, 64, 64, 1), 255, [2, 5, 39, 31, 0])
"""

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vaekit.data._dsprites import FACTOR_NAMES, FACTOR_SIZES
from vaekit.data._fetch import DatasetError

__all__ = ["FACTOR_NAMES", "FACTOR_SIZES", "read_dsprites_npz"]


def read_dsprites_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the dSprites ``.npz``.

    Args:
        path: the ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` file (or a subset with the
            same layout).

    Returns:
        ``(images, factors)``: ``(N, 64, 64, 1)`` uint8 in {0, 255} (the file's 1 becomes 255,
        like every other vaekit image) and ``(N, 5)`` int64 factor indices in the order of
        :data:`FACTOR_NAMES` (the constant colour column of ``latents_classes`` is dropped).

    Raises:
        DatasetError: naming the file for a corrupt archive, a missing entry, wrong shapes or
            dtypes, a non-binary image, or a factor index out of range.

    Example:
        >>> from vaekit.data import FACTOR_NAMES
        >>> FACTOR_NAMES
        ('shape', 'scale', 'orientation', 'pos_x', 'pos_y')
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"imgs", "latents_classes"} - set(archive.files)
            if missing:
                raise DatasetError(f"{path.name}: entries {sorted(missing)} are missing")
            images = archive["imgs"]
            classes = archive["latents_classes"]
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        if isinstance(error, DatasetError):
            raise
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(
            f"{path.name}: corrupt or truncated ({reason}); download it again"
        ) from None
    if images.ndim != 3 or images.shape[1:] != (64, 64) or images.dtype != np.uint8:
        raise DatasetError(
            f"{path.name}: imgs is {images.shape} {images.dtype}, expected (N, 64, 64) uint8"
        )
    if classes.shape != (len(images), 6) or classes.dtype.kind not in "iu":
        raise DatasetError(
            f"{path.name}: latents_classes is {classes.shape} {classes.dtype}, expected "
            f"({len(images)}, 6) integers"
        )
    if len(images) and int(images.max()) > 1:
        raise DatasetError(f"{path.name}: imgs is not binary (max {int(images.max())})")
    factors = classes[:, 1:].astype(np.int64)
    if len(factors) and (
        (classes[:, 0] != 0).any() or (factors < 0).any() or (factors >= FACTOR_SIZES).any()
    ):
        raise DatasetError(f"{path.name}: latents_classes out of the {FACTOR_SIZES} grid")
    np.multiply(images, np.uint8(255), out=images)  # in place: the real imgs is 3 GB
    return images[..., None], factors
