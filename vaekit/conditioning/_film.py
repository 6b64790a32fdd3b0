"""Feature-wise linear modulation (FiLM, Perez et al. 2018) by a label code."""

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from vaekit._checks import check_int
from vaekit._types import AnyArray


def film(
    h: Float[AnyArray, "batch *spatial features"],
    scale: Float[AnyArray, "scale_batch scale_features"],
    shift: Float[AnyArray, "shift_batch shift_features"],
) -> Float[Array, "batch *spatial features"]:
    """``h * (1 + scale) + shift``, broadcast over every axis between batch and features.

    Parameterised as ``1 + scale`` so that zero ``scale`` and ``shift`` are the identity
    (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer").

    Shapes: ``h (B, ..., F)``, ``scale (B, F)``, ``shift (B, F)`` ``-> (B, ..., F)``.

    Raises:
      ValueError: naming ``scale`` or ``shift`` if its shape is not ``(B, F)``.

    Example:
      >>> import jax.numpy as jnp
      >>> h = jnp.ones((2, 4, 4, 3))
      >>> bool((film(h, jnp.zeros((2, 3)), jnp.zeros((2, 3))) == h).all())
      True
    """
    expected = (h.shape[0], h.shape[-1])
    for value, name in ((scale, "scale"), (shift, "shift")):
        if tuple(value.shape) != expected:
            raise ValueError(
                f"`{name}` must have shape (batch, features) = {expected} to match `h` of shape "
                f"{tuple(h.shape)}, got {tuple(value.shape)}."
            )
    h = jnp.asarray(h)
    middle = (1,) * (h.ndim - 2)
    scale = jnp.reshape(scale, (h.shape[0], *middle, h.shape[-1]))
    shift = jnp.reshape(shift, (h.shape[0], *middle, h.shape[-1]))
    return h * (1 + scale) + shift


class FiLMGenerator(nnx.Module):
    """A linear map from a label code to FiLM parameters ``(scale, shift)``, each ``(B, F)``.

    Kernel and bias start at zero, so ``film(h, *generator(code))`` is the identity at
    initialisation and conditioning is learned from there (Perez et al. 2018).

    Args:
      code_dim: size ``K`` of the label code (one-hot or embedding).
      features: number ``F`` of modulated features.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> gen = FiLMGenerator(10, 32, rngs=nnx.Rngs(0))
      >>> scale, shift = gen(jnp.ones((2, 10)))
      >>> scale.shape, float(abs(shift).max())
      ((2, 32), 0.0)
    """

    def __init__(self, code_dim: int, features: int, *, rngs: nnx.Rngs):
        self.code_dim = check_int(code_dim, "code_dim")
        self.features = check_int(features, "features")
        self.linear = nnx.Linear(
            self.code_dim, 2 * self.features, kernel_init=nnx.initializers.zeros,
            bias_init=nnx.initializers.zeros, rngs=rngs,
        )

    def __call__(
        self, code: Float[AnyArray, "batch code"]
    ) -> tuple[Float[Array, "batch features"], Float[Array, "batch features"]]:
        """The FiLM ``(scale, shift)``, each ``(batch, features)``, of ``code``."""
        if code.ndim != 2 or code.shape[1] != self.code_dim:
            raise ValueError(
                f"`code` must have shape (batch, {self.code_dim}), got {tuple(code.shape)}."
            )
        scale, shift = jnp.split(self.linear(jnp.asarray(code)), 2, axis=-1)
        return scale, shift
