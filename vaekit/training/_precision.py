"""Opt-in mixed precision as a forward wrapper: low-precision compute, float32 everything else."""

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import PRNGKeyArray

from vaekit._types import Batch
from vaekit.training._train_step import Forward, default_forward


def cast_floating(tree: Any, dtype: Any) -> Any:
    """``tree`` with every floating-point array leaf cast to ``dtype`` (others unchanged).

    Example:
      >>> import jax.numpy as jnp
      >>> out = cast_floating({"x": jnp.ones(2), "y": jnp.arange(2)}, jnp.bfloat16)
      >>> out["x"].dtype, out["y"].dtype
      (dtype(bfloat16), dtype('int32'))
    """

    def cast(leaf):
        if hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating):
            return jnp.asarray(leaf).astype(dtype)
        return leaf

    return jax.tree.map(cast, tree)


def _restore_dtype(new: Any, old: Any) -> Any:
    if jnp.issubdtype(old.dtype, jnp.floating):
        return new.astype(old.dtype)
    return new


def mixed_precision(
    forward: Forward = default_forward,
    *,
    compute_dtype: Any = jnp.bfloat16,
    output_dtype: Any = jnp.float32,
) -> Forward:
    """Wraps a forward so it computes in ``compute_dtype`` while parameters stay float32.

    Inside the returned forward, the model's ``nnx.Param`` leaves and the batch's floating
    arrays are cast to ``compute_dtype`` (bfloat16 by default), ``forward`` runs on that
    low-precision copy, and every floating leaf of its output is cast back to
    ``output_dtype``. So the objective, the loss, its reduction over the batch and the
    metrics are float32; gradients flow through the casts back to the float32 parameters,
    and the optimiser state stays float32 ("master weights", Micikevicius et al. 2018).
    Non-parameter state the forward updates (EMA codebooks, counters) is written back in its
    original dtype. Pass it to :func:`vaekit.make_train_step` as ``forward=``; nothing else
    changes.

    bfloat16 keeps float32's exponent range, so no loss scaling is needed; with float16 as
    ``compute_dtype`` gradients may underflow (use an optax loss-scaling wrapper yourself).

    Args:
      forward: ``(model, batch, key) -> out``; default ``model(batch["x"], key=key)``.
      compute_dtype: dtype of the parameters and inputs inside the forward.
      output_dtype: dtype the floating outputs are cast back to.

    Returns:
      a forward ``(model, batch, key) -> out`` with ``out``'s floating leaves in
      ``output_dtype``.

    Example:
      >>> import jax, jax.numpy as jnp, optax, vaekit
      >>> from flax import nnx
      >>> from vaekit.training import mixed_precision
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-3),
      ...                                forward=mixed_precision())
      >>> state = train.init(model, jax.random.key(0))
      >>> state, metrics = train.step(state, {"x": jnp.zeros((2, 4))})
      >>> metrics["loss"].dtype, state.params["encoder"]["head"]["kernel"].dtype
      (dtype('float32'), dtype('float32'))
    """
    compute_dtype = jnp.dtype(compute_dtype)
    output_dtype = jnp.dtype(output_dtype)
    for name, dtype in (("compute_dtype", compute_dtype), ("output_dtype", output_dtype)):
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"`{name}` must be a floating dtype, got {dtype}.")

    def low_precision_forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> Any:
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        low = nnx.merge(graphdef, cast_floating(params, compute_dtype), rest, copy=True)
        out = forward(low, cast_floating(dict(batch), compute_dtype), key)
        _, _, new_rest = nnx.split(low, nnx.Param, ...)
        nnx.update(model, jax.tree.map(_restore_dtype, new_rest, rest))
        return cast_floating(out, output_dtype)

    return low_precision_forward
