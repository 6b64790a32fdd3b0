"""Datasets a run trains on, kept compact.

Grid indices or uint8 images, turned into float images inside the compiled step by the run's
``preprocess``.

* ``dsprites`` (default): procedural dSprites rendered on the device from flat grid indices
  (:func:`vaekit.data.render_dsprites_batch`): the host holds only int32 indices, never an
  image array, so training can cover the whole 737,280-image grid.
* ``digits``: scikit-learn's 8×8 digits (float, 1,797 images).
* ``npz``: a user's ``.npz`` of ``images`` (uint8 kept as uint8) and optional ``labels``.
* ``arrays``: a :func:`vaekit.data.write_arrays` directory of memory-mapped arrays, streamed
  from disk with grain (out of core; the stream's state is checkpointed).
* every source of :func:`vaekit.data.load_dataset` (MNIST, CIFAR-10, CelebA-64, ...): uint8
  images from the local cache (downloaded on first use, hash-checked).
"""

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vaekit.data import (
    NUM_COMBINATIONS,
    chain,
    dynamic_binarize,
    index_to_factors,
    render,
    render_dsprites_batch,
    split_indices,
    uint8_to_float,
)
from vaekit.runner._config import ConfigError, DataConfig


class RunData(NamedTuple):
    """A run's training and validation data in their stored form, and how to use them.

    Attributes:
      train: host arrays of the training set, e.g. ``{"x": (N, H, W, C) uint8, "y": (N,)}``
        or ``{"index": (N,) int32}``; ``preprocess`` turns a batch of them into ``{"x"[, "y"]}``
        inside the compiled step.
      val: the validation set in the same form.
      preprocess: ``(batch, key) -> batch`` for ``make_train_step(preprocess=)``.
      image_shape: ``(H, W, C)`` of the images the model sees.
      num_classes: number of label classes (0 without labels).
      val_images: ``(num_val, H, W, C)`` float32 in ``[0, 1]``, on the host, for plots and
        the end-of-run evaluation.
      val_labels: ``(num_val,)`` int32 or ``None``.
      stream: ``train`` holds memory maps too large to gather in memory; the run reads it
        through a grain stream (:func:`vaekit.data.stream.stream_batches`) whose state is
        checkpointed with the train state.
    """

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    preprocess: Callable
    image_shape: tuple[int, int, int]
    num_classes: int
    val_images: np.ndarray
    val_labels: np.ndarray | None = None
    stream: bool = False

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return len(next(iter(self.train.values())))

    def arrays(self, split: str, labels: bool) -> dict[str, np.ndarray]:
        """The arrays of ``split`` (``"train"``/``"val"``); ``"y"`` only when ``labels``."""
        out = dict(getattr(self, split))
        if not labels:
            out.pop("y", None)
        return out


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads images and optional labels.

    Reads ``images`` (N, H, W[, C]), uint8 (kept as uint8, ``0..255``) or float in [0, 1] (as
    float32), and optional integer ``labels`` (N,).

    Loaded with ``allow_pickle=False``: object arrays are refused.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f.files:
                raise ConfigError(f"{path} has no `images` array (found {sorted(f.files)})")
            images = f["images"]
            labels = f["labels"] if "labels" in f.files else None
    except (OSError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        if isinstance(err, OSError) and not Path(path).is_file():
            raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
        if zipfile.is_zipfile(path):
            raise ConfigError(f"cannot read {path} as a .npz of arrays: it holds object "
                              "(pickled) arrays, which vaekit never loads") from None
        # numpy reports a file that is not a zip archive as "pickled data" (allow_pickle=False)
        raise ConfigError(f"{path} is not a readable .npz archive of arrays (write one with "
                          "numpy.savez(path, images=..., labels=...))") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ConfigError(f"`images` in {path} must have shape (N, H, W[, 1|3]), got "
                          f"{images.shape}")
    if np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
        if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
            raise ConfigError(f"float `images` in {path} must be finite and in [0, 1]")
    elif images.dtype != np.uint8:
        raise ConfigError(f"`images` in {path} must be uint8 or float, got {images.dtype}")
    if labels is not None:
        if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(f"`labels` in {path} must be integers of shape ({len(images)},), "
                              f"got {labels.dtype} {labels.shape}")
        if labels.min() < 0:
            raise ConfigError(f"`labels` in {path} must be >= 0")
    return images, labels


def _split_sizes(config: DataConfig, available: int, source: str) -> tuple[int, int]:
    """``(num_train, num_val)``; ``data.num_train = 0`` takes every image not in validation."""
    num_train = config.num_train or available - config.num_val
    if num_train < 1 or num_train + config.num_val > available:
        raise ConfigError(f"{source} has {available} images; data.num_train + data.num_val = "
                          f"{config.num_train} + {config.num_val} (0 means all the rest)")
    return num_train, config.num_val


def _as_float(images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return np.asarray(images, np.float32)


def _image_preprocess(config: DataConfig) -> Callable:
    return dynamic_binarize if config.binarize == "dynamic" else uint8_to_float


def procedural_dsprites(config: DataConfig, seed: int) -> RunData:
    """Disjoint train/validation sets of dSprites grid indices.

    Disjoint train/validation sets of grid indices (the split ``make_dsprites`` draws for the same
    sizes and seed); images are rendered in the step.
    """
    num_train, num_val = _split_sizes(config, NUM_COMBINATIONS, "procedural dSprites")
    train_index, val_index = split_indices(num_train, num_val, seed)  # make_dsprites' split
    val_factors = index_to_factors(val_index)
    preprocess = render_dsprites_batch
    if config.binarize == "dynamic":  # already binary; kept for a uniform config
        preprocess = chain(render_dsprites_batch, dynamic_binarize)
    return RunData(
        train={"index": train_index}, val={"index": val_index}, preprocess=preprocess,
        image_shape=(64, 64, 1), num_classes=3, val_images=render(val_factors),
        val_labels=val_factors[:, 0].astype(np.int32),
    )


def _images_and_labels(config: DataConfig) -> tuple[np.ndarray, np.ndarray | None, str]:
    if config.name == "digits":
        from vaekit.data import load_digits_dataset

        digits = load_digits_dataset(num_val=0)
        return digits.train_images, digits.train_labels, "the digits data set"
    if config.name == "npz":
        images, labels = load_npz(config.path)
        return images, labels, config.path
    from vaekit.data._sources import DatasetError, load_dataset

    try:
        ds = load_dataset(config.name, split="train", data_dir=config.dir or None,
                          offline=config.offline, path=config.path or None)
    except ImportError as err:  # pooch / h5py / Pillow are the optional `data` extra
        raise ConfigError(f"data.name = {config.name!r} needs the data extra: pip install "
                          f"\"vaekit[data]\" ({err})") from None
    except DatasetError as err:
        raise ConfigError(str(err)) from None
    return ds.images, ds.labels, f"data set {config.name!r}"


def stored_arrays(config: DataConfig) -> RunData:
    """A :func:`vaekit.data.write_arrays` directory (``data.path``), streamed from disk.

    ``x`` (``(N, H, W[, C])`` uint8 or float) and optional ``y`` (``(N,)`` int) are memory
    maps: training streams rows ``[0, num_train)`` through grain; the last ``num_val`` rows
    are the validation set (read into memory).
    """
    from vaekit.data._array_store import ArrayStoreError, open_arrays

    try:
        arrays = open_arrays(config.path)
    except (ArrayStoreError, OSError, ValueError) as err:
        raise ConfigError(f"data.path: {err}") from None
    if "x" not in arrays:
        raise ConfigError(f"data.path {config.path} has no `x` array (found {sorted(arrays)})")
    if set(arrays) - {"x", "y"}:
        raise ConfigError(f"data.path {config.path} may hold only `x` and `y`, found "
                          f"{sorted(arrays)}")
    x = arrays["x"]
    if x.ndim == 3:
        raise ConfigError(f"`x` in {config.path} must be (N, H, W, C); got {x.shape}")
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or not (
            x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise ConfigError(f"`x` in {config.path} must be (N, H, W, 1|3) uint8 or float, got "
                          f"{x.dtype} {x.shape}")
    n = len(x)
    num_train, num_val = _split_sizes(config, n, config.path)
    train = {k: v[:num_train] for k, v in arrays.items()}
    val = {k: np.asarray(v[n - num_val :]) for k, v in arrays.items()}
    labels = None
    if "y" in val:
        val["y"] = val["y"].astype(np.int32)
        labels = val["y"]
    num_classes = int(max(int(np.max(arrays["y"])), 0)) + 1 if "y" in arrays else 0
    return RunData(train=train, val=val, preprocess=_image_preprocess(config),
                   image_shape=tuple(x.shape[1:]), num_classes=num_classes,
                   val_images=_as_float(val["x"]), val_labels=labels, stream=True)


def load_data(config: DataConfig, seed: int) -> RunData:
    """The run's dataset, deterministic given the config and seed.

    Validation images are drawn from the training split (a seeded permutation); a source's
    own test split stays untouched for final evaluation.
    """
    if config.name == "dsprites":
        return procedural_dsprites(config, seed)
    if config.name == "arrays":
        return stored_arrays(config)
    images, labels, source = _images_and_labels(config)
    num_train, num_val = _split_sizes(config, len(images), source)
    order = np.random.default_rng(seed).permutation(len(images))
    val, train = np.sort(order[:num_val]), np.sort(order[num_val : num_val + num_train])
    train_arrays = {"x": images[train]}
    val_arrays = {"x": images[val]}
    num_classes = 0
    if labels is not None:
        labels = np.asarray(labels, np.int32)
        train_arrays["y"], val_arrays["y"] = labels[train], labels[val]
        num_classes = int(labels.max()) + 1
    return RunData(
        train=train_arrays, val=val_arrays, preprocess=_image_preprocess(config),
        image_shape=tuple(images.shape[1:]), num_classes=num_classes,
        val_images=_as_float(val_arrays["x"]),
        val_labels=val_arrays.get("y"),
    )
