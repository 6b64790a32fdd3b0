"""FactorVAE model container: a Gaussian VAE plus the total-correlation discriminator.

Kim & Mnih (2018), "Disentangling by Factorising" (ICML). The discriminator ``D`` tells samples
of the aggregate posterior ``q(z)`` from samples of the product of its marginals ``Π_j q(z_j)``
(approximated by permuting each latent dimension across the batch, :func:`permute_dims`). Both
networks live in one NNX module so that the ordinary :func:`vaekit.make_train_step` trains them
together; the routing of gradients (each network only sees its own loss) is done here, with
stop-gradients, and in :func:`vaekit.objectives.factor_vae`.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._permute import permute_dims
from vaekit._types import AnyArray
from vaekit.models._mlp import MLPDecoder, MLPEncoder
from vaekit.models._vae import VAE

PERMUTATION_STREAM = 1
"""``fold_in(key, PERMUTATION_STREAM)`` keys the permutation; ``key`` itself draws ``z``."""

DISCRIMINATOR_HIDDEN = (1000,) * 6
"""The discriminator of Kim & Mnih (2018) and disentanglement_lib: 6 layers of 1000 units."""


class Discriminator(nnx.Module):
    """MLP ``z (batch, latent) -> logits (batch, 2)`` with leaky-ReLU hidden layers.

    Logit 0 scores "a sample of ``q(z)``", logit 1 "a sample of ``Π_j q(z_j)``" (permuted);
    ``logits[:, 0] − logits[:, 1]`` estimates ``log q(z) / Π_j q(z_j)``, the density ratio whose
    mean is the total correlation. Default: 6 hidden layers of 1000 units, leaky ReLU with slope
    0.2 (Kim & Mnih 2018, appendix; disentanglement_lib ``fc_discriminator``).

    Args:
      latent_dim: ``latent >= 1``.
      hidden_sizes: widths of the hidden layers (may be empty: a linear classifier).
      negative_slope: leaky-ReLU slope ``>= 0``.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> Discriminator(3, (16, 16), rngs=nnx.Rngs(0))(jnp.zeros((5, 3))).shape
      (5, 2)
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_sizes: Sequence[int] = DISCRIMINATOR_HIDDEN,
        negative_slope: float | int = 0.2,
        *,
        rngs: nnx.Rngs,
    ):
        self.latent_dim = check_int(latent_dim, "latent_dim")
        sizes = (self.latent_dim, *(check_int(h, "hidden_sizes") for h in hidden_sizes))
        self.hidden = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.head = nnx.Linear(sizes[-1], 2, rngs=rngs)
        self.negative_slope = check_number(negative_slope, "negative_slope", minimum=0.0)

    def __call__(self, z: Float[Array, "batch latent"]) -> Float[Array, "batch 2"]:
        """The two-class logits ``(batch, 2)`` of latents ``z``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"`z` must have shape (batch, {self.latent_dim}), got {z.shape}.")
        h = z
        for layer in self.hidden:
            h = jax.nn.leaky_relu(layer(h), self.negative_slope)
        return self.head(h)


class FactorVAEOutput(NamedTuple):
    """What :class:`FactorVAEModel` returns: the VAE's output plus three discriminator passes.

    Attributes:
      recon: decoder output for ``z`` (logits for Bernoulli data), ``(batch, *event)``.
      mean: posterior means, ``(batch, latent)``.
      logvar: posterior log-variances, ``(batch, latent)``.
      z: the reparameterised sample, ``(batch, latent)``.
      tc_logits: ``D(z)`` with the discriminator's parameters under ``stop_gradient``: the
        VAE's total-correlation estimate; gradients reach the encoder only. ``(batch, 2)``.
      disc_logits: ``D(sg(z))``: the discriminator on ``q(z)`` samples; gradients reach the
        discriminator only. ``(batch, 2)``.
      disc_logits_permuted: ``D(permute_dims(sg(z)))``: on ``Π_j q(z_j)`` samples; gradients
        reach the discriminator only. ``(batch, 2)``.
      z_permuted: ``permute_dims(sg(z))``, ``(batch, latent)``.
    """

    recon: Array
    mean: Array
    logvar: Array
    z: Array
    tc_logits: Array
    disc_logits: Array
    disc_logits_permuted: Array
    z_permuted: Array


class FactorVAEModel(nnx.Module):
    """A VAE and its total-correlation discriminator in one module (Kim & Mnih 2018).

    ``model(x, key=key)`` runs the VAE with ``key`` (so ``z`` equals ``vae(x, key=key).z``),
    permutes ``sg(z)`` with ``fold_in(key, PERMUTATION_STREAM)`` and runs the discriminator
    three times (see :class:`FactorVAEOutput`). The stop-gradients make the sum
    ``vae_loss + disc_loss`` of :func:`vaekit.objectives.factor_vae` train each
    network on its own loss only, so the ordinary :func:`vaekit.make_train_step` with the
    two-optimiser :func:`vaekit.objectives.factor_vae_optimizer` is the whole
    trainer. ``encode`` / ``decode`` / ``generate`` are the VAE's, so evaluation code
    (:func:`vaekit.evaluation.mean_representation`, plots) works unchanged.

    Args:
      vae: a :class:`vaekit.VAE` (or any module with ``encode``, ``decode`` and
        ``__call__(x, *, key) -> (recon, mean, logvar, z)``).
      discriminator: ``z (batch, latent) -> logits (batch, 2)``, e.g. :class:`Discriminator`.
        The frozen pass runs on a stop-gradient copy (:meth:`frozen_discriminator`), so state
        that is not a parameter (e.g. batch statistics) is updated only by the other two
        passes.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> model = factor_vae_mlp((4,), 2, (8,), (8,), rngs=nnx.Rngs(0))
      >>> out = model(jnp.zeros((3, 4)), key=jax.random.key(0))
      >>> out.recon.shape, out.tc_logits.shape, out.disc_logits_permuted.shape
      ((3, 4), (3, 2), (3, 2))
    """

    def __init__(self, vae: nnx.Module, discriminator: nnx.Module):
        self.vae = vae
        self.discriminator = discriminator

    def encode(
        self, x: AnyArray
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """Posterior parameters ``(mean, logvar)`` of q(z|x)."""
        return self.vae.encode(jnp.asarray(x))

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        """Decoder output (logits for Bernoulli data) for latent codes ``z``."""
        return self.vae.decode(z)

    def generate(self, key: PRNGKeyArray, num_samples: int, latent_dim: int | None = None):
        """Decodes draws from the prior (:meth:`vaekit.VAE.generate`)."""
        return self.vae.generate(key, num_samples, latent_dim)

    def frozen_discriminator(self) -> Callable[[Array], Array]:
        """The discriminator with every parameter under ``stop_gradient`` (a new module)."""
        graphdef, state = nnx.split(self.discriminator)
        return nnx.merge(graphdef, jax.lax.stop_gradient(state))

    def __call__(self, x: AnyArray, *, key: PRNGKeyArray) -> FactorVAEOutput:
        """The VAE forward plus the discriminator's logits on ``z`` and permuted ``z``."""
        recon, mean, logvar, z = self.vae(jnp.asarray(x), key=key)
        z_fixed = jax.lax.stop_gradient(z)
        z_permuted = permute_dims(z_fixed, jax.random.fold_in(key, PERMUTATION_STREAM))
        both = self.discriminator(jnp.concatenate([z_fixed, z_permuted], axis=0))
        batch = z.shape[0]
        return FactorVAEOutput(
            recon=recon, mean=mean, logvar=logvar, z=z,
            tc_logits=self.frozen_discriminator()(z),
            disc_logits=both[:batch], disc_logits_permuted=both[batch:],
            z_permuted=z_permuted,
        )


def factor_vae_mlp(
    input_shape: Sequence[int],
    latent_dim: int,
    hidden_sizes: Sequence[int] = (512, 256),
    discriminator_hidden: Sequence[int] = DISCRIMINATOR_HIDDEN,
    *,
    rngs: nnx.Rngs,
    activation: str | Callable = "relu",
) -> FactorVAEModel:
    """An MLP VAE (encoder ``hidden_sizes``, mirrored decoder) with a :class:`Discriminator`.

    Example:
      >>> from flax import nnx
      >>> model = factor_vae_mlp((64, 64, 1), 10, rngs=nnx.Rngs(0))
      >>> len(model.discriminator.hidden)
      6
    """
    hidden = tuple(hidden_sizes)
    vae = VAE(
        MLPEncoder(input_shape, latent_dim, hidden, activation, rngs=rngs),
        MLPDecoder(latent_dim, input_shape, hidden[::-1], activation, rngs=rngs),
    )
    return FactorVAEModel(vae, Discriminator(latent_dim, discriminator_hidden, rngs=rngs))
