"""Finite scalar quantization.

Finite scalar quantization (Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE Made Simple",
arXiv:2309.15505).

Each of the ``d = len(levels)`` latent dimensions is bounded to ``L_i`` values and rounded; the
codebook is the implicit grid of ``∏ L_i`` points, so there are no codebook parameters, no
codebook or commitment loss and no codebook collapse. Pure functions (:func:`fsq_bound`,
:func:`fsq_quantize`, index conversions) plus a small NNX holder :class:`FSQ` with optional
input/output projections.

The bound follows the reference implementation (appendix A.1 / ``google-research/fsq``) in the
corrected form of ``vector-quantize-pytorch``: ``shift = atanh(offset / half_l)`` (so that
``bound(0) = 0`` up to float rounding) and ``half_l = (L − 1)(1 + eps) / 2``. The notebook has
``tan`` and ``1 − eps``; both variants round to the same ``L`` grid values.
"""

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float, Int, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers._projection import CodeProjection
from vaekit.quantizers._usage import code_usage_metrics

_MAX_INDEX = 2**31 - 1  # indices are int32


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence | np.ndarray):
        raise ValueError(f"`levels` must be a sequence of integers >= 2, got {levels!r}.")
    if len(levels) == 0:
        raise ValueError("`levels` must name at least one level count, got an empty sequence.")
    out = tuple(check_int(level, "levels", minimum=2) for level in levels)
    if math.prod(out) > _MAX_INDEX:
        raise ValueError(
            f"`levels` give a codebook of {math.prod(out)} codes; indices are int32, so the "
            f"product of the levels must be <= {_MAX_INDEX}."
        )
    return out


def _check_eps(eps: float | int, levels: tuple[int, ...]) -> float:
    eps = check_number(eps, "eps", minimum=0.0, strict=True)  # eps = 0: atanh(1) for L = 2
    if eps * (max(levels) - 1) >= 1.0:
        raise ValueError(
            f"`eps` must be < 1 / (max(levels) - 1) = {1 / (max(levels) - 1):.3g} (else rounding "
            f"leaves the grid), got {eps!r}."
        )
    return eps


def _check_last_dim(shape: tuple[int, ...], d: int, name: str, what: str) -> None:
    if len(shape) < 1 or shape[-1] != d:
        raise ValueError(f"`{name}` must have shape (..., {d}) ({what}), got {tuple(shape)}.")


def round_ste(x: Float[AnyArray, "*shape"]) -> Float[Array, "*shape"]:
    """Rounds to the nearest integer with a straight-through (identity) gradient.

    Forward ``round(x)`` exactly (ties to even); backward ``∂/∂x = 1`` (Bengio et al. 2013,
    "Estimating or Propagating Gradients Through Stochastic Neurons"). Written as
    ``sg(round(x)) + (x − sg(x))`` so the forward value is exactly the rounded one.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> round_ste(jnp.array([0.4, 1.6])), jax.grad(lambda x: round_ste(x).sum())(jnp.ones(2))
      (Array([0., 2.], dtype=float32), Array([1., 1.], dtype=float32))
    """
    x = jnp.asarray(x)
    return jax.lax.stop_gradient(jnp.round(x)) + (x - jax.lax.stop_gradient(x))


