"""Sample-based KL for posteriors or priors without a closed-form KL (flows, mixture priors).

For one draw ``z ~ q(z|x)`` per example, ``log q(z|x) − log p(z)`` is an unbiased single-sample
estimate of ``KL(q(z|x) || p(z))`` (Kingma & Welling 2014, eq. 6; used by the IAF posterior of
Kingma et al. 2016 and the VampPrior of Tomczak & Welling 2018). The estimate of one example can
be negative; its expectation is the (non-negative) KL.
"""

from typing import NamedTuple

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._outputs import SampledOutput
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._reductions import batch_mean
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule


class SampledVAEOutput(NamedTuple):
    """What a model with a sample-based KL returns.

    What a model with a sample-based KL returns (:class:`vaekit.models.VampPriorVAE`,
    :class:`vaekit.models.IAFVAE`).

    Attributes:
      recon: decoder output for ``z`` (logits for Bernoulli data), ``(batch, *event)``.
      mean: means of the *base* diagonal Gaussian ``q0(z0|x)``, ``(batch, latent)``.
      logvar: log-variances of the base Gaussian, ``(batch, latent)``.
      z: the latent code fed to the decoder (after any flow), ``(batch, latent)``.
      log_q: ``log q(z|x)`` at ``z``, summed over latent dims, flow log-determinants
        included, ``(batch,)``.
      log_prior: ``log p(z)`` at ``z``, ``(batch,)``.

    ``mean``/``logvar`` describe the base Gaussian only: their closed-form KL to N(0, I) is *not*
    the model's KL when there is a flow or a non-Gaussian prior; ``log_q − log_prior`` is.
    """

    recon: Array
    mean: Array
    logvar: Array
    z: Array
    log_q: Array
    log_prior: Array


def sampled_log_weight(model, batch, key, likelihood) -> Float[Array, " batch"]:
    """One importance log weight per example of a sampled-KL model.

    ``log p(x|z) + log p(z) − log q(z|x)`` of one draw per example from a model whose forward
    ``model(x, key=key)`` returns a :class:`SampledVAEOutput`: the ``log_importance_weight`` of the
    VampPrior and IAF VAEs (its mean is the ELBO).
    """
    x = jnp.asarray(batch["x"])
    out = model(x, key=key)
    return -likelihood(out.recon, x) + out.log_prior - out.log_q


def sampled_kl(
    log_q: Float[AnyArray, " batch"], log_prior: Float[AnyArray, " batch"]
) -> Float[Array, " batch"]:
    """Single-sample KL estimate ``log q(z|x) − log p(z)`` per example (no reduction).

    Computed in float32 (half-precision inputs are upcast).

    Example:
      >>> import jax.numpy as jnp
      >>> sampled_kl(jnp.array([-1.0, -2.0]), jnp.array([-3.0, -1.5])).tolist()
      [2.0, -0.5]
    """
    if log_q.ndim != 1 or log_q.shape != log_prior.shape:
        raise ValueError(
            "`log_q` and `log_prior` must be per-sample vectors of the same shape (batch,), got "
            f"{log_q.shape} and {log_prior.shape}."
        )
    return at_least_float32(log_q) - at_least_float32(log_prior)


def sampled_kl_term() -> Term:
    """``E_batch[log q(z|x) − log p(z)]`` from ``out.log_q`` and ``out.log_prior``.

    An unbiased estimate of the batch-mean ``KL(q(z|x) || p(z))`` whose gradient is the
    reparameterised (pathwise) gradient of the KL. Reduction: the per-example values are already
    summed over latent dims; this averages them over the batch.

    Example:
      >>> import jax.numpy as jnp
      >>> from vaekit.objectives import SampledVAEOutput, sampled_kl_term
      >>> out = SampledVAEOutput(None, None, None, None, jnp.array([-1.0, -2.0]),
      ...                        jnp.array([-3.0, -1.0]))
      >>> float(sampled_kl_term()(out, {}, 0))
      0.5
    """

    def term(out: SampledOutput, batch: Batch, step: Step) -> Float[Array, ""]:
        return batch_mean(sampled_kl(out.log_q, out.log_prior))

    return term


def sampled_kl_vae(
    beta: float | int | optax.Schedule = 1.0,
    likelihood: Likelihood = bernoulli_nll,
) -> Objective:
    """``E[−log p(x|z)] + β · E[log q(z|x) − log p(z)]``: the (β-)ELBO with a sampled KL.

    For models whose ``out`` is a :class:`SampledVAEOutput` (or has ``recon``, ``log_q`` and
    ``log_prior``): the VampPrior VAE (Tomczak & Welling 2018) and the IAF VAE (Kingma et al.
    2016). ``β = 1`` is the negative single-sample ELBO; β may be any ``optax.Schedule`` (KL
    annealing), evaluated on the traced step so it never recompiles.

    Reduction: each term is summed over event dims and averaged over the batch.

    Metrics: ``loss``, ``reconstruction_loss``, ``kl_loss`` (the *sampled* KL) and ``beta``. No
    ``kl_dim_{i}``/``active_dims``: :func:`kl_monitor` reports the closed-form KL of
    ``out.mean``/``out.logvar`` to N(0, I), which is not this model's KL (with a flow or a
    mixture prior), so this objective has no such reporter.

    Args:
      beta: a number ``>= 0`` or any ``optax.Schedule`` (``step -> β``).
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`vaekit.bernoulli_nll`.

    Example:
      >>> import optax
      >>> from vaekit.objectives import sampled_kl_vae
      >>> objective = sampled_kl_vae(beta=optax.linear_schedule(0.0, 1.0, 1000))
    """
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_loss": (sampled_kl_term(), as_schedule(beta, "beta")),
        },
        weight_metrics={"reconstruction_loss": None, "kl_loss": "beta"},
    )
