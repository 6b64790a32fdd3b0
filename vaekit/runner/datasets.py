"""Datasets a run can train on: procedural dSprites, or a user's ``.npz`` of images."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from vaekit.data import make_dsprites
from vaekit.runner.config import ConfigError, DataConfig


class RunData(NamedTuple):
    """Train/validation images in [0, 1], ``(N, H, W, C)`` float32, and optional labels."""

    train_images: np.ndarray
    val_images: np.ndarray
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self) -> int:
        if self.train_labels is None:
            return 0
        return int(max(self.train_labels.max(), self.val_labels.max())) + 1

    def arrays(self, split: str, labels: bool) -> dict[str, np.ndarray]:
        """``{"x": images}`` (and ``"y": labels`` when ``labels``) of ``split``."""
        out = {"x": getattr(self, f"{split}_images")}
        if labels:
            out["y"] = getattr(self, f"{split}_labels")
        return out


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads ``images`` (N, H, W[, C]), uint8 or float in [0, 1], and optional ``labels`` (N,).

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
        raise ConfigError(f"cannot read {path} as a .npz of arrays: {err}") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ConfigError(f"`images` in {path} must have shape (N, H, W[, 1|3]), got "
                          f"{images.shape}")
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
        if not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0:
            raise ConfigError(f"float `images` in {path} must be finite and in [0, 1]")
    else:
        raise ConfigError(f"`images` in {path} must be uint8 or float, got {images.dtype}")
    if labels is not None:
        if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(f"`labels` in {path} must be integers of shape ({len(images)},), "
                              f"got {labels.dtype} {labels.shape}")
        if labels.min() < 0:
            raise ConfigError(f"`labels` in {path} must be >= 0")
    return images, labels


def load_data(config: DataConfig, seed: int) -> RunData:
    """The run's dataset, deterministic given the config and seed."""
    if config.name == "dsprites":
        split = make_dsprites(config.num_train, config.num_val, seed=seed)
        return RunData(split.train_images, split.val_images,
                       split.train_factors[:, 0].astype(np.int32),
                       split.val_factors[:, 0].astype(np.int32))
    if config.name == "digits":
        from vaekit.data import load_digits_dataset

        digits = load_digits_dataset(num_val=0, seed=seed)
        images, labels = digits.train_images, digits.train_labels
        source = "the digits data set"
    else:
        images, labels = load_npz(config.path)
        source = config.path
    need = config.num_train + config.num_val
    if len(images) < need:
        raise ConfigError(f"{source} has {len(images)} images; data.num_train + "
                          f"data.num_val = {need}")
    order = np.random.default_rng(seed).permutation(len(images))[:need]
    train, val = order[: config.num_train], order[config.num_train :]
    return RunData(images[train], images[val],
                   None if labels is None else labels[train].astype(np.int32),
                   None if labels is None else labels[val].astype(np.int32))
