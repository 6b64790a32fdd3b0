"""β-TCVAE: the KL term split into mutual information, total correlation and dimension-wise KL.

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in Variational
Autoencoders" (NeurIPS), with the minibatch-weighted sampling (MWS) estimator of the aggregate
posterior ``q(z)``.
"""

import math
from typing import NamedTuple

import jax.numpy as jnp
import optax
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float

from vaekit._checks import check_int, check_number, check_same_shape
from vaekit._outputs import GaussianOutput
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import compose
from vaekit.objectives._kl import gaussian_kl
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._reductions import batch_mean
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule

_LOG_2PI = math.log(2.0 * math.pi)


class TCTerms(NamedTuple):
    """The three batch-mean terms of the β-TCVAE decomposition of the KL (in nats).

    Attributes:
      mutual_info: index-code mutual information ``E[log q(z|x) − log q(z)]``.
      total_correlation: ``E[log q(z) − log Π_d q(z_d)]``.
      dimwise_kl: dimension-wise KL ``E[log Π_d q(z_d) − log p(z)]``.
    """

    mutual_info: Float[Array, ""]
    total_correlation: Float[Array, ""]
    dimwise_kl: Float[Array, ""]


def _log_density(z, mean, logvar):
    # Broadcasting log N(z; mean, exp(logvar)), elementwise.
    return -0.5 * (_LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar))


def gaussian_log_density(
    z: Float[AnyArray, "batch latent"],
    mean: Float[AnyArray, "batch latent"],
    logvar: Float[AnyArray, "batch latent"],
) -> Float[AnyArray, "batch latent"]:
    """Elementwise ``log N(z; mean, exp(logvar))`` of a diagonal Gaussian.

    ``−½ (log 2π + logvar + (z − mean)² · exp(−logvar))``.

    Numerics: computed in float32 (half-precision inputs are upcast), no clamping. Finite
    while ``(z − mean)² · exp(−logvar) < 3.4e38``: always for ``z`` drawn from this Gaussian
    (the term is ``ε²``), and e.g. for ``|z − mean| <= 20`` with ``logvar`` in ``[−80, 80]``;
    beyond it the density underflows to ``−inf``.

    Args:
      z: points, shape ``(batch, latent)``.
      mean: means, same shape.
      logvar: log-variances, same shape.

    Returns:
      Log densities in nats, shape ``(batch, latent)`` (no reduction; sum over ``latent`` for
      the density of the whole diagonal Gaussian).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(gaussian_log_density(jnp.zeros((1, 1)), jnp.zeros((1, 1)),
      ...                                  jnp.zeros((1, 1)))[0, 0]), 4)
      -0.9189
    """
    check_same_shape(z.shape, mean.shape, "z", "mean")
    check_same_shape(z.shape, logvar.shape, "z", "logvar")
    return _log_density(at_least_float32(z), at_least_float32(mean), at_least_float32(logvar))


def tc_decomposition(
    z: Float[AnyArray, "batch latent"],
    mean: Float[AnyArray, "batch latent"],
    logvar: Float[AnyArray, "batch latent"],
    dataset_size: int,
) -> TCTerms:
    """Minibatch-weighted-sampling estimate of the β-TCVAE decomposition of the KL term.

    With ``M`` the batch size, ``N = dataset_size`` and ``log q(z_id | x_j)`` the
    ``(M, M, latent)`` matrix of each sample ``z_i`` under every posterior ``q(·|x_j)`` of the
    batch (Chen et al. 2018, eq. (S) and section 3 / appendix C.1, MWS)::

      log q(z_i)        ≈ logsumexp_j Σ_d log q(z_id | x_j) − log(N·M)
      log Π_d q(z_id)   ≈ Σ_d [logsumexp_j log q(z_id | x_j) − log(N·M)]
      mutual_info       = mean_i [log q(z_i | x_i) − log q(z_i)]
      total_correlation = mean_i [log q(z_i) − log Π_d q(z_id)]
      dimwise_kl        = mean_i [log Π_d q(z_id) − log p(z_i)],   p = N(0, I)

    The three telescope: their sum is ``mean_i [log q(z_i|x_i) − log p(z_i)]``, the
    single-sample estimate of ``E_batch[KL(q(z|x) || p(z))]``, exactly up to float rounding.

    Reduction: log densities are summed over latent dims and averaged over the batch. Unlike the
    analytic KL, the ``q(z)`` estimates use every sample of the batch, so the terms of a batch
    are *not* the mean of the terms of its halves (the estimator is biased for small ``M``).

    Numerics: float32 (half-precision inputs are upcast), log-sum-exp throughout, no clamping.
    The terms are finite when every sample's own log density ``log q(z_i|x_i)`` is (see
    :func:`gaussian_log_density`), which holds for reparameterised samples whatever the
    ``logvar``: a sample far outside another posterior only drops out of that log-sum-exp.

    Args:
      z: reparameterised samples ``z_i ~ q(z|x_i)``, shape ``(batch, latent)``.
      mean: posterior means, same shape.
      logvar: posterior log-variances, same shape.
      dataset_size: ``N``, the number of training examples; must be ``>= batch`` (checked when
        traced, naming ``dataset_size``).

    Returns:
      :class:`TCTerms` of three scalars (nats).

    Example:
      >>> import jax.numpy as jnp
      >>> terms = tc_decomposition(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros((4, 2)),
      ...                          dataset_size=1000)
      >>> round(float(sum(terms)), 4)  # z = 0 under q = p = N(0, I): the KL estimate is 0
      0.0
      >>> round(float(terms.total_correlation), 4)  # MWS bias: (latent − 1)·log N here
      6.9078
    """
    check_same_shape(z.shape, mean.shape, "z", "mean")
    check_same_shape(z.shape, logvar.shape, "z", "logvar")
    batch = z.shape[0]
    dataset_size = check_int(dataset_size, "dataset_size", minimum=1)
    if dataset_size < batch:
        raise ValueError(
            f"`dataset_size` must be >= the batch size {batch}, got {dataset_size}."
        )
    log_nm = math.log(dataset_size * batch)
    z, mean, logvar = at_least_float32(z), at_least_float32(mean), at_least_float32(logvar)
    # log q(z_id | x_j): axis 0 is the sample i, axis 1 the posterior j.
    matrix = _log_density(z[:, None, :], mean[None, :, :], logvar[None, :, :])
    log_qz = logsumexp(jnp.sum(matrix, axis=-1), axis=1) - log_nm
    log_prod_qzi = jnp.sum(logsumexp(matrix, axis=1) - log_nm, axis=-1)
    log_qz_given_x = jnp.sum(_log_density(z, mean, logvar), axis=-1)
    log_pz = jnp.sum(_log_density(z, 0.0, 0.0), axis=-1)
    return TCTerms(
        mutual_info=batch_mean(log_qz_given_x - log_qz),
        total_correlation=batch_mean(log_qz - log_prod_qzi),
        dimwise_kl=batch_mean(log_prod_qzi - log_pz),
    )


