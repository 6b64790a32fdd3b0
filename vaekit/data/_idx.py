"""IDX files (MNIST, Fashion-MNIST) and the fixed binarisation of MNIST, in numpy.

The IDX format (LeCun, Cortes & Burges, "The MNIST database of handwritten digits",
http://yann.lecun.com/exdb/mnist/) is a big-endian header -- two zero bytes, a type code, the
number of dimensions ``d`` -- then ``d`` big-endian ``uint32`` sizes, then the row-major data.
Distributed files are gzip-compressed (``*-idx3-ubyte.gz`` images, ``*-idx1-ubyte.gz`` labels).

* MNIST: 60,000 train / 10,000 test ``(28, 28)`` grey digits, 10 classes. Licence: the MNIST
  page gives none; it is widely redistributed (e.g. CC BY-SA 3.0 per torchvision / tfds docs).
* Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, "Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms", arXiv:1708.07747): the same layout, 10 clothing
  classes, MIT licence.
* Fixed binarised MNIST (:func:`binarize`): each pixel is one Bernoulli draw with probability
  ``pixel / 255``, drawn once with a fixed seed (Salakhutdinov & Murray 2008, "On the
  Quantitative Analysis of Deep Belief Networks"). This is *not* the Larochelle & Murray (2011)
  ``binarized_mnist_*.amat`` files; dynamic binarisation (a fresh draw every step) belongs in
  the train step, not here.

Example:
    >>> import numpy as np
    >>> from vaekit.data._idx import encode_idx, parse_idx
    >>> data = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> parse_idx(encode_idx(data), "demo").tolist()
    [[0, 1, 2], [3, 4, 5]]
"""

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from vaekit.data._fetch import DatasetError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "binarize",
    "encode_idx",
    "parse_idx",
    "read_idx",
    "read_mnist",
]

