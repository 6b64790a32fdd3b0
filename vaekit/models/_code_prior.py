"""An autoregressive prior over a VQ-VAE's discrete code grid: a small causal transformer.

A VQ-VAE's decoder turns a grid of code indices into an image, but the uniform prior it is
trained under (van den Oord et al. 2017, "Neural Discrete Representation Learning", §3.1) does
not produce real images; a second, autoregressive model ``p(c) = Π_t p(c_t | c_<t)`` fitted to
the codes of the training images does (a PixelCNN in van den Oord et al. 2017, a causal
transformer in Esser et al. 2021, "Taming Transformers for High-Resolution Image Synthesis").

The grid is flattened in raster (C) order: a ``(H', W')`` grid of a :class:`vaekit.VQVAE` with a
vector quantizer or FSQ (index = FSQ's flat mixed-radix index), or a ``(H', W', depth)`` grid of
a residual VQ, flattened position-major, depth-minor (all levels of a position, coarse to fine,
before the next position); the learned positional embedding tells each token its depth.
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray, Batch
from vaekit.quantizers._module import check_indices


def _check_grid_shape(grid_shape: Sequence[int], name: str = "grid_shape") -> tuple[int, ...]:
    if isinstance(grid_shape, str | bytes) or not isinstance(grid_shape, Sequence):
        raise ValueError(f"`{name}` must be a sequence of positive integers, got {grid_shape!r}.")
    if len(grid_shape) == 0:
        raise ValueError(f"`{name}` must name at least one dimension, got an empty sequence.")
    return tuple(check_int(g, name) for g in grid_shape)


def _dropout(h: Array, rate: float, key: PRNGKeyArray | None) -> Array:
    if key is None or rate == 0.0:
        return h
    keep = jax.random.bernoulli(key, 1.0 - rate, h.shape)
    return jnp.where(keep, h / (1.0 - rate), 0.0)


class _CausalSelfAttention(nnx.Module):
    """Multi-head self-attention in which position ``t`` attends to positions ``<= t`` only."""

    def __init__(self, width: int, num_heads: int, *, rngs: nnx.Rngs):
        self.num_heads = num_heads
        self.qkv = nnx.Linear(width, 3 * width, rngs=rngs)
        self.out = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, h: Array) -> Array:
        batch, length, width = h.shape
        head = width // self.num_heads
        q, k, v = (a.reshape(batch, length, self.num_heads, head)
                   for a in jnp.split(self.qkv(h), 3, axis=-1))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(head)
        causal = jnp.tril(jnp.ones((length, length), bool))
        # Masked scores are -inf, so their softmax weights are exactly 0: exact causality.
        weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
        return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, width))

    def decode_step(self, h: Array, t: Array, cache: tuple[Array, Array]):
        """One position ``t`` of :meth:`__call__` (incremental decoding).

        Computed from the keys/values of positions ``< t``: ``h (B, W)``, ``cache`` ``(k, v)`` each
        ``(B, T, heads, W / heads)``; returns the output at ``t`` and the cache with position ``t``
        written.
        """
        batch, width = h.shape
        head = width // self.num_heads
        q, k, v = (a.reshape(batch, self.num_heads, head)
                   for a in jnp.split(self.qkv(h), 3, axis=-1))
        keys = jax.lax.dynamic_update_index_in_dim(cache[0], k, t, axis=1)
        values = jax.lax.dynamic_update_index_in_dim(cache[1], v, t, axis=1)
        scores = jnp.einsum("bhd,bkhd->bhk", q, keys) / math.sqrt(head)
        seen = jnp.arange(keys.shape[1]) <= t
        weights = jax.nn.softmax(jnp.where(seen, scores, -jnp.inf), axis=-1)
        out = jnp.einsum("bhk,bkhd->bhd", weights, values).reshape(batch, width)
        return self.out(out), (keys, values)


class _Block(nnx.Module):
    """Pre-LayerNorm transformer block: ``h + attn(LN h)``, then ``h + MLP(LN h)``."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        self.attn = _CausalSelfAttention(width, num_heads, rngs=rngs)
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.fc1 = nnx.Linear(width, mlp_ratio * width, rngs=rngs)
        self.fc2 = nnx.Linear(mlp_ratio * width, width, rngs=rngs)

    def __call__(self, h: Array, rate: float, keys: Array | None) -> Array:
        k1, k2 = (None, None) if keys is None else (keys[0], keys[1])
        h = h + _dropout(self.attn(self.norm1(h)), rate, k1)
        return h + _dropout(self.fc2(jax.nn.gelu(self.fc1(self.norm2(h)))), rate, k2)

    def decode_step(self, h: Array, t: Array, cache: tuple[Array, Array]):
        """The block at one position (no dropout), with the attention's key/value cache."""
        a, cache = self.attn.decode_step(self.norm1(h), t, cache)
        h = h + a
        return h + self.fc2(jax.nn.gelu(self.fc1(self.norm2(h)))), cache


