"""Encoders, decoders and model containers (plain Flax NNX modules)."""

from vaekit.models._activations import ACTIVATIONS, get_activation
from vaekit.models._cnn import CNNDecoder, CNNEncoder, ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.models._code_io import decode_codes, encode_codes
from vaekit.models._code_prior import CodePrior, code_prior_forward
from vaekit.models._code_sampling import sample_codes
from vaekit.models._cvae import (
    ConditionalVAE,
    conditional_cnn_vae,
    conditional_forward,
    conditional_forward_with_dropout,
    conditional_mlp_vae,
    label_code_dim,
)
from vaekit.models._cvqvae import ConditionalVQVAE, conditional_conv_vqvae
from vaekit.models._factor_vae import (
    DISCRIMINATOR_HIDDEN,
    Discriminator,
    FactorVAEModel,
    FactorVAEOutput,
    factor_vae_mlp,
)
from vaekit.models._hierarchical import (
    HierarchicalVAE,
    HierarchicalVAEOutput,
    mlp_hierarchical_vae,
    precision_weighted_merge,
)
from vaekit.models._hierarchical_cnn import cnn_hierarchical_vae
from vaekit.models._iaf import IAFVAE, MADE, IAFFlow
from vaekit.models._mlp import MLPDecoder, MLPEncoder
from vaekit.models._reparameterize import reparameterize
from vaekit.models._vae import VAE, VAEOutput
from vaekit.models._vampprior import VampPriorVAE, mixture_log_density
from vaekit.models._vqvae import VQVAE, VQVAEOutput

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
