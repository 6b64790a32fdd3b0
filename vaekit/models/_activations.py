"""Activation functions by name."""

from collections.abc import Callable

import jax

ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "tanh": jax.nn.tanh,
}


def get_activation(activation: str | Callable) -> Callable:
    """Returns ``activation`` if callable, else looks its name up in :data:`ACTIVATIONS`."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {sorted(ACTIVATIONS)}, got {activation!r}.")
    return ACTIVATIONS[activation]
