"""Host-side (numpy) argument validation for the evaluation metrics: name the argument."""

import numpy as np
import numpy.typing as npt

from vaekit._checks import is_numeric


def as_matrix(value: npt.ArrayLike, name: str, *, numeric: bool = True) -> np.ndarray:
    """``value`` as a non-empty 2-D array (finite floats when ``numeric``), else ValueError."""
    array = np.asarray(value)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 2-D array, got shape {array.shape}."
        )
    if numeric:
        if not (is_numeric(array.dtype) or array.dtype == np.bool_):
            raise ValueError(f"`{name}` must be numeric, got dtype {array.dtype}.")
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"`{name}` must be finite (no NaN or inf).")
    return array


def check_same_length(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str,
                      axis: int = 0) -> None:
    """Raises naming both arguments if their sample counts (``shape[axis]``) differ."""
    if a.shape[axis] != b.shape[axis]:
        raise ValueError(
            f"`{a_name}` and `{b_name}` must hold the same number of samples, got "
            f"{a.shape[axis]} and {b.shape[axis]} (shapes {a.shape} and {b.shape})."
        )


def check_same_width(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    """Raises naming both arguments if two batch-first matrices have different widths."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"`{a_name}` and `{b_name}` must have the same number of columns, got "
            f"{a.shape[1]} and {b.shape[1]}."
        )


def check_factors_vary(factors: np.ndarray, name: str) -> None:
    """Raises if a column of batch-first ``factors`` is constant (the metric is undefined)."""
    constant = np.all(factors == factors[:1], axis=0)
    if constant.any():
        column = int(np.flatnonzero(constant)[0])
        raise ValueError(
            f"`{name}` column {column} is constant over all {factors.shape[0]} samples; every "
            "factor must take at least two values (sample more points)."
        )


def codes_and_factors(
    codes: npt.ArrayLike, factors: npt.ArrayLike, codes_name: str = "codes",
    factors_name: str = "factors", *, min_codes: int = 1, varying: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Validated batch-first ``(N, L)`` float codes and ``(N, K)`` factors.

    With ``varying`` (for training data), no factor column may be constant.
    """
    codes = as_matrix(codes, codes_name)
    factors = as_matrix(factors, factors_name, numeric=False)
    check_same_length(codes, factors, codes_name, factors_name)
    if codes.shape[1] < min_codes:
        raise ValueError(
            f"`{codes_name}` must have at least {min_codes} latent dimensions (columns), got "
            f"{codes.shape[1]}."
        )
    if varying:
        check_factors_vary(factors, factors_name)
    return codes, factors
