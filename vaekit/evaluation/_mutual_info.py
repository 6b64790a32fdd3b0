"""Discrete mutual information and entropy (plug-in estimates, in nats)."""

import numpy as np
import numpy.typing as npt

from vaekit.evaluation._arrays import as_matrix, check_same_length


def mutual_info_score(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Plug-in mutual information (nats) of two equally long label sequences.

    ``Σ_ij p_ij log(p_ij / (p_i p_j))`` over the joint histogram: the same value as
    ``sklearn.metrics.mutual_info_score(a, b)`` (tested against it), in plain numpy so that
    MIG and the MI matrix need no optional dependency.

    Example:
      >>> round(mutual_info_score([0, 0, 1, 1], [5, 5, 7, 7]), 4)  # log 2
      0.6931
    """
    _, ai = np.unique(np.asarray(a), return_inverse=True)
    _, bi = np.unique(np.asarray(b), return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai.ravel(), bi.ravel()), 1.0)
    n = joint.sum()
    rows, cols = np.nonzero(joint)
    p = joint[rows, cols] / n
    pa, pb = joint.sum(axis=1) / n, joint.sum(axis=0) / n
    return max(float(np.sum(p * (np.log(p) - np.log(pa[rows]) - np.log(pb[cols])))), 0.0)


def discrete_mutual_info(mus_discrete: npt.ArrayLike, ys: npt.ArrayLike) -> np.ndarray:
    """Mutual information between every discrete code and every factor.

    ``m[i, j] = I(mus_discrete[i]; ys[j])``, the plug-in estimate from the joint histogram of the
    two label sequences, :func:`mutual_info_score` (equal to ``sklearn.metrics.mutual_info_score``
    used by disentanglement_lib's ``utils.discrete_mutual_info``, Locatello et al. 2019).
    Plug-in MI is non-negative, symmetric in its two arguments and at most the plug-in entropy
    of either.

    Args:
      mus_discrete: ``(num_codes, num_points)`` discrete labels (e.g. from
        :func:`histogram_discretize`), one code per row.
      ys: ``(num_factors, num_points)`` factor labels, one factor per row.

    Returns:
      ``(num_codes, num_factors)`` mutual information in nats.

    Example:
      >>> import numpy as np
      >>> m = discrete_mutual_info([[1, 2, 1, 2], [1, 1, 2, 2]], [[1, 2, 1, 2], [2, 2, 1, 1]])
      >>> np.allclose(m, [[np.log(2), 0.0], [0.0, np.log(2)]])
      True
    """
    mus_discrete = as_matrix(mus_discrete, "mus_discrete", numeric=False)
    ys = as_matrix(ys, "ys", numeric=False)
    check_same_length(mus_discrete, ys, "mus_discrete", "ys", axis=1)
    m = np.zeros((mus_discrete.shape[0], ys.shape[0]))
    for i, code in enumerate(mus_discrete):
        for j, factor in enumerate(ys):
            m[i, j] = mutual_info_score(factor, code)
    return m


def discrete_entropy(ys: npt.ArrayLike) -> np.ndarray:
    """Plug-in entropy (nats) of every row of ``ys``: ``H(y_j) = I(y_j; y_j)``.

    Computed as ``mutual_info_score(ys[j], ys[j])``, as disentanglement_lib's
    ``utils.discrete_entropy``.

    Args:
      ys: ``(num_factors, num_points)`` discrete labels, one factor per row.

    Returns:
      ``(num_factors,)`` entropies in nats.

    Example:
      >>> import numpy as np
      >>> np.allclose(discrete_entropy([[1, 1, 2, 2, 3, 3]]), [np.log(3)])
      True
    """
    ys = as_matrix(ys, "ys", numeric=False)
    return np.array([mutual_info_score(y, y) for y in ys])