def beta_tcvae(
    alpha: float | int | optax.Schedule = 1.0,
    beta: float | int | optax.Schedule = 6.0,
    gamma: float | int | optax.Schedule = 1.0,
    *,
    dataset_size: int,
    likelihood: Likelihood = bernoulli_nll,
    active_threshold: float | int = 0.01,
) -> Objective:
    """β-TCVAE objective ``E[−log p(x|z)] + α·MI + β·TC + γ·dimwise-KL`` (Chen et al. 2018).

    The KL term of the ELBO is split by :func:`tc_decomposition` (minibatch-weighted sampling)
    into the index-code mutual information, the total correlation and the dimension-wise KL;
    ``α = γ = 1`` with ``β > 1`` penalises only the total correlation, the paper's β-TCVAE.
    ``α = β = γ = 1`` is (an estimate of) the ELBO. Each weight is a number ``>= 0`` or any
    ``optax.Schedule``, evaluated on the traced step (changing it never recompiles).

    Reduction: every term is summed over event/latent dims and averaged over the batch; the
    ``q(z)`` estimates pool the batch, so this loss is *not* batch-size invariant (the loss of a
    batch is not the mean of its halves' losses), unlike :func:`beta_vae`.

    Args:
      alpha: weight of the mutual information.
      beta: weight of the total correlation.
      gamma: weight of the dimension-wise KL.
      dataset_size: ``N``, the number of training examples (``>= 1``; ``>= batch`` at call).
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`bernoulli_nll` (the default,
        for decoder logits) or ``gaussian_nll(sigma)``.
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)`` with ``out`` having ``recon``, ``mean``,
      ``logvar`` and ``z``. Metrics: ``loss``; ``reconstruction_loss``, ``mutual_info``,
      ``total_correlation``, ``dimwise_kl`` and each one's ``*_weight``; ``kl_loss``, the
      analytic batch-mean KL (reported for comparison with ``mutual_info + total_correlation +
      dimwise_kl``, never optimised); and ``kl_dim_{i}``, ``active_dims``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from vaekit.models import VAEOutput
      >>> objective = beta_tcvae(beta=optax.linear_schedule(1.0, 6.0, 1000), dataset_size=60_000)
      >>> out = VAEOutput(recon=jnp.zeros((4, 3)), mean=jnp.zeros((4, 2)),
      ...                 logvar=jnp.zeros((4, 2)), z=jnp.zeros((4, 2)))
      >>> loss, metrics = objective(out, {"x": jnp.ones((4, 3))}, jnp.int32(0))
      >>> float(metrics["total_correlation_weight"])
      1.0
    """
    weights = {
        "mutual_info": as_schedule(alpha, "alpha"),
        "total_correlation": as_schedule(beta, "beta"),
        "dimwise_kl": as_schedule(gamma, "gamma"),
    }
    dataset_size = check_int(dataset_size, "dataset_size", minimum=1)
    if not callable(likelihood):
        raise ValueError(f"`likelihood` must be callable, got {type(likelihood).__name__}.")
    active_threshold = check_number(active_threshold, "active_threshold", minimum=0.0)

    def decomposition(out: GaussianOutput, batch: Batch, step: Step):
        terms = tc_decomposition(out.z, out.mean, out.logvar, dataset_size)
        return terms._asdict(), {"kl_loss": batch_mean(gaussian_kl(out.mean, out.logvar))}

    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_decomposition": (decomposition, weights),
        },
        reporters=[kl_monitor(active_threshold)],
    )
