"""Encoders, decoders and model containers (plain Flax NNX modules)."""

from vaekit.models.activations import ACTIVATIONS, get_activation
from vaekit.models.cnn import CNNDecoder, CNNEncoder, ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.models.mlp import MLPDecoder, MLPEncoder
from vaekit.models.reparameterize import reparameterize
from vaekit.models.vae import VAE, VAEOutput

__all__ = [
    "ACTIVATIONS",
    "CNNDecoder",
    "CNNEncoder",
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "ResidualBlock",
    "VAE",
    "VAEOutput",
    "get_activation",
    "reparameterize",
]
