"""CIFAR-10 from its *binary* distribution ``cifar-10-binary.tar.gz`` (never the Python one).

Krizhevsky, 2009, "Learning Multiple Layers of Features from Tiny Images" (tech. report,
University of Toronto), https://www.cs.toronto.edu/~kriz/cifar.html. 50,000 train and 10,000
test 32x32 RGB images in 10 classes. Licence: none stated on the page; cite the report.

The archive holds ``cifar-10-batches-bin/data_batch_{1..5}.bin`` (train),
``cifar-10-batches-bin/test_batch.bin`` (test) and ``cifar-10-batches-bin/batches.meta.txt``
(one class name per line). Each ``.bin`` is a sequence of 3073-byte records: one label byte,
then 1024 red, 1024 green and 1024 blue bytes of a 32x32 image in row-major order (CHW).

The archive is read in place with :mod:`tarfile` (``extractfile``): nothing is extracted to
disk, and only regular-file members with the exact expected names are read.

Example:
    >>> import numpy as np
    >>> from vaekit.data._cifar import RECORD_BYTES, parse_cifar_records
    >>> record = np.zeros(RECORD_BYTES, np.uint8); record[0] = 7; record[1] = 255  # red (0, 0)
    >>> images, labels = parse_cifar_records(record.tobytes(), "demo.bin")
    >>> images.shape, labels.tolist(), images[0, 0, 0].tolist()
    ((1, 32, 32, 3), [7], [255, 0, 0])
"""

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from vaekit.data._fetch import DatasetError

__all__ = [
    "ARCHIVE_ROOT",
    "CIFAR10_CLASSES",
    "RECORD_BYTES",
    "SPLIT_MEMBERS",
    "parse_cifar_records",
    "read_cifar10",
]

RECORD_BYTES = 1 + 3 * 32 * 32
ARCHIVE_ROOT = "cifar-10-batches-bin"
SPLIT_MEMBERS: dict[str, tuple[str, ...]] = {
    "train": tuple(f"{ARCHIVE_ROOT}/data_batch_{i}.bin" for i in range(1, 6)),
    "test": (f"{ARCHIVE_ROOT}/test_batch.bin",),
}
META_MEMBER = f"{ARCHIVE_ROOT}/batches.meta.txt"
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def parse_cifar_records(buffer: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode a CIFAR-10 binary batch.

    Args:
        buffer: the bytes of one ``*.bin`` member, a whole number of 3073-byte records.
        name: the member's name, for error messages.

    Returns:
        ``(images, labels)``: ``(N, 32, 32, 3)`` uint8 (NHWC, RGB) and ``(N,)`` int32 in
        ``[0, 10)``.

    Raises:
        DatasetError: naming ``name`` if the length is not a multiple of 3073 (truncated) or a
            label is not in ``[0, 10)``.

    Example:
        >>> from vaekit.data._cifar import parse_cifar_records
        >>> parse_cifar_records(bytes(2 * 3073), "x.bin")[0].shape
        (2, 32, 32, 3)
    """
    if len(buffer) % RECORD_BYTES:
        raise DatasetError(
            f"{name}: {len(buffer)} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR "
            "records (truncated?); download the archive again"
        )
    records = np.frombuffer(buffer, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int32)
    if len(labels) and int(labels.max()) >= len(CIFAR10_CLASSES):
        raise DatasetError(f"{name}: label {int(labels.max())} is not a CIFAR-10 class")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read_member(archive: tarfile.TarFile, member_name: str, archive_name: str) -> bytes:
    try:
        member = archive.getmember(member_name)
    except KeyError:
        raise DatasetError(
            f"{archive_name}: member {member_name} is missing; is this cifar-10-binary.tar.gz?"
        ) from None
    if not member.isfile():  # a link or device could point outside the archive
        raise DatasetError(f"{archive_name}: member {member_name} is not a regular file")
    handle = archive.extractfile(member)
    if handle is None:
        raise DatasetError(f"{archive_name}: member {member_name} cannot be read")
    with handle:
        data = handle.read()
    if len(data) != member.size:
        raise DatasetError(f"{archive_name}: member {member_name} is truncated")
    return data


def read_cifar10(archive_path: str | os.PathLike, split: str = "train"
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    r"""Read one split of ``cifar-10-binary.tar.gz``.

    Args:
        archive_path: the ``.tar.gz`` archive.
        split: ``"train"`` (the five data batches, in order) or ``"test"``.

    Returns:
        ``(images, labels, class_names)``: ``(N, 32, 32, 3)`` uint8, ``(N,)`` int32, and the ten
        names of ``batches.meta.txt`` (N = 50,000 / 10,000 for the real archive).

    Raises:
        DatasetError: naming the archive for a corrupt or truncated archive, a missing member,
            a member that is not a regular file, or bad records.

    Example:
        >>> import io, tarfile, tempfile, pathlib
        >>> from vaekit.data._cifar import read_cifar10
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "cifar-10-binary.tar.gz"
        >>> with tarfile.open(path, "w:gz") as tar:
        ...     for name, data in [("test_batch.bin", bytes(3073)),
        ...                        ("batches.meta.txt", b"a\nb\n")]:
        ...         info = tarfile.TarInfo("cifar-10-batches-bin/" + name); info.size = len(data)
        ...         tar.addfile(info, io.BytesIO(data))
        >>> images, labels, names = read_cifar10(path, "test")
        >>> images.shape, names
        ((1, 32, 32, 3), ('a', 'b'))
    """
    if split not in SPLIT_MEMBERS:
        raise DatasetError(f"split: CIFAR-10 has splits {sorted(SPLIT_MEMBERS)}, got {split!r}")
    path = Path(archive_path)
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as archive:
            meta = _read_member(archive, META_MEMBER, path.name).decode("utf-8", "replace")
            class_names = tuple(line.strip() for line in meta.splitlines() if line.strip())
            for member_name in SPLIT_MEMBERS[split]:
                batch_images, batch_labels = parse_cifar_records(
                    _read_member(archive, member_name, path.name), member_name
                )
                images.append(batch_images)
                labels.append(batch_labels)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(
            f"{path.name}: corrupt or truncated archive ({reason}); download it again"
        ) from None
    return np.concatenate(images), np.concatenate(labels), class_names
