"""Histogram discretisation of continuous codes (for discrete mutual-information estimates)."""

import numpy as np
import numpy.typing as npt

from vaekit._checks import check_int
from vaekit.evaluation._arrays import as_matrix


def histogram_discretize(target: npt.ArrayLike, num_bins: int = 20) -> np.ndarray:
    """Bins every row of ``target`` into ``num_bins`` equal-width bins over its own range.

    Row ``i`` becomes ``np.digitize(target[i], np.histogram(target[i], num_bins)[1][:-1])``:
    the bin edges span ``[min, max]`` of the row, and the labels are ``1 .. num_bins`` (the
    maximum falls in the last bin). This is disentanglement_lib's ``_histogram_discretize``
    (Locatello et al. 2019, ``evaluation/metrics/utils.py``; 20 bins in its study configs), used
    by MIG (Chen et al. 2018).

    Args:
      target: ``(num_codes, num_points)`` continuous values, one code per *row* (the layout of
        disentanglement_lib).
      num_bins: number of bins, ``>= 2``.

    Returns:
      ``(num_codes, num_points)`` int64 bin labels in ``[1, num_bins]``.

    Example:
      >>> histogram_discretize([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], num_bins=3).tolist()
      [[1, 1, 2, 2, 3, 3]]
    """
    num_bins = check_int(num_bins, "num_bins", minimum=2)
    target = as_matrix(target, "target")
    discretized = np.zeros(target.shape, dtype=np.int64)
    for i, row in enumerate(target):
        discretized[i] = np.digitize(row, np.histogram(row, num_bins)[1][:-1])
    return discretized
