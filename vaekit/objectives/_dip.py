"""DIP-VAE I and II: match a latent covariance to the identity (Kumar et al. 2018).

Matches disentanglement_lib's ``compute_covariance_z_mean`` and
``regularize_diag_off_diag_dip`` (Locatello et al. 2019).
"""

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Float

from vaekit._checks import check_number, check_same_shape
from vaekit._outputs import GaussianPosterior
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._terms import kl_term, reconstruction_term
from vaekit.schedules import as_schedule, evaluate

DIP_KINDS = ("i", "ii")
# disentanglement_lib's study configs: lambda_d = lambda_d_factor · lambda_od.
_LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}


def _check_kind(kind: object) -> str:
    if kind not in DIP_KINDS:
        raise ValueError(f"`kind` must be one of {DIP_KINDS}, got {kind!r}.")
    return kind


def dip_covariance(
    mean: Float[AnyArray, "batch latent"],
    logvar: Float[AnyArray, "batch latent"] | None = None,
    *,
    kind: str = "i",
) -> Float[AnyArray, "latent latent"]:
    """The batch covariance that DIP-VAE pushes towards the identity (Kumar et al. 2018).

    * ``kind="i"`` (DIP-VAE-I, eq. 6): ``Cov_p(x)[μ(x)] = E[μ μᵀ] − E[μ] E[μ]ᵀ``, the covariance
      of the posterior means over the batch;
    * ``kind="ii"`` (DIP-VAE-II, eq. 7): ``Cov_q(z) = Cov_p(x)[μ(x)] + E_p(x)[diag(exp(logvar))]``,
      the covariance of the aggregate posterior.

    Expectations are means over the batch (``1/M``, the population covariance, as in
    disentanglement_lib's ``compute_covariance_z_mean``); computed from centred means, which is
    the same value with less cancellation. This is a batch-level statistic: it is invariant to
    permuting the batch, but the covariance of a batch is *not* the mean of its halves'.

    Numerics: computed in float32 (half-precision inputs are upcast). Finite for ``|mean| <=
    1e19`` and, for ``kind="ii"``, ``logvar <= 88``; the DIP penalty squares these entries, so
    :func:`dip_regularizer` (and the DIP-VAE loss) stays finite for ``|mean| <= 1e9`` and
    ``logvar <= 43`` (DIP-VAE-II), e.g. ``logvar = 40``; ``logvar`` is not clamped.

    Args:
      mean: posterior means ``μ``, shape ``(batch, latent)``.
      logvar: posterior log-variances, same shape; needed for ``kind="ii"`` only.
      kind: ``"i"`` or ``"ii"``.

    Returns:
      Symmetric covariance, shape ``(latent, latent)``.

    Example:
      >>> import jax.numpy as jnp
      >>> dip_covariance(jnp.array([[1.0, 0.0], [-1.0, 0.0]])).tolist()
      [[1.0, 0.0], [0.0, 0.0]]
    """
    kind = _check_kind(kind)
    mean = at_least_float32(mean)
    centred = mean - jnp.mean(mean, axis=0, keepdims=True)
    cov = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST) / mean.shape[0]
    if kind == "ii":
        if logvar is None:
            raise ValueError('`logvar` is required for kind="ii" (DIP-VAE-II).')
        check_same_shape(mean.shape, logvar.shape, "mean", "logvar")
        cov = cov + jnp.diag(jnp.mean(jnp.exp(at_least_float32(logvar)), axis=0))
    return cov


def _off_diagonal(cov: Float[AnyArray, "latent latent"]) -> Float[AnyArray, ""]:
    """``Σ_{i≠j} cov_ij²``."""
    return jnp.sum(jnp.square(cov - jnp.diag(jnp.diag(cov))))


def _diagonal(cov: Float[AnyArray, "latent latent"]) -> Float[AnyArray, ""]:
    """``Σ_i (cov_ii − 1)²``."""
    return jnp.sum(jnp.square(jnp.diag(cov) - 1.0))


def dip_regularizer(
    cov: Float[AnyArray, "latent latent"], lambda_od: float | int, lambda_d: float | int
) -> Float[AnyArray, ""]:
    """``λ_od · Σ_{i≠j} cov_ij² + λ_d · Σ_i (cov_ii − 1)²`` (Kumar et al. 2018, eqs. 6–7).

    The penalty on a covariance's deviation from the identity, as disentanglement_lib's
    ``regularize_diag_off_diag_dip``; 0 exactly at ``cov = I``. Computed in float32
    (half-precision ``cov`` is upcast): finite for entries up to ``1e18 / sqrt(λ)``.

    Args:
      cov: a ``(latent, latent)`` covariance, e.g. from :func:`dip_covariance`.
      lambda_od: weight ``>= 0`` of the off-diagonal entries.
      lambda_d: weight ``>= 0`` of the diagonal entries' distance to 1.

    Returns:
      Non-negative scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> float(dip_regularizer(2.0 * jnp.eye(3), lambda_od=10.0, lambda_d=100.0))
      300.0
    """
    lambda_od = check_number(lambda_od, "lambda_od", minimum=0.0)
    lambda_d = check_number(lambda_d, "lambda_d", minimum=0.0)
    cov = at_least_float32(cov)
    return lambda_od * _off_diagonal(cov) + lambda_d * _diagonal(cov)


