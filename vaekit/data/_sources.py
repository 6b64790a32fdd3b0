"""Real data sets by name: a registry of files, hashes and parsers, and :func:`load_dataset`.

============================  ===================  =====================================  ======
name                          splits               images                                 extras
============================  ===================  =====================================  ======
``mnist``                     train, test          ``(N, 28, 28, 1)`` uint8 0..255        labels
``binarized-mnist``           train, test          ``(N, 28, 28, 1)`` uint8 {0, 255}      labels
``fashion-mnist``             train, test          ``(N, 28, 28, 1)`` uint8 0..255        labels
``cifar10``                   train, test          ``(N, 32, 32, 3)`` uint8               labels
``celeba64``                  train, valid, test,  ``(N, 64, 64, 3)`` uint8 (memory map)  --
                              all
``dsprites-file``             train = all          ``(737280, 64, 64, 1)`` uint8 {0, 255}  factors
``shapes3d``                  train = all          ``(480000, 64, 64, 3)`` uint8           factors
``image-folder``              train = all          ``(N, H, W, 1 or 3)`` uint8            labels
============================  ===================  =====================================  ======

Images always stay uint8 on the host (scale to [0, 1] in the compiled step). ``dsprites-file``
and ``shapes3d`` have no official split: ``"train"`` and ``"all"`` both return the whole set
(make a held-out split with a seeded permutation). ``image-folder`` reads ``path`` (no
download). ``binarized-mnist`` is MNIST with one fixed Bernoulli draw per pixel
(:func:`vaekit.data._idx.binarize`, seeds ``(seed, 0)`` for train and ``(seed, 1)`` for test).
``dsprites-file`` is DeepMind's file; ``vaekit.data.dsprites`` renders the same grid
procedurally.

Downloads, the cache directory (``data_dir`` / ``VAEKIT_DATA_DIR`` /
``pooch.os_cache("vaekit")``), offline mode (``offline`` / ``VAEKIT_OFFLINE=1``) and mirrors
(``registry`` / ``VAEKIT_DATA_REGISTRY``) are described in :mod:`vaekit.data._fetch`;
:data:`REMOTE_FILES` lists every file with its URL and published hash. CelebA's files are on
Google Drive, which plain HTTP cannot fetch: download ``img_align_celeba.zip`` and
``list_eval_partition.txt`` from the project page into ``<cache dir>/celeba/`` (the error
message gives the exact path), or give their URLs in a registry override.

Example (no network: an image folder):
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from vaekit.data import load_dataset
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("L", (28, 28)).save(root / "a.png")
    >>> data = load_dataset("image-folder", path=root, grayscale=True)
    >>> data.images.shape, data.labels is None
    ((1, 28, 28, 1), True)
"""

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vaekit.data import _celeba as celeba
from vaekit.data import _cifar as cifar
from vaekit.data import _dsprites_file as dsprites_file
from vaekit.data import _idx as idx
from vaekit.data import _image_folder as image_folder
from vaekit.data import _shapes3d as shapes3d
from vaekit.data._fetch import (
    DatasetError,
    RemoteFile,
    cache_dir,
    fetch_all,
    read_registry_override,
    resolve,
)

__all__ = [
    "DATASET_NAMES",
    "REMOTE_FILES",
    "DatasetError",
    "ImageDataset",
    "RemoteFile",
    "cache_dir",
    "dataset_files",
    "load_dataset",
]


