"""The β-VAE disentanglement metric (Higgins et al. 2017)."""

import numpy as np

from vaekit._checks import check_int
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._sampling import RepresentationFn, default_data, represent
from vaekit.evaluation._sklearn import import_sklearn


def _training_point(
    data: GroundTruthData, representation_fn: RepresentationFn, batch_size: int,
    rng: np.random.Generator,
) -> tuple[int, np.ndarray]:
    """(the fixed factor, mean |z(x1) − z(x2)| over ``batch_size`` pairs sharing that factor)."""
    index = int(rng.integers(data.num_factors))
    factors1 = np.array(data.sample_factors(batch_size, rng))
    factors2 = np.array(data.sample_factors(batch_size, rng))
    factors2[:, index] = factors1[:, index]
    codes1 = represent(representation_fn, data.sample_observations_from_factors(factors1, rng))
    codes2 = represent(representation_fn, data.sample_observations_from_factors(factors2, rng))
    return index, np.mean(np.abs(codes1 - codes2), axis=0)


def _training_batch(
    data: GroundTruthData, representation_fn: RepresentationFn, batch_size: int,
    num_points: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(features (num_points, L), labels (num_points,))``."""
    labels = np.zeros(num_points, dtype=np.int64)
    features = []
    for i in range(num_points):
        labels[i], feature = _training_point(data, representation_fn, batch_size, rng)
        features.append(feature)
    return np.stack(features), labels


def compute_beta_vae(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    seed: int = 0,
) -> dict[str, float]:
    """β-VAE score: accuracy of a linear classifier that names the factor held fixed.

    A point: draw a factor ``k`` uniformly, draw ``batch_size`` pairs of factor vectors that agree
    on factor ``k`` (and are independent otherwise), encode both halves and take the mean over
    pairs of ``|z(x1) − z(x2)|`` as the feature, labelled ``k``. A
    ``sklearn.linear_model.LogisticRegression`` (library defaults) is fit on ``num_train`` points;
    ``eval_accuracy`` is its accuracy on ``num_eval`` fresh points.

    As disentanglement_lib's ``beta_vae.compute_beta_vae_sklearn`` with its study config
    (``batch_size=64``, ``num_train=10000``, ``num_eval=5000``).

    Source: Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a Constrained
    Variational Framework" (ICLR).

    Args:
      representation_fn: observations ``(n, ...)`` -> codes ``(n, L)``.
      data: ground-truth data (default: procedural dSprites), ``num_factors >= 2``.
      batch_size: pairs per point, ``>= 1``.
      num_train: training points; they must cover at least two factors.
      num_eval: evaluation points.
      seed: seed of the ``np.random.default_rng`` that drives all sampling (and the classifier's
        ``random_state``).

    Returns:
      ``{"train_accuracy", "eval_accuracy"}``.

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> scores = compute_beta_vae(lambda x: x, IdentityObservationData((3, 4)), batch_size=8,
      ...                           num_train=100, num_eval=100)
      >>> scores["eval_accuracy"] > 0.9
      True
    """
    data = default_data(data)
    batch_size = check_int(batch_size, "batch_size")
    num_train = check_int(num_train, "num_train")
    num_eval = check_int(num_eval, "num_eval")
    if data.num_factors < 2:
        raise ValueError(f"`data` must have at least 2 factors, got {data.num_factors}.")
    linear_model = import_sklearn("sklearn.linear_model")
    rng = np.random.default_rng(seed)
    train_points, train_labels = _training_batch(
        data, representation_fn, batch_size, num_train, rng
    )
    if np.unique(train_labels).size < 2:
        raise ValueError(
            f"`num_train` ({num_train}) is too small: every training point fixed the same "
            "factor, so there is nothing to classify."
        )
    model = linear_model.LogisticRegression(random_state=seed)
    model.fit(train_points, train_labels)
    train_accuracy = float(np.mean(model.predict(train_points) == train_labels))
    eval_points, eval_labels = _training_batch(data, representation_fn, batch_size, num_eval, rng)
    eval_accuracy = float(model.score(eval_points, eval_labels))
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}
