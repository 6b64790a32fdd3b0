"""Ground-truth data for the supervised metrics: factors of variation and their observations.

Every metric that samples data takes a ``data`` object with the interface of
disentanglement_lib's ``GroundTruthData`` (Locatello et al. 2019,
``data/ground_truth/ground_truth_data.py``): ``num_factors``, ``factors_num_values``,
``sample_factors(num, rng)`` and ``sample_observations_from_factors(factors, rng)``. Factors are
integer class indices, one column per factor. vaekit provides :class:`DSpritesData` (procedural
dSprites, the default) and :class:`IdentityObservationData` (the observation *is* the factor
vector, so metrics can be validated on synthetic representations without rendering).
"""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vaekit._checks import check_int
from vaekit.data import _dsprites as dsprites


@runtime_checkable
class GroundTruthData(Protocol):
    """A two-step generative model: factors ``y`` first, then observations ``x`` given ``y``.

    Attributes:
      num_factors: number ``K`` of factors of variation.
      factors_num_values: number of values of each factor, length ``K``.
    """

    @property
    def num_factors(self) -> int:
        """Number ``K`` of factors of variation."""
        ...

    @property
    def factors_num_values(self) -> Sequence[int]:
        """Number of values of each factor, length ``K``."""
        ...

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """``(num, K)`` integer factor indices."""
        ...

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Observations ``(num, ...)`` for ``(num, K)`` factors (the input of a representation)."""
        ...


class DSpritesData:
    """Procedural dSprites (:func:`vaekit.data.render`) as ground-truth data.

    The five factors (shape, scale, orientation, pos_x, pos_y; sizes 3, 6, 40, 32, 32) are drawn
    uniformly from the full grid and rendered to ``(num, 64, 64, 1)`` float32 images; rendering is
    deterministic, so ``rng`` only drives the factors. This matches disentanglement_lib's
    ``DSprites`` with its constant colour factor dropped.

    Example:
      >>> import numpy as np
      >>> data = DSpritesData()
      >>> rng = np.random.default_rng(0)
      >>> data.sample_observations_from_factors(data.sample_factors(2, rng), rng).shape
      (2, 64, 64, 1)
    """

    @property
    def num_factors(self) -> int:
        """Number of dSprites factors."""
        return len(dsprites.FACTOR_SIZES)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        """Number of values of each dSprites factor."""
        return dsprites.FACTOR_SIZES

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """``(num, K)`` uniformly random factor indices."""
        return dsprites.sample_factors(rng, num)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The dSprites images rendered from ``factors`` (``rng`` unused)."""
        del rng  # rendering is deterministic
        return dsprites.render(factors)


class IdentityObservationData:
    """Synthetic ground truth whose observation is the factor vector itself, as float64.

    Factor ``k`` is uniform on ``{0, ..., factor_sizes[k] - 1}``. A representation function then
    maps ``(num, K)`` factor values to codes directly, so a metric can be checked on
    representations with a known answer (identity, rotation, noise) without a renderer. This is
    disentanglement_lib's ``IdentityObservationsData`` with configurable factor sizes.

    Args:
      factor_sizes: number of values of each factor, each ``>= 2`` (default: the dSprites sizes
        ``(3, 6, 40, 32, 32)``).

    Example:
      >>> import numpy as np
      >>> data = IdentityObservationData((2, 3))
      >>> rng = np.random.default_rng(0)
      >>> data.sample_observations_from_factors(data.sample_factors(4, rng), rng).shape
      (4, 2)
    """

    def __init__(self, factor_sizes: Sequence[int] = dsprites.FACTOR_SIZES):
        sizes = tuple(factor_sizes)
        if not sizes:
            raise ValueError("`factor_sizes` must name at least one factor, got ().")
        self._sizes = tuple(
            check_int(size, f"factor_sizes[{i}]", minimum=2) for i, size in enumerate(sizes)
        )

    @property
    def num_factors(self) -> int:
        """Number of factors."""
        return len(self._sizes)

    @property
    def factors_num_values(self) -> tuple[int, ...]:
        """Number of values of each factor."""
        return self._sizes

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """``(num, K)`` uniformly random factor indices."""
        num = check_int(num, "num", minimum=0)
        return np.stack([rng.integers(0, size, num) for size in self._sizes], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The factors themselves as float64 observations (``rng`` unused)."""
        del rng
        return np.asarray(factors, dtype=np.float64)

    def __repr__(self) -> str:
        return f"IdentityObservationData(factor_sizes={self._sizes})"
