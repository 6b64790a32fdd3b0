"""Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan 2018)."""

import numpy as np
import numpy.typing as npt

from vaekit.evaluation._arrays import check_same_width, codes_and_factors
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._sampling import RepresentationFn, sample_train_test
from vaekit.evaluation._sklearn import import_sklearn


def sap_score_matrix(
    codes: npt.ArrayLike,
    factors: npt.ArrayLike,
    codes_test: npt.ArrayLike | None = None,
    factors_test: npt.ArrayLike | None = None,
    continuous_factors: bool = False,
) -> np.ndarray:
    """How well each single code predicts each factor: the ``(num_codes, num_factors)`` matrix S.

    * Discrete factors (``continuous_factors=False``, the library's study setting): ``S[i, j]`` is
      the test accuracy of ``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`` trained to
      predict factor ``j`` from code ``i`` alone (fit on ``codes``, scored on ``codes_test``).
    * Continuous factors: ``S[i, j] = Cov(z_i, v_j)² / (Var z_i · Var v_j)`` (squared Pearson
      correlation, ``ddof=1``), set to 0 when ``Var z_i <= 1e-12``; no test set is used.

    As disentanglement_lib's ``sap_score.compute_score_matrix`` (Locatello et al. 2019).

    Args:
      codes: ``(num_points, num_codes)`` training representations (batch first).
      factors: ``(num_points, num_factors)`` training factor labels; no constant column.
      codes_test: ``(num_test, num_codes)`` held-out representations (discrete factors only).
      factors_test: ``(num_test, num_factors)`` held-out labels (discrete factors only).
      continuous_factors: treat factors as continuous.

    Returns:
      ``(num_codes, num_factors)`` float64 score matrix.

    Example:
      >>> import numpy as np
      >>> factors = np.repeat(np.arange(2), 50)[:, None]
      >>> codes = np.stack([factors[:, 0], np.tile([0.0, 1.0], 50)], axis=1)
      >>> sap_score_matrix(codes, factors, continuous_factors=True).round(2).tolist()
      [[1.0], [0.0]]
    """
    codes, factors = codes_and_factors(codes, factors)
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    matrix = np.zeros((num_codes, num_factors))
    if continuous_factors:
        factors = factors.astype(np.float64)
        for i in range(num_codes):
            for j in range(num_factors):
                cov = np.cov(codes[:, i], factors[:, j], ddof=1)
                if cov[0, 0] > 1e-12:
                    matrix[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
        return matrix
    if codes_test is None or factors_test is None:
        raise ValueError(
            "`codes_test` and `factors_test` are required for discrete factors "
            "(continuous_factors=False)."
        )
    codes_test, factors_test = codes_and_factors(
        codes_test, factors_test, "codes_test", "factors_test", varying=False
    )
    check_same_width(codes, codes_test, "codes", "codes_test")
    check_same_width(factors, factors_test, "factors", "factors_test")
    svm = import_sklearn("sklearn.svm")
    for i in range(num_codes):
        for j in range(num_factors):
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced", random_state=0)
            classifier.fit(codes[:, i:i + 1], factors[:, j])
            prediction = classifier.predict(codes_test[:, i:i + 1])
            matrix[i, j] = np.mean(prediction == factors_test[:, j])
    return matrix


def sap(
    codes: npt.ArrayLike,
    factors: npt.ArrayLike,
    codes_test: npt.ArrayLike | None = None,
    factors_test: npt.ArrayLike | None = None,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP score of precomputed codes: mean over factors of the gap between the two best codes.

    ``SAP = 1/K Σ_k (S_(1)k − S_(2)k)`` where ``S_(1)k ≥ S_(2)k`` are the two largest entries of
    column ``k`` of :func:`sap_score_matrix`. High when every factor is predicted well by exactly
    one code. Definition and defaults as disentanglement_lib's ``sap_score._compute_sap``.

    Source: Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled Latent
    Concepts from Unlabeled Observations" (ICLR).

    Args:
      codes: ``(num_points, num_codes)`` training representations, ``num_codes >= 2``.
      factors: ``(num_points, num_factors)`` training factor labels; no constant column.
      codes_test: held-out codes, required for discrete factors.
      factors_test: held-out factors paired with ``codes_test``, required for discrete factors.
      continuous_factors: score with squared correlations instead of classifiers.

    Returns:
      ``{"SAP_score": float}``.

    Example:
      >>> import numpy as np
      >>> factors = np.repeat(np.arange(2), 50)[:, None]
      >>> codes = np.stack([factors[:, 0], np.tile([0.0, 1.0], 50)], axis=1)
      >>> round(sap(codes, factors, continuous_factors=True)["SAP_score"], 2)
      1.0
    """
    codes, factors = codes_and_factors(codes, factors, min_codes=2)
    matrix = np.sort(
        sap_score_matrix(codes, factors, codes_test, factors_test, continuous_factors), axis=0
    )
    return {"SAP_score": float(np.mean(matrix[-1] - matrix[-2]))}


def compute_sap(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    continuous_factors: bool = False,
    seed: int = 0,
) -> dict[str, float]:
    """SAP score of a representation function on points sampled from ``data``.

    disentanglement_lib's ``compute_sap`` (its study config: ``num_train=10000``,
    ``num_test=5000``, ``continuous_factors=False``): a training set, then a test set, drawn from
    one ``np.random.default_rng(seed)``. See :func:`sap` for the definition.

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> score = compute_sap(lambda x: x, IdentityObservationData((2, 2)), num_train=500,
      ...                     num_test=500)
      >>> score["SAP_score"] > 0.4
      True
    """
    codes, factors, codes_test, factors_test = sample_train_test(
        representation_fn, data, num_train, num_test, seed, batch_size
    )
    return sap(codes, factors, codes_test, factors_test, continuous_factors)
