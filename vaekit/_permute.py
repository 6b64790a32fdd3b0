"""Independent per-dimension permutations across the batch (FactorVAE's samples of Π_j q(z_j)).

Shared by the FactorVAE model (which permutes its samples in the forward) and published as
:func:`vaekit.objectives.permute_dims`; kept here so that models never import objectives.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._types import AnyArray


def permute_dims(
    z: Float[AnyArray, "batch latent"], key: PRNGKeyArray
) -> Float[Array, "batch latent"]:
    """Permutes every latent dimension independently across the batch (Kim & Mnih 2018, alg. 1).

    Column ``j`` of the result is column ``j`` of ``z`` under its own uniformly random
    permutation of the batch (``jax.random.permutation`` with the keys
    ``jax.random.split(key, latent)``). If the rows of ``z`` are samples of ``q(z)``, the rows of
    the result are (approximately) samples of ``Π_j q(z_j)``: every column keeps its multiset
    of values, the dependence between columns is destroyed. Pure: the same key gives the same
    permutation; jit/vmap/grad-safe (the gradient permutes back).

    Args:
      z: samples, shape ``(batch, latent)``.
      key: the PRNG key of the permutations.

    Returns:
      The permuted samples, shape ``(batch, latent)``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> z = jnp.arange(8.0).reshape(4, 2)
      >>> out = permute_dims(z, jax.random.key(0))
      >>> [sorted(out[:, j].tolist()) == sorted(z[:, j].tolist()) for j in range(2)]
      [True, True]
    """
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"`z` must have shape (batch, latent), got {tuple(z.shape)}.")
    keys = jax.random.split(key, z.shape[1])
    return jax.vmap(jax.random.permutation, in_axes=(0, 1), out_axes=1)(keys, z)
