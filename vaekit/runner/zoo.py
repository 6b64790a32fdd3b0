"""The seed models: one builder per ``model.kind``, all trained by ``make_train_step``."""

from flax import nnx

from vaekit._types import Objective
from vaekit.models import VAE, MLPDecoder, MLPEncoder
from vaekit.objectives import (
    LIKELIHOODS,
    beta_tcvae,
    beta_vae,
    capacity_vae,
    dip_vae,
    free_bits_vae,
    info_vae,
)
from vaekit.runner.config import ModelConfig, ObjectiveConfig, RunConfig
from vaekit.schedules import named_schedule


def build_model(config: ModelConfig, image_shape: tuple[int, ...], seed: int) -> nnx.Module:
    """The encoder/decoder pair of ``config.architecture`` wrapped in a :class:`VAE`."""
    rngs = nnx.Rngs(seed)
    if config.architecture == "cnn":
        from vaekit.models.cnn import CNNDecoder, CNNEncoder

        encoder = CNNEncoder(image_shape, config.latent_dim, config.channels,
                             activation=config.activation, rngs=rngs)
        decoder = CNNDecoder(config.latent_dim, image_shape, config.channels[::-1],
                             activation=config.activation, rngs=rngs)
    else:
        encoder = MLPEncoder(image_shape, config.latent_dim, config.hidden,
                             activation=config.activation, rngs=rngs)
        decoder = MLPDecoder(config.latent_dim, image_shape, config.hidden[::-1],
                             activation=config.activation, rngs=rngs)
    return VAE(encoder, decoder)


def build_objective(config: RunConfig, dataset_size: int) -> Objective:
    """The objective of ``config.model.kind`` with the ``[objective]`` hyperparameters."""
    o: ObjectiveConfig = config.objective
    likelihood = LIKELIHOODS[o.likelihood]
    kind = config.model.kind
    if kind == "vae":
        return beta_vae(1.0, likelihood)
    if kind == "beta-vae":
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
    raise ValueError(f"`model.kind` {kind!r} has no builder")
