"""Residual vector quantization: a stack of quantizers applied to successive residuals."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.quantizers._module import VectorQuantizer
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers._vector_quantize import ESTIMATORS, rotation_trick, straight_through


class ResidualVQ(nnx.Module):
    """Residual VQ (Zeghidour et al. 2021, SoundStream; Lee et al. 2022, RQ-VAE).

    Level ``i`` quantizes the residual ``r_i`` (``r_0 = z_e``,
    ``r_{i+1} = r_i − sg(q_i)``) with its own :class:`VectorQuantizer`; the quantized value is
    ``Σ_i q_i`` and the indices are stacked on a new last axis, ``(*batch, num_quantizers)``.
    The gradient estimator is applied once, from ``z_e`` to the sum (straight-through: the
    Jacobian with respect to ``z_e`` is the identity, not ``num_quantizers · I`` as when each
    level's straight-through output is summed).

    Losses are *summed* over levels (``codebook_loss``, ``commitment_loss``, unweighted; level
    ``i``'s commitment is ``mean_b Σ (r_i − sg q_i)²``, which moves the encoder through ``r_i``).
    Metrics are per level: ``perplexity_{i}``, ``codebook_usage_{i}``.

    :meth:`lookup` of the returned indices reproduces the forward's ``z_q_raw`` exactly (same
    sum, same order) as long as the codebooks did not change in between: an EMA forward with
    ``train=True`` updates them after quantizing.

    Args:
      num_quantizers: number of levels ``>= 1``.
      level: called as ``level(rngs=rngs)`` once per level, returning a
        :class:`VectorQuantizer`, e.g.
        ``functools.partial(VectorQuantizer, 512, 64, ema=True)``; every level must have the
        same ``num_codes`` and ``dim``.
      estimator: ``"straight_through"`` or ``"rotation"`` (applied to the sum).
      rngs: ``nnx.Rngs`` passed to every ``level`` call (each draws its own codebook).

    Example:
      >>> import functools, jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit.quantizers import VectorQuantizer
      >>> rvq = ResidualVQ(3, functools.partial(VectorQuantizer, 16, 4), rngs=nnx.Rngs(0))
      >>> out = rvq(jnp.ones((2, 5, 4)), train=False)
      >>> out.indices.shape, bool(jnp.all(rvq.lookup(out.indices) == out.z_q_raw))
      ((2, 5, 3), True)
    """

    def __init__(
        self,
        num_quantizers: int,
        level: Callable[[nnx.Rngs], VectorQuantizer],
        *,
        estimator: str = "straight_through",
        rngs: nnx.Rngs,
    ):
        self.num_quantizers = check_int(num_quantizers, "num_quantizers")
        if not callable(level):
            raise ValueError(f"`level` must be a callable level(rngs=...) -> VectorQuantizer, got "
                             f"{type(level).__name__}.")
        if estimator not in ESTIMATORS:
            raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
        self.estimator = estimator
        self.levels = nnx.List([level(rngs=rngs) for _ in range(self.num_quantizers)])
        for i, quantizer in enumerate(self.levels):
            if not isinstance(quantizer, VectorQuantizer):
                raise ValueError(f"`level` must return a VectorQuantizer, got "
                                 f"{type(quantizer).__name__} for level {i}.")
            shape = (quantizer.num_codes, quantizer.dim)
            if shape != (self.levels[0].num_codes, self.levels[0].dim):
                raise ValueError(f"`level` made levels of different (num_codes, dim): "
                                 f"{(self.levels[0].num_codes, self.levels[0].dim)} and {shape}.")
        self.num_codes = self.levels[0].num_codes
        self.dim = self.levels[0].dim

    def lookup(
        self, indices: Integer[AnyArray, "*batch levels"]
    ) -> Float[Array, "*batch dim"]:
        """``Σ_i level_i.lookup(indices[..., i])``: ``(*batch, num_quantizers) -> (*batch, D)``."""
        if indices.ndim < 1 or indices.shape[-1] != self.num_quantizers:
            raise ValueError(
                f"`indices` must have shape (..., {self.num_quantizers}), got "
                f"{tuple(indices.shape)}."
            )
        indices = jnp.asarray(indices)
        total = jnp.zeros((*indices.shape[:-1], self.dim), jnp.float32)
        for i, level in enumerate(self.levels):
            total = total + level.lookup(indices[..., i])
        return total

    def __call__(
        self,
        z_e: Float[AnyArray, "*batch dim"],
        *,
        key: PRNGKeyArray | None = None,
        train: bool | None = None,
    ) -> QuantizerOutput:
        """Quantizes ``z_e (batch, ..., D)`` level by level.

        ``key`` as for :class:`VectorQuantizer` (split across levels).
        """
        z_e = jnp.asarray(z_e)
        keys = [None] * self.num_quantizers if key is None else jax.random.split(key,
                                                                                 self.num_quantizers)
        residual = z_e
        total = jnp.zeros(z_e.shape, jnp.float32)
        indices, losses, metrics = [], {}, {}
        for i, level in enumerate(self.levels):
            out = level(residual, key=keys[i], train=train)
            total = total + out.z_q_raw
            residual = residual - jax.lax.stop_gradient(out.z_q_raw)
            indices.append(out.indices)
            for name, value in out.losses.items():
                losses[name] = losses[name] + value if name in losses else value
            metrics.update({f"{name}_{i}": value for name, value in out.metrics.items()})
        estimator = straight_through if self.estimator == "straight_through" else rotation_trick
        return QuantizerOutput(
            z_q=estimator(z_e, jax.lax.stop_gradient(total)),
            indices=jnp.stack(indices, axis=-1),
            losses=losses,
            metrics=metrics,
            z_q_raw=total,
        )