class CodePrior(nnx.Module):
    """Causal transformer prior ``p(c) = Π_t p(c_t | c_<t [, y])`` over a grid of code indices.

    Tokens are the ``T = prod(grid_shape)`` code indices in raster order (module docstring:
    residual VQ depth is flattened position-major, depth-minor). The input at position ``t`` is
    the embedding of token ``t − 1`` (a learned start vector at ``t = 0``, plus a label
    embedding when ``num_classes > 0``) plus a learned positional embedding; ``num_layers``
    pre-LN blocks with causally masked attention follow, then LayerNorm and a linear head to
    ``K`` logits. The logits at ``t`` depend only on tokens ``< t`` (exactly: masked attention
    weights are 0), so one forward gives every conditional ``p(c_t | c_<t)`` for teacher-forced
    training with :func:`vaekit.objectives.code_prior_nll`; draw with
    :func:`vaekit.models.sample_codes`.

    Shapes: ``codes (B, *grid_shape)`` or ``(B, T)`` int in ``[0, K)`` -> logits ``(B, T, K)``.

    Args:
      num_codes: ``K >= 1``, the quantizer's codebook size (``prod(levels)`` for FSQ).
      grid_shape: the code grid of one image, e.g. ``(4, 4)``, or ``(4, 4, depth)`` for a
        residual VQ with ``depth`` quantizers.
      width: model width ``>= 1``, divisible by ``num_heads``.
      num_layers: transformer blocks ``>= 1``.
      num_heads: attention heads ``>= 1``.
      mlp_ratio: MLP hidden width ``= mlp_ratio · width``.
      dropout: rate in ``[0, 1)`` on the embeddings and each residual branch, applied only when
        a ``key`` is passed (training).
      num_classes: ``0`` (unconditional) or the number of labels of a class-conditional prior.
      rngs: parameter initialisation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> prior = CodePrior(16, (2, 3), width=8, num_heads=2, rngs=nnx.Rngs(0))
      >>> prior(jnp.zeros((5, 2, 3), jnp.int32)).shape
      (5, 6, 16)
    """

    def __init__(
        self,
        num_codes: int,
        grid_shape: Sequence[int],
        *,
        width: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float | int = 0.0,
        num_classes: int = 0,
        rngs: nnx.Rngs,
    ):
        self.num_codes = check_int(num_codes, "num_codes")
        self.grid_shape = _check_grid_shape(grid_shape)
        self.seq_len = math.prod(self.grid_shape)
        self.width = check_int(width, "width")
        self.num_layers = check_int(num_layers, "num_layers")
        self.num_heads = check_int(num_heads, "num_heads")
        if self.width % self.num_heads:
            raise ValueError(
                f"`width` must be divisible by `num_heads` = {self.num_heads}, got {width!r}."
            )
        mlp_ratio = check_int(mlp_ratio, "mlp_ratio")
        self.dropout = check_number(dropout, "dropout", minimum=0.0)
        if self.dropout >= 1.0:
            raise ValueError(f"`dropout` must be < 1, got {dropout!r}.")
        self.num_classes = check_int(num_classes, "num_classes", minimum=0)
        init = nnx.initializers.normal(0.02)
        self.token_embed = nnx.Embed(self.num_codes, self.width, rngs=rngs)
        self.start = nnx.Param(init(rngs.params(), (self.width,)))
        self.position = nnx.Param(init(rngs.params(), (self.seq_len, self.width)))
        self.label_embed = (nnx.Embed(self.num_classes, self.width, rngs=rngs)
                            if self.num_classes else None)
        self.blocks = nnx.List([_Block(self.width, self.num_heads, mlp_ratio, rngs=rngs)
                                for _ in range(self.num_layers)])
        self.norm = nnx.LayerNorm(self.width, rngs=rngs)
        self.head = nnx.Linear(self.width, self.num_codes, rngs=rngs)

    def flatten(self, codes: Integer[AnyArray, "batch ..."]) -> Integer[Array, "batch tokens"]:
        """``(B, *grid_shape)`` or ``(B, T)`` -> ``(B, T)`` in raster order; checks the shape."""
        codes = jnp.asarray(codes)
        if codes.ndim < 2 or codes.shape[1:] not in (self.grid_shape, (self.seq_len,)):
            raise ValueError(
                f"`codes` must have shape (batch, *{self.grid_shape}) or (batch, "
                f"{self.seq_len}), got {tuple(codes.shape)}."
            )
        check_indices(codes, self.num_codes, "codes")
        return codes.reshape(codes.shape[0], self.seq_len).astype(jnp.int32)

    def _start(self, batch: int, labels: Integer[AnyArray, " label_batch"] | None) -> Array:
        start = jnp.broadcast_to(self.start[...], (batch, self.width))
        if self.label_embed is None:
            if labels is not None:
                raise ValueError("`labels` were given but the prior has num_classes = 0.")
            return start
        if labels is None:
            raise ValueError(f"`labels` are required: the prior has num_classes = "
                             f"{self.num_classes}.")
        labels = jnp.asarray(labels)
        if labels.shape != (batch,):
            raise ValueError(f"`labels` must have shape ({batch},), got {tuple(labels.shape)}.")
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(f"`labels` must be integers, got dtype {labels.dtype}.")
        if not isinstance(labels, jax.core.Tracer) and labels.size and (
                labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"`labels` must lie in [0, {self.num_classes}), got values in "
                             f"[{labels.min()}, {labels.max()}].")
        return start + self.label_embed(labels.astype(jnp.int32))

    def __call__(
        self,
        codes: Integer[AnyArray, "batch ..."],
        labels: Integer[AnyArray, " label_batch"] | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, "batch tokens codes"]:
        """Logits of ``p(c_t | c_<t)`` at every position; dropout only when ``key`` is given."""
        tokens = self.flatten(codes)
        batch = tokens.shape[0]
        previous = self.token_embed(tokens[:, :-1])
        h = jnp.concatenate([self._start(batch, labels)[:, None], previous], axis=1)
        h = h + self.position[...]
        keys = None if key is None else jax.random.split(key, 2 * self.num_layers + 1)
        h = _dropout(h, self.dropout, None if keys is None else keys[-1])
        for i, block in enumerate(self.blocks):
            h = block(h, self.dropout, None if keys is None else keys[2 * i: 2 * i + 2])
        return self.head(self.norm(h))


    def init_cache(self, batch: int) -> list[tuple[Array, Array]]:
        """Empty key/value caches of every block for :meth:`decode_step`, ``batch`` rows."""
        shape = (batch, self.seq_len, self.num_heads, self.width // self.num_heads)
        return [(jnp.zeros(shape), jnp.zeros(shape)) for _ in range(self.num_layers)]

    def decode_step(
        self,
        previous: Integer[Array, " batch"],
        t: Integer[Array, ""],
        cache: list[tuple[Array, Array]],
        labels: Integer[AnyArray, " batch"] | None = None,
    ) -> tuple[Float[Array, "batch codes"], list[tuple[Array, Array]]]:
        """The logits of ``p(c_t | c_<t)`` by incremental decoding.

        Computed from the token at ``t − 1`` (``previous``, ignored at ``t = 0``) and the caches of
        positions ``< t``: incremental decoding, equal to ``self(codes)[:, t]`` (dropout off) at
        ``O(t)`` cost per position instead of a full forward. Returns the logits ``(B, K)`` and the
        updated caches.
        """
        batch = previous.shape[0]
        start = self._start(batch, labels)
        h = jnp.where(t == 0, start, self.token_embed(previous.astype(jnp.int32)))
        h = h + jax.lax.dynamic_index_in_dim(self.position[...], t, axis=0, keepdims=False)
        new_cache = []
        for block, layer_cache in zip(self.blocks, cache, strict=True):
            h, layer_cache = block.decode_step(h, t, layer_cache)
            new_cache.append(layer_cache)
        return self.head(self.norm(h)), new_cache


def code_prior_forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> Any:
    """The forward of :class:`CodePrior` for :func:`vaekit.make_train_step`.

    ``model(batch["codes"], batch["y"] if conditional, key=key)``: the forward of :class:`CodePrior`
    for :func:`vaekit.make_train_step` (``key`` drives dropout).

    Example:
      >>> import optax, vaekit
      >>> from vaekit.objectives import code_prior_nll
      >>> train = vaekit.make_train_step(code_prior_nll(), optax.adam(1e-3),
      ...                                forward=code_prior_forward)
    """
    labels = batch["y"] if getattr(model, "num_classes", 0) else None
    return model(batch["codes"], labels, key=key)
