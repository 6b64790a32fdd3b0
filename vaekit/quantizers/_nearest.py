"""Nearest codebook entry by squared Euclidean distance, directly or over codebook chunks."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from vaekit._checks import check_int
from vaekit._types import AnyArray


def _check_inputs(z_shape: tuple[int, ...], codebook_shape: tuple[int, ...]) -> None:
    if len(z_shape) != 2:
        raise ValueError(f"`z` must have shape (N, D), got {tuple(z_shape)}.")
    if len(codebook_shape) != 2 or codebook_shape[0] < 1:
        raise ValueError(
            f"`codebook` must have shape (K, D) with K >= 1, got {tuple(codebook_shape)}."
        )
    if z_shape[1] != codebook_shape[1]:
        raise ValueError(
            f"`z` and `codebook` must share the last dimension D, got D = {z_shape[1]} and "
            f"{codebook_shape[1]}."
        )


def _distances(z: Array, z_sq: Array, codes: Array, codes_sq: Array) -> Array:
    """``||z||² − 2 z·eᵀ + ||e||²``, shape ``(N, C)``, float32 with a full-precision matmul."""
    cross = jnp.matmul(z, codes.T, precision=jax.lax.Precision.HIGHEST)
    return (z_sq[:, None] - 2.0 * cross) + codes_sq[None, :]


def nearest_code(
    z: Float[AnyArray, "n dim"],
    codebook: Float[AnyArray, "codes dim"],
    *,
    chunk_size: int | None = None,
) -> tuple[Int[Array, " n"], Float[Array, " n"]]:
    """Index of the closest codebook row for every row of ``z``, and the squared distance.

    ``d_ik = ||z_i||² − 2 z_i·e_k + ||e_k||²`` is computed in float32 (bf16/f16 inputs are cast
    up first, and the matmul runs at full precision), ``index_i = argmin_k d_ik`` with ties going
    to the lowest index. The expansion can round slightly below zero; the returned distance is
    clamped at 0.

    ``chunk_size=None`` builds the whole ``(N, K)`` distance matrix. With ``chunk_size = C`` the
    codebook is scanned in chunks of ``C`` rows (``jax.lax.scan``; the last chunk is padded with
    rows at infinite distance) keeping a running ``(min, argmin)``: peak memory is
    ``O(N + K·D + N·C)`` instead of ``O(N·K)``, and the result is the direct path's: a later
    chunk replaces the running best only when strictly closer, so exact ties still go to the
    lowest index. (XLA may round the ``(N, C)`` and ``(N, K)`` matmuls differently in the last
    ulp, so two codes whose distances agree to float32 rounding may be ordered differently.)

    Args:
      z: vectors to quantize, ``(N, D)``.
      codebook: codebook rows, ``(K, D)``, ``K >= 1``.
      chunk_size: codebook rows per chunk, ``>= 1``, or ``None`` for the direct path.

    Returns:
      ``(indices, sq_dist)``: int32 ``(N,)`` and float32 ``(N,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> codebook = jnp.array([[0.0, 0.0], [1.0, 1.0], [4.0, 4.0]])
      >>> idx, d = nearest_code(jnp.array([[0.9, 1.2], [5.0, 4.0]]), codebook, chunk_size=2)
      >>> idx.tolist()
      [1, 2]
    """
    _check_inputs(z.shape, codebook.shape)
    z = jnp.asarray(z, jnp.float32)
    codebook = jnp.asarray(codebook, jnp.float32)
    num_codes = codebook.shape[0]
    z_sq = jnp.sum(jnp.square(z), axis=-1)
    codes_sq = jnp.sum(jnp.square(codebook), axis=-1)
    if chunk_size is None or check_int(chunk_size, "chunk_size") >= num_codes:
        dist = _distances(z, z_sq, codebook, codes_sq)
        indices = jnp.argmin(dist, axis=-1).astype(jnp.int32)
        best = jnp.take_along_axis(dist, indices[:, None], axis=-1)[:, 0]
        return indices, jnp.maximum(best, 0.0)

    num_chunks = -(-num_codes // chunk_size)
    pad = num_chunks * chunk_size - num_codes
    codes = jnp.pad(codebook, ((0, pad), (0, 0))).reshape(num_chunks, chunk_size, -1)
    codes_sq = jnp.pad(codes_sq, (0, pad), constant_values=jnp.inf).reshape(num_chunks, -1)
    offsets = jnp.arange(num_chunks, dtype=jnp.int32) * chunk_size

    def scan_chunk(carry, chunk):
        best, best_idx = carry
        chunk_codes, chunk_sq, offset = chunk
        dist = _distances(z, z_sq, chunk_codes, chunk_sq)
        local = jnp.argmin(dist, axis=-1).astype(jnp.int32)
        local_best = jnp.take_along_axis(dist, local[:, None], axis=-1)[:, 0]
        closer = local_best < best
        return (jnp.where(closer, local_best, best),
                jnp.where(closer, local + offset, best_idx)), None

    init = (jnp.full(z.shape[:1], jnp.inf, jnp.float32), jnp.zeros(z.shape[:1], jnp.int32))
    (best, indices), _ = jax.lax.scan(scan_chunk, init, (codes, codes_sq, offsets))
    return indices, jnp.maximum(best, 0.0)
