"""The VQ-VAE objective: reconstruction NLL + codebook loss + β · commitment loss."""

from collections.abc import Mapping

import optax
from jaxtyping import Array, Float

from vaekit._outputs import QuantizedOutput
from vaekit._types import Batch, Likelihood, Metrics, Objective, Step
from vaekit.objectives._compose import Term, compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._terms import reconstruction_term
from vaekit.schedules import as_schedule


def quantizer_loss_term(name: str) -> Term:
    """The term ``out.losses[name]``: a quantizer loss already reduced to a scalar.

    A ``name`` the quantizer does not report raises a ValueError naming it and the losses
    there are.

    Example:
      >>> from vaekit.objectives import quantizer_loss_term
      >>> term = quantizer_loss_term("commitment_loss")
    """

    def term(out: QuantizedOutput, batch: Batch, step: Step) -> Float[Array, ""]:
        if name not in out.losses:  # a typo would otherwise be a bare KeyError mid-trace
            raise ValueError(
                f"the quantizer reports no loss {name!r} (the `name` of this term); "
                f"`out.losses` has {sorted(out.losses)}."
            )
        return out.losses[name]

    return term


def quantized_autoencoder(
    losses: Mapping[str, float | int | optax.Schedule],
    likelihood: Likelihood = bernoulli_nll,
) -> Objective:
    """``E_batch[−log p(x | z_q)] + Σ_name w_name · out.losses[name]`` for any quantizer.

    The objective of every quantized autoencoder (VQ, residual VQ, FSQ, LFQ): the reconstruction
    term plus the quantizer's named auxiliary losses, each with its weight (a number ``>= 0`` or
    an optax schedule) reported as ``{name}_weight``; the model's ``out.metrics`` (perplexity,
    codebook usage, ...) are passed through. ``losses`` may be empty (FSQ has no auxiliary loss).

    Example:
      >>> from vaekit.objectives import quantized_autoencoder
      >>> lfq_objective = quantized_autoencoder({"entropy_loss": 0.1, "commitment_loss": 0.25})
    """
    terms = {"reconstruction_loss": reconstruction_term(likelihood)}
    for name, weight in losses.items():
        terms[name] = (quantizer_loss_term(name), as_schedule(weight, f"{name} weight"))
    return compose(terms, reporters=[_model_metrics],
                   weight_metrics={"reconstruction_loss": None})


def _model_metrics(out: QuantizedOutput, batch: Batch, step: Step) -> Metrics:
    """A reporter passing the model's ``out.metrics`` through unchanged.

    A :func:`~vaekit.objectives.compose` reporter passing the model's ``out.metrics`` (perplexity,
    codebook usage, ...) through unchanged.
    """
    return dict(out.metrics)


def vq_vae(
    commitment_cost: float | int | optax.Schedule = 0.25,
    likelihood: Likelihood = bernoulli_nll,
    *,
    codebook_weight: float | int | optax.Schedule = 1.0,
) -> Objective:
    """VQ-VAE objective.

    VQ-VAE objective (van den Oord et al. 2017, eq. 3)::

        E_batch[−log p(x | z_q)] + w · mean_b Σ ||sg[z_e] − e||² + β · mean_b Σ ||z_e − sg[e]||²

    Every term is summed over event dims (pixels; latent positions and D) and averaged over the
    batch. With an EMA codebook the codebook term has no gradient (the codebook is not a
    parameter) and only shifts the reported loss. ``commitment_cost`` β and ``codebook_weight``
    ``w`` are numbers ``>= 0`` or ``optax`` schedules. The quantizers return unweighted losses
    only, so this β is the one commitment weight there is.

    Args:
      commitment_cost: β, default 0.25 (the paper's value).
      likelihood: ``(recon, x) -> (batch,)`` NLL; default :func:`bernoulli_nll` (decoder
        logits, binary data such as dSprites); e.g. ``gaussian_nll(1.0)`` or
        :func:`sum_of_squares` for real-valued data.
      codebook_weight: ``w``, default 1.

    Returns:
      :func:`quantized_autoencoder` with ``codebook_loss`` and ``commitment_loss``. Metrics:
      ``loss``, ``reconstruction_loss``, ``codebook_loss``, ``codebook_loss_weight``,
      ``commitment_loss``, ``commitment_loss_weight`` and every entry of ``out.metrics``
      (e.g. ``perplexity``, ``codebook_usage``).

    Example:
      >>> import vaekit
      >>> from vaekit.objectives import vq_vae
      >>> objective = vq_vae(commitment_cost=0.25, likelihood=vaekit.sum_of_squares)
    """
    return quantized_autoencoder(
        {
            "codebook_loss": as_schedule(codebook_weight, "codebook_weight"),
            "commitment_loss": as_schedule(commitment_cost, "commitment_cost"),
        },
        likelihood,
    )