def _constants(levels: tuple[int, ...], dtype) -> tuple[Array, Array]:
    levels_np = np.asarray(levels)
    return jnp.asarray(levels_np, jnp.int32), jnp.asarray(levels_np // 2, dtype)


def _at_least_float32(x: Array) -> Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _bound32(z: Array, levels: tuple[int, ...], eps: float) -> Array:
    """:func:`fsq_bound` of checked arguments, computed in (at least) float32."""
    z = _at_least_float32(z)
    levels_np = np.asarray(levels, np.float64)
    half_l = (levels_np - 1) * (1 + eps) / 2
    offset = np.where(levels_np % 2 == 0, 0.5, 0.0)
    shift = np.arctanh(offset / half_l)
    half_l, offset, shift = (jnp.asarray(c, z.dtype) for c in (half_l, offset, shift))
    return jnp.tanh(z + shift) * half_l - offset


def _quantize32(z: Array, levels: tuple[int, ...], eps: float) -> Array:
    """:func:`fsq_quantize` of checked arguments, in (at least) float32."""
    bounded = _bound32(z, levels, eps)
    _, half_width = _constants(levels, bounded.dtype)
    return round_ste(bounded) / half_width


def fsq_bound(
    z: Float[AnyArray, "*batch d"], levels: Sequence[int], eps: float | int = 1e-3
) -> Float[Array, "*batch d"]:
    """Squashes each dimension so that rounding yields exactly ``L_i`` integer values.

    Per dimension with ``L`` levels::

        half_l = (L − 1)(1 + eps) / 2,  offset = 0.5 if L is even else 0,
        shift = atanh(offset / half_l),  bound(z) = tanh(z + shift) · half_l − offset.

    ``round(bound(z))`` then takes the values ``{−⌊L/2⌋, …, ⌈L/2⌉ − 1}``: ``{−(L−1)/2, …,
    (L−1)/2}`` for odd ``L`` and ``{−L/2, …, L/2 − 1}`` for even ``L`` (the even grid is not
    symmetric). ``bound(0) = 0`` (up to float rounding), so ``z = 0`` maps to the code 0.
    ``L = 2`` is degenerate under this bound (codes ``{−1, 0}``, switching at
    ``z = −atanh(1 / (1 + eps)) ≈ −3.8``); the paper uses ``L >= 3``.

    Args:
      z: latents, shape ``(*batch, d)`` with ``d = len(levels)``.
      levels: number of levels ``L_i >= 2`` per dimension (static).
      eps: slack ``0 < eps < 1 / (max L − 1)`` (reference: ``1e-3``).

    Returns:
      Bounded latents, shape ``(*batch, d)``, in ``z``'s dtype (computed in float32 for
      bfloat16/float16 ``z``: the constants ``half_l`` and ``shift`` do not survive a
      bfloat16 rounding, nor does the derivative of a saturated ``tanh``).

    Example:
      >>> import jax.numpy as jnp
      >>> fsq_bound(jnp.array([0.0, 0.0]), levels=(5, 4))
      Array([0., 0.], dtype=float32)
    """
    levels = _check_levels(levels)
    eps = _check_eps(eps, levels)
    z = jnp.asarray(z)
    _check_last_dim(z.shape, len(levels), "z", "one entry per level")
    return _bound32(z, levels, eps).astype(z.dtype)


def fsq_quantize(
    z: Float[AnyArray, "*batch d"], levels: Sequence[int], eps: float | int = 1e-3
) -> Float[Array, "*batch d"]:
    """Quantizes ``z`` to the FSQ grid in ``[−1, 1]`` with straight-through rounding.

    ``z_q = round_ste(bound(z)) / half_width`` with ``half_width = L // 2`` per dimension, so
    every output times ``half_width`` is an integer in ``[−⌊L/2⌋, ⌈L/2⌉ − 1]``. The gradient is
    that of ``bound(z) / half_width`` (the rounding passes gradients straight through).

    Precision: the bound, the rounding and the division run in float32 for bfloat16/float16
    ``z`` and the codes are returned in ``z``'s dtype, so they are the float32 codes of the
    same values, rounded once (exact when ``L // 2`` is a power of two;
    :func:`fsq_codes_to_indices` maps bfloat16 codes back to their indices while
    ``L // 2 <= 255``; :class:`FSQ` takes its indices from the float32 codes, exact for any
    levels). The gradient (float32's, then cast) is the straight-through one in either dtype.

    Args:
      z: latents, shape ``(*batch, d)`` with ``d = len(levels)``.
      levels: number of levels ``L_i >= 2`` per dimension (static).
      eps: see :func:`fsq_bound`.

    Returns:
      Codes ``z_q``, shape ``(*batch, d)``, each a row of :func:`fsq_implicit_codebook`, in
      ``z``'s dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> fsq_quantize(jnp.array([0.25, 0.6, -7.0]), levels=(3, 5, 4))
      Array([ 0. ,  0.5, -1. ], dtype=float32)
    """
    levels = _check_levels(levels)
    eps = _check_eps(eps, levels)
    z = jnp.asarray(z)
    _check_last_dim(z.shape, len(levels), "z", "one entry per level")
    return _quantize32(z, levels, eps).astype(z.dtype)


def fsq_codes_to_indices(
    z_q: Float[AnyArray, "*batch d"], levels: Sequence[int]
) -> Int[Array, " *batch"]:
    """Maps grid codes to their index in the implicit codebook (mixed radix).

    ``digit_i = z_q,i · (L_i // 2) + L_i // 2 ∈ {0, …, L_i − 1}`` and ``index = Σ_i digit_i ·
    basis_i`` with ``basis = cumprod([1, L_0, …, L_{d−2}])``: dimension 0 is the fastest-varying
    digit. Digits are computed in float32 (bfloat16 codes are upcast: ``z_q · (L // 2) + L // 2``
    rounded in bfloat16 is off by one from ``L`` of about 500) and rounded before use, so codes off
    the grid by float error still map correctly; codes far off the grid give meaningless indices
    (not checked). Digits, basis and sum are int32 (the levels' product is checked to fit).

    Args:
      z_q: codes from :func:`fsq_quantize`, shape ``(*batch, d)``.
      levels: number of levels per dimension (static).

    Returns:
      int32 indices in ``[0, ∏ L_i)``, shape ``(*batch,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> fsq_codes_to_indices(jnp.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 0.5]]), (3, 4))
      Array([ 0,  2, 11], dtype=int32)
    """
    levels = _check_levels(levels)
    z_q = _at_least_float32(jnp.asarray(z_q))
    _check_last_dim(z_q.shape, len(levels), "z_q", "one entry per level")
    _, half_width = _constants(levels, z_q.dtype)
    digits = jnp.round(z_q * half_width + half_width).astype(jnp.int32)
    basis = jnp.asarray(np.cumprod((1, *levels[:-1])), jnp.int32)
    return jnp.sum(digits * basis, axis=-1).astype(jnp.int32)


def fsq_indices_to_codes(
    indices: Integer[AnyArray, " *batch"], levels: Sequence[int]
) -> Float[Array, "*batch d"]:
    """Inverse of :func:`fsq_codes_to_indices`.

    ``digit_i = (index // basis_i) mod L_i``, ``code_i = (digit_i − L_i // 2) / (L_i // 2)``.

    Args:
      indices: integer indices in ``[0, ∏ L_i)``, shape ``(*batch,)`` (out-of-range indices wrap
        around; not checked).
      levels: number of levels per dimension (static).

    Returns:
      float32 codes on the grid in ``[−1, 1]``, shape ``(*batch, d)``.

    Example:
      >>> import jax.numpy as jnp
      >>> fsq_indices_to_codes(jnp.array([0, 11]), (3, 4))
      Array([[-1. , -1. ],
             [ 1. ,  0.5]], dtype=float32)
    """
    levels = _check_levels(levels)
    indices = jnp.asarray(indices)
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise ValueError(f"`indices` must be an integer array, got dtype {indices.dtype}.")
    levels_i, half_width = _constants(levels, jnp.float32)
    basis = jnp.asarray(np.cumprod((1, *levels[:-1])), jnp.int32)
    digits = (indices.astype(jnp.int32)[..., None] // basis) % levels_i
    return (digits.astype(jnp.float32) - half_width) / half_width


def fsq_implicit_codebook(levels: Sequence[int]) -> Float[Array, "codes d"]:
    """All ``∏ L_i`` codes of the grid, row ``k`` being the code of index ``k``.

    Example:
      >>> fsq_implicit_codebook((3, 4)).shape
      (12, 2)
    """
    levels = _check_levels(levels)
    return fsq_indices_to_codes(jnp.arange(math.prod(levels), dtype=jnp.int32), levels)


class FSQ(nnx.Module):
    """Finite scalar quantizer (Mentzer et al. 2023) as a small NNX holder.

    Shapes: ``z (*batch, dim) -> QuantizerOutput(z_q (*batch, dim), indices (*batch,), losses,
    metrics, z_q_raw (*batch, dim))``; ``z_q_raw`` are the codes without the straight-through
    gradient to ``z``, equal to ``lookup(indices)``. When ``dim != len(levels)``, ``z`` is first
    projected to ``len(levels)`` dimensions and the codes back to ``dim`` with ``nnx.Linear``
    layers (then ``rngs`` is required); otherwise there are no parameters at all.

    ``losses`` is empty (FSQ needs no auxiliary loss); ``metrics`` holds ``perplexity`` and
    ``codebook_usage`` of the call's indices (see :func:`code_usage_metrics`), computed over all
    ``*batch`` positions. FSQ is deterministic: ``key`` and ``train`` are accepted for a uniform
    quantizer interface and ignored.

    Args:
      levels: number of levels ``L_i >= 2`` per code dimension; the codebook has ``∏ L_i``
        entries (the paper recommends e.g. ``(8, 5, 5, 5)`` for ``2**10`` codes).
      dim: input/output feature dimension; default ``len(levels)`` (no projection).
      eps: see :func:`fsq_bound`.
      rngs: initialises the projections (only needed when ``dim != len(levels)``).

    Example:
      >>> import jax.numpy as jnp
      >>> fsq = FSQ((8, 5, 5, 5))
      >>> out = fsq(jnp.zeros((2, 3, 3, 4)))
      >>> out.z_q.shape, out.indices.shape, fsq.codebook_size
      ((2, 3, 3, 4), (2, 3, 3), 1000)
    """

    def __init__(
        self,
        levels: Sequence[int],
        *,
        dim: int | None = None,
        eps: float | int = 1e-3,
        rngs: nnx.Rngs | None = None,
    ):
        self.levels = _check_levels(levels)
        self.codebook_dim = len(self.levels)
        self.codebook_size = math.prod(self.levels)
        self.dim = self.codebook_dim if dim is None else check_int(dim, "dim", minimum=1)
        self.eps = _check_eps(eps, self.levels)
        self.projection = CodeProjection(self.dim, self.codebook_dim, rngs,
                                         ("dim", "len(levels)"))

    def __call__(
        self,
        z: Float[Array, "*batch dim"],
        *,
        key: PRNGKeyArray | None = None,
        train: bool | None = None,
    ) -> QuantizerOutput:
        """Quantizes ``z`` (deterministic: ``key`` and ``train`` are unused)."""
        del key, train  # deterministic, same in training and evaluation
        _check_last_dim(z.shape, self.dim, "z", "the quantizer's `dim`")
        z_e = self.projection.into(z)
        codes = _quantize32(z_e, self.levels, self.eps)
        indices = fsq_codes_to_indices(codes, self.levels)  # from the float32 codes: exact
        codes = codes.astype(z_e.dtype)
        return QuantizerOutput(
            z_q=self.projection.out(codes),
            indices=indices,
            losses={},
            metrics=code_usage_metrics(indices, self.codebook_size),
            z_q_raw=self.projection.out(jax.lax.stop_gradient(codes)),
        )

    def lookup(self, indices: Integer[Array, " *batch"]) -> Float[Array, "*batch dim"]:
        """Codes (projected to ``dim`` if there is a projection) for ``indices (*batch,)``."""
        return self.projection.out(fsq_indices_to_codes(indices, self.levels))
