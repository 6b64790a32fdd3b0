"""A folder of PNG / JPEG images as one uint8 array, read with Pillow.

Layout (the torchvision ``ImageFolder`` convention)::

    root/<class name>/**/*.png|*.jpg|*.jpeg      labelled: class = sub-folder,
                                                  class index = rank of its name (sorted)
    root/*.png|*.jpg|*.jpeg                       unlabelled: no sub-folders at all

Files are listed in sorted path order; hidden files and folders (names starting with ".") are
skipped; symbolic links to folders are not followed. Every image is converted to RGB (or to
8-bit grey, ``grayscale=True``) and, if ``size`` is given, resized to it with Pillow's bilinear
filter (no aspect-preserving crop: crop beforehand if that matters). Without ``size`` every
image must already have the same size.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from vaekit.data._image_folder import read_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("dog", "cat"):
    ...     (root / cls).mkdir()
    ...     Image.new("RGB", (8, 6)).save(root / cls / "0.png")
    >>> images, labels, names = read_image_folder(root, size=4)
    >>> images.shape, labels.tolist(), names
    ((2, 4, 4, 3), [0, 1], ('cat', 'dog'))
"""

import os
from pathlib import Path

import numpy as np

from vaekit.data._fetch import DatasetError

__all__ = ["IMAGE_SUFFIXES", "list_image_folder", "read_image_folder", "read_images"]

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg"})


def _images_under(folder: Path) -> list[Path]:
    found = []
    for current, dirs, files in os.walk(folder):  # followlinks=False
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(current) / f for f in files
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found)


def list_image_folder(path: str | os.PathLike
                      ) -> tuple[list[Path], np.ndarray | None, tuple[str, ...] | None]:
    """The image files of a folder and their classes.

    Returns:
        ``(files, labels, class_names)``: sorted image paths; ``(N,)`` int32 class indices and
        the sorted class (sub-folder) names, or ``None, None`` for a folder without sub-folders.

    Raises:
        DatasetError: naming ``path`` if it is not a folder, holds no images, or holds images
            both directly and in sub-folders.

    Example:
        >>> import tempfile
        >>> from vaekit.data._image_folder import list_image_folder
        >>> try:
        ...     list_image_folder(tempfile.mkdtemp())
        ... except ValueError as error:
        ...     print(str(error).split(":")[0])
        path
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"path: {root} is not a folder")
    classes = sorted(
        entry.name for entry in root.iterdir()
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    )
    loose = [
        entry for entry in sorted(root.iterdir())
        if entry.is_file() and not entry.name.startswith(".")
        and entry.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not classes:
        if not loose:
            raise DatasetError(f"path: no PNG / JPEG images in {root}")
        return loose, None, None
    if loose:
        raise DatasetError(
            f"path: {root} has images both directly ({loose[0].name}) and in class sub-folders; "
            "move every image into a class sub-folder"
        )
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        found = _images_under(root / name)
        files.extend(found)
        labels.extend([index] * len(found))
    if not files:
        raise DatasetError(f"path: no PNG / JPEG images in the sub-folders of {root}")
    return files, np.asarray(labels, np.int32), tuple(classes)


def _size_hw(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if int(height) < 1 or int(width) < 1:
        raise DatasetError(f"size: must be positive, got {size!r}")
    return int(height), int(width)


def read_images(files: list[Path], size: int | tuple[int, int] | None = None,
                grayscale: bool = False) -> np.ndarray:
    """Decode image files into one array.

    Args:
        files: PNG / JPEG paths.
        size: ``(height, width)`` or one int for a square; ``None`` keeps each image's size
            (then all must match).
        grayscale: convert to 8-bit grey (``C = 1``) instead of RGB (``C = 3``).

    Returns:
        ``(N, H, W, C)`` uint8.

    Raises:
        DatasetError: naming the file that does not decode or (without ``size``) whose size
            differs from the first image's.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from vaekit.data._image_folder import read_images
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (5, 3), (255, 0, 0)).save(path)
        >>> read_images([path], grayscale=True).shape
        (1, 3, 5, 1)
    """
    from PIL import Image, UnidentifiedImageError

    hw = _size_hw(size)
    mode = "L" if grayscale else "RGB"
    out: np.ndarray | None = None
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = image.convert(mode)
                if hw is not None and image.size != (hw[1], hw[0]):
                    image = image.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
                array = np.asarray(image, np.uint8)
        except (OSError, UnidentifiedImageError) as error:
            raise DatasetError(f"path: {file} does not decode as an image ({error})") from None
        array = array[..., None] if array.ndim == 2 else array
        if out is None:
            out = np.empty((len(files), *array.shape), np.uint8)
        elif array.shape != out.shape[1:]:
            raise DatasetError(
                f"path: {file} is {array.shape[1]}x{array.shape[0]} but {files[0].name} is "
                f"{out.shape[2]}x{out.shape[1]}; pass size=(height, width) to resize"
            )
        out[i] = array
    if out is None:
        raise DatasetError("path: no images to read")
    return out


def read_image_folder(path: str | os.PathLike, size: int | tuple[int, int] | None = None,
                      grayscale: bool = False
                      ) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    """Read a folder of images (see the module docstring for the layout).

    Returns:
        ``(images, labels, class_names)``: ``(N, H, W, C)`` uint8 (C = 1 if ``grayscale`` else
        3), ``(N,)`` int32 or ``None``, the sorted class names or ``None``.

    Raises:
        DatasetError: naming ``path`` / ``size`` for a bad folder, file or size.

    Example:
        >>> from vaekit.data._image_folder import IMAGE_SUFFIXES
        >>> sorted(IMAGE_SUFFIXES)
        ['.jpeg', '.jpg', '.png']
    """
    files, labels, class_names = list_image_folder(path)
    return read_images(files, size=size, grayscale=grayscale), labels, class_names
