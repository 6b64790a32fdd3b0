"""The hierarchical (Ladder) VAE objective: recon + β Σ_l KL(q(z_l | ·) || p(z_l | z_{l+1})).

For a :class:`vaekit.models.HierarchicalVAEOutput` (per-layer ``q_mean``, ``q_logvar``,
``p_mean``, ``p_logvar`` at the sampled upper layers), each layer's KL is the analytic
Gaussian–Gaussian KL (:func:`gaussian_kl_between`), summed over the layer's dims and averaged
over the batch (Sønderby et al. 2016; Kingma et al. 2016, top-down inference).
"""

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._checks import check_number, check_same_shape
from vaekit._types import AnyArray, Batch, Likelihood, Metrics, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._free_bits import free_bits_kl
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitoring_metrics
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._reductions import batch_mean, sum_event
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule


def gaussian_kl_between(
    mean_q: Float[AnyArray, "batch latent"],
    logvar_q: Float[AnyArray, "batch latent"],
    mean_p: Float[AnyArray, "batch latent"],
    logvar_p: Float[AnyArray, "batch latent"],
) -> Float[AnyArray, "batch latent"]:
    """KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))) per dimension, no reduction.

    ``½ (logvar_p − logvar_q + (exp(logvar_q) + (mean_q − mean_p)²) / exp(logvar_p) − 1)``,
    written as ``½ (expm1(δ) − δ + (mean_q − mean_p)² · exp(−logvar_p))`` with
    ``δ = logvar_q − logvar_p``, so that it is exactly 0 when ``q = p`` and keeps precision
    for ``q`` near ``p``. With ``mean_p = logvar_p = 0`` it is
    :func:`vaekit.objectives.gaussian_kl_per_dim`.

    Numerics: float32 (half-precision inputs are upcast), no clamping of the log-variances;
    finite while ``logvar_q − logvar_p <= 88`` and ``(mean_q − mean_p)² · exp(−logvar_p) <
    3.4e38``. The result is clamped at 0 against last-ulp rounding, so it is never negative.

    Args:
      mean_q: mean of the first Gaussian (the posterior), shape ``(batch, latent)``.
      logvar_q: log-variance of the first Gaussian, same shape.
      mean_p: mean of the second Gaussian (the prior), same shape.
      logvar_p: log-variance of the second Gaussian, same shape.

    Returns:
      Non-negative KL in nats, shape ``(batch, latent)``.

    Example:
      >>> import jax.numpy as jnp
      >>> z = jnp.zeros((1, 2))
      >>> gaussian_kl_between(jnp.ones((1, 2)), z, z, z).tolist()
      [[0.5, 0.5]]
    """
    for array, name in ((logvar_q, "logvar_q"), (mean_p, "mean_p"), (logvar_p, "logvar_p")):
        check_same_shape(mean_q.shape, array.shape, "mean_q", name)
    mean_q, logvar_q = at_least_float32(mean_q), at_least_float32(logvar_q)
    mean_p, logvar_p = at_least_float32(mean_p), at_least_float32(logvar_p)
    delta = logvar_q - logvar_p
    per_dim = 0.5 * (jnp.expm1(delta) - delta + jnp.square(mean_q - mean_p) * jnp.exp(-logvar_p))
    return jnp.maximum(per_dim, 0.0)


def _layer_kls_per_dim(out) -> tuple[Float[Array, "batch _"], ...]:
    """Per-layer, per-dimension KLs of a hierarchical output record.

    Per-layer, per-dimension :func:`gaussian_kl_between` of a hierarchical output record
    (``q_mean``, ``q_logvar``, ``p_mean``, ``p_logvar`` tuples, bottom layer first).
    """
    fields = (out.q_mean, out.q_logvar, out.p_mean, out.p_logvar)
    if len({len(f) for f in fields}) != 1 or len(out.q_mean) == 0:
        raise ValueError(
            "`out` must carry q_mean, q_logvar, p_mean and p_logvar tuples of the same, "
            f"non-zero length, got lengths {[len(f) for f in fields]}."
        )
    return tuple(gaussian_kl_between(*layer) for layer in zip(*fields, strict=True))