MNIST_CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(buffer: bytes, name: str) -> np.ndarray:
    """Decode one uncompressed IDX buffer.

    Args:
        buffer: the whole file, decompressed.
        name: the file's name, for error messages.

    Returns:
        An array of the header's shape and type (a read-only view of ``buffer``; multi-byte
        types keep their big-endian dtype).

    Raises:
        DatasetError: naming ``name`` for a bad magic number, an unknown type code, or a data
            section shorter or longer than the header's sizes (a truncated file).

    Example:
        >>> import numpy as np
        >>> from vaekit.data._idx import encode_idx, parse_idx
        >>> parse_idx(encode_idx(np.zeros((3, 28, 28), np.uint8)), "x").shape
        (3, 28, 28)
    """
    if len(buffer) < 4 or buffer[0] != 0 or buffer[1] != 0:
        raise DatasetError(f"{name}: not an IDX file (bad magic number); download it again")
    code, ndim = buffer[2], buffer[3]
    if code not in _TYPES:
        raise DatasetError(f"{name}: unknown IDX type code 0x{code:02x}; download it again")
    header = 4 + 4 * ndim
    if len(buffer) < header:
        raise DatasetError(f"{name}: truncated IDX header; download it again")
    shape = tuple(int(size) for size in np.frombuffer(buffer, ">u4", count=ndim, offset=4))
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(buffer) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DatasetError(
            f"{name}: IDX file {what} (header {shape} needs {expected} data bytes, found "
            f"{found}); download it again"
        )
    return np.frombuffer(buffer, dtype, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed if its name ends in ``.gz``.

    Returns:
        The decoded array (see :func:`parse_idx`).

    Raises:
        DatasetError: naming the file if it cannot be read, is a corrupt or truncated gzip
            stream, or is not valid IDX.

    Example:
        >>> import gzip, tempfile, pathlib, numpy as np
        >>> from vaekit.data._idx import encode_idx, read_idx
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
        >>> _ = path.write_bytes(gzip.compress(encode_idx(np.array([7, 2], np.uint8))))
        >>> read_idx(path).tolist()
        [7, 2]
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        buffer = gzip.decompress(raw) if path.name.endswith(".gz") else raw
    except (OSError, EOFError, zlib.error) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(f"{path.name}: unreadable ({reason}); download it again") from None
    return parse_idx(buffer, path.name)


def encode_idx(array: np.ndarray) -> bytes:
    r"""The uncompressed IDX encoding of ``array`` (the inverse of :func:`parse_idx`).

    Used to write test fixtures and mirrors; ``array``'s dtype must be one IDX supports.

    Example:
        >>> import numpy as np
        >>> from vaekit.data._idx import encode_idx
        >>> encode_idx(np.array([1, 2], np.uint8))
        b'\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02'
    """
    array = np.asarray(array)
    for code, dtype in _TYPES.items():
        if (array.dtype.kind, array.dtype.itemsize) == (dtype.kind, dtype.itemsize):
            header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
            return header + np.ascontiguousarray(array, dtype.newbyteorder(">")).tobytes()
    raise ValueError(f"array: dtype {array.dtype} has no IDX type code")


def read_mnist(images_path: str | os.PathLike, labels_path: str | os.PathLike,
               num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST-layout pair of IDX files (MNIST, Fashion-MNIST).

    Args:
        images_path: ``*-images-idx3-ubyte[.gz]``: ``(N, H, W)`` uint8.
        labels_path: ``*-labels-idx1-ubyte[.gz]``: ``(N,)`` uint8 in ``[0, num_classes)``.
        num_classes: the number of classes labels must lie in.

    Returns:
        ``(images, labels)``: ``(N, H, W, 1)`` uint8 (0 = background for MNIST) and ``(N,)``
        int32.

    Raises:
        DatasetError: naming a file with the wrong rank or dtype, mismatched counts, or a label
            out of range.

    Example:
        >>> import gzip, tempfile, pathlib, numpy as np
        >>> from vaekit.data._idx import encode_idx, read_mnist
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> def write(name, array):
        ...     _ = (root / name).write_bytes(gzip.compress(encode_idx(array)))
        >>> write("i.gz", np.zeros((2, 28, 28), np.uint8))
        >>> write("l.gz", np.array([3, 9], np.uint8))
        >>> images, labels = read_mnist(root / "i.gz", root / "l.gz")
        >>> images.shape, images.dtype, labels.tolist()
        ((2, 28, 28, 1), dtype('uint8'), [3, 9])
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    images_name, labels_name = Path(images_path).name, Path(labels_path).name
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{images_name}: expected (N, H, W) uint8 images, got {images.shape} {images.dtype}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetError(f"{labels_name}: expected (N,) uint8 labels, got {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{labels_name}: {len(labels)} labels for {len(images)} images in {images_name}"
        )
    if len(labels) and int(labels.max()) >= num_classes:
        raise DatasetError(f"{labels_name}: label {int(labels.max())} >= {num_classes} classes")
    return images[..., None], labels.astype(np.int32)


def binarize(images: np.ndarray, seed: int | tuple[int, ...] = 0) -> np.ndarray:
    """Fixed stochastic binarisation: each pixel is 255 with probability ``pixel / 255``.

    Deterministic: the draws come from ``np.random.default_rng(seed)`` in row-major order, so a
    given ``(images, seed)`` always gives the same result (``load_dataset("binarized-mnist",
    seed=s)`` uses ``(s, 0)`` for train and ``(s, 1)`` for test).

    Args:
        images: ``(N, H, W, C)`` uint8 grey levels.
        seed: the Bernoulli draws' seed (an int or a tuple of ints, as ``default_rng`` takes).

    Returns:
        ``(N, H, W, C)`` uint8 in ``{0, 255}``; 0 stays 0 and 255 stays 255.

    Example:
        >>> import numpy as np
        >>> from vaekit.data._idx import binarize
        >>> binarize(np.array([[[[0], [255]]]], np.uint8)).ravel().tolist()
        [0, 255]
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images: expected uint8, got {images.dtype}")
    rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)
    out = np.empty(images.shape, np.uint8)
    flat_in, flat_out = images.reshape(len(images), -1), out.reshape(len(images), -1)
    chunk = 4096  # bounded float temporaries
    for start in range(0, len(images), chunk):
        stop = start + chunk
        draws = rng.random(flat_in[start:stop].shape, dtype=np.float32) * np.float32(255.0)
        flat_out[start:stop] = np.where(draws < flat_in[start:stop], 255, 0)
    return out