class ImageDataset(NamedTuple):
    """One split of an image data set, as every loader returns it.

    Attributes:
        name: the data set's registry name, e.g. ``"mnist"``.
        split: the split that was loaded.
        images: ``(N, H, W, C)`` uint8, C = 1 or 3 (possibly a read-only memory map).
        labels: ``(N,)`` int32 class indices, or ``None``.
        class_names: one name per class index, or ``None``.
        factors: ``(N, F)`` int64 ground-truth factor indices (dSprites, 3D Shapes), or ``None``.
        factor_names: the ``F`` factor names, or ``None``.
        factor_sizes: the number of values of each factor, or ``None``.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] | None = None
    factor_sizes: tuple[int, ...] | None = None

    def __repr__(self) -> str:
        def show(value: Any) -> str:
            if isinstance(value, np.ndarray):
                return f"<{value.shape} {value.dtype}>"
            if isinstance(value, tuple) and len(value) > 12:
                return f"<{len(value)} names>"
            return repr(value)

        fields = ", ".join(f"{key}={show(getattr(self, key))}" for key in self._fields)
        return f"ImageDataset({fields})"


def _files(entries: list[tuple[str, str | None, str | None, str]]) -> dict[str, RemoteFile]:
    return {key: RemoteFile(key, url, digest, home) for key, url, digest, home in entries}


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST_HOME = "http://yann.lecun.com/exdb/mnist/"
_FASHION_HOME = "https://github.com/zalandoresearch/fashion-mnist"
_CELEBA_HOME = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive, 'Align&Cropped')"
_DSPRITES_NPZ = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

REMOTE_FILES: dict[str, RemoteFile] = _files([
    # MNIST: md5s from torchvision, torchvision/datasets/mnist.py (MNIST.resources), which
    # downloads them from this same mirror (MNIST.mirrors).
    ("mnist/train-images-idx3-ubyte.gz", _MNIST_URL + "train-images-idx3-ubyte.gz",
     "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", _MNIST_HOME),
    ("mnist/train-labels-idx1-ubyte.gz", _MNIST_URL + "train-labels-idx1-ubyte.gz",
     "md5:d53e105ee54ea40749a09fcbcd1e9432", _MNIST_HOME),
    ("mnist/t10k-images-idx3-ubyte.gz", _MNIST_URL + "t10k-images-idx3-ubyte.gz",
     "md5:9fb629c4189551a2d022fa330f9573f3", _MNIST_HOME),
    ("mnist/t10k-labels-idx1-ubyte.gz", _MNIST_URL + "t10k-labels-idx1-ubyte.gz",
     "md5:ec29112dd5afa0611ce80d1b7f02629c", _MNIST_HOME),
    # Fashion-MNIST: sha256s from tensorflow/datasets,
    # tensorflow_datasets/url_checksums/fashion_mnist.txt (same URLs; torchvision's md5s for
    # these files are 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...).
    ("fashion-mnist/train-images-idx3-ubyte.gz", _FASHION_URL + "train-images-idx3-ubyte.gz",
     "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", _FASHION_HOME),
    ("fashion-mnist/train-labels-idx1-ubyte.gz", _FASHION_URL + "train-labels-idx1-ubyte.gz",
     "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", _FASHION_HOME),
    ("fashion-mnist/t10k-images-idx3-ubyte.gz", _FASHION_URL + "t10k-images-idx3-ubyte.gz",
     "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", _FASHION_HOME),
    ("fashion-mnist/t10k-labels-idx1-ubyte.gz", _FASHION_URL + "t10k-labels-idx1-ubyte.gz",
     "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", _FASHION_HOME),
    # CIFAR-10 binary version: sha256 from tensorflow/datasets,
    # tensorflow_datasets/url_checksums/cifar10.txt (same URL, 170052171 bytes).
    ("cifar10/cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
     "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
     "https://www.cs.toronto.edu/~kriz/cifar.html"),
    # CelebA (Google Drive, no plain-HTTP URL): sha256s from tensorflow/datasets,
    # tensorflow_datasets/url_checksums/celeb_a.txt, matched to file names through the Drive
    # ids in torchvision/datasets/celeba.py (CelebA.file_list): 0B7EVK8r0v71pZjFTYXZWM3FlRnM
    # = img_align_celeba.zip (1443490838 bytes; torchvision md5 00d2c5bc6d35e252742224ab0c1e8fcb),
    # 0B7EVK8r0v71pY0NSMzRuSXJEVkk = list_eval_partition.txt (2836386 bytes = 202599 CRLF
    # lines; torchvision md5 d32c9cbf5e040fd4025c592c306e6668).
    ("celeba/img_align_celeba.zip", None,
     "sha256:46fb89443c578308acf364d7d379fe1b9efb793042c0af734b6112e4fd3a8c74", _CELEBA_HOME),
    ("celeba/list_eval_partition.txt", None,
     "sha256:fc955bcb3ef8fbdf7d5640d9a8693a8431b5f2ee291a5c1449a1549e7e073fe7", _CELEBA_HOME),
    # dSprites npz: md5 as published in several independent loaders, e.g. ganmodokix/vaetc
    # vaetc/data/dsprites.py and loaders that fetch this exact raw.githubusercontent URL.
    # (tensorflow/datasets url_checksums/dsprites.txt only covers the .hdf5 variant.)
    (f"dsprites/{_DSPRITES_NPZ}",
     f"https://raw.githubusercontent.com/google-deepmind/dsprites-dataset/master/{_DSPRITES_NPZ}",
     "md5:7da33b31b13a06f4b04a70402ce90c2e",
     "https://github.com/google-deepmind/dsprites-dataset"),
    # 3D Shapes: sha256 from tensorflow/datasets, tensorflow_datasets/url_checksums/shapes3d.txt
    # (same URL, 267573662 bytes).
    ("shapes3d/3dshapes.h5", "https://storage.googleapis.com/3d-shapes/3dshapes.h5",
     "sha256:0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
     "https://github.com/google-deepmind/3d-shapes"),
])
"""Every downloadable file: key (path in the cache directory) -> :class:`RemoteFile`."""


class _Spec(NamedTuple):
    splits: tuple[str, ...]
    files: Callable[[str], dict[str, str]]  # split -> {role: key}
    options: frozenset[str]


def _mnist_files(prefix: str) -> Callable[[str], dict[str, str]]:
    def files(split: str) -> dict[str, str]:
        stem = "train" if split == "train" else "t10k"
        return {
            "images": f"{prefix}/{stem}-images-idx3-ubyte.gz",
            "labels": f"{prefix}/{stem}-labels-idx1-ubyte.gz",
        }

    return files


_WHOLE = ("train", "all")
_SPECS: dict[str, _Spec] = {
    "mnist": _Spec(("train", "test"), _mnist_files("mnist"), frozenset()),
    "binarized-mnist": _Spec(("train", "test"), _mnist_files("mnist"), frozenset({"seed"})),
    "fashion-mnist": _Spec(("train", "test"), _mnist_files("fashion-mnist"), frozenset()),
    "cifar10": _Spec(("train", "test"), lambda s: {"archive": "cifar10/cifar-10-binary.tar.gz"},
                     frozenset()),
    "celeba64": _Spec(
        ("train", "valid", "test", "all"),
        lambda s: {"zip": "celeba/img_align_celeba.zip",
                   "partition": "celeba/list_eval_partition.txt"},
        frozenset(),
    ),
    "dsprites-file": _Spec(_WHOLE, lambda s: {"npz": f"dsprites/{_DSPRITES_NPZ}"}, frozenset()),
    "shapes3d": _Spec(_WHOLE, lambda s: {"h5": "shapes3d/3dshapes.h5"}, frozenset()),
    "image-folder": _Spec(_WHOLE, lambda s: {}, frozenset({"path", "size", "grayscale"})),
}

DATASET_NAMES: tuple[str, ...] = tuple(_SPECS)
"""The names :func:`load_dataset` accepts."""


def dataset_files(name: str, split: str = "train") -> list[RemoteFile]:
    """The registry entries (before overrides) that ``load_dataset(name, split)`` reads.

    Example:
        >>> from vaekit.data._sources import dataset_files
        >>> [f.key for f in dataset_files("mnist", "test")]
        ['mnist/t10k-images-idx3-ubyte.gz', 'mnist/t10k-labels-idx1-ubyte.gz']
    """
    spec = _spec(name)
    _check_split(name, spec, split)
    return [REMOTE_FILES[key] for key in spec.files(split).values()]


def _spec(name: object) -> _Spec:
    if not isinstance(name, str) or name not in _SPECS:
        close = difflib.get_close_matches(str(name).lower(), DATASET_NAMES, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DatasetError(
            f"name: unknown data set {name!r}; {hint}known: {', '.join(DATASET_NAMES)}"
        )
    return _SPECS[name]


def _check_split(name: str, spec: _Spec, split: object) -> None:
    if split not in spec.splits:
        raise DatasetError(
            f"split: {name!r} has splits {', '.join(map(repr, spec.splits))}; got {split!r}"
        )


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    registry: Mapping[str, Any] | str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
    size: int | tuple[int, int] | None = None,
    grayscale: bool | None = None,
    seed: int | None = None,
) -> ImageDataset:
    """Load one split of a named data set, downloading (hash-checked) and caching its files.

    Args:
        name: one of :data:`DATASET_NAMES` (see the module docstring's table).
        split: ``"train"`` / ``"test"`` (MNIST family, CIFAR-10), ``"train"`` / ``"valid"`` /
            ``"test"`` / ``"all"`` (CelebA), ``"train"`` or ``"all"`` = everything (dSprites,
            3D Shapes, image folder).
        data_dir: cache directory (default ``$VAEKIT_DATA_DIR``, else
            ``pooch.os_cache("vaekit")``).
        offline: never use the network (default ``$VAEKIT_OFFLINE``); files must be cached.
        registry: mirror override ``{file key: {"url": ..., "hash": ...}}`` or a JSON file
            path (merged over ``$VAEKIT_DATA_REGISTRY``); keys as in :data:`REMOTE_FILES`.
        path: ``image-folder`` only: the folder to read.
        size: ``image-folder`` only: resize every image to ``(height, width)`` (or a square).
        grayscale: ``image-folder`` only: 1 grey channel instead of RGB (default False).
        seed: ``binarized-mnist`` only: the binarisation seed (default 0).

    Returns:
        An :class:`ImageDataset`; images ``(N, H, W, C)`` uint8.

    Raises:
        DatasetError: (a ``ValueError``) naming the argument (``name`` with a "did you mean",
            ``split``, ``path``, an option the data set does not take) or the file (missing,
            corrupt, truncated, failed download) and what to do.

    Examples:
        >>> from vaekit.data import load_dataset
        >>> mnist = load_dataset("mnist", "test")  # doctest: +SKIP
        >>> mnist.images.shape, mnist.labels.dtype  # doctest: +SKIP
        ((10000, 28, 28, 1), dtype('int32'))
        >>> try:
        ...     load_dataset("mnsit")
        ... except ValueError as error:
        ...     print(str(error).split(";")[1].strip().split("?")[0])
        did you mean 'mnist'
    """
    spec = _spec(name)
    _check_split(name, spec, split)
    given = {"path": path, "size": size, "grayscale": grayscale, "seed": seed}
    for option, value in given.items():
        if value is not None and option not in spec.options:
            takers = sorted(n for n, s in _SPECS.items() if option in s.options)
            raise DatasetError(
                f"{option}: {name!r} takes no {option!r} (only {', '.join(takers)} does)"
            )
    if name == "image-folder":
        if path is None:
            raise DatasetError("path: 'image-folder' needs path=<folder of images>")
        images, labels, class_names = image_folder.read_image_folder(
            path, size=size, grayscale=bool(grayscale)
        )
        return ImageDataset(name, split, images, labels, class_names)

    overrides = read_registry_override(registry, REMOTE_FILES)
    remotes = {
        role: resolve(REMOTE_FILES[key], overrides) for role, key in spec.files(split).items()
    }

    def get(*roles: str) -> list[Path]:
        return fetch_all([remotes[role] for role in roles], data_dir=data_dir, offline=offline)

    if name in ("mnist", "binarized-mnist", "fashion-mnist"):
        images, labels = idx.read_mnist(*get("images", "labels"))
        if name == "binarized-mnist":
            images = idx.binarize(images, seed=(0 if seed is None else int(seed), _SPLIT_ID[split]))
        names = idx.FASHION_MNIST_CLASSES if name == "fashion-mnist" else idx.MNIST_CLASSES
        return ImageDataset(name, split, images, labels, names)
    if name == "cifar10":
        images, labels, class_names = cifar.read_cifar10(*get("archive"), split)
        return ImageDataset(name, split, images, labels, class_names or cifar.CIFAR10_CLASSES)
    if name == "celeba64":
        zip_remote = remotes["zip"]
        digest = (zip_remote.hash or "none").rpartition(":")[2][:16]
        cache = cache_dir(data_dir) / "celeba" / f"img_align_celeba_64x64_t40_l15_{digest}.npy"
        if cache.exists():  # the decoded crops are all that is needed besides the split
            (partition,) = get("partition")
            zip_path = None
        else:
            partition, zip_path = get("partition", "zip")
        images = celeba.load_celeba64(zip_path, partition, cache, split)
        return ImageDataset(name, split, images)
    if name == "dsprites-file":
        images, factors = dsprites_file.read_dsprites_npz(*get("npz"))
        return ImageDataset(
            name, split, images, factors=factors,
            factor_names=dsprites_file.FACTOR_NAMES, factor_sizes=dsprites_file.FACTOR_SIZES,
        )
    if name == "shapes3d":
        images, factors = shapes3d.read_shapes3d(*get("h5"))
        return ImageDataset(
            name, split, images, factors=factors,
            factor_names=shapes3d.FACTOR_NAMES, factor_sizes=shapes3d.FACTOR_SIZES,
        )
    raise AssertionError(f"unhandled data set {name!r}")  # pragma: no cover


_SPLIT_ID = {"train": 0, "test": 1}
