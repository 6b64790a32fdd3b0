"""DeepMind 3D Shapes (``3dshapes.h5``), read with h5py.

Burgess & Kim, 2018, "3D Shapes Dataset", https://github.com/google-deepmind/3d-shapes, used in
Kim & Mnih, 2018, "Disentangling by Factorising" (ICML). Apache 2.0 licence. 480,000 64x64 RGB
images, every combination of floor hue (10), wall hue (10), object hue (10), scale (8),
shape (4) and orientation (15) exactly once.

The HDF5 file holds ``images`` ``(480000, 64, 64, 3)`` uint8 and ``labels`` ``(480000, 6)``
float64 -- the factor *values* (hues in [0, 1], scale around 1, shape 0..3, orientation in
[-30, 30] degrees), not indices. :func:`labels_to_factors` turns each column into indices by
ranking its distinct values, as TensorFlow Datasets does (``tensorflow_datasets/image/
shapes3d.py``, ``_discretize``); a column must hold exactly the published number of values.

Memory: the images are 5.9 GB once decompressed and are read into one array, in chunks.

Example:
    >>> import numpy as np
    >>> from vaekit.data._shapes3d import labels_to_factors
    >>> labels = np.array([[0.1, 0.0, 0.9, 1.25, 3.0, -30.0]]).repeat(2, 0)
    >>> labels_to_factors(labels, sizes=(1, 1, 1, 1, 1, 1)).tolist()
    [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
"""

import os
from pathlib import Path

import numpy as np

from vaekit.data._fetch import DatasetError

__all__ = ["FACTOR_NAMES", "FACTOR_SIZES", "labels_to_factors", "read_shapes3d"]

FACTOR_NAMES: tuple[str, ...] = (
    "floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation",
)
FACTOR_SIZES: tuple[int, ...] = (10, 10, 10, 8, 4, 15)


def labels_to_factors(labels: np.ndarray, sizes: tuple[int, ...] = FACTOR_SIZES,
                      name: str = "labels") -> np.ndarray:
    """Factor indices from the factor values of ``labels``.

    Args:
        labels: ``(N, F)`` float factor values.
        sizes: the number of distinct values each column must have.
        name: what to call the array in errors.

    Returns:
        ``(N, F)`` int64: the rank of each value among its column's distinct values.

    Raises:
        DatasetError: if the shape is not ``(N, len(sizes))`` or a column has another number of
            distinct values.

    Example:
        >>> import numpy as np
        >>> from vaekit.data._shapes3d import labels_to_factors
        >>> labels_to_factors(np.array([[0.5], [-30.0], [0.5]]), sizes=(2,)).ravel().tolist()
        [1, 0, 1]
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != len(sizes):
        raise DatasetError(f"{name}: expected (N, {len(sizes)}) labels, got {labels.shape}")
    factors = np.empty(labels.shape, np.int64)
    for column, size in enumerate(sizes):
        values, inverse = np.unique(labels[:, column], return_inverse=True)
        if len(values) != size:
            raise DatasetError(
                f"{name}: column {column} has {len(values)} distinct values, expected {size} "
                "(not the full 3dshapes.h5?)"
            )
        factors[:, column] = inverse.ravel()
    return factors


def read_shapes3d(path: str | os.PathLike, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Read ``3dshapes.h5``.

    Args:
        path: the HDF5 file.
        chunk: images read per h5py call (bounds the temporary memory).

    Returns:
        ``(images, factors)``: ``(N, 64, 64, 3)`` uint8 and ``(N, 6)`` int64 factor indices in
        the order of :data:`FACTOR_NAMES`.

    Raises:
        DatasetError: naming the file if it is not readable HDF5, lacks ``images`` / ``labels``,
            or has the wrong shapes or dtypes.

    Example:
        >>> from vaekit.data._shapes3d import FACTOR_SIZES
        >>> FACTOR_SIZES
        (10, 10, 10, 8, 4, 15)
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            for key in ("images", "labels"):
                if not isinstance(h5.get(key), h5py.Dataset):
                    raise DatasetError(f"{path.name}: dataset {key!r} is missing")
            images_ds, labels_ds = h5["images"], h5["labels"]
            shape, dtype = images_ds.shape, images_ds.dtype
            if len(shape) != 4 or shape[1:] != (64, 64, 3) or dtype != np.uint8:
                raise DatasetError(
                    f"{path.name}: images is {images_ds.shape} {images_ds.dtype}, expected "
                    "(N, 64, 64, 3) uint8"
                )
            labels = np.asarray(labels_ds[()], np.float64)
            images = np.empty(images_ds.shape, np.uint8)
            for start in range(0, len(images), chunk):
                stop = min(start + chunk, len(images))
                images_ds.read_direct(images, np.s_[start:stop], np.s_[start:stop])
    except OSError as error:  # h5py reports corrupt / truncated files as OSError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(
            f"{path.name}: not readable HDF5 ({reason}); download it again"
        ) from None
    if labels.shape != (len(images), len(FACTOR_SIZES)):
        raise DatasetError(f"{path.name}: labels is {labels.shape}, expected ({len(images)}, 6)")
    return images, labels_to_factors(labels, name=f"{path.name} labels")
