"""Residual vector quantization: a stack of quantizers applied to successive residuals."""

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import AnyArray
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers.module import VectorQuantizer
from vaekit.quantizers.vector_quantize import ESTIMATORS, rotation_trick, straight_through


class ResidualVQ(nnx.Module):
    """Residual VQ (Zeghidour et al. 2021, SoundStream; Lee et al. 2022, RQ-VAE).

    Level ``i`` quantizes the residual ``r_i`` (``r_0 = z_e``,
    ``r_{i+1} = r_i − sg(q_i)``) with its own :class:`VectorQuantizer`; the quantized value is
    ``Σ_i q_i`` and the indices are stacked on a new last axis, ``(*batch, num_quantizers)``.
    The gradient estimator is applied once, from ``z_e`` to the sum (straight-through: the
    Jacobian with respect to ``z_e`` is the identity, not ``num_quantizers · I`` as when each
    level's straight-through output is summed).

    Losses are *summed* over levels (``codebook_loss``, ``commitment_loss``, ``vq_loss``; level
    ``i``'s commitment is ``mean_b Σ (r_i − sg q_i)²``, which moves the encoder through ``r_i``).
    Metrics are per level: ``perplexity_{i}``, ``codebook_usage_{i}``.

    :meth:`lookup` of the returned indices reproduces the forward's ``z_q_raw`` exactly (same
    sum, same order) as long as the codebooks did not change in between: an EMA forward with
    ``train=True`` updates them after quantizing.

    Args:
      num_quantizers: number of levels ``>= 1``.
      num_codes, dim: ``K`` and ``D`` of every level.
      estimator: ``"straight_through"`` or ``"rotation"`` (applied to the sum).
      **The other keyword arguments** are passed to every level's :class:`VectorQuantizer`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> rvq = ResidualVQ(3, 16, 4, rngs=nnx.Rngs(0))
      >>> out = rvq(jnp.ones((2, 5, 4)), train=False)
      >>> out.indices.shape, bool(jnp.all(rvq.lookup(out.indices) == out.z_q_raw))
      ((2, 5, 3), True)
    """

    def __init__(
        self,
        num_quantizers: int,
        num_codes: int,
        dim: int,
        *,
        commitment_cost: float | int = 0.25,
        ema: bool = True,
        decay: float | int = 0.99,
        epsilon: float | int = 1e-5,
        dead_code_threshold: float | int | None = 1e-3,
        estimator: str = "straight_through",
        init: str = "uniform_k",
        chunk_size: int | None = None,
        rngs: nnx.Rngs,
    ):
        self.num_quantizers = check_int(num_quantizers, "num_quantizers")
        if estimator not in ESTIMATORS:
            raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
        self.estimator = estimator
        self.levels = nnx.List([
            VectorQuantizer(
                num_codes, dim, commitment_cost=commitment_cost, ema=ema, decay=decay,
                epsilon=epsilon, dead_code_threshold=dead_code_threshold, init=init,
                chunk_size=chunk_size, rngs=rngs,
            )
            for _ in range(self.num_quantizers)
        ])
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
        train: bool = True,
    ) -> QuantizerOutput:
        """Quantizes ``z_e (batch, ..., D)`` level by level; ``key`` as for
        :class:`VectorQuantizer` (split across levels)."""
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
