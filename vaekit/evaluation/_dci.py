"""Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018)."""

import numpy as np
import numpy.typing as npt

from vaekit._checks import check_int, check_number
from vaekit.evaluation._arrays import as_matrix, check_same_width, codes_and_factors
from vaekit.evaluation._ground_truth import GroundTruthData
from vaekit.evaluation._sampling import RepresentationFn, sample_train_test
from vaekit.evaluation._sklearn import import_sklearn

PREDICTORS = ("gbt", "lasso")
"""Predictors for the importance matrix: gradient-boosted trees (library default) or lasso."""


def dci_importance_matrix(
    codes: npt.ArrayLike,
    factors: npt.ArrayLike,
    codes_test: npt.ArrayLike,
    factors_test: npt.ArrayLike,
    predictor: str = "gbt",
    *,
    n_estimators: int = 100,
    lasso_alpha: float | int = 0.02,
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """Importance ``R[i, j]`` of code ``i`` for predicting factor ``j``, and the informativeness.

    One predictor per factor, fit on ``(codes, factors)``:

    * ``"gbt"`` (disentanglement_lib's ``compute_importance_gbt``): a
      ``sklearn.ensemble.GradientBoostingClassifier(n_estimators)`` (library defaults otherwise);
      ``R[:, j] = |feature_importances_|``; informativeness is the mean classification accuracy
      over factors, on the training and on the test pairs.
    * ``"lasso"`` (Eastwood & Williams's original choice): codes and factors are standardised
      with the training mean / std, ``sklearn.linear_model.Lasso(alpha=lasso_alpha)`` regresses
      each factor on all codes; ``R[:, j] = |coef_|``; informativeness is the mean R² over
      factors, i.e. ``1 − NRMSE²`` (higher is better, like the accuracy).

    Args:
      codes: ``(num_train, num_codes)`` training codes (batch first).
      factors: ``(num_train, num_factors)`` training factors, paired with ``codes``; no
        constant factor column.
      codes_test: held-out codes, as wide as ``codes``.
      factors_test: held-out factors paired with ``codes_test``, as wide as ``factors``.
      predictor: ``"gbt"`` or ``"lasso"``.
      n_estimators: boosting stages of ``"gbt"`` (``>= 1``; library default 100).
      lasso_alpha: L1 weight of ``"lasso"`` (``> 0``).
      seed: ``random_state`` of the gradient-boosted trees.

    The predictors see the code columns in a canonical (lexicographic) order, so the importance
    matrix is exactly equivariant, and D, C, I exactly invariant, to permuting the codes.

    Returns:
      ``(importance (num_codes, num_factors), informativeness_train, informativeness_test)``.
    """
    codes, factors, codes_test, factors_test, n_estimators, lasso_alpha = _checked(
        codes, factors, codes_test, factors_test, predictor, n_estimators, lasso_alpha)
    return _importance(codes, factors, codes_test, factors_test, predictor,
                       n_estimators=n_estimators, lasso_alpha=lasso_alpha, seed=seed)


def _checked(codes, factors, codes_test, factors_test, predictor, n_estimators, lasso_alpha):
    """The validated arguments of :func:`dci_importance_matrix` (ValueError naming one)."""
    if predictor not in PREDICTORS:
        raise ValueError(f"`predictor` must be one of {PREDICTORS}, got {predictor!r}.")
    n_estimators = check_int(n_estimators, "n_estimators")
    lasso_alpha = check_number(lasso_alpha, "lasso_alpha", minimum=0.0, strict=True)
    codes, factors = codes_and_factors(codes, factors)
    codes_test, factors_test = codes_and_factors(
        codes_test, factors_test, "codes_test", "factors_test", varying=False
    )
    check_same_width(codes, codes_test, "codes", "codes_test")
    check_same_width(factors, factors_test, "factors", "factors_test")
    return codes, factors, codes_test, factors_test, n_estimators, lasso_alpha


def _importance(codes, factors, codes_test, factors_test, predictor, *, n_estimators,
                lasso_alpha, seed) -> tuple[np.ndarray, float, float]:
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    # Fit on the columns in a canonical (lexicographic) order and map the importances back: the
    # predictors break ties between features by their position, so this makes the scores exactly
    # invariant to permuting the codes (identical columns are interchangeable anyway).
    order = np.lexsort(codes[::-1])
    codes, codes_test = codes[:, order], codes_test[:, order]
    importance = np.zeros((num_codes, num_factors))
    train_scores, test_scores = [], []
    if predictor == "gbt":
        ensemble = import_sklearn("sklearn.ensemble")
        for j in range(num_factors):
            model = ensemble.GradientBoostingClassifier(
                n_estimators=n_estimators, random_state=seed
            )
            model.fit(codes, factors[:, j])
            # sklearn divides by the total impurity decrease, 0 when no split helps (e.g. every
            # code constant within float precision): 0/0 = NaN. No code is informative then.
            importance[:, j] = np.nan_to_num(np.abs(model.feature_importances_), nan=0.0)
            train_scores.append(np.mean(model.predict(codes) == factors[:, j]))
            test_scores.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
    else:
        linear_model = import_sklearn("sklearn.linear_model")
        x_mean, x_std = _mean_std(codes)
        y = factors.astype(np.float64)
        y_mean, y_std = _mean_std(y)
        x, x_test = (codes - x_mean) / x_std, (codes_test - x_mean) / x_std
        y, y_test = (y - y_mean) / y_std, (factors_test.astype(np.float64) - y_mean) / y_std
        for j in range(num_factors):
            model = linear_model.Lasso(alpha=lasso_alpha)
            model.fit(x, y[:, j])
            importance[:, j] = np.abs(model.coef_)
            train_scores.append(model.score(x, y[:, j]))
            test_scores.append(model.score(x_test, y_test[:, j]))
    unsorted = np.empty_like(importance)
    unsorted[order] = importance
    return unsorted, float(np.mean(train_scores)), float(np.mean(test_scores))


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = np.std(x, axis=0)
    return np.mean(x, axis=0), np.where(std > 0, std, 1.0)


def _normalised_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy of every column of ``weights`` (normalised to sum 1), in base ``len(weights)``.

    ``scipy.stats.entropy(weights, base=len(weights))`` along axis 0, in numpy.
    """
    p = weights / np.sum(weights, axis=0, keepdims=True)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -np.sum(plogp, axis=0) / np.log(weights.shape[0])


def _check_importance(importance_matrix: npt.ArrayLike) -> np.ndarray:
    matrix = as_matrix(importance_matrix, "importance_matrix")
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise ValueError(
            "`importance_matrix` must have at least 2 codes (rows) and 2 factors (columns): "
            f"the normalised entropies use base num_codes / num_factors; got shape {matrix.shape}."
        )
    if np.any(matrix < 0):
        raise ValueError("`importance_matrix` must be non-negative.")
    return matrix


def disentanglement(importance_matrix: npt.ArrayLike) -> float:
    """Disentanglement D: how much each code concentrates on a single factor.

    ``D = Σ_i ρ_i (1 − H_K(P_i·))`` with ``P_ij = R_ij / Σ_k R_ik`` (entropy in base
    ``K = num_factors``) and code weights ``ρ_i = Σ_j R_ij / Σ_ij R_ij``; ``1e-11`` is added to
    ``R`` inside the entropy and an all-zero ``R`` weighs every code equally (score 0), as
    disentanglement_lib's ``dci.disentanglement``.

    Source: Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of
    Disentangled Representations" (ICLR).

    Args:
      importance_matrix: ``(num_codes, num_factors)`` non-negative, both sizes ``>= 2``.

    Example:
      >>> import numpy as np
      >>> round(disentanglement(np.eye(3)), 6), round(disentanglement(np.ones((3, 3))), 6)
      (1.0, 0.0)
    """
    matrix = _check_importance(importance_matrix)
    per_code = 1.0 - _normalised_entropy(matrix.T + 1e-11)
    if matrix.sum() == 0.0:
        matrix = np.ones_like(matrix)
    code_importance = matrix.sum(axis=1) / matrix.sum()
    return float(np.sum(per_code * code_importance))


def completeness(importance_matrix: npt.ArrayLike) -> float:
    """Completeness C: how much each factor is captured by a single code.

    ``C = Σ_j ρ_j (1 − H_L(P̃_·j))`` with ``P̃_ij = R_ij / Σ_i R_ij`` (entropy in base
    ``L = num_codes``) and factor weights ``ρ_j = Σ_i R_ij / Σ_ij R_ij``, as
    disentanglement_lib's ``dci.completeness``.

    Source: Eastwood & Williams 2018 (ICLR).

    Example:
      >>> import numpy as np
      >>> round(completeness(np.vstack([np.eye(2), np.eye(2)])), 6)  # each factor in 2 of 4 codes
      0.5
    """
    matrix = _check_importance(importance_matrix)
    per_factor = 1.0 - _normalised_entropy(matrix + 1e-11)
    if matrix.sum() == 0.0:
        matrix = np.ones_like(matrix)
    factor_importance = matrix.sum(axis=0) / matrix.sum()
    return float(np.sum(per_factor * factor_importance))


def dci(
    codes: npt.ArrayLike,
    factors: npt.ArrayLike,
    codes_test: npt.ArrayLike,
    factors_test: npt.ArrayLike,
    predictor: str = "gbt",
    *,
    n_estimators: int = 100,
    lasso_alpha: float | int = 0.02,
    seed: int = 0,
) -> dict[str, float]:
    """DCI scores of precomputed codes: disentanglement, completeness and informativeness.

    The importance matrix comes from :func:`dci_importance_matrix`; :func:`disentanglement` and
    :func:`completeness` summarise it. Keys as disentanglement_lib's ``dci._compute_dci``.

    Source: Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of
    Disentangled Representations" (ICLR).

    Returns:
      ``{"informativeness_train", "informativeness_test", "disentanglement", "completeness"}``.

    Example:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> factors = rng.integers(0, 3, size=(400, 2))
      >>> codes = factors + 0.01 * rng.normal(size=(400, 2))
      >>> scores = dci(codes[:300], factors[:300], codes[300:], factors[300:], n_estimators=5)
      >>> scores["disentanglement"] > 0.9, scores["informativeness_test"]
      (True, 1.0)
    """
    codes, factors, codes_test, factors_test, n_estimators, lasso_alpha = _checked(
        codes, factors, codes_test, factors_test, predictor, n_estimators, lasso_alpha)
    for value, name, what in ((codes, "codes", "latent dimensions"),
                              (factors, "factors", "factors")):
        if value.shape[1] < 2:
            raise ValueError(
                f"`{name}` must have at least 2 {what} (columns) for disentanglement and "
                f"completeness, got {value.shape[1]}; dci_importance_matrix works with one."
            )
    importance, train, test = _importance(
        codes, factors, codes_test, factors_test, predictor,
        n_estimators=n_estimators, lasso_alpha=lasso_alpha, seed=seed,
    )
    return {
        "informativeness_train": train,
        "informativeness_test": test,
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
    }


def compute_dci(
    representation_fn: RepresentationFn,
    data: GroundTruthData | None = None,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    predictor: str = "gbt",
    n_estimators: int = 100,
    lasso_alpha: float | int = 0.02,
    seed: int = 0,
) -> dict[str, float]:
    """DCI scores of a representation function on points sampled from ``data``.

    disentanglement_lib's ``compute_dci`` (its study config: ``num_train=10000``,
    ``num_test=5000``, gradient-boosted trees): a training set, then a test set, drawn from one
    ``np.random.default_rng(seed)``. See :func:`dci`.

    Example:
      >>> from vaekit.evaluation import IdentityObservationData
      >>> scores = compute_dci(lambda x: x, IdentityObservationData((2, 3)), num_train=200,
      ...                      num_test=100, n_estimators=5)
      >>> scores["disentanglement"] > 0.9
      True
    """
    codes, factors, codes_test, factors_test = sample_train_test(
        representation_fn, data, num_train, num_test, seed, batch_size
    )
    return dci(
        codes, factors, codes_test, factors_test, predictor,
        n_estimators=n_estimators, lasso_alpha=lasso_alpha, seed=seed,
    )
