"""Shared type aliases for the objective contract.

An *objective* is any callable ``objective(out, batch, step) -> (loss, metrics)``:

* ``out``: whatever the model's forward returned (e.g. :class:`vaekit.VAEOutput`);
* ``batch``: a mapping of arrays, ``"x"`` and optionally ``"y"``;
* ``step``: a scalar integer array (the traced optimiser step);
* ``loss``: a scalar; ``metrics``: a flat ``dict[str, scalar]``.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

# Arrays a user may hand to a public function: JAX arrays (and tracers) or NumPy arrays.
AnyArray: TypeAlias = Array | np.ndarray
Scalar: TypeAlias = Float[Array, ""]
Step: TypeAlias = Int[ArrayLike, ""]
Batch: TypeAlias = Mapping[str, AnyArray]
Metrics: TypeAlias = dict[str, Array]
Objective: TypeAlias = Callable[[Any, Batch, Step], tuple[Scalar, Metrics]]
Likelihood: TypeAlias = Callable[[Array, Array], Float[Array, " batch"]]
