"""The basic batch-reduced terms of a Gaussian VAE, ready for :func:`compose`."""

from jaxtyping import Array, Float

from vaekit._outputs import GaussianPosterior, Reconstruction
from vaekit._types import Batch, Likelihood, Step
from vaekit.objectives._compose import Term
from vaekit.objectives._kl import gaussian_kl
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._reductions import batch_mean


def reconstruction_term(likelihood: Likelihood = bernoulli_nll, *, target: str = "x") -> Term:
    """``E_batch[−log p(x | z)]``: ``likelihood(out.recon, batch[target])`` averaged over batch.

    Example:
      >>> from vaekit.objectives import reconstruction_term
      >>> term = reconstruction_term()  # Bernoulli NLL on decoder logits
    """

    def term(out: Reconstruction, batch: Batch, step: Step) -> Float[Array, ""]:
        return batch_mean(likelihood(out.recon, batch[target]))

    return term


def kl_term() -> Term:
    """``E_batch[KL(q(z|x) || N(0, I))]`` from ``out.mean`` and ``out.logvar``.

    Example:
      >>> from vaekit.objectives import kl_term
      >>> term = kl_term()
    """

    def term(out: GaussianPosterior, batch: Batch, step: Step) -> Float[Array, ""]:
        return batch_mean(gaussian_kl(out.mean, out.logvar))

    return term
