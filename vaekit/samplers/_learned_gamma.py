"""An MLP VAE on vectors with a learned scalar decoder variance γ (Dai & Wipf 2019).

``p(x | z) = N(decoder(z), γ·I)`` with ``log γ`` an ``nnx.Param`` trained with the rest; the
objective is the negative ELBO ``Σ_d [(x − μ)²/(2γ) + ½ log γ + ½ log 2π] + KL(q(z|x) || N(0,I))``
(Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models", section 4: a learned γ lets the
decoder variance shrink so that the VAE can fit a low-dimensional manifold).
"""

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import Batch, Step
from vaekit.models._mlp import MLPDecoder, MLPEncoder
from vaekit.models._vae import VAE
from vaekit.objectives._compose import ComposedObjective, Term, compose
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._reductions import batch_mean, sum_event
from vaekit.objectives._terms import kl_term

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class LearnedGammaOutput(NamedTuple):
    """:class:`LearnedGammaVAE`'s forward: the :class:`vaekit.VAEOutput` fields and ``log γ``.

    Attributes:
      recon: decoder means ``(batch, dim)``; mean, logvar, z: ``(batch, latent)``;
      log_gamma: the scalar log decoder variance.
    """

    recon: Array
    mean: Array
    logvar: Array
    z: Array
    log_gamma: Array


class LearnedGammaVAE(nnx.Module):
    """A VAE on vectors with a learned decoder variance ``γ``.

    ``vaekit.VAE(MLPEncoder, MLPDecoder)`` on ``(batch, dim)`` vectors plus a learned ``log_gamma``
    (initially ``0``: γ = 1).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> vae = LearnedGammaVAE(3, 2, (8,), rngs=nnx.Rngs(0))
      >>> out = vae(jnp.zeros((4, 3)), key=jax.random.key(0))
      >>> out.recon.shape, float(out.log_gamma)
      ((4, 3), 0.0)
    """

    def __init__(
        self,
        dim: int,
        latent_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.dim = check_int(dim, "dim")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        hidden = tuple(hidden_sizes)
        self.vae = VAE(
            MLPEncoder((self.dim,), self.latent_dim, hidden, activation, rngs=rngs),
            MLPDecoder(self.latent_dim, (self.dim,), hidden[::-1], activation, rngs=rngs),
        )
        self.log_gamma = nnx.Param(jnp.zeros((), jnp.float32))

    def encode(self, x: Float[Array, "batch dim"]):
        """Posterior parameters ``(mean, logvar)`` of q(u|x)."""
        return self.vae.encode(x)

    def decode(self, u: Float[Array, "batch latent"]) -> Float[Array, "batch dim"]:
        """Decoder means of p(x|u)."""
        return self.vae.decode(u)

    def __call__(self, x: Float[Array, "batch dim"], *, key: PRNGKeyArray) -> LearnedGammaOutput:
        """The VAE forward of ``x`` plus the learned ``log_gamma``."""
        out = self.vae(x, key=key)
        return LearnedGammaOutput(*out, log_gamma=self.log_gamma[...])


def learned_gamma_nll_term() -> Term:
    """The learned-γ Gaussian reconstruction NLL.

    ``E_batch[Σ_d (x − μ)²/(2γ) + ½ log γ + ½ log 2π]`` from ``out.recon`` and ``out.log_gamma`` (a
    term for :func:`~vaekit.objectives.compose`; extra metric ``gamma``).

    Computed in float32; finite while ``(x − μ)² · exp(−log γ) < 3.4e38``.

    Example:
      >>> term = learned_gamma_nll_term()
    """

    def term(out, batch: Batch, step: Step):
        x = jnp.asarray(batch["x"], jnp.float32)
        log_gamma = jnp.asarray(out.log_gamma, jnp.float32)
        recon = jnp.asarray(out.recon, jnp.float32)
        if x.shape != recon.shape:
            raise ValueError(f"`x` (batch[\"x\"]) must have the shape of `recon` "
                             f"{tuple(recon.shape)}, got {tuple(x.shape)}.")
        per_elem = 0.5 * jnp.square(x - recon) * jnp.exp(-log_gamma) + 0.5 * log_gamma
        nll = sum_event(per_elem + _HALF_LOG_2PI)
        return batch_mean(nll), {"gamma": jnp.exp(log_gamma)}

    return term


def learned_gamma_vae_objective() -> ComposedObjective:
    """Negative ELBO of :class:`LearnedGammaVAE`.

    Negative ELBO of :class:`LearnedGammaVAE`: ``reconstruction_loss`` (the learned-γ Gaussian NLL,
    :func:`learned_gamma_nll_term`) ``+ kl_loss`` (KL to N(0, I)), both summed over dims and
    averaged over the batch; metrics also ``gamma`` and KL monitoring.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> train = vaekit.make_train_step(learned_gamma_vae_objective(), optax.adam(1e-3))
      >>> state = train.init(LearnedGammaVAE(3, 2, (8,), rngs=nnx.Rngs(0)), jax.random.key(0))
      >>> state, metrics = train.step(state, {"x": jax.numpy.zeros((4, 3))})
      >>> sorted(k for k in metrics if not k.startswith("kl_dim"))[:4]
      ['active_dims', 'gamma', 'kl_loss', 'loss']
    """
    return compose(
        {"reconstruction_loss": learned_gamma_nll_term(), "kl_loss": kl_term()},
        reporters=[kl_monitor()],
        weight_metrics={"reconstruction_loss": None, "kl_loss": None},
    )
