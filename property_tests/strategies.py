"""Hypothesis strategies with a bounded set of shapes (so jitted code compiles a few times)."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BATCH = 8
LATENT = 4


def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, width=32, allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def arrays(shape: tuple[int, ...], lo: float, hi: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=floats(lo, hi))


def posteriors(batch: int = BATCH, latent: int = LATENT):
    """(mean, logvar) pairs over a wide but float32-safe range."""
    return st.tuples(arrays((batch, latent), -10.0, 10.0), arrays((batch, latent), -8.0, 8.0))
