"""Vector quantization as a pure function: nearest code, gradient estimator, losses, usage."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Integer

from vaekit._types import AnyArray
from vaekit.quantizers._nearest import nearest_code
from vaekit.quantizers._usage import perplexity

ESTIMATORS = ("straight_through", "rotation")

_sg = jax.lax.stop_gradient


class VQResult(NamedTuple):
    """What :func:`quantize` returns.

    Attributes:
      z_q: quantized vectors with the gradient estimator applied, ``(*batch, D)``, in ``z_e``'s
        dtype; its forward value is exactly ``z_q_raw`` (cast to that dtype), its gradient flows
        to ``z_e`` only.
      z_q_raw: the selected codebook rows themselves, ``(*batch, D)``, in the codebook's dtype
        (gradient to the codebook).
      indices: int32 code indices, ``(*batch,)``.
      codebook_loss: ``mean_b Σ_{positions, D} (sg[z_e] − e)²``, unweighted scalar.
      commitment_loss: ``mean_b Σ_{positions, D} (z_e − sg[e])²``, unweighted scalar.
      perplexity: ``exp(H(p))`` of the batch's code usage ``p``, in ``[1, K]``.
      usage_fraction: fraction of the ``K`` codes used at least once in the batch.
      counts: int32 assignments per code, ``(K,)``.
    """

    z_q: Array
    z_q_raw: Array
    indices: Array
    codebook_loss: Array
    commitment_loss: Array
    perplexity: Array
    usage_fraction: Array
    counts: Array


def _norm(x) -> Array:
    """``||x||`` along the last axis, computed in float32 (a float16 square overflows at 256)."""
    x = jnp.asarray(x)
    return jnp.linalg.norm(x.astype(jnp.promote_types(x.dtype, jnp.float32)), axis=-1,
                           keepdims=True)


def l2_normalize(
    x: Float[AnyArray, "*batch dim"], eps: float = 1e-12
) -> Float[Array, "*batch dim"]:
    """``x / max(||x||, eps)`` along the last axis (the norm in float32; ``x``'s dtype kept)."""
    x = jnp.asarray(x)
    return (x / jnp.maximum(_norm(x), eps)).astype(x.dtype)


def straight_through(
    z_e: Float[AnyArray, "*batch dim"], z_q: Float[AnyArray, "*batch dim"]
) -> Float[Array, "*batch dim"]:
    """Straight-through estimator (van den Oord et al. 2017): forward ``z_q``, gradient to ``z_e``.

    Written ``sg(z_q) + (z_e − sg(z_e))`` rather than ``z_e + sg(z_q − z_e)``: the forward value
    is exactly ``z_q`` in ``z_e``'s dtype (no rounding of ``z_e + (z_q − z_e)``, which in
    bfloat16 is off by up to an ulp of the larger operand); the Jacobian with respect to
    ``z_e`` is the identity (also in bfloat16); no gradient reaches ``z_q``. The output has
    ``z_e``'s dtype (a float32 EMA codebook does not promote bfloat16 activations).

    Example:
      >>> import jax.numpy as jnp
      >>> straight_through(jnp.array([0.2]), jnp.array([1.0])).tolist()
      [1.0]
    """
    z_e = jnp.asarray(z_e)
    return _sg(jnp.asarray(z_q).astype(z_e.dtype)) + (z_e - _sg(z_e))


def rotation_trick(
    z_e: Float[AnyArray, "*batch dim"], z_q: Float[AnyArray, "*batch dim"], eps: float = 1e-6
) -> Float[Array, "*batch dim"]:
    """Rotation-trick estimator.

    Rotation-trick estimator (Fifty et al. 2024, "Restructuring Vector Quantization with the
    Rotation Trick", §4.2).

    Output ``sg(λ R) z_e`` with ``λ = ||z_q|| / ||z_e||`` and ``R`` the rotation taking
    ``û = z_e/||z_e||`` to ``q̂ = z_q/||z_q||``: ``R = I − 2 w wᵀ + 2 q̂ ûᵀ`` with
    ``w = (û + q̂)/||û + q̂||``, applied without forming ``R``. Forward value ``z_q`` (the
    rounding residue is removed with a stop-gradient correction); the gradient reaching ``z_e``
    is the decoder's gradient rotated and rescaled, and none reaches ``z_q``. Rows with
    ``||z_e|| < eps`` fall back to :func:`straight_through`. The norms and the rotation are
    computed in float32 (a float16 ``||z_e||`` overflows at 256); the output has ``z_e``'s
    dtype and its forward value is exactly ``z_q`` in that dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> out = rotation_trick(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 2.0]]))
      >>> [round(v, 5) for v in out[0].tolist()]
      [0.0, 2.0]
    """
    e_norm, q_norm = _norm(_sg(z_e)), _norm(_sg(z_q))
    u = _sg(z_e) / jnp.maximum(e_norm, eps)
    q = _sg(z_q) / jnp.maximum(q_norm, eps)
    w = l2_normalize(u + q)
    rotated = (
        z_e
        - 2.0 * w * jnp.sum(w * z_e, axis=-1, keepdims=True)
        + 2.0 * q * jnp.sum(u * z_e, axis=-1, keepdims=True)
    )
    rotated = rotated * (q_norm / jnp.maximum(e_norm, eps))
    dtype = jnp.asarray(z_e).dtype  # the norms are float32; keep the input's dtype
    rotated = (_sg(jnp.asarray(z_q).astype(dtype)) + (rotated - _sg(rotated))).astype(dtype)
    return jnp.where(e_norm >= eps, rotated, straight_through(z_e, z_q))


def code_usage(
    indices: Integer[AnyArray, " n"], num_codes: int
) -> tuple[Int[Array, " codes"], Float[Array, ""], Float[Array, ""]]:
    """``(counts, perplexity, usage_fraction)`` of a flat index vector over ``num_codes`` codes.

    ``perplexity = exp(−Σ_k p_k log p_k)`` with ``p = counts / N`` (``0 log 0 = 0``), clipped to
    ``[1, K]``: ``K`` for uniform usage, 1 when a single code is used.

    Example:
      >>> import jax.numpy as jnp
      >>> counts, perplexity, usage = code_usage(jnp.array([0, 1, 2, 3]), 8)
      >>> round(float(perplexity), 4), float(usage)
      (4.0, 0.5)
    """
    counts = jnp.zeros((num_codes,), jnp.int32).at[indices].add(1)
    probs = counts.astype(jnp.float32) / max(indices.shape[0], 1)
    ppl = jnp.clip(perplexity(probs), 1.0, float(num_codes))
    return counts, ppl, jnp.mean((counts > 0).astype(jnp.float32))


def _per_example_sum_mean(sq: Array) -> Array:
    """Sum over every axis but the first (positions and D), mean over the first (batch)."""
    return jnp.mean(jnp.sum(sq.reshape(sq.shape[0], -1), axis=-1))


def quantize(
    z_e: Float[AnyArray, "*batch dim"],
    codebook: Float[AnyArray, "codes dim"],
    *,
    estimator: str = "straight_through",
    cosine: bool = False,
    chunk_size: int | None = None,
) -> VQResult:
    """Quantizes every position of ``z_e`` to its nearest codebook row.

    Van den Oord et al. 2017, "Neural Discrete Representation Learning".

    ``z_e`` has any leading shape ``(B, ..., D)`` (e.g. ``(B, H, W, D)``): one code per position.
    ``e = codebook[argmin_k ||z_e − e_k||²]`` (see :func:`nearest_code`). The gradient estimator
    is ``"straight_through"`` (:func:`straight_through`) or ``"rotation"``
    (:func:`rotation_trick`). With ``cosine=True`` inputs and codes are l2-normalised first
    (nearest by cosine similarity), and everything below uses the normalised vectors; ``z_q`` is
    a normalised code.

    Precision: the nearest-code search, the losses and the usage statistics run in float32
    on the float32 values of the inputs (bfloat16/float16 ``z_e`` or codebook are upcast,
    and normalised in float32 when ``cosine``), so bfloat16 inputs select exactly the codes
    float32 copies of them would; ``z_q`` has ``z_e``'s dtype and ``z_q_raw`` the codebook's.

    Losses (unweighted; the VQ-VAE's second and third terms):

    - ``codebook_loss = mean_b Σ_{positions, d} (sg[z_e] − e)²`` (moves the codebook);
    - ``commitment_loss = mean_b Σ_{positions, d} (z_e − sg[e])²`` (moves the encoder).

    Reduction: summed over positions and D and averaged over the leading (batch) axis, like the
    reconstruction NLL, so their weights are comparable to it.

    Args:
      z_e: encoder outputs ``(B, ..., D)``, at least 2-D (batch first).
      codebook: ``(K, D)``.
      estimator: ``"straight_through"`` or ``"rotation"``.
      cosine: quantize by cosine similarity to normalised codes.
      chunk_size: codebook chunk for the nearest-code search (``None``: direct).

    Returns:
      A :class:`VQResult`.

    Example:
      >>> import jax.numpy as jnp
      >>> codebook = jnp.array([[0.0, 0.0], [1.0, 1.0]])
      >>> result = quantize(jnp.array([[[0.1, 0.2], [0.9, 0.8]]]), codebook)
      >>> result.indices.tolist(), round(float(result.commitment_loss), 4)
      ([[0, 1]], 0.1)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
    if z_e.ndim < 2:
        raise ValueError(f"`z_e` must have shape (batch, ..., D), got {tuple(z_e.shape)}.")
    if codebook.ndim != 2 or codebook.shape[0] < 1:
        raise ValueError(
            f"`codebook` must have shape (K, D) with K >= 1, got {tuple(codebook.shape)}."
        )
    if z_e.shape[-1] != codebook.shape[-1]:
        raise ValueError(
            f"`z_e` and `codebook` must share the last dimension D, got {z_e.shape[-1]} and "
            f"{codebook.shape[-1]}."
        )
    z = jnp.asarray(z_e)
    codes = jnp.asarray(codebook)
    # Decisions and losses in (at least) float32, on the float32 values of the inputs; the
    # outputs in the inputs' dtypes (z_q: z_e's, z_q_raw: the codebook's).
    z32 = z.astype(jnp.promote_types(z.dtype, jnp.float32))
    codes32 = codes.astype(jnp.promote_types(codes.dtype, jnp.float32))
    if cosine:
        z32, codes32 = l2_normalize(z32), l2_normalize(codes32)
        z, codes = z32.astype(z.dtype), codes32.astype(codes.dtype)
    num_codes, dim = codes.shape
    flat_idx, _ = nearest_code(_sg(z32.reshape(-1, dim)), _sg(codes32), chunk_size=chunk_size)
    z_q_raw = jnp.take(codes, flat_idx, axis=0).reshape(z.shape)
    q32 = jnp.take(codes32, flat_idx, axis=0).reshape(z.shape)
    codebook_loss = _per_example_sum_mean(jnp.square(_sg(z32) - q32))
    commitment_loss = _per_example_sum_mean(jnp.square(z32 - _sg(q32)))
    if estimator == "straight_through":
        z_q = straight_through(z, _sg(z_q_raw))
    else:
        z_q = rotation_trick(z, _sg(z_q_raw))
    counts, perplexity, usage = code_usage(flat_idx, num_codes)
    return VQResult(
        z_q=z_q,
        z_q_raw=z_q_raw,
        indices=flat_idx.reshape(z.shape[:-1]),
        codebook_loss=codebook_loss,
        commitment_loss=commitment_loss,
        perplexity=perplexity,
        usage_fraction=usage,
        counts=counts,
    )
