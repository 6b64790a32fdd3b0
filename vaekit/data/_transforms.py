"""Batch transforms that run inside the compiled train step (``make_train_step(preprocess=)``).

Images are stored compactly (uint8 on the host and on the device, or only as indices) and
turned into what the model trains on inside the jitted step, where XLA fuses the conversion
into the first layer. A transform is a pure function ``(batch, key) -> batch`` of a mapping of
arrays and a PRNG key; :func:`chain` composes several.

Convention: uint8 images hold intensities ``0..255`` (``0`` black, ``255`` white) and become
float32 in ``[0, 1]`` as ``x / 255``.
"""

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from vaekit._types import Batch

__all__ = ["chain", "dynamic_binarize", "uint8_to_float"]

Transform = Callable[[Batch, PRNGKeyArray], dict]

# v / 255 for every uint8 v, rounded once on the host. A table lookup keeps the device result
# bit-identical to numpy's ``x.astype(float32) / 255`` (XLA would turn the division by a
# constant into a multiplication by its rounded reciprocal, off by 1 ulp for half the values).
_UNIT_TABLE = np.arange(256, dtype=np.float32) / np.float32(255.0)


def _unit_float(x: jax.Array, name: str) -> jax.Array:
    if x.dtype == jnp.uint8:
        return jnp.take(jnp.asarray(_UNIT_TABLE), x.astype(jnp.int32), axis=0)
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x
    raise TypeError(
        f"batch[{name!r}] must be uint8 (0..255) or floating point in [0, 1], got {x.dtype}"
    )


def _with_x(batch: Batch, name: str) -> dict:
    if not isinstance(batch, Mapping) or name not in batch:
        keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
        raise KeyError(f"`batch` must be a mapping with an {name!r} array, got {keys}")
    return dict(batch)


def uint8_to_float(batch: Batch, key: PRNGKeyArray | None = None, *, name: str = "x") -> dict:
    """``batch`` with ``batch[name]`` as float32 in ``[0, 1]`` (uint8 ``v`` becomes ``v / 255``).

    Floating-point arrays pass through unchanged, so one step serves both storages. ``key``
    is unused (the transform signature is ``(batch, key)``).

    Args:
      batch: mapping of arrays with ``batch[name]`` uint8 ``(B, *event)`` or float.
      key: unused.
      name: the entry to convert (default ``"x"``).

    Returns:
      a new dict; ``batch[name]`` float32 ``(B, *event)``, other entries as given.

    Raises:
      KeyError: ``batch`` has no ``name`` entry. TypeError: it is neither uint8 nor float.

    Example:
      >>> import numpy as np
      >>> out = uint8_to_float({"x": np.array([[0, 51, 255]], np.uint8)})
      >>> [round(float(v), 3) for v in out["x"][0]]
      [0.0, 0.2, 1.0]
    """
    out = _with_x(batch, name)
    out[name] = _unit_float(jnp.asarray(out[name]), name)
    return out


def dynamic_binarize(batch: Batch, key: PRNGKeyArray, *, name: str = "x") -> dict:
    """Dynamic binarisation.

    Each pixel becomes 1 with probability its intensity, freshly drawn at every step (the standard
    binarised-MNIST protocol of Salakhutdinov & Murray 2008, as used by Burda et al. 2016,
    "Importance Weighted Autoencoders").

    Args:
      batch: mapping with ``batch[name]`` uint8 ``(B, *event)`` (``0..255``) or float in
        ``[0, 1]``.
      key: PRNG key; the step passes a fresh one per step, so a resumed run redraws the same
        pixels.
      name: the entry to binarise (default ``"x"``).

    Returns:
      a new dict with ``batch[name]`` float32 in ``{0, 1}``, same shape.

    Example:
      >>> import jax, numpy as np
      >>> out = dynamic_binarize({"x": np.array([[0, 255]], np.uint8)}, jax.random.key(0))
      >>> out["x"].tolist()
      [[0.0, 1.0]]
    """
    out = _with_x(batch, name)
    p = _unit_float(jnp.asarray(out[name]), name)
    out[name] = jax.random.bernoulli(key, p).astype(jnp.float32)
    return out


def chain(*transforms: Transform) -> Transform:
    """Composes transforms left to right; each gets its own key (``fold_in(key, i)``).

    Example:
      >>> import jax, numpy as np
      >>> both = chain(uint8_to_float, dynamic_binarize)
      >>> both({"x": np.full((1, 2), 255, np.uint8)}, jax.random.key(0))["x"].tolist()
      [[1.0, 1.0]]
    """
    for i, fn in enumerate(transforms):  # (also checked here when no type-check hook is on)
        if not callable(fn):
            raise TypeError(f"`transforms[{i}]` must be callable (batch, key) -> batch, got "
                            f"{type(fn).__name__}")

    def chained(batch: Batch, key: PRNGKeyArray) -> dict:
        out = dict(batch)
        for i, fn in enumerate(transforms):
            out = fn(out, jax.random.fold_in(key, i))
        return out

    return chained
