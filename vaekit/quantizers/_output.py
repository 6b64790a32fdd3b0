"""The record every quantizer module returns."""

from typing import NamedTuple

from jaxtyping import Array


class QuantizerOutput(NamedTuple):
    """What a quantizer module's ``__call__`` returns.

    Attributes:
      z_q: the quantized latents (straight-through: gradients flow to the input), same shape as
        the input, ``(*batch, dim)``.
      indices: integer code indices, ``(*batch,)``.
      losses: unweighted auxiliary loss terms, ``dict[str, scalar]`` (may be empty); the
        objective weighs them.
      metrics: monitoring values, ``dict[str, scalar]``.
      z_q_raw: the codes themselves with no gradient estimator (what ``lookup(indices)``
        returns), ``(*batch, dim)``.
    """

    z_q: Array
    indices: Array
    losses: dict[str, Array]
    metrics: dict[str, Array]
    z_q_raw: Array
