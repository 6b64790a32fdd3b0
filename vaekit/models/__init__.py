"""Encoders, decoders and model containers (plain Flax NNX modules)."""

from vaekit.models.activations import ACTIVATIONS, get_activation
from vaekit.models.cnn import CNNDecoder, CNNEncoder, ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.models.cvae import (
    ConditionalVAE,
    conditional_cnn_vae,
    conditional_forward,
    conditional_forward_with_dropout,
    conditional_mlp_vae,
    label_code_dim,
)
from vaekit.models.cvqvae import ConditionalVQVAE, conditional_conv_vqvae
from vaekit.models.factor_vae import (
    DISCRIMINATOR_HIDDEN,
    Discriminator,
    FactorVAEModel,
    FactorVAEOutput,
    factor_vae_mlp,
)
from vaekit.models.mlp import MLPDecoder, MLPEncoder
from vaekit.models.reparameterize import reparameterize
from vaekit.models.vae import VAE, VAEOutput
from vaekit.models.vqvae import VQVAE, VQVAEOutput

__all__ = [
    "ACTIVATIONS",
    "CNNDecoder",
    "CNNEncoder",
    "ConvDecoder",
    "ConditionalVAE",
    "ConditionalVQVAE",
    "ConvEncoder",
    "DISCRIMINATOR_HIDDEN",
    "Discriminator",
    "FactorVAEModel",
    "FactorVAEOutput",
    "MLPDecoder",
    "MLPEncoder",
    "ResidualBlock",
    "VAE",
    "VAEOutput",
    "VQVAE",
    "VQVAEOutput",
    "conditional_cnn_vae",
    "conditional_conv_vqvae",
    "conditional_forward",
    "conditional_forward_with_dropout",
    "conditional_mlp_vae",
    "factor_vae_mlp",
    "get_activation",
    "label_code_dim",
    "reparameterize",
]
