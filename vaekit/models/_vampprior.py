"""The VampPrior VAE: a mixture-of-variational-posteriors prior (Tomczak & Welling 2018).

"VAE with a VampPrior" (AISTATS 2018): the prior is the encoder's posterior averaged over ``K``
learned pseudo-inputs ``u_k``, ``p(z) = 1/K Σ_k q(z | u_k)``, so prior and posterior are
coupled and the prior can follow the aggregate posterior. Its KL to ``q(z|x)`` has no closed
form; the model returns ``log q(z|x)`` and ``log p(z)`` at the drawn ``z`` for the sample-based
KL of :func:`vaekit.objectives.sampled_kl_vae`.
"""

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray, Batch, Likelihood
from vaekit.models._reparameterize import reparameterize
from vaekit.objectives._sampled_kl import SampledVAEOutput, sampled_log_weight
from vaekit.objectives._tcvae import gaussian_log_density


def mixture_log_density(
    z: Float[AnyArray, "batch latent"],
    means: Float[AnyArray, "components latent"],
    logvars: Float[AnyArray, "components latent"],
) -> Float[Array, " batch"]:
    """``log (1/K Σ_k N(z; means_k, exp(logvars_k)))`` of an equal-weight diagonal mixture.

    Computed with ``logsumexp`` over the components (stable for far-apart components).

    Args:
      z: points, ``(batch, latent)``.
      means: component means, ``(K, latent)``.
      logvars: component log-variances, ``(K, latent)``.

    Returns:
      Log densities in nats, ``(batch,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(mixture_log_density(jnp.zeros((1, 1)), jnp.zeros((2, 1)),
      ...                                 jnp.zeros((2, 1)))[0]), 4)
      -0.9189
    """
    return logsumexp(component_log_densities(z, means, logvars), axis=1) - math.log(
        means.shape[0]
    )


def component_log_densities(
    z: Float[AnyArray, "batch latent"],
    means: Float[AnyArray, "components latent"],
    logvars: Float[AnyArray, "components latent"],
) -> Float[Array, "batch components"]:
    """``log N(z_b; means_k, exp(logvars_k))`` for every point ``b`` and component ``k``.

    Example:
      >>> import jax.numpy as jnp
      >>> component_log_densities(jnp.zeros((3, 2)), jnp.zeros((4, 2)), jnp.zeros((4, 2))).shape
      (3, 4)
    """
    if z.ndim != 2:
        raise ValueError(f"`z` must have shape (batch, latent), got {z.shape}.")
    if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] != z.shape[1] \
            or logvars.shape != means.shape:
        raise ValueError(
            f"`means` and `logvars` must have shape (K, {z.shape[1]}) with K >= 1, got "
            f"{means.shape} and {logvars.shape}."
        )
    batch, num = z.shape[0], means.shape[0]
    zz = jnp.repeat(jnp.asarray(z), num, axis=0)
    mm = jnp.tile(jnp.asarray(means), (batch, 1))
    vv = jnp.tile(jnp.asarray(logvars), (batch, 1))
    return jnp.sum(gaussian_log_density(zz, mm, vv), axis=-1).reshape(batch, num)


