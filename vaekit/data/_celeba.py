"""CelebA at 64x64 from the aligned images ``img_align_celeba.zip`` and its official split.

Liu, Luo, Wang & Tang, 2015, "Deep Learning Face Attributes in the Wild" (ICCV),
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html. 202,599 aligned 178x218 (W x H) JPEG faces.
Licence: non-commercial research use only (see the agreement on the project page).

Splits come from ``list_eval_partition.txt`` (lines ``000001.jpg 0``; 0 = train 162,770,
1 = valid 19,867, 2 = test 19,962).

The 64x64 crop: the central 148x148 square at (top=40, left=15) of the 178x218 image, i.e.
rows 40..187 and columns 15..162, then resized to 64x64 with Pillow's bilinear filter (which
antialiases when downscaling, as ``torchvision.transforms.Resize`` does on PIL images). The
(40, 15) offset is RealNVP's (Dinh, Sohl-Dickstein & Bengio 2017;
``tensorflow/models`` ``research/real_nvp/real_nvp_multiscale_dataset.py``:
``image[40:188, 15:163, :]`` then a 64x64 bilinear resize), reused by many VAE / flow codebases
(e.g. Glow ports). PyTorch-VAE (``AntixK/PyTorch-VAE`` ``dataset.py``:
``CenterCrop(148)`` then ``Resize(64)``) takes the same 148 square but exactly centred, which
on 218 rows is top=35: the two differ by a 5-pixel vertical shift. ``disentanglement_lib`` does
not ship CelebA.

Decoding 202,599 JPEGs takes minutes, so the decoded ``(202599, 64, 64, 3)`` uint8 array (in
partition-file order) is cached once as a ``.npy`` next to the zip (written atomically) and
memory-mapped afterwards; a split is a contiguous slice of it, so no copy is made.

Example:
    >>> from PIL import Image
    >>> from vaekit.data._celeba import crop_64
    >>> crop_64(Image.new("RGB", (178, 218), (10, 20, 30))).shape
    (64, 64, 3)
"""

import io
import os
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vaekit.data._fetch import DatasetError, npy_cache

__all__ = [
    "ALIGNED_SIZE",
    "CROP_BOX",
    "IMAGE_SIZE",
    "SPLITS",
    "crop_64",
    "decode_celeba",
    "load_celeba64",
    "read_partition",
]

ALIGNED_SIZE = (178, 218)
"""(width, height) of an aligned CelebA image."""
CROP_TOP, CROP_LEFT, CROP_SIZE = 40, 15, 148
CROP_BOX = (CROP_LEFT, CROP_TOP, CROP_LEFT + CROP_SIZE, CROP_TOP + CROP_SIZE)
"""Pillow box (left, upper, right, lower) of the 148x148 crop."""
IMAGE_SIZE = 64
SPLITS: dict[str, int | None] = {"train": 0, "valid": 1, "test": 2, "all": None}
MEMBER_DIR = "img_align_celeba"


def read_partition(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    r"""Read ``list_eval_partition.txt``.

    Returns:
        ``(names, partition)``: the image file names in file order and an ``(N,)`` int8 array of
        0 (train), 1 (valid), 2 (test).

    Raises:
        DatasetError: naming the file for a malformed line, an unknown partition code, or a
            file name that is not a plain ``*.jpg`` name (no directories).

    Example:
        >>> import tempfile, pathlib
        >>> from vaekit.data._celeba import read_partition
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "list_eval_partition.txt"
        >>> _ = path.write_text("000001.jpg 0\r\n000002.jpg 2\r\n")
        >>> names, partition = read_partition(path)
        >>> names, partition.tolist()
        (['000001.jpg', '000002.jpg'], [0, 2])
    """
    path = Path(path)
    names: list[str] = []
    codes: list[int] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path.name}: unreadable ({error}); download it again") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if (
            len(fields) != 2
            or fields[1] not in {"0", "1", "2"}
            or not fields[0].lower().endswith(".jpg")
            or "/" in fields[0] or "\\" in fields[0] or fields[0].startswith(".")
        ):
            raise DatasetError(f"{path.name}:{number}: malformed partition line {line.strip()!r}")
        names.append(fields[0])
        codes.append(int(fields[1]))
    if not names:
        raise DatasetError(f"{path.name}: no entries; download it again")
    return names, np.asarray(codes, np.int8)


def crop_64(image) -> np.ndarray:
    """The standard 64x64 CelebA crop of one aligned image (see the module docstring).

    Args:
        image: a ``PIL.Image.Image`` of size 178x218 (any mode; converted to RGB).

    Returns:
        ``(64, 64, 3)`` uint8.

    Raises:
        DatasetError: if the image is not 178x218.

    Example:
        >>> from PIL import Image
        >>> from vaekit.data._celeba import crop_64
        >>> int(crop_64(Image.new("L", (178, 218), 255)).min())
        255
    """
    from PIL import Image

    if image.size != ALIGNED_SIZE:
        raise DatasetError(f"image: expected an aligned 178x218 CelebA image, got {image.size}")
    square = image.convert("RGB").crop(CROP_BOX)
    small = square.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(small, np.uint8)


