"""The seed models: one builder per model family, all trained by ``make_train_step``.

Each builder is ``(model_config, image_shape, rngs, num_classes) -> nnx.Module``, the
``build_model`` of the kinds in :data:`vaekit.runner.KINDS` that use it.
"""

from flax import nnx

from vaekit.models import (
    IAFVAE,
    VAE,
    VQVAE,
    ConvDecoder,
    ConvEncoder,
    MLPDecoder,
    MLPEncoder,
    VampPriorVAE,
    cnn_hierarchical_vae,
    conditional_cnn_vae,
    conditional_mlp_vae,
    mlp_hierarchical_vae,
)
from vaekit.quantizers import FSQ, VectorQuantizer
from vaekit.runner._config import ModelConfig, RunConfig


def _code_model(config: ModelConfig, image_shape: tuple[int, ...], quantizer: nnx.Module,
                rngs: nnx.Rngs) -> VQVAE:
    """Conv encoder → ``quantizer`` on the spatial grid → mirrored conv decoder."""
    channels = image_shape[-1]
    encoder = ConvEncoder(channels, config.code_dim, config.vq_channels, config.num_res_blocks,
                          config.activation, rngs=rngs)
    decoder = ConvDecoder(config.code_dim, channels, config.vq_channels[::-1],
                          config.num_res_blocks, config.activation, rngs=rngs)
    return VQVAE(encoder, quantizer, decoder)


def build_vq_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                 num_classes: int = 0) -> VQVAE:
    """A VQ-VAE: conv encoder → (EMA) vector quantizer on the spatial grid → conv decoder."""
    quantizer = VectorQuantizer(
        config.num_codes, config.code_dim, ema=config.ema,
        dead_code_threshold=config.dead_code_threshold or None, rngs=rngs,
    )
    return _code_model(config, image_shape, quantizer, rngs)


def build_fsq_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                  num_classes: int = 0) -> VQVAE:
    """An FSQ autoencoder: conv encoder → FSQ (``fsq_levels``) → conv decoder."""
    quantizer = FSQ(config.fsq_levels, dim=config.code_dim, rngs=rngs)
    return _code_model(config, image_shape, quantizer, rngs)


def build_encoder_decoder(config: ModelConfig, image_shape: tuple[int, ...],
                          rngs: nnx.Rngs) -> tuple[nnx.Module, nnx.Module]:
    """The Gaussian encoder and the decoder of ``config.architecture``.

    The Gaussian encoder ``x -> (mean, logvar)`` and the decoder ``z -> logits`` of
    ``config.architecture`` (MLP of ``hidden`` widths, or CNN of ``channels``).
    """
    if config.architecture == "cnn":
        from vaekit.models._cnn import CNNDecoder, CNNEncoder

        return (CNNEncoder(image_shape, config.latent_dim, config.channels,
                           activation=config.activation, rngs=rngs),
                CNNDecoder(config.latent_dim, image_shape, config.channels[::-1],
                           activation=config.activation, rngs=rngs))
    return (MLPEncoder(image_shape, config.latent_dim, config.hidden,
                       activation=config.activation, rngs=rngs),
            MLPDecoder(config.latent_dim, image_shape, config.hidden[::-1],
                       activation=config.activation, rngs=rngs))


def build_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
              num_classes: int = 0) -> VAE:
    """A :class:`VAE` of the Gaussian encoder and decoder of ``config.architecture``."""
    return VAE(*build_encoder_decoder(config, image_shape, rngs))


def build_conditional_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                          num_classes: int = 0) -> nnx.Module:
    """A :class:`ConditionalVAE` (MLP or CNN) over ``num_classes`` labels."""
    if config.architecture == "cnn":
        return conditional_cnn_vae(image_shape, num_classes, config.latent_dim,
                                   config.channels, rngs=rngs, activation=config.activation)
    return conditional_mlp_vae(image_shape, num_classes, config.latent_dim, config.hidden,
                               rngs=rngs, activation=config.activation)


def build_hierarchical_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                           num_classes: int = 0) -> nnx.Module:
    """A :class:`HierarchicalVAE` of ``latent_dims`` (hidden width ``hidden[0]``)."""
    if config.architecture == "cnn":
        return cnn_hierarchical_vae(image_shape, config.latent_dims, config.channels,
                                    config.hidden[0], activation=config.activation, rngs=rngs)
    return mlp_hierarchical_vae(image_shape, config.latent_dims, config.hidden[0],
                                activation=config.activation, rngs=rngs)


def build_vamp_prior_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                         num_classes: int = 0) -> VampPriorVAE:
    """A :class:`VampPriorVAE` with ``num_pseudo_inputs`` learned pseudo-inputs."""
    encoder, decoder = build_encoder_decoder(config, image_shape, rngs)
    return VampPriorVAE(encoder, decoder, config.num_pseudo_inputs, image_shape, rngs=rngs)


def build_iaf_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                  num_classes: int = 0) -> IAFVAE:
    """An :class:`IAFVAE`: ``num_flows`` MADE steps of ``flow_hidden`` on the posterior."""
    encoder, decoder = build_encoder_decoder(config, image_shape, rngs)
    return IAFVAE(encoder, decoder, config.num_flows, config.flow_hidden, rngs=rngs,
                  latent_dim=config.latent_dim)


def build_factor_vae(config: ModelConfig, image_shape: tuple[int, ...], rngs: nnx.Rngs,
                     num_classes: int = 0) -> nnx.Module:
    """The VAE and its total-correlation discriminator (``discriminator_hidden``)."""
    from vaekit.models._factor_vae import Discriminator, FactorVAEModel

    vae = build_vae(config, image_shape, rngs)
    return FactorVAEModel(vae, Discriminator(config.latent_dim, config.discriminator_hidden,
                                             rngs=rngs))


def has_convolutions(model: nnx.Module) -> bool:
    """Whether ``model`` holds an ``nnx.Conv`` or ``nnx.ConvTranspose`` anywhere."""
    return any(isinstance(node, nnx.Conv | nnx.ConvTranspose)
               for _, node in nnx.iter_graph(model))


def scan_chunks(config: RunConfig, model: nnx.Module) -> bool:
    """Whether ``train.fused`` scans a chunk's steps.

    ``train.fused``: fuse a chunk's steps into one ``lax.scan`` (``"scan"``), or call the step once
    per step (``"steps"``); ``"auto"`` scans unless the model is convolutional and the backend a
    CPU, whose convolutions run 20-50x slower inside XLA loops.
    """
    fused = config.train.fused
    if fused == "auto":
        import jax

        return not (jax.default_backend() == "cpu" and has_convolutions(model))
    return fused == "scan"
