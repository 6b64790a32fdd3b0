"""A hierarchical VAE with top-down inference: the Ladder VAE (Sønderby et al. 2016).

Generative model (top-down), with ``L = len(latent_dims)`` stochastic layers, layer 0 nearest
the data::

  p(z_{L-1}) = N(0, I),   p(z_l | z_{l+1}) = N(μ_p,l, σ²_p,l)   (top-down network of z_{l+1}),
  p(x | z_0) = decoder(z_0).

Inference (bottom-up pass, then top-down pass sharing the generative path): a deterministic
bottom-up stack gives features ``d_l`` and a Gaussian ``N(μ̂_l, σ̂²_l)`` per layer; the top
layer's posterior is that Gaussian, and every lower layer's posterior is the *precision-weighted
merge* of the bottom-up Gaussian with the top-down prior at the sampled ``z_{l+1}``
(:func:`precision_weighted_merge`, Sønderby et al. 2016, the precision-weighted combination)::

  q(z_{L-1} | x) = N(μ̂_{L-1}, σ̂²_{L-1}),
  q(z_l | x, z_{l+1}) = merge(N(μ̂_l, σ̂²_l), p(z_l | z_{l+1})).

The KL of every layer against its prior is analytic (Gaussian–Gaussian) at the sampled upper
layers: :func:`vaekit.objectives.hierarchical_vae` trains it.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import AnyArray, Likelihood
from vaekit.models._activations import get_activation
from vaekit.models._mlp import MLPDecoder
from vaekit.models._reparameterize import reparameterize
from vaekit.objectives._tcvae import gaussian_log_density


class HierarchicalVAEOutput(NamedTuple):
    """What :class:`HierarchicalVAE` returns.

    Every per-layer field is a tuple of ``L`` arrays, index 0 the bottom layer (nearest ``x``),
    index ``L − 1`` the top; entry ``l`` has shape ``(batch, latent_dims[l])``.

    Attributes:
      recon: decoder output for ``z[0]`` (logits for Bernoulli data), ``(batch, *event)``.
      z: the reparameterised samples ``z_l ~ q(z_l | x, z_{l+1})``.
      q_mean: posterior means.
      q_logvar: posterior log-variances.
      p_mean: prior means of ``p(z_l | z_{l+1})`` at the sampled ``z_{l+1}``; zeros at the top.
      p_logvar: prior log-variances; zeros at the top (``p(z_{L-1}) = N(0, I)``).
    """

    recon: Array
    z: tuple[Array, ...]
    q_mean: tuple[Array, ...]
    q_logvar: tuple[Array, ...]
    p_mean: tuple[Array, ...]
    p_logvar: tuple[Array, ...]


def _check_latent_dims(latent_dims: object) -> tuple[int, ...]:
    """Returns ``latent_dims`` as a non-empty tuple of positive ints or raises naming it."""
    if (isinstance(latent_dims, str) or not isinstance(latent_dims, Sequence)
            or len(latent_dims) == 0):
        raise ValueError(
            f"`latent_dims` must be a non-empty sequence of positive integers (bottom layer "
            f"first), got {latent_dims!r}."
        )
    return tuple(check_int(d, "latent_dims") for d in latent_dims)


def precision_weighted_merge(
    mean_a: Float[AnyArray, "batch latent"],
    logvar_a: Float[AnyArray, "batch latent"],
    mean_b: Float[AnyArray, "batch latent"],
    logvar_b: Float[AnyArray, "batch latent"],
) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
    """The normalised product of two diagonal Gaussians ``N(a) · N(b)``: the Ladder VAE merge.

    ``σ² = 1 / (σ_a⁻² + σ_b⁻²)`` and ``μ = σ² (μ_a σ_a⁻² + μ_b σ_b⁻²)`` (Sønderby et al.
    2016), computed in log-variance space as ``logvar = −logaddexp(−logvar_a,
    −logvar_b)`` and ``μ = sigmoid(logvar_b − logvar_a) μ_a + sigmoid(logvar_a − logvar_b) μ_b``,
    so it is finite for any finite inputs. Symmetric in ``a`` and ``b``; the merged variance is
    below both.

    Example:
      >>> import jax.numpy as jnp
      >>> m, lv = precision_weighted_merge(jnp.zeros((1, 1)), jnp.zeros((1, 1)),
      ...                                  jnp.full((1, 1), 2.0), jnp.zeros((1, 1)))
      >>> float(m[0, 0]), round(float(jnp.exp(lv[0, 0])), 4)
      (1.0, 0.5)
    """
    mean_a, logvar_a = jnp.asarray(mean_a), jnp.asarray(logvar_a)
    mean_b, logvar_b = jnp.asarray(mean_b), jnp.asarray(logvar_b)
    logvar = -jnp.logaddexp(-logvar_a, -logvar_b)
    weight_a = jax.nn.sigmoid(logvar_b - logvar_a)
    return weight_a * mean_a + (1.0 - weight_a) * mean_b, logvar


def _gaussian_head(features: int, latent: int, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(features, 2 * latent, rngs=rngs)


class HierarchicalVAE(nnx.Module):
    """A Ladder VAE (Sønderby et al. 2016): ``L`` Gaussian layers, top-down inference.

    Components: ``encoder`` maps ``x`` to features ``(batch, hidden_size)`` (``d_0``);
    bottom-up layer ``l > 0`` is ``d_l = act(Linear(d_{l-1}))``; each ``d_l`` has a linear
    head to ``(μ̂_l, log σ̂²_l)``. The top-down network of layer ``l < L − 1`` is
    ``Linear(act(Linear(z_{l+1})))`` to ``(μ_p,l, log σ²_p,l)``. ``decoder`` maps ``z_0``
    ``(batch, latent_dims[0])`` to the output. Posteriors: see the module docstring.

    Args:
      encoder: ``x -> (batch, hidden_size)`` features (any NNX module; an activation is
        expected at its end).
      decoder: ``(batch, latent_dims[0]) -> (batch, *event)`` (e.g. :class:`MLPDecoder`).
      latent_dims: sizes of the stochastic layers, bottom (nearest ``x``) first; ``L >= 1``.
      hidden_size: width of the bottom-up features and of the top-down hidden layers.
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      rngs: parameter initialisation.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit.models import mlp_hierarchical_vae
      >>> vae = mlp_hierarchical_vae((4, 4, 1), (6, 4, 2), hidden=16, rngs=nnx.Rngs(0))
      >>> out = vae(jnp.zeros((3, 4, 4, 1)), key=jax.random.key(1))
      >>> out.recon.shape, [z.shape[1] for z in out.z]
      ((3, 4, 4, 1), [6, 4, 2])
    """

    def __init__(
        self,
        encoder: nnx.Module,
        decoder: nnx.Module,
        latent_dims: Sequence[int],
        hidden_size: int,
        *,
        activation: str | Callable = "relu",
        rngs: nnx.Rngs,
    ):
        self.latent_dims = _check_latent_dims(latent_dims)
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.activation = get_activation(activation)
        self.encoder = encoder
        self.decoder = decoder
        width, dims = self.hidden_size, self.latent_dims
        self.bottom_up = nnx.List(
            [nnx.Linear(width, width, rngs=rngs) for _ in range(len(dims) - 1)]
        )
        self.bottom_up_heads = nnx.List([_gaussian_head(width, d, rngs) for d in dims])
        self.top_down = nnx.List(
            [nnx.Linear(dims[i + 1], width, rngs=rngs) for i in range(len(dims) - 1)]
        )
        self.top_down_heads = nnx.List(
            [_gaussian_head(width, dims[i], rngs) for i in range(len(dims) - 1)]
        )

    @property
    def num_layers(self) -> int:
        """The number ``L`` of stochastic layers."""
        return len(self.latent_dims)

    def prior(
        self, layer: int, z_above: Float[Array, "batch above"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """``(mean, logvar)`` of ``p(z_layer | z_{layer+1} = z_above)`` for ``layer < L − 1``."""
        h = self.activation(self.top_down[layer](z_above))
        mean, logvar = jnp.split(self.top_down_heads[layer](h), 2, axis=-1)
        return mean, logvar

    def bottom_up_pass(self, x: Array) -> list[tuple[Array, Array]]:
        """The bottom-up Gaussians ``(μ̂_l, log σ̂²_l)`` of every layer, bottom first."""
        d = self.encoder(x)
        if d.ndim != 2 or d.shape[1] != self.hidden_size:
            raise ValueError(
                f"the encoder must return features of shape (batch, {self.hidden_size}), got "
                f"{tuple(d.shape)}."
            )
        gaussians = []
        for i in range(self.num_layers):
            if i > 0:
                d = self.activation(self.bottom_up[i - 1](d))
            mean, logvar = jnp.split(self.bottom_up_heads[i](d), 2, axis=-1)
            gaussians.append((mean, logvar))
        return gaussians

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> HierarchicalVAEOutput:
        """Bottom-up inference, then top-down sampling and decoding of ``z_0``."""
        gaussians = self.bottom_up_pass(x)
        keys = jax.random.split(key, self.num_layers)
        top = self.num_layers - 1
        z, q_mean, q_logvar, p_mean, p_logvar = ([None] * self.num_layers for _ in range(5))
        for i in range(top, -1, -1):
            mean_hat, logvar_hat = gaussians[i]
            if i == top:
                mean, logvar = mean_hat, logvar_hat
                p_mean[i], p_logvar[i] = jnp.zeros_like(mean), jnp.zeros_like(logvar)
            else:
                p_mean[i], p_logvar[i] = self.prior(i, z[i + 1])
                mean, logvar = precision_weighted_merge(mean_hat, logvar_hat,
                                                        p_mean[i], p_logvar[i])
            q_mean[i], q_logvar[i] = mean, logvar
            z[i] = reparameterize(keys[i], mean, logvar)
        return HierarchicalVAEOutput(
            recon=self.decoder(z[0]), z=tuple(z), q_mean=tuple(q_mean),
            q_logvar=tuple(q_logvar), p_mean=tuple(p_mean), p_logvar=tuple(p_logvar),
        )

    def generate(self, key: PRNGKeyArray, num_samples: int) -> Array:
        """Ancestral sampling from the prior.

        Draws ``z_{L-1} ~ N(0, I)``, ``z_l ~ p(z_l | z_{l+1})``, then decodes ``z_0`` (decoder
        outputs, e.g. logits), shape ``(num_samples, *event)``.
        """
        num_samples = check_int(num_samples, "num_samples")
        keys = jax.random.split(key, self.num_layers)
        z = jax.random.normal(keys[-1], (num_samples, self.latent_dims[-1]))
        for i in range(self.num_layers - 2, -1, -1):
            z = reparameterize(keys[i], *self.prior(i, z))
        return self.decoder(z)

    def log_importance_weight(
        self, batch: Mapping[str, AnyArray], key: PRNGKeyArray, likelihood: Likelihood
    ) -> Float[Array, " batch"]:
        """One importance log weight per example.

        ``log p(x|z) + Σ_l log p(z_l | z_{l+1}) − Σ_l log q(z_l | x, z_{l+1})`` for one draw ``z ~
        q(z | x)`` per example (the importance-weight protocol of :mod:`vaekit.evaluation`); its
        expectation is the ELBO.
        """
        x = jnp.asarray(batch["x"])
        out = self(x, key=key)
        log_w = -likelihood(out.recon, x)
        for z, qm, qlv, pm, plv in zip(out.z, out.q_mean, out.q_logvar, out.p_mean,
                                       out.p_logvar, strict=True):
            log_w = log_w + jnp.sum(gaussian_log_density(z, pm, plv)
                                    - gaussian_log_density(z, qm, qlv), axis=-1)
        return log_w


class _MLPStem(nnx.Module):
    """Flattens ``x`` and maps it to ``act(Linear(x))`` of width ``hidden``."""

    def __init__(self, input_shape: tuple[int, ...], hidden: int, activation: Callable, *,
                 rngs: nnx.Rngs):
        self.input_shape = input_shape
        self.linear = nnx.Linear(math.prod(input_shape), hidden, rngs=rngs)
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"`x` must have shape (batch, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}."
            )
        return self.activation(self.linear(x.reshape(x.shape[0], -1)))


def mlp_hierarchical_vae(
    image_shape: Sequence[int],
    latent_dims: Sequence[int],
    hidden: int = 256,
    *,
    activation: str | Callable = "relu",
    rngs: nnx.Rngs,
) -> HierarchicalVAE:
    """A fully connected :class:`HierarchicalVAE` (the MLP Ladder VAE of Sønderby et al. 2016).

    Encoder ``act(Linear(flatten(x)))`` of width ``hidden``; decoder
    :class:`MLPDecoder` ``(latent_dims[0] -> hidden -> image_shape)``.

    Args:
      image_shape: shape of one input, e.g. ``(28, 28, 1)``.
      latent_dims: stochastic layer sizes, bottom first, e.g. ``(16, 8, 4)``.
      hidden: width of every deterministic hidden layer.
      activation: name in :data:`vaekit.ACTIVATIONS` or a callable.
      rngs: parameter initialisation.

    Example:
      >>> from flax import nnx
      >>> vae = mlp_hierarchical_vae((8, 8, 1), (16, 8, 4), hidden=32, rngs=nnx.Rngs(0))
      >>> vae.num_layers
      3
    """
    if isinstance(image_shape, str) or not isinstance(image_shape, Sequence) or not image_shape:
        raise ValueError(f"`image_shape` must be a non-empty sequence, got {image_shape!r}.")
    image_shape = tuple(check_int(d, "image_shape") for d in image_shape)
    latent_dims = _check_latent_dims(latent_dims)
    hidden = check_int(hidden, "hidden")
    act = get_activation(activation)
    return HierarchicalVAE(
        _MLPStem(image_shape, hidden, act, rngs=rngs),
        MLPDecoder(latent_dims[0], image_shape, (hidden,), act, rngs=rngs),
        latent_dims, hidden, activation=act, rngs=rngs,
    )
