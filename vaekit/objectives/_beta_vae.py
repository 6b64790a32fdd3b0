"""The (annealed) β-VAE objective: reconstruction NLL + β · KL (Higgins et al. 2017)."""

import optax

from vaekit._types import Likelihood, Objective
from vaekit.objectives._compose import compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._terms import kl_term, reconstruction_term
from vaekit.schedules import as_schedule


def beta_vae(
    beta: float | int | optax.Schedule = 1.0,
    likelihood: Likelihood = bernoulli_nll,
    *,
    active_threshold: float | int = 0.01,
) -> Objective:
    """β-VAE objective ``E[−log p(x|z)] + β · KL(q(z|x) || N(0, I))``.

    ``β = 1`` is the ELBO of Kingma & Welling (2014); ``β > 1`` is the β-VAE of Higgins et al.
    (2017); a schedule such as ``optax.linear_schedule(0, 1, 10_000)`` gives KL annealing
    (Bowman et al. 2016). β is evaluated on the traced step, so it never recompiles.

    Reduction: each term is summed over event dims and averaged over the batch.

    Args:
      beta: a number ``>= 0`` or any ``optax.Schedule`` (``step -> β``).
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`bernoulli_nll` (the default,
        for decoder logits) or ``gaussian_nll(sigma)``.
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)`` where ``out`` has ``recon``, ``mean``
      and ``logvar`` and metrics are ``loss``, ``reconstruction_loss``, ``kl_loss``, ``beta``,
      ``active_dims`` and ``kl_dim_{i}``.

    Example:
      >>> import optax, vaekit
      >>> objective = vaekit.beta_vae(beta=optax.linear_schedule(0.0, 4.0, 1000))
    """
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_loss": (kl_term(), as_schedule(beta, "beta")),
        },
        reporters=[kl_monitor(active_threshold)],
        weight_metrics={"reconstruction_loss": None, "kl_loss": "beta"},
    )