def _safe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not name.startswith(("/", "\\")) and ".." not in parts and ":" not in parts[0]


def decode_celeba(zip_path: str | os.PathLike, names: Sequence[str], out: np.ndarray,
                  workers: int | None = None) -> None:
    """Decode and crop ``names`` from ``img_align_celeba.zip`` into ``out``.

    Reads member ``img_align_celeba/<name>`` for each name (never extracting to disk), in
    parallel threads (Pillow releases the GIL while decoding), each with its own zip handle.

    Args:
        zip_path: the aligned-images zip.
        names: image file names, e.g. from :func:`read_partition`.
        out: ``(len(names), 64, 64, 3)`` uint8, written row ``i`` for ``names[i]``.
        workers: thread count (default: the CPU count, at most 16).

    Raises:
        DatasetError: naming the zip for a corrupt archive, an unsafe member name (absolute or
            with ``..``), a missing image, or an image that fails to decode.

    Example:
        >>> import io, zipfile, tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> from vaekit.data._celeba import decode_celeba
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "img_align_celeba.zip"
        >>> buffer = io.BytesIO(); Image.new("RGB", (178, 218)).save(buffer, "JPEG")
        >>> with zipfile.ZipFile(path, "w") as archive:
        ...     archive.writestr("img_align_celeba/000001.jpg", buffer.getvalue())
        >>> out = np.ones((1, 64, 64, 3), np.uint8)
        >>> decode_celeba(path, ["000001.jpg"], out); int(out.max())
        0
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(zip_path)
    if out.shape != (len(names), IMAGE_SIZE, IMAGE_SIZE, 3) or out.dtype != np.uint8:
        raise ValueError(f"out: expected ({len(names)}, 64, 64, 3) uint8, got {out.shape}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise DatasetError(
            f"{path.name}: corrupt or truncated zip ({error}); download it again"
        ) from None
    unsafe = [name for name in members if not _safe_member(name)]
    if unsafe:
        raise DatasetError(f"{path.name}: unsafe member name {unsafe[0]!r}; not a CelebA zip")
    available = set(members)
    missing = [name for name in names if f"{MEMBER_DIR}/{name}" not in available]
    if missing:
        raise DatasetError(
            f"{path.name}: {len(missing)} listed images are missing (first: {missing[0]}); "
            "is this img_align_celeba.zip?"
        )
    workers = workers or min(16, os.cpu_count() or 1)
    bounds = np.linspace(0, len(names), workers + 1).astype(int)

    def work(start: int, stop: int) -> None:
        with zipfile.ZipFile(path) as archive:
            for i in range(start, stop):
                member = f"{MEMBER_DIR}/{names[i]}"
                try:
                    data = io.BytesIO(archive.read(member))  # seekable, unlike a zip stream
                    with Image.open(data) as image:
                        out[i] = crop_64(image)
                except (OSError, UnidentifiedImageError, zipfile.BadZipFile, zlib.error) as error:
                    raise DatasetError(
                        f"{path.name}: {member} does not decode ({error}); download it again"
                    ) from None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        spans = zip(bounds[:-1], bounds[1:], strict=True)
        jobs = [pool.submit(work, int(a), int(b)) for a, b in spans if b > a]
        for job in jobs:
            job.result()


def load_celeba64(zip_path: str | os.PathLike | None, partition_path: str | os.PathLike,
                  cache_path: str | os.PathLike, split: str = "train") -> np.ndarray:
    """One split of 64x64 CelebA, decoding and caching the whole set on first use.

    Args:
        zip_path: ``img_align_celeba.zip`` (only read when the cache is built; may be ``None``
            when ``cache_path`` exists).
        partition_path: ``list_eval_partition.txt``.
        cache_path: the ``.npy`` cache of every image in partition order (built if missing,
            then memory-mapped read-only).
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.

    Returns:
        ``(N, 64, 64, 3)`` uint8, a read-only memory-mapped view (a copy only if the split's
        rows are not contiguous in the partition file).

    Raises:
        DatasetError: for an unknown ``split`` or any file problem (see :func:`decode_celeba`).

    Example:
        >>> from vaekit.data._celeba import SPLITS
        >>> sorted(SPLITS)
        ['all', 'test', 'train', 'valid']
    """
    if split not in SPLITS:
        raise DatasetError(f"split: CelebA has splits {sorted(SPLITS)}, got {split!r}")
    names, partition = read_partition(partition_path)
    cache_path = Path(cache_path)
    if zip_path is None and not cache_path.exists():
        raise DatasetError(f"zip_path: needed to build the missing cache {cache_path}")
    images = npy_cache(
        cache_path, (len(names), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8,
        lambda out: decode_celeba(zip_path, names, out),
    )
    code = SPLITS[split]
    if code is None:
        return images
    rows = np.flatnonzero(partition == code)
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return images[rows[0] : rows[-1] + 1]
    return images[rows]
