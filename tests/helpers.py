"""Small shared fixtures: a tiny VAE and a binary batch (kept tiny so compiles are cheap)."""

import jax
import numpy as np
from flax import nnx

import vaekit

INPUT_SHAPE = (6, 6, 1)
LATENT = 3


def tiny_vae(seed: int = 0, latent: int = LATENT) -> vaekit.VAE:
    rngs = nnx.Rngs(seed)
    return vaekit.VAE(
        vaekit.MLPEncoder(INPUT_SHAPE, latent, (16,), rngs=rngs),
        vaekit.MLPDecoder(latent, INPUT_SHAPE, (16,), rngs=rngs),
    )


def binary_batch(n: int = 8, seed: int = 0) -> dict[str, jax.Array]:
    rng = np.random.default_rng(seed)
    return {"x": (rng.random((n, *INPUT_SHAPE)) < 0.3).astype(np.float32)}
