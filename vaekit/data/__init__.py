"""Data sets for vaekit, and the batch transforms that run inside the compiled step.

``dsprites``: procedural dSprites (Matthey et al. 2017), 64x64 binary sprites rendered from a
5-factor grid (shape, scale, orientation, pos_x, pos_y), on the host (numpy) or on the device
inside the compiled step (``render_dsprites_batch``), bit for bit the same images.
``digits``: the scikit-learn handwritten digits (8x8, 10 classes; ``vaekit[eval]`` extra).
``load_dataset``: MNIST, binarised MNIST, Fashion-MNIST, CIFAR-10, CelebA-64, DeepMind's
dSprites file, Shapes3D and image folders, downloaded with pooch into a hash-checked cache
(``vaekit[data]`` extra; see docs/data.md). Images stay uint8; the transforms
(``uint8_to_float``, ``dynamic_binarize``, ``chain``) run inside the compiled train step.
"""

from vaekit.data._array_store import ArrayStoreError, open_arrays, write_arrays
from vaekit.data._digits import (
    DIGITS_IMAGE_SHAPE,
    DIGITS_NUM_CLASSES,
    DIGITS_SIZE,
    DigitsSplit,
    load_digits_dataset,
)
from vaekit.data._dsprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    IMAGE_SHAPE,
    NUM_COMBINATIONS,
    SHAPE_NAMES,
    DSpritesSplit,
    factor_values,
    factors_to_index,
    index_to_factors,
    make_dsprites,
    render,
    sample_factors,
    split_indices,
)
from vaekit.data._dsprites_device import (
    index_to_factors_device,
    render_device,
    render_dsprites_batch,
    render_indices_device,
)
from vaekit.data._sources import (
    DATASET_NAMES,
    DatasetError,
    ImageDataset,
    cache_dir,
    load_dataset,
)
from vaekit.data._transforms import chain, dynamic_binarize, uint8_to_float

__all__ = [
    "index_to_factors_device",
    "render_device",
    "render_dsprites_batch",
    "render_indices_device",
    "ArrayStoreError",
    "open_arrays",
    "write_arrays",
    "DATASET_NAMES",
    "DatasetError",
    "ImageDataset",
    "cache_dir",
    "load_dataset",
    "chain",
    "dynamic_binarize",
    "uint8_to_float",
    "DIGITS_IMAGE_SHAPE",
    "DIGITS_NUM_CLASSES",
    "DIGITS_SIZE",
    "DigitsSplit",
    "load_digits_dataset",
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "IMAGE_SHAPE",
    "NUM_COMBINATIONS",
    "SHAPE_NAMES",
    "DSpritesSplit",
    "factor_values",
    "factors_to_index",
    "index_to_factors",
    "make_dsprites",
    "render",
    "sample_factors",
    "split_indices",
]
