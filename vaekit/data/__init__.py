"""Data sets for vaekit, and the batch transforms that run inside the compiled step.

``dsprites``: procedural dSprites (Matthey et al. 2017), 64x64 binary sprites rendered from a
5-factor grid (shape, scale, orientation, pos_x, pos_y).
``digits``: the scikit-learn handwritten digits (8x8, 10 classes; ``vaekit[eval]`` extra).
"""

from vaekit.data.digits import (
    DIGITS_IMAGE_SHAPE,
    DIGITS_NUM_CLASSES,
    DIGITS_SIZE,
    DigitsSplit,
    load_digits_dataset,
)
from vaekit.data.dsprites import (
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
)
from vaekit.data.transforms import chain, dynamic_binarize, uint8_to_float

__all__ = [
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
]
