"""Sampling (codes, factors) pairs from ground-truth data through a representation function.

A *representation function* maps a batch of observations ``(n, ...)`` to codes ``(n, L)`` (numpy
or anything ``np.asarray`` accepts); for a VAE it is usually the posterior mean
(:func:`vaekit.evaluation.mean_representation`).
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from vaekit._checks import check_int, is_numeric
from vaekit.evaluation._ground_truth import DSpritesData, GroundTruthData

RepresentationFn = Callable[[np.ndarray], Any]


def default_data(data: GroundTruthData | None) -> GroundTruthData:
    """``data``, or procedural dSprites when ``None``."""
    return DSpritesData() if data is None else data


def represent(representation_fn: RepresentationFn, observations: np.ndarray) -> np.ndarray:
    """``representation_fn(observations)`` as a finite float64 ``(n, L)`` array, else ValueError."""
    codes = np.asarray(representation_fn(observations))
    n = len(observations)
    if codes.ndim != 2 or codes.shape[0] != n:
        raise ValueError(
            f"`representation_fn` must map {n} observations to codes of shape ({n}, L), got "
            f"shape {codes.shape}."
        )
    if not is_numeric(codes.dtype):
        raise ValueError(f"`representation_fn` must return numbers, got dtype {codes.dtype}.")
    codes = codes.astype(np.float64)
    if not np.all(np.isfinite(codes)):
        raise ValueError("`representation_fn` returned non-finite codes (NaN or inf).")
    return codes


def represent_in_batches(
    representation_fn: RepresentationFn, observations: np.ndarray, batch_size: int
) -> np.ndarray:
    """Codes ``(n, L)`` of ``observations``, ``batch_size`` at a time (the last batch partial)."""
    batch_size = check_int(batch_size, "batch_size")
    return concatenate_codes([
        represent(representation_fn, observations[start:start + batch_size])
        for start in range(0, len(observations), batch_size)
    ])


def concatenate_codes(batches: list[np.ndarray]) -> np.ndarray:
    """The ``(n_i, L)`` code batches stacked.

    ValueError naming ``representation_fn`` if their widths ``L`` differ.
    """
    widths = [b.shape[1] for b in batches]
    if len(set(widths)) > 1:
        raise ValueError(
            f"`representation_fn` must return the same number of latent dimensions for every "
            f"batch, got widths {sorted(set(widths))}."
        )
    return np.concatenate(batches)


def sample_codes_and_factors(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None,
    num_points: int,
    rng: np.random.Generator,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``num_points`` factor vectors, renders them and encodes them, batch by batch.

    disentanglement_lib's ``utils.generate_batch_factor_code``, but batch-first.

    Args:
      representation_fn: observations ``(n, ...)`` -> codes ``(n, L)``.
      data: ground-truth data (``None``: procedural dSprites).
      num_points: number of samples, ``>= 1``.
      rng: numpy generator, advanced in place.
      batch_size: observations per call of ``representation_fn`` (default 16, as the library).

    Returns:
      ``(codes, factors)``: float64 ``(num_points, L)`` and integer ``(num_points, K)``.

    Example:
      >>> import numpy as np
      >>> from vaekit.evaluation import IdentityObservationData
      >>> codes, factors = sample_codes_and_factors(
      ...     lambda x: 2 * x, IdentityObservationData((2, 3)), 5, np.random.default_rng(0))
      >>> codes.shape, factors.shape, bool(np.all(codes == 2 * factors))
      ((5, 2), (5, 2), True)
    """
    data = default_data(data)
    num_points = check_int(num_points, "num_points")
    batch_size = check_int(batch_size, "batch_size")
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        n = min(batch_size, num_points - start)
        batch_factors = np.asarray(data.sample_factors(n, rng))
        observations = data.sample_observations_from_factors(batch_factors, rng)
        codes.append(represent(representation_fn, observations))
        factors.append(batch_factors)
    return concatenate_codes(codes), np.concatenate(factors)


def sample_train_test(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None,
    num_train: int,
    num_test: int,
    seed: int,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A training set and a test set of codes and factors.

    ``(codes, factors, codes_test, factors_test)``: a training set, then a test set, drawn from one
    ``np.random.default_rng(seed)`` (disentanglement_lib's order for SAP and DCI).
    """
    num_train = check_int(num_train, "num_train")
    num_test = check_int(num_test, "num_test")
    rng = np.random.default_rng(seed)
    codes, factors = sample_codes_and_factors(representation_fn, data, num_train, rng, batch_size)
    codes_test, factors_test = sample_codes_and_factors(
        representation_fn, data, num_test, rng, batch_size
    )
    return codes, factors, codes_test, factors_test


def sample_observations(
    data: GroundTruthData, num: int, rng: np.random.Generator
) -> np.ndarray:
    """``num`` observations of freshly sampled factors (``GroundTruthData.sample_observations``)."""
    return data.sample_observations_from_factors(np.asarray(data.sample_factors(num, rng)), rng)
