"""Argument validation shared by constructors: fail early, name the argument."""

import math
from numbers import Integral, Real

import jax.numpy as jnp
import numpy as np


def is_numeric(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is a number type.

    Integer, floating or complex, ml_dtypes' bfloat16/float8 included (``np.issubdtype`` says no to
    those); ``bool`` is not a number.
    """
    return bool(jnp.issubdtype(dtype, jnp.number))


def check_number(value: object, name: str, *, minimum: float | None = None,
                 strict: bool = False) -> float:
    """Returns ``float(value)`` or raises naming ``name`` if not a finite number in range."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    if minimum is not None:
        if strict and not value > minimum:
            raise ValueError(f"`{name}` must be > {minimum}, got {value!r}.")
        if not strict and not value >= minimum:
            raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}.")
    return float(value)


def check_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Returns ``int(value)`` or raises naming ``name`` if not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}.")
    return int(value)


def check_same_shape(a_shape: tuple[int, ...], b_shape: tuple[int, ...],
                     a_name: str, b_name: str) -> None:
    """Raises naming both arguments if two shapes differ (trace-time check)."""
    if tuple(a_shape) != tuple(b_shape):
        raise ValueError(
            f"`{a_name}` and `{b_name}` must have the same shape, got "
            f"{tuple(a_shape)} and {tuple(b_shape)}."
        )


def check_min_ndim(shape: tuple[int, ...], ndim: int, name: str) -> None:
    """Raises naming ``name`` if an array has fewer than ``ndim`` dimensions."""
    if len(shape) < ndim:
        raise ValueError(
            f"`{name}` must have at least {ndim} dimension(s) (batch first), got shape "
            f"{tuple(shape)}."
        )


def check_labels(labels: object, n: int) -> np.ndarray | None:
    """Check ``labels`` against ``n`` examples.

    ``None``, or ``labels`` as an int32 NumPy array of shape ``(n,)`` (else a ValueError naming
    ``labels``).
    """
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"`labels` must have shape ({n},) to match, got {labels.shape}.")
    return labels.astype(np.int32)
