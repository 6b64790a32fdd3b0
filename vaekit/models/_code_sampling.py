"""Ancestral sampling of a code grid from an autoregressive prior."""

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray
from vaekit.models._code_prior import _check_grid_shape


@functools.partial(jax.jit, static_argnames=("graphdef", "num_samples", "greedy"))
def _ancestral(graphdef, state, key, temperature, labels, *, num_samples: int, greedy: bool):
    prior = nnx.merge(graphdef, state)
    length = prior.seq_len

    def draw(logits, sub):
        if greedy:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        scaled = logits.astype(jnp.float32) / temperature
        return jax.random.categorical(sub, scaled, axis=-1).astype(jnp.int32)

    if callable(getattr(prior, "decode_step", None)):  # incremental, with a key/value cache
        def cached(t, carry):
            codes, previous, cache, key = carry
            key, sub = jax.random.split(key)
            logits, cache = prior.decode_step(previous, t, cache, labels)
            nxt = draw(logits, sub)
            return codes.at[:, t].set(nxt), nxt, cache, key

        codes = jnp.zeros((num_samples, length), jnp.int32)
        carry = (codes, codes[:, 0], prior.init_cache(num_samples), key)
        return jax.lax.fori_loop(0, length, cached, carry)[0]

    def body(t, carry):
        codes, key = carry
        key, sub = jax.random.split(key)
        logits = jax.lax.dynamic_index_in_dim(prior(codes, labels), t, axis=1, keepdims=False)
        return codes.at[:, t].set(draw(logits, sub)), key

    codes = jnp.zeros((num_samples, length), jnp.int32)
    return jax.lax.fori_loop(0, length, body, (codes, key))[0]


def sample_codes(
    prior: nnx.Module,
    key: PRNGKeyArray,
    num_samples: int,
    grid_shape: Sequence[int] | None = None,
    temperature: float | int = 1.0,
    labels: Integer[AnyArray, " num_samples"] | None = None,
) -> Integer[Array, " num_samples *grid"]:
    """Draws code grids ``c ~ p(c) = Π_t p(c_t | c_<t)`` one position at a time (ancestral).

    Position ``t`` is drawn from ``softmax(logits_t / temperature)`` of the prior's forward on
    the codes drawn so far; ``temperature = 0`` takes the argmax (greedy decoding). One
    compiled program per prior structure, ``num_samples`` and greedy/not (``temperature``
    itself is traced): a ``lax.fori_loop`` over the ``T`` positions. A prior with
    ``init_cache``/``decode_step`` (:class:`vaekit.models.CodePrior`) decodes incrementally
    with a key/value cache (``O(t)`` per position); any other prior is re-run in full at every
    position (positions ``>= t`` hold placeholders the causal prior ignores; ``O(T²)``).
    Both paths split ``key`` the same way, so they draw the same codes.

    ``prior`` is a :class:`vaekit.models.CodePrior`, or any NNX module with ``seq_len``,
    ``grid_shape``, ``num_codes`` and ``prior(codes (B, T), labels) -> logits (B, T, K)`` whose
    logits at ``t`` depend on ``codes[:, :t]`` only.

    Args:
      prior: the autoregressive prior (not modified).
      key: PRNG key.
      num_samples: grids to draw, ``>= 1``.
      grid_shape: shape of each returned grid, default ``prior.grid_shape``; its product must
        be ``prior.seq_len`` (e.g. ``(T,)`` for flat sequences).
      temperature: ``>= 0``; 1 samples the model, smaller is sharper, 0 is argmax.
      labels: ``(num_samples,)`` class labels for a class-conditional prior, else ``None``.

    Returns:
      int32 codes in ``[0, K)``, shape ``(num_samples, *grid_shape)``; decode them with
      :func:`vaekit.models.decode_codes`.

    Example:
      >>> import jax
      >>> from flax import nnx
      >>> from vaekit.models import CodePrior
      >>> prior = CodePrior(8, (2, 2), width=8, num_heads=2, rngs=nnx.Rngs(0))
      >>> sample_codes(prior, jax.random.key(0), 3).shape
      (3, 2, 2)
    """
    num_samples = check_int(num_samples, "num_samples")
    grid = tuple(prior.grid_shape) if grid_shape is None else _check_grid_shape(grid_shape)
    if math.prod(grid) != prior.seq_len:
        raise ValueError(
            f"`grid_shape` {grid} must have {prior.seq_len} positions (the prior's sequence "
            f"length), got {math.prod(grid)}."
        )
    temperature = check_number(temperature, "temperature", minimum=0.0)
    if labels is not None:
        labels = jnp.asarray(labels)
        if labels.shape != (num_samples,):
            raise ValueError(
                f"`labels` must have shape ({num_samples},), got {tuple(labels.shape)}."
            )
    graphdef, state = nnx.split(prior)
    greedy = temperature == 0.0
    flat = _ancestral(graphdef, state, key, jnp.float32(1.0 if greedy else temperature), labels,
                      num_samples=num_samples, greedy=greedy)
    return flat.reshape(num_samples, *grid)
