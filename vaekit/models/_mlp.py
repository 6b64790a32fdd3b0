"""Fully connected encoder and decoder as plain Flax NNX modules."""

import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from vaekit._checks import check_int
from vaekit.models._activations import get_activation


def _dense_stack(sizes: Sequence[int], rngs: nnx.Rngs):
    """Linear layers mapping sizes[0] -> sizes[1] -> ... -> sizes[-1]."""
    return nnx.List(
        [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    )


def _run_hidden(layers, h: Array, activation: Callable) -> Array:
    for layer in layers:
        h = activation(layer(h))
    return h


def _check_sizes(hidden_sizes: Sequence[int]) -> tuple[int, ...]:
    return tuple(check_int(h, "hidden_sizes", minimum=1) for h in hidden_sizes)


class MLPEncoder(nnx.Module):
    """Flattens an input and maps it to the mean and log-variance of q(z|x).

    Shapes: ``x (batch, *input_shape) -> (mean, logvar)``, each ``(batch, latent_dim)``.

    Example:
      >>> from flax import nnx
      >>> enc = MLPEncoder((64, 64, 1), latent_dim=10, hidden_sizes=(256,), rngs=nnx.Rngs(0))
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        hidden_sizes: Sequence[int] = (512, 256),
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.input_shape = tuple(check_int(d, "input_shape") for d in input_shape)
        self.latent_dim = check_int(latent_dim, "latent_dim")
        sizes = (math.prod(self.input_shape), *_check_sizes(hidden_sizes))
        self.hidden = _dense_stack(sizes, rngs)
        self.head = nnx.Linear(sizes[-1], 2 * self.latent_dim, rngs=rngs)
        self.activation = get_activation(activation)

    def __call__(
        self, x: Float[Array, " batch *input"]
    ) -> tuple[Float[Array, "batch latent"], Float[Array, "batch latent"]]:
        """The posterior ``(mean, logvar)``, each ``(batch, latent)``, of ``x``."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"`x` must have shape (batch, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}."
            )
        h = _run_hidden(self.hidden, x.reshape(x.shape[0], -1), self.activation)
        mean, logvar = jnp.split(self.head(h), 2, axis=-1)
        return mean, logvar


class MLPDecoder(nnx.Module):
    """Maps a latent code to per-element outputs (logits for a Bernoulli likelihood).

    Shapes: ``z (batch, latent_dim) -> (batch, *output_shape)``.

    Example:
      >>> from flax import nnx
      >>> dec = MLPDecoder(10, (64, 64, 1), hidden_sizes=(256,), rngs=nnx.Rngs(0))
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden_sizes: Sequence[int] = (256, 512),
        activation: str | Callable = "relu",
        *,
        rngs: nnx.Rngs,
    ):
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.output_shape = tuple(check_int(d, "output_shape") for d in output_shape)
        sizes = (self.latent_dim, *_check_sizes(hidden_sizes))
        self.hidden = _dense_stack(sizes, rngs)
        self.head = nnx.Linear(sizes[-1], math.prod(self.output_shape), rngs=rngs)
        self.activation = get_activation(activation)

    def __call__(self, z: Float[Array, "batch latent"]) -> Float[Array, " batch *output"]:
        """Decodes latents ``z`` to outputs ``(batch, *output_shape)``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"`z` must have shape (batch, {self.latent_dim}), got {z.shape}.")
        h = _run_hidden(self.hidden, z, self.activation)
        return self.head(h).reshape(z.shape[0], *self.output_shape)
