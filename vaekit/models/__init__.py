"""Encoders, decoders and model containers (plain Flax NNX modules)."""

from vaekit.models.activations import ACTIVATIONS, get_activation
from vaekit.models.cnn import CNNDecoder, CNNEncoder, ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.models.code_io import decode_codes, encode_codes
from vaekit.models.code_prior import CodePrior, code_prior_forward
from vaekit.models.code_sampling import sample_codes
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
from vaekit.models.hierarchical import (
    HierarchicalVAE,
    HierarchicalVAEOutput,
    mlp_hierarchical_vae,
    precision_weighted_merge,
)
from vaekit.models.hierarchical_cnn import cnn_hierarchical_vae
from vaekit.models.iaf import IAFVAE, MADE, IAFFlow
from vaekit.models.mlp import MLPDecoder, MLPEncoder
from vaekit.models.reparameterize import reparameterize
from vaekit.models.vae import VAE, VAEOutput
from vaekit.models.vampprior import VampPriorVAE, mixture_log_density
from vaekit.models.vqvae import VQVAE, VQVAEOutput

__all__ = [
    "IAFFlow",
    "IAFVAE",
    "MADE",
    "VampPriorVAE",
    "mixture_log_density",
    "ACTIVATIONS",
    "CNNDecoder",
    "CNNEncoder",
    "CodePrior",
    "ConvDecoder",
    "ConditionalVAE",
    "ConditionalVQVAE",
    "ConvEncoder",
    "DISCRIMINATOR_HIDDEN",
    "Discriminator",
    "FactorVAEModel",
    "FactorVAEOutput",
    "HierarchicalVAE",
    "HierarchicalVAEOutput",
    "MLPDecoder",
    "MLPEncoder",
    "ResidualBlock",
    "VAE",
    "VAEOutput",
    "VQVAE",
    "VQVAEOutput",
    "cnn_hierarchical_vae",
    "code_prior_forward",
    "conditional_cnn_vae",
    "conditional_conv_vqvae",
    "conditional_forward",
    "conditional_forward_with_dropout",
    "conditional_mlp_vae",
    "decode_codes",
    "encode_codes",
    "factor_vae_mlp",
    "get_activation",
    "label_code_dim",
    "mlp_hierarchical_vae",
    "precision_weighted_merge",
    "reparameterize",
    "sample_codes",
]
