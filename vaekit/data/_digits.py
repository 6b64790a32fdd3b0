"""The scikit-learn handwritten digits: 1797 images of 8x8 pixels, 10 classes.

The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin & Kaynak 1998) as shipped
inside scikit-learn (``sklearn.datasets.load_digits``): nothing is downloaded. Pixel values 0..16
are scaled to [0, 1], which suits a Bernoulli (cross-entropy) decoder. Needs the optional ``eval``
extra: ``pip install vaekit[eval]``.

Example:
    >>> from vaekit.data import load_digits_dataset
    >>> split = load_digits_dataset(num_val=297, seed=0)  # doctest: +SKIP
    >>> split.train_images.shape, split.train_labels.shape  # doctest: +SKIP
    ((1500, 8, 8, 1), (1500,))
"""

import importlib
import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["DIGITS_IMAGE_SHAPE", "DIGITS_NUM_CLASSES", "DIGITS_SIZE", "DigitsSplit",
           "load_digits_dataset"]

DIGITS_IMAGE_SHAPE: tuple[int, int, int] = (8, 8, 1)
DIGITS_NUM_CLASSES: int = 10
DIGITS_SIZE: int = 1797
"""Number of images in the data set."""


class DigitsSplit(NamedTuple):
    """Train / validation split of the digits.

    Attributes:
        train_images: ``(num_train, 8, 8, 1)`` float32 in [0, 1].
        train_labels: ``(num_train,)`` int32 in ``0..9``.
        val_images: ``(num_val, 8, 8, 1)`` float32 in [0, 1].
        val_labels: ``(num_val,)`` int32 in ``0..9``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        datasets = importlib.import_module("sklearn.datasets")
    except ImportError as err:
        raise ImportError(
            "vaekit.data.load_digits_dataset needs scikit-learn (it ships the digits data set): "
            "pip install vaekit[eval]"
        ) from err
    bunch = datasets.load_digits()
    return np.asarray(bunch.images), np.asarray(bunch.target)


def load_digits_dataset(num_val: int = 297, seed: int = 0) -> DigitsSplit:
    """Loads the digits and splits them by a seeded permutation.

    The images are permuted with ``np.random.default_rng(seed).permutation(1797)``; the last
    ``num_val`` form the validation set and the rest the training set (disjoint).

    Args:
        num_val: validation images, ``0 <= num_val < 1797`` (default 297: 1500 for training).
        seed: permutation seed; the same seed gives the same split.

    Returns:
        A :class:`DigitsSplit`: images ``(n, 8, 8, 1)`` float32 scaled to [0, 1], labels int32.

    Raises:
        ValueError: naming ``num_val`` or ``seed``.
        ImportError: if scikit-learn is missing (``pip install vaekit[eval]``).

    Example:
        >>> split = load_digits_dataset(num_val=100, seed=1)  # doctest: +SKIP
        >>> split.val_images.shape  # doctest: +SKIP
        (100, 8, 8, 1)
    """
    if isinstance(num_val, bool) or not isinstance(num_val, numbers.Integral):
        raise ValueError(f"`num_val` must be an integer, got {num_val!r}.")
    if not 0 <= num_val < DIGITS_SIZE:
        raise ValueError(f"`num_val` must be in [0, {DIGITS_SIZE}), got {num_val}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0, got {seed!r}.")
    raw_images, raw_labels = _load_raw()
    images = (raw_images / 16.0).astype(np.float32)[..., None]
    labels = raw_labels.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(labels))
    num_train = len(labels) - int(num_val)
    train, val = order[:num_train], order[num_train:]
    return DigitsSplit(images[train], labels[train], images[val], labels[val])
