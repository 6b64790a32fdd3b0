"""β-VAE with controlled capacity: ``recon + γ · |KL − C(step)|`` (Burgess et al. 2018)."""

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._checks import check_int, check_number
from vaekit._outputs import GaussianPosterior
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._kl import gaussian_kl
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._reductions import batch_mean
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule, capacity_schedule, evaluate


def capacity_penalty(
    kl: Float[AnyArray, ""], capacity: Float[AnyArray, ""], gamma: float | int | Float[AnyArray, ""]
) -> Float[AnyArray, ""]:
    """``γ · |KL − C|`` on the batch-mean KL: ``>= 0``, and 0 exactly when ``KL = C``.

    Computed in float32 (half-precision inputs are upcast: with the paper's γ = 1000 a float16
    penalty overflows at a KL of 66 nats).

    Example:
      >>> import jax.numpy as jnp
      >>> float(capacity_penalty(jnp.asarray(3.0), jnp.asarray(5.0), 1000.0))
      2000.0
    """
    return gamma * jnp.abs(at_least_float32(kl) - at_least_float32(capacity))


def capacity_term(capacity: float | int | optax.Schedule, gamma: float | int) -> Term:
    """The batch-reduced term ``γ · |E_batch[KL] − C(step)|`` with its extra metrics.

    Reports ``kl_loss`` (the batch-mean KL) and ``current_capacity`` (C at this step).
    """
    capacity_fn = as_schedule(capacity, "capacity")
    gamma = check_number(gamma, "gamma", minimum=0.0)

    def term(out: GaussianPosterior, batch: Batch, step: Step) -> tuple[Float[Array, ""], dict]:
        kl = batch_mean(gaussian_kl(out.mean, out.logvar))
        c = evaluate(capacity_fn, step)
        return capacity_penalty(kl, c, gamma), {"kl_loss": kl, "current_capacity": c}

    return term


def capacity_vae(
    gamma: float | int = 1000.0,
    c_max: float | int = 25.0,
    capacity_num_iter: int = 100_000,
    *,
    capacity: optax.Schedule | None = None,
    likelihood: Likelihood = bernoulli_nll,
    active_threshold: float | int = 0.01,
) -> Objective:
    """β-VAE with controlled capacity: ``L = recon + γ · |KL − C(step)|``.

    Burgess et al. (2018), "Understanding disentangling in β-VAE". KL is the batch-mean KL
    (sum over latent dims, mean over batch) and C rises linearly from 0 to ``c_max`` nats over
    ``capacity_num_iter`` steps (:func:`vaekit.schedules.capacity_schedule`), or follows any
    ``capacity`` schedule given instead. The paper uses γ = 1000 and C_max = 25 nats on dSprites.

    Metrics: ``loss``, ``reconstruction_loss``, ``kl_loss``, ``capacity_loss`` (= γ·|KL − C|,
    so ``loss = reconstruction_loss + capacity_loss``), ``current_capacity``, and KL-collapse
    monitoring (``kl_dim_{i}``, ``active_dims``).

    Example:
      >>> import vaekit
      >>> objective = vaekit.capacity_vae(gamma=1000.0, c_max=25.0, capacity_num_iter=100_000)
    """
    if capacity is None:
        # Checked here so the error names this function's arguments (0 steps: no ramp).
        c_max = check_number(c_max, "c_max", minimum=0.0)
        capacity_num_iter = check_int(capacity_num_iter, "capacity_num_iter")
        capacity = capacity_schedule(c_max, capacity_num_iter)
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "capacity_loss": capacity_term(capacity, gamma),
        },
        reporters=[kl_monitor(active_threshold)],
        weight_metrics={"reconstruction_loss": None, "capacity_loss": None},
    )
