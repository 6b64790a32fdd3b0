"""Mutual Information Gap (Chen, Li, Grosse & Duvenaud 2018)."""

import numpy as np
import numpy.typing as npt

from vaekit._checks import check_int
from vaekit.evaluation._arrays import codes_and_factors
from vaekit.evaluation._discretize import histogram_discretize
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._mutual_info import discrete_entropy, discrete_mutual_info
from vaekit.evaluation._sampling import RepresentationFn, sample_codes_and_factors


def mig(codes: npt.ArrayLike, factors: npt.ArrayLike, num_bins: int = 20) -> dict[str, float]:
    """MIG of precomputed codes: the mean over factors of the normalised gap in mutual information.

    ``MIG = 1/K Σ_k (I(z_(1); v_k) − I(z_(2); v_k)) / H(v_k)``, where ``z_(1)``, ``z_(2)`` are the
    two codes with the largest mutual information with factor ``v_k``. Codes are discretised
    per dimension into ``num_bins`` histogram bins (:func:`histogram_discretize`) and MI / entropy
    are plug-in estimates (:func:`discrete_mutual_info`, :func:`discrete_entropy`), exactly as
    disentanglement_lib's ``mig._compute_mig`` (Locatello et al. 2019). MIG lies in ``[0, 1]``:
    1 when each factor is captured by one code and no other code informs about it.

    Source: Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs".

    Args:
      codes: ``(num_points, num_codes)`` representations, ``num_codes >= 2`` (batch first).
      factors: ``(num_points, num_factors)`` discrete factor labels; no column may be constant.
      num_bins: histogram bins per code, ``>= 2`` (default 20, as the library's configs).

    Returns:
      ``{"discrete_mig": float}``.

    Example:
      >>> import numpy as np
      >>> factors = np.random.default_rng(0).integers(0, 4, size=(2000, 2))
      >>> codes = np.concatenate([factors, np.zeros((2000, 1))], axis=1)
      >>> round(mig(codes, factors)["discrete_mig"], 2)
      1.0
    """
    num_bins = check_int(num_bins, "num_bins", minimum=2)
    codes, factors = codes_and_factors(codes, factors, min_codes=2)
    discretized = histogram_discretize(codes.T, num_bins)
    m = discrete_mutual_info(discretized, factors.T)  # (num_codes, num_factors)
    entropy = discrete_entropy(factors.T)
    sorted_m = np.sort(m, axis=0)[::-1]
    return {"discrete_mig": float(np.mean((sorted_m[0] - sorted_m[1]) / entropy))}


def compute_mig(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    *,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """MIG of a representation function on ``num_train`` points sampled from ``data``.

    disentanglement_lib's ``compute_mig`` (its study config: ``num_train=10000``, 20 histogram
    bins); see :func:`mig` for the definition.

    Args:
      representation_fn: observations ``(n, ...)`` -> codes ``(n, L)``, ``L >= 2``.
      data: ground-truth data (default: procedural dSprites).
      num_train: number of sampled points.
      batch_size: observations per call of ``representation_fn``.
      num_bins: histogram bins per code.
      seed: seed of the ``np.random.default_rng`` that samples the factors.

    Returns:
      ``{"discrete_mig": float}``.

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> score = compute_mig(lambda x: x, IdentityObservationData((3, 4)), num_train=2000)
      >>> score["discrete_mig"] > 0.9
      True
    """
    num_train = check_int(num_train, "num_train")
    codes, factors = sample_codes_and_factors(
        representation_fn, data, num_train, np.random.default_rng(seed), batch_size
    )
    return mig(codes, factors, num_bins=num_bins)