def hierarchical_kl_term(
    free_bits: float | int = 0.0, *, active_threshold: float | int = 0.01
) -> Term:
    """Batch-reduced KL term summed over layers, with per-layer metrics.

    Batch-reduced term ``Σ_l KL_l`` (or, with free bits ``λ > 0``, ``Σ_l Σ_d max(λ,
    E_batch[KL_l,d])``, :func:`vaekit.objectives.free_bits_kl` per layer, Kingma et al. 2016) with
    per-layer metrics.

    Extra metrics, ``l`` the layer index (0 = bottom): ``kl_layer_{l}`` (batch-mean KL of the
    layer), ``active_dims_layer_{l}`` (dims whose batch-mean KL exceeds ``active_threshold``
    nats, as in :func:`vaekit.objectives.kl_monitoring_metrics`); with ``λ > 0`` also
    ``kl_loss`` (the un-floored total) and ``kl_free_bits_layer_{l}`` (the layer's penalty).

    Example:
      >>> from vaekit.objectives import hierarchical_kl_term
      >>> term = hierarchical_kl_term(free_bits=0.25)
    """
    free_bits = check_number(free_bits, "free_bits", minimum=0.0)
    active_threshold = check_number(active_threshold, "active_threshold", minimum=0.0)

    def term(out, batch: Batch, step: Step) -> tuple[Float[Array, ""], Metrics]:
        metrics: Metrics = {}
        total = jnp.zeros((), jnp.float32)
        penalty = jnp.zeros((), jnp.float32)
        for layer, per_dim in enumerate(_layer_kls_per_dim(out)):
            kl = batch_mean(sum_event(per_dim))
            total = total + kl
            metrics[f"kl_layer_{layer}"] = kl
            active = kl_monitoring_metrics(per_dim, active_threshold)["active_dims"]
            metrics[f"active_dims_layer_{layer}"] = active
            if free_bits > 0.0:
                floored = free_bits_kl(per_dim, free_bits)
                metrics[f"kl_free_bits_layer_{layer}"] = floored
                penalty = penalty + floored
        if free_bits > 0.0:
            metrics["kl_loss"] = total
            return penalty, metrics
        return total, metrics

    return term


def hierarchical_vae(
    beta: float | int | optax.Schedule = 1.0,
    free_bits: float | int = 0.0,
    likelihood: Likelihood = bernoulli_nll,
    *,
    active_threshold: float | int = 0.01,
) -> Objective:
    """``E[−log p(x|z_0)] + β Σ_l KL(q(z_l | x, z_{l+1}) || p(z_l | z_{l+1}))``: the Ladder VAE.

    For :class:`vaekit.models.HierarchicalVAE` outputs. ``KL_l`` is analytic
    (:func:`gaussian_kl_between`) at the sampled upper layers, summed over the layer's dims and
    averaged over the batch; ``β = 1`` and ``free_bits = 0`` give the negative ELBO, whose
    negative is the expectation of ``HierarchicalVAE.log_importance_weight``. Sønderby et al.
    (2016) warm ``β`` up from 0 to 1: pass ``optax.linear_schedule(0.0, 1.0, steps)``.
    ``free_bits = λ > 0`` floors every latent dimension's batch-mean KL at ``λ`` nats, per layer
    (Kingma et al. 2016, eq. (15); :func:`vaekit.objectives.free_bits_kl`): a collapsed layer
    then gets no gradient from the KL.

    Args:
      beta: a number ``>= 0`` or an ``optax.Schedule`` of the step.
      free_bits: the floor ``λ >= 0`` in nats per latent dimension (0: none).
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`vaekit.bernoulli_nll`.
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)`` with metrics ``loss``,
      ``reconstruction_loss``, ``kl_loss`` (``Σ_l KL_l``, un-floored), ``beta``,
      ``kl_layer_{l}``, ``active_dims_layer_{l}`` and, when ``free_bits > 0``, the penalty
      ``kl_free_bits`` and ``kl_free_bits_layer_{l}``.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> from vaekit.models import mlp_hierarchical_vae
      >>> from vaekit.objectives import hierarchical_vae
      >>> model = mlp_hierarchical_vae((4, 4, 1), (6, 4, 2), hidden=8, rngs=nnx.Rngs(0))
      >>> train = vaekit.make_train_step(hierarchical_vae(free_bits=0.1), optax.adam(1e-3))
      >>> state, metrics = train.step(train.init(model, jax.random.key(0)),
      ...                             {"x": jax.numpy.zeros((2, 4, 4, 1))})
      >>> sorted(k for k in metrics if k.startswith("kl_layer"))
      ['kl_layer_0', 'kl_layer_1', 'kl_layer_2']
    """
    kl_name = "kl_free_bits" if check_number(free_bits, "free_bits", minimum=0.0) else "kl_loss"
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            kl_name: (
                hierarchical_kl_term(free_bits, active_threshold=active_threshold),
                as_schedule(beta, "beta"),
            ),
        },
        weight_metrics={"reconstruction_loss": None, kl_name: "beta"},
    )