def _covariance_term(kind: str, lambda_od: optax.Schedule, lambda_d: optax.Schedule) -> Term:
    """Both DIP components from one covariance, with their weighted sum as a metric."""

    def term(out: GaussianPosterior, batch: Batch, step: Step):
        cov = dip_covariance(out.mean, out.logvar, kind=kind)
        off_diagonal, diagonal = _off_diagonal(cov), _diagonal(cov)
        regularizer = evaluate(lambda_od, step) * off_diagonal + evaluate(lambda_d, step) * diagonal
        return ({"dip_off_diagonal": off_diagonal, "dip_diagonal": diagonal},
                {"dip_regularizer": regularizer})

    return term


def _check_lambda(value, name: str):
    return value if callable(value) else check_number(value, name, minimum=0.0)


def dip_vae(
    kind: str = "i",
    lambda_od: float | int | optax.Schedule = 10.0,
    lambda_d: float | int | optax.Schedule | None = None,
    likelihood: Likelihood = bernoulli_nll,
    *,
    active_threshold: float | int = 0.01,
) -> Objective:
    """DIP-VAE objective.

    DIP-VAE objective (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts
    from Unlabeled Observations")::

        L = E[−log p(x|z)] + KL(q(z|x) || N(0, I))
            + λ_od · Σ_{i≠j} Cov_ij² + λ_d · Σ_i (Cov_ii − 1)²

    with ``Cov`` from :func:`dip_covariance` (``kind="i"``: covariance of the posterior means;
    ``kind="ii"``: plus the mean posterior variance). As in disentanglement_lib's ``DIPVAE``.

    Defaults follow disentanglement_lib: ``λ_od = 10`` (its test config; its study sweeps
    1, 2, 5, 10, 20, 50) and ``λ_d = lambda_d_factor · λ_od`` with ``lambda_d_factor = 10``
    for DIP-VAE-I and ``1`` for DIP-VAE-II.

    Built with :func:`~vaekit.objectives.compose` from the terms
    ``reconstruction_loss`` and ``kl_loss`` (weight 1), ``dip_off_diagonal`` (``Σ_{i≠j}
    Cov_ij²``, weight ``λ_od``) and ``dip_diagonal`` (``Σ_i (Cov_ii − 1)²``, weight ``λ_d``);
    the weighted sum of the last two is reported as ``dip_regularizer``. The λs may be numbers
    ``>= 0`` or ``optax`` schedules (a default ``λ_d`` then follows ``λ_od``'s schedule).

    Reduction: reconstruction and KL are summed over event dims and averaged over the batch; the
    DIP terms are functions of the batch covariance (expectations are ``1/M`` batch means, as in
    disentanglement_lib), a batch-level statistic: the loss is invariant to permuting the batch
    but *not* exactly the mean of the losses of the batch's halves.

    Args:
      kind: ``"i"`` (DIP-VAE-I) or ``"ii"`` (DIP-VAE-II).
      lambda_od: off-diagonal weight ``>= 0`` or a schedule.
      lambda_d: diagonal weight ``>= 0`` or a schedule; ``None`` for the default above.
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`bernoulli_nll` (decoder logits).
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)``; ``out`` has ``recon``, ``mean`` and
      ``logvar``. Metrics: ``loss``, ``reconstruction_loss``, ``kl_loss``, ``dip_off_diagonal``,
      ``dip_diagonal``, their ``*_weight``, ``dip_regularizer``, ``active_dims``, ``kl_dim_{i}``.

    Example:
      >>> from vaekit.objectives import dip_vae
      >>> objective = dip_vae("ii", lambda_od=20.0)  # lambda_d = 20
    """
    kind = _check_kind(kind)
    lambda_od = _check_lambda(lambda_od, "lambda_od")
    if lambda_d is None:
        factor = _LAMBDA_D_FACTOR[kind]
        if callable(lambda_od):
            schedule = lambda_od

            def scaled(step):
                return factor * schedule(step)

            lambda_d = scaled
        else:
            lambda_d = factor * lambda_od
    else:
        lambda_d = _check_lambda(lambda_d, "lambda_d")

    lambda_od, lambda_d = as_schedule(lambda_od, "lambda_od"), as_schedule(lambda_d, "lambda_d")
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_loss": kl_term(),
            "dip": (_covariance_term(kind, lambda_od, lambda_d),
                    {"dip_off_diagonal": lambda_od, "dip_diagonal": lambda_d}),
        },
        reporters=[kl_monitor(active_threshold)],
    )
