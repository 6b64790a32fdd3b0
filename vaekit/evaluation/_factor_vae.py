"""The FactorVAE disentanglement metric (Kim & Mnih 2018)."""

import numpy as np

from vaekit._checks import check_int, check_number
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._sampling import (
    RepresentationFn,
    default_data,
    represent,
    represent_in_batches,
    sample_observations,
)


def _global_variances(
    data: GroundTruthData, representation_fn: RepresentationFn, num: int,
    rng: np.random.Generator, eval_batch_size: int = 64,
) -> np.ndarray:
    """Variance (``ddof=1``) of every code over ``num`` fresh observations."""
    observations = sample_observations(data, num, rng)
    codes = represent_in_batches(representation_fn, observations, eval_batch_size)
    return np.var(codes, axis=0, ddof=1)


def _vote(
    data: GroundTruthData, representation_fn: RepresentationFn, batch_size: int,
    rng: np.random.Generator, global_variances: np.ndarray, active: np.ndarray,
) -> tuple[int, int]:
    """One training point: (the fixed factor, argmin over active codes of normalised variance)."""
    factor_index = int(rng.integers(data.num_factors))
    factors = np.array(data.sample_factors(batch_size, rng))
    factors[:, factor_index] = factors[0, factor_index]
    codes = represent(representation_fn, data.sample_observations_from_factors(factors, rng))
    local_variances = np.var(codes, axis=0, ddof=1)
    return factor_index, int(np.argmin(local_variances[active] / global_variances[active]))


def _votes(
    data: GroundTruthData, representation_fn: RepresentationFn, batch_size: int,
    num_points: int, rng: np.random.Generator, global_variances: np.ndarray, active: np.ndarray,
) -> np.ndarray:
    """``(num_factors, num_codes)`` votes; column ``d`` counts argmin = the ``d``-th active code."""
    votes = np.zeros((data.num_factors, global_variances.shape[0]), dtype=np.int64)
    for _ in range(num_points):
        factor_index, argmin = _vote(
            data, representation_fn, batch_size, rng, global_variances, active
        )
        votes[factor_index, argmin] += 1
    return votes


def majority_vote_accuracy(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float]:
    """Accuracy of the majority-vote classifier ``code -> factor`` fit on ``train_votes``.

    The classifier maps code ``d`` to ``argmax_k train_votes[k, d]`` (ties: the lowest ``k``); the
    accuracy on a vote matrix is the fraction of votes that agree with it.

    Example:
      >>> import numpy as np
      >>> votes = np.array([[3, 1], [0, 4]])  # factor 0 -> code 0 three times, etc.
      >>> majority_vote_accuracy(votes, np.array([[1, 1], [1, 1]]))
      (0.875, 0.5)
    """
    train_votes, eval_votes = np.asarray(train_votes), np.asarray(eval_votes)
    if train_votes.ndim != 2 or eval_votes.shape != train_votes.shape:
        raise ValueError(f"`eval_votes` must have the shape of `train_votes` {train_votes.shape}, "
                         f"got {eval_votes.shape}.")
    for name, votes in (("train_votes", train_votes), ("eval_votes", eval_votes)):
        if np.sum(votes) <= 0:
            raise ValueError(f"`{name}` holds no votes: the accuracy is undefined.")
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    train = np.sum(train_votes[classifier, columns]) / np.sum(train_votes)
    evaluation = np.sum(eval_votes[classifier, columns]) / np.sum(eval_votes)
    return float(train), float(evaluation)


def compute_factor_vae(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float | int = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """FactorVAE score: accuracy of a majority-vote classifier on low-variance codes.

    1. Global variance ``s_d`` of every code over ``num_variance_estimate`` observations
       (``ddof=1``); codes with ``sqrt(s_d) < prune_threshold`` are collapsed and pruned.
    2. A training point: draw a factor ``k`` uniformly, draw ``batch_size`` factor vectors with
       factor ``k`` fixed to one value, encode them, and take ``d* = argmin_d Var(z_d) / s_d``
       over the active codes (``ddof=1``); the point votes ``(k, d*)``.
    3. The classifier maps each code to the factor with most training votes (``num_train``
       points); ``eval_accuracy`` is its accuracy on ``num_eval`` fresh points.

    As disentanglement_lib's ``factor_vae.compute_factor_vae`` with its study config
    (``batch_size=64``, ``num_train=10000``, ``num_eval=5000``, ``num_variance_estimate=10000``,
    ``prune_dims.threshold=0.05``).

    Source: Kim & Mnih 2018, "Disentangling by Factorising" (ICML).

    Args:
      representation_fn: observations ``(n, ...)`` -> codes ``(n, L)``.
      data: ground-truth data (default: procedural dSprites).
      batch_size: observations per training point, ``>= 2``.
      num_train: training points, ``>= 1``.
      num_eval: evaluation points, ``>= 1``.
      num_variance_estimate: observations for the global variances, ``>= 2``.
      prune_threshold: minimum standard deviation of an active code, ``>= 0``.
      seed: seed of the ``np.random.default_rng`` that drives all sampling.

    Returns:
      ``{"train_accuracy", "eval_accuracy", "num_active_dims"}`` (all 0 if no code is active).

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> scores = compute_factor_vae(lambda x: x, IdentityObservationData((3, 4)), batch_size=8,
      ...                             num_train=50, num_eval=50, num_variance_estimate=200)
      >>> scores["eval_accuracy"], scores["num_active_dims"]
      (1.0, 2)
    """
    data = default_data(data)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    num_train = check_int(num_train, "num_train")
    num_eval = check_int(num_eval, "num_eval")
    num_variance_estimate = check_int(num_variance_estimate, "num_variance_estimate", minimum=2)
    prune_threshold = check_number(prune_threshold, "prune_threshold", minimum=0.0)
    rng = np.random.default_rng(seed)
    global_variances = _global_variances(data, representation_fn, num_variance_estimate, rng)
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = _votes(
        data, representation_fn, batch_size, num_train, rng, global_variances, active
    )
    eval_votes = _votes(
        data, representation_fn, batch_size, num_eval, rng, global_variances, active
    )
    train_accuracy, eval_accuracy = majority_vote_accuracy(train_votes, eval_votes)
    return {
        "train_accuracy": train_accuracy,
        "eval_accuracy": eval_accuracy,
        "num_active_dims": int(np.sum(active)),
    }