class VampPriorVAE(nnx.Module):
    """A Gaussian VAE whose prior is ``p(z) = 1/K Σ_k q(z | u_k)`` (Tomczak & Welling 2018).

    ``x -> encoder -> (mean, logvar) -> z = mean + σ ε -> decoder``; the pseudo-inputs
    ``u_k`` (an ``nnx.Param`` of shape ``(K, *image_shape)``, trained with everything else) are
    passed through the same encoder to give the prior's components.

    Initialisation of the pseudo-inputs: ``pseudo_inputs`` when given (e.g. ``K`` training
    images, the paper's data initialisation), otherwise ``N(init_mean, init_std²)`` noise, the
    default of the authors' code (``0.05 ± 0.01`` for binary images). The pseudo-inputs are not
    clipped to the data range (the paper's hard-tanh is optional there); use ``pseudo_inputs``
    from data for data on another scale.

    The forward returns a :class:`vaekit.objectives.SampledVAEOutput`; train it with
    :func:`vaekit.objectives.sampled_kl_vae`.

    Args:
      encoder: ``x (batch, *image_shape) -> (mean, logvar)``, each ``(batch, latent)``.
      decoder: ``z (batch, latent) -> recon``.
      num_pseudo_inputs: ``K >= 1`` (the paper uses 500 on MNIST).
      image_shape: the encoder's input shape without the batch axis.
      rngs: randomness for the pseudo-input initialisation.
      pseudo_inputs: optional initial values, ``(K, *image_shape)``.
      init_mean, init_std: of the random initialisation (``init_std >= 0``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit import MLPDecoder, MLPEncoder
      >>> rngs = nnx.Rngs(0)
      >>> vae = VampPriorVAE(MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    MLPDecoder(2, (4,), (8,), rngs=rngs), 3, (4,), rngs=rngs)
      >>> out = vae(jnp.zeros((5, 4)), key=jax.random.key(1))
      >>> out.recon.shape, out.log_prior.shape
      ((5, 4), (5,))
    """

    def __init__(
        self,
        encoder: nnx.Module,
        decoder: nnx.Module,
        num_pseudo_inputs: int,
        image_shape: Sequence[int],
        *,
        rngs: nnx.Rngs,
        pseudo_inputs: AnyArray | None = None,
        init_mean: float | int = 0.05,
        init_std: float | int = 0.01,
    ):
        num = check_int(num_pseudo_inputs, "num_pseudo_inputs")
        if isinstance(image_shape, int | str) or not isinstance(image_shape, Sequence):
            raise ValueError(f"`image_shape` must be a sequence of ints, got {image_shape!r}.")
        self.image_shape = tuple(check_int(d, "image_shape") for d in image_shape)
        init_mean = check_number(init_mean, "init_mean")
        init_std = check_number(init_std, "init_std", minimum=0.0)
        self.encoder = encoder
        self.decoder = decoder
        self.num_pseudo_inputs = num
        shape = (num, *self.image_shape)
        if pseudo_inputs is None:
            init = init_mean + init_std * jax.random.normal(rngs.params(), shape, jnp.float32)
        else:
            init = jnp.asarray(pseudo_inputs, jnp.float32)
            if init.shape != shape:
                raise ValueError(f"`pseudo_inputs` must have shape {shape}, got {init.shape}.")
        self.pseudo_inputs = nnx.Param(init)

    def encode(self, x: Array) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """Posterior parameters ``(mean, logvar)`` of q(z|x)."""
        return self.encoder(x)

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        """Decoder output (logits for Bernoulli data) for latent codes ``z``."""
        return self.decoder(z)

    def prior_components(
        self,
    ) -> tuple[Float[Array, "components latent"], Float[Array, "components latent"]]:
        """``(means, logvars)`` of the ``K`` prior components ``q(z | u_k)``."""
        return self.encoder(self.pseudo_inputs[...])

    def log_prior(self, z: Float[Array, "batch latent"]) -> Float[Array, " batch"]:
        """``log p(z) = logsumexp_k log q(z | u_k) − log K`` per row of ``z``."""
        return mixture_log_density(z, *self.prior_components())

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> SampledVAEOutput:
        """Encodes ``x``, samples ``z`` with ``key`` and decodes it, with both log densities."""
        mean, logvar = self.encode(x)
        z = reparameterize(key, mean, logvar)
        log_q = jnp.sum(gaussian_log_density(z, mean, logvar), axis=-1)
        return SampledVAEOutput(
            recon=self.decode(z), mean=mean, logvar=logvar, z=z, log_q=log_q,
            log_prior=self.log_prior(z),
        )

    def sample_prior(self, key: PRNGKeyArray, num_samples: int) -> Float[Array, "n latent"]:
        """``num_samples`` draws from the mixture prior: a uniform component, then its Gaussian."""
        num_samples = check_int(num_samples, "num_samples")
        means, logvars = self.prior_components()
        pick_key, noise_key = jax.random.split(key)
        k = jax.random.randint(pick_key, (num_samples,), 0, self.num_pseudo_inputs)
        return reparameterize(noise_key, means[k], logvars[k])

    def generate(self, key: PRNGKeyArray, num_samples: int) -> Array:
        """Decodes ``num_samples`` draws from the VampPrior (decoder outputs, e.g. logits)."""
        return self.decode(self.sample_prior(key, num_samples))

    def log_importance_weight(
        self, batch: Batch, key: PRNGKeyArray, likelihood: Likelihood
    ) -> Float[Array, " batch"]:
        """``log p(x|z) + log p(z) − log q(z|x)`` for one draw ``z ~ q(z|x)`` per example.

        The importance-weight protocol of :func:`vaekit.evaluation.log_likelihood`; its mean
        is the ELBO.
        """
        return sampled_log_weight(self, batch, key, likelihood)
