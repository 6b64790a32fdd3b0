"""The two-stage VAE sampler (Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models").

Stage 1 is any trained model with ``encode``/``decode``; its aggregate posterior ``q(z)`` is
usually far from N(0, I). Stage 2 is a small VAE with a learned decoder variance
(:class:`~vaekit.samplers.LearnedGammaVAE`) trained on the stage-1 codes of the
training set through the unchanged :func:`vaekit.make_train_step` and :func:`vaekit.fit`.
Sampling: ``u ~ N(0, I)``, ``z = decode_2(u)``, output ``decode_1(z)``.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
import optax
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray, Real

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray
from vaekit.samplers._codes import check_autoencoder, decode_latents, encode_posteriors
from vaekit.samplers._learned_gamma import LearnedGammaVAE, learned_gamma_vae_objective
from vaekit.training._loop import History, fit
from vaekit.training._train_step import make_train_step

CODES = ("mean", "sample")


class TwoStageSampler(NamedTuple):
    """What :func:`fit_two_stage` returns.

    Attributes:
      vae: the trained second-stage :class:`LearnedGammaVAE` on the stage-1 latent space.
      history: ``vaekit.fit``'s history of the second stage (``history["train"]["loss"]`` per
        step, also ``gamma``, ``reconstruction_loss``, ``kl_loss``).
    """

    vae: LearnedGammaVAE
    history: History


def _stage1_codes(means: np.ndarray, logvars: np.ndarray, codes: str, key) -> np.ndarray:
    """The second stage's training set: posterior means, or one draw z ~ q(z|x) per row."""
    if codes == "mean":
        return means.astype(np.float32)
    eps = np.asarray(jax.random.normal(key, means.shape), np.float32)
    return (means + np.exp(0.5 * logvars) * eps).astype(np.float32)


def fit_two_stage(
    model: nnx.Module,
    images: Real[AnyArray, " num *event"],
    *,
    key: PRNGKeyArray,
    latent_dim_2: int | None = None,
    hidden: Sequence[int] = (64, 64),
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    labels: Integer[AnyArray, " num"] | None = None,
    codes: str = "mean",
    encode_batch_size: int = 256,
) -> TwoStageSampler:
    """Trains the second-stage VAE of Dai & Wipf (2019) on ``model``'s codes of ``images``.

    The codes are the posterior means (``codes="mean"``) or one draw ``z ~ q(z|x)`` per image
    (``"sample"``, fixed for the whole training), from ``model.encode(x)`` (or
    ``encode(x, labels)``). The second stage is a :class:`LearnedGammaVAE` (MLP encoder and
    decoder, learned scalar decoder variance γ) trained with Adam for ``steps`` steps on the
    negative ELBO (:func:`learned_gamma_vae_objective`) through :func:`vaekit.make_train_step`
    and :func:`vaekit.fit`. Deterministic given ``key``.

    Args:
      model: the trained stage-1 model (``encode(x) -> (mean, logvar)``, ``decode(z)``).
      images: ``(num, *event)`` training inputs.
      key: PRNG key (initialisation, training noise, data order, code draws).
      latent_dim_2: the second stage's latent size (default: the stage-1 latent size, as in
        Dai & Wipf).
      hidden: hidden widths of the second-stage encoder (reversed for its decoder).
      steps: optimiser steps, ``>= 1``.
      batch_size: codes per step (capped at ``num``).
      lr: Adam learning rate, ``> 0``.
      labels: ``(num,)`` labels for a conditional stage-1 model.
      codes: ``"mean"`` or ``"sample"``.
      encode_batch_size: images per stage-1 encoder call.

    Returns:
      A :class:`TwoStageSampler`.

    Example:
      >>> import jax, numpy as np, vaekit
      >>> from flax import nnx
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> images = np.random.default_rng(0).random((16, 4)).astype(np.float32)
      >>> sampler = fit_two_stage(vae, images, key=jax.random.key(0), hidden=(8,), steps=5,
      ...                         batch_size=8)
      >>> sample_two_stage(vae, sampler, jax.random.key(1), 3).shape
      (3, 4)
    """
    check_autoencoder(model)
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_number(lr, "lr", minimum=0.0, strict=True)
    hidden = tuple(check_int(h, "hidden") for h in hidden)
    if codes not in CODES:
        raise ValueError(f"`codes` must be one of {CODES}, got {codes!r}.")
    means, logvars = encode_posteriors(model, images, labels, encode_batch_size)
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(logvars))):
        raise ValueError("`model.encode` gave non-finite codes for `images`.")
    num, dim = means.shape
    latent_dim_2 = dim if latent_dim_2 is None else check_int(latent_dim_2, "latent_dim_2")
    init_key, train_key, code_key, seed_key = jax.random.split(key, 4)
    data = _stage1_codes(means, logvars, codes, code_key)
    stage2 = LearnedGammaVAE(dim, latent_dim_2, hidden, rngs=nnx.Rngs(init_key))
    train = make_train_step(learned_gamma_vae_objective(), optax.adam(lr))
    state = train.init(stage2, train_key)
    seed = int(jax.random.randint(seed_key, (), 0, 2**31 - 1))
    state, history = fit(
        train, state, {"x": data}, num_steps=steps,
        batch_size=min(batch_size, num), seed=seed,
        steps_per_call=steps if steps <= 500 else 250,
    )
    trained = nnx.merge(state.graphdef, state.params, state.rest, copy=True)
    return TwoStageSampler(vae=trained, history=history)


def two_stage_latents(
    sampler: TwoStageSampler, key: PRNGKeyArray, n: int
) -> Float[Array, "n latent"]:
    """``n`` stage-1 latents from the second stage.

    ``n`` stage-1 latents ``z = decode_2(u)``, ``u ~ N(0, I)`` (the second stage's decoder means, as
    Dai & Wipf sample), shape ``(n, latent)``.

    Example: see :func:`fit_two_stage`.
    """
    n = check_int(n, "n")
    if not isinstance(sampler, TwoStageSampler):
        raise ValueError(f"`sampler` must be a TwoStageSampler, got {type(sampler).__name__}.")
    u = jax.random.normal(key, (n, sampler.vae.latent_dim))
    return decode_latents(sampler.vae, u)


def sample_two_stage(
    model: nnx.Module,
    sampler: TwoStageSampler,
    key: PRNGKeyArray,
    n: int,
    *,
    labels: Integer[AnyArray, " n"] | None = None,
) -> Array:
    """Decoder outputs ``(n, *event)`` of ``decode_1(decode_2(u))``, ``u ~ N(0, I)``.

    ``labels`` ``(n,)`` go to a conditional stage-1 decoder.

    Example: see :func:`fit_two_stage`.
    """
    check_autoencoder(model)
    return decode_latents(model, two_stage_latents(sampler, key, n), labels)
