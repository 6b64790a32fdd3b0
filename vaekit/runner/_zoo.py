"""The seed models: one builder per ``model.kind``, all trained by ``make_train_step``."""

import optax
from flax import nnx

from vaekit._types import Objective
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
    conditional_forward,
    conditional_mlp_vae,
    mlp_hierarchical_vae,
)
from vaekit.objectives import (
    LIKELIHOODS,
    beta_tcvae,
    beta_vae,
    capacity_vae,
    dip_vae,
    factor_vae,
    factor_vae_optimizer,
    free_bits_vae,
    hierarchical_vae,
    info_vae,
    iwae,
    quantized_autoencoder,
    sampled_kl_vae,
    vq_vae,
)
from vaekit.quantizers import FSQ, VectorQuantizer
from vaekit.runner._config import (
    QUANTIZED_KINDS,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
)
from vaekit.schedules import named_schedule
from vaekit.training._train_step import Forward, default_forward


def build_quantized_model(config: ModelConfig, image_shape: tuple[int, ...],
                          rngs: nnx.Rngs) -> VQVAE:
    """Conv encoder → quantizer (EMA VQ or FSQ) on the spatial grid → mirrored conv decoder."""
    channels = image_shape[-1]
    if config.kind == "fsq-vae":
        quantizer = FSQ(config.fsq_levels, dim=config.code_dim, rngs=rngs)
    else:
        quantizer = VectorQuantizer(
            config.num_codes, config.code_dim, ema=config.ema,
            dead_code_threshold=config.dead_code_threshold or None, rngs=rngs,
        )
    encoder = ConvEncoder(channels, config.code_dim, config.vq_channels, config.num_res_blocks,
                          config.activation, rngs=rngs)
    decoder = ConvDecoder(config.code_dim, channels, config.vq_channels[::-1],
                          config.num_res_blocks, config.activation, rngs=rngs)
    return VQVAE(encoder, quantizer, decoder)


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


def build_model(config: ModelConfig, image_shape: tuple[int, ...], seed: int,
                num_classes: int = 0) -> nnx.Module:
    """The model of ``config.kind``.

    A :class:`VAE` (MLP or CNN), a :class:`VQVAE`, a :class:`ConditionalVAE` over ``num_classes``
    labels, a :class:`VampPriorVAE`, an :class:`IAFVAE` or a :class:`HierarchicalVAE`
    (``latent_dims``, width ``hidden[0]``).
    """
    rngs = nnx.Rngs(seed)
    if config.kind in QUANTIZED_KINDS:
        return build_quantized_model(config, image_shape, rngs)
    if config.kind == "cvae":
        if num_classes < 1:
            raise ConfigError("`model.kind` = \"cvae\" needs labelled data (dsprites, digits, "
                              "or an .npz with `labels`)")
        if config.architecture == "cnn":
            return conditional_cnn_vae(image_shape, num_classes, config.latent_dim,
                                       config.channels, rngs=rngs, activation=config.activation)
        return conditional_mlp_vae(image_shape, num_classes, config.latent_dim, config.hidden,
                                   rngs=rngs, activation=config.activation)
    if config.kind == "hvae":
        if config.architecture == "cnn":
            return cnn_hierarchical_vae(image_shape, config.latent_dims, config.channels,
                                        config.hidden[0], activation=config.activation,
                                        rngs=rngs)
        return mlp_hierarchical_vae(image_shape, config.latent_dims, config.hidden[0],
                                    activation=config.activation, rngs=rngs)
    encoder, decoder = build_encoder_decoder(config, image_shape, rngs)
    if config.kind == "vamp-vae":
        return VampPriorVAE(encoder, decoder, config.num_pseudo_inputs, image_shape, rngs=rngs)
    if config.kind == "iaf-vae":
        return IAFVAE(encoder, decoder, config.num_flows, config.flow_hidden, rngs=rngs,
                      latent_dim=config.latent_dim)
    vae = VAE(encoder, decoder)
    if config.kind == "factor-vae":
        from vaekit.models._factor_vae import Discriminator, FactorVAEModel

        return FactorVAEModel(vae, Discriminator(config.latent_dim, config.discriminator_hidden,
                                                 rngs=rngs))
    return vae


def build_objective(config: RunConfig, dataset_size: int) -> Objective:
    """The objective of ``config.model.kind`` with the ``[objective]`` hyperparameters."""
    o: ObjectiveConfig = config.objective
    likelihood = LIKELIHOODS[o.likelihood]
    kind = config.model.kind
    if kind == "vae":
        return beta_vae(1.0, likelihood)
    if kind in ("beta-vae", "cvae"):
        return beta_vae(o.beta, likelihood)
    if kind == "beta-vae-annealed":
        return beta_vae(named_schedule(o.beta_schedule, o.beta_start, o.beta, o.beta_steps),
                        likelihood)
    if kind == "beta-vae-capacity":
        return capacity_vae(o.gamma, o.c_max, o.capacity_steps, likelihood=likelihood)
    if kind == "free-bits-vae":
        return free_bits_vae(o.free_bits, o.beta, likelihood)
    if kind == "beta-tcvae":
        return beta_tcvae(o.tc_alpha, o.tc_beta, o.tc_gamma, dataset_size=dataset_size,
                          likelihood=likelihood)
    if kind == "info-vae":
        return info_vae(alpha=o.mmd_alpha, lambda_=o.mmd_lambda, likelihood=likelihood)
    if kind == "dip-vae":
        return dip_vae(o.dip_kind, lambda_od=o.dip_lambda_od, likelihood=likelihood)
    if kind == "factor-vae":
        return factor_vae(o.factor_gamma, likelihood)
    if kind == "iwae":
        return iwae(o.num_samples, likelihood, dreg=o.dreg)
    if kind in ("vamp-vae", "iaf-vae"):  # the ELBO (β = 1), as the likelihood papers train
        return sampled_kl_vae(1.0, likelihood)
    if kind == "hvae":
        return hierarchical_vae(1.0, o.free_bits, likelihood)
    if kind == "vq-vae":
        return vq_vae(o.commitment_cost, likelihood)
    if kind == "fsq-vae":
        return quantized_autoencoder({}, likelihood)
    raise ValueError(f"`model.kind` {kind!r} has no builder")


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


def build_forward(kind: str, objective: Objective) -> Forward:
    """The forward of ``make_train_step`` for ``kind``.

    Labels for ``cvae``, the IWAE's own k-sample forward for ``iwae``, else ``model(batch["x"],
    key=key)``.
    """
    if kind == "cvae":
        return conditional_forward
    if kind == "iwae":
        return objective.forward
    return default_forward


def build_optimizer(config: RunConfig) -> optax.GradientTransformation:
    """The optimizer of a run.

    Adam at ``train.lr``; for ``factor-vae`` that Adam for the VAE and the paper's discriminator
    Adam (lr 1e-4, b1 0.5, b2 0.9) in one ``multi_transform``.
    """
    if config.model.kind == "factor-vae":
        return factor_vae_optimizer(vae=optax.adam(config.train.lr))
    return optax.adam(config.train.lr)
