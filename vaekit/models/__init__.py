"""Encoders, decoders and model containers (plain Flax NNX modules)."""

from vaekit.models.activations import ACTIVATIONS, get_activation
from vaekit.models.mlp import MLPDecoder, MLPEncoder
from vaekit.models.reparameterize import reparameterize
from vaekit.models.vae import VAE, VAEOutput

__all__ = [
    "ACTIVATIONS",
    "MLPDecoder",
    "MLPEncoder",
    "VAE",
    "VAEOutput",
    "get_activation",
    "reparameterize",
]
