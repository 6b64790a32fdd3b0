"""Free bits: a per-dimension KL floor (Kingma et al. 2016)."""

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._checks import check_number
from vaekit._outputs import GaussianPosterior
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._kl import gaussian_kl_per_dim
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule


def free_bits_kl(
    kl_per_dim: Float[AnyArray, "batch latent"], free_bits: float | int
) -> Float[AnyArray, ""]:
    """``Σ_d max(λ, E_batch[KL_d])``: each dimension's batch-mean KL, floored at ``λ`` nats.

    Kingma et al. (2016), "Improved Variational Inference with Inverse Autoregressive Flow",
    eq. (15) with one group per latent dimension. Below the floor the term is constant, so
    the optimiser has no incentive to push a dimension's KL under ``λ`` (no collapse pressure).

    Example:
      >>> import jax.numpy as jnp
      >>> float(free_bits_kl(jnp.array([[0.1, 2.0]]), 0.5))
      2.5
    """
    return jnp.sum(jnp.maximum(jnp.mean(kl_per_dim, axis=0), free_bits))


def free_bits_term(free_bits: float | int) -> Term:
    """Batch-reduced term :func:`free_bits_kl` of ``out.mean``/``out.logvar``."""
    free_bits = check_number(free_bits, "free_bits", minimum=0.0)

    def term(out: GaussianPosterior, batch: Batch, step: Step) -> Float[Array, ""]:
        return free_bits_kl(gaussian_kl_per_dim(out.mean, out.logvar), free_bits)

    return term


def free_bits_vae(
    free_bits: float | int = 0.5,
    beta: float | int | optax.Schedule = 1.0,
    likelihood: Likelihood = bernoulli_nll,
    *,
    active_threshold: float | int = 0.01,
) -> Objective:
    """``recon + β · Σ_d max(λ, E_batch[KL_d])``: a β-VAE with free bits ``λ`` per dimension.

    Metrics: ``loss``, ``reconstruction_loss``, ``kl_free_bits`` (the floored KL) and its
    ``kl_free_bits_weight`` (β), plus ``kl_dim_{i}`` / ``active_dims`` monitoring.

    Example:
      >>> import vaekit
      >>> objective = vaekit.free_bits_vae(free_bits=0.5, beta=1.0)
    """
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_free_bits": (free_bits_term(free_bits), as_schedule(beta, "beta")),
        },
        reporters=[kl_monitor(active_threshold)],
    )
