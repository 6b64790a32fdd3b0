"""Lookup-free quantization.

Lookup-free quantization (Yu et al. 2023, "Language Model Beats Diffusion: Tokenizer is Key to
Visual Generation", MAGVIT-v2, arXiv:2310.05737).

Each of the ``d`` latent dimensions is quantized independently to ``±1``; the implicit codebook
is ``{−1, +1}^d`` (``2**d`` codes) and a code's index is its bit pattern. An entropy penalty
(per-sample entropy low: confident assignments; codebook entropy high: all codes used) replaces
the codebook loss. Pure functions plus a small NNX holder :class:`LFQ`.

Bit order: bit ``i`` is ``z_i > 0`` and ``index = Σ_i bit_i · 2**i``, i.e. dimension 0 is the
least significant bit (``vector-quantize-pytorch`` uses the opposite, most-significant-first,
order; the codebooks are the same up to this permutation of indices).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Int, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_min_ndim, check_number, check_same_shape
from vaekit._mode import resolve_train
from vaekit._types import AnyArray
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers._projection import CodeProjection
from vaekit.quantizers._usage import code_usage_metrics

LFQ_MAX_ENTROPY_DIM = 16
"""Largest ``d`` for the entropy loss: it is a softmax over all ``2**d`` codes for every
position, ``positions × 2**d`` floats (65,536 per position at ``d = 16``)."""

_MAX_INDEX_BITS = 31  # indices are int32


class LFQEntropy(NamedTuple):
    """The two entropies of :func:`lfq_entropy` (nats, batch-averaged scalars).

    Attributes:
      sample_entropy: mean over positions of ``H(p(· | z_n))``, in ``[0, d log 2]``.
      codebook_entropy: ``H(mean over positions of p(· | z_n))``, in ``[0, d log 2]``.
    """

    sample_entropy: Array
    codebook_entropy: Array


def _check_code_dim(shape: tuple[int, ...], name: str) -> int:
    if len(shape) < 1 or shape[-1] < 1:
        raise ValueError(f"`{name}` must have shape (..., d) with d >= 1, got {tuple(shape)}.")
    if shape[-1] > _MAX_INDEX_BITS:
        raise ValueError(
            f"`{name}` has d = {shape[-1]} code dimensions; indices are int32, so d must be "
            f"<= {_MAX_INDEX_BITS}."
        )
    return shape[-1]


def lfq_quantize(z: Float[AnyArray, "*batch d"]) -> Float[Array, "*batch d"]:
    """Sign quantization with a straight-through gradient: ``z_q = where(z > 0, 1, −1)``.

    Forward: exactly ``±1`` (``z = 0`` maps to ``−1``). Backward: ``∂z_q/∂z = I`` (written as
    ``sg(q) + (z − sg(z))``, so the forward value is exact).

    Args:
      z: latents, shape ``(*batch, d)``.

    Returns:
      Codes in ``{−1, +1}``, shape ``(*batch, d)``.

    Example:
      >>> import jax.numpy as jnp
      >>> lfq_quantize(jnp.array([0.3, -2.0, 0.0]))
      Array([ 1., -1., -1.], dtype=float32)
    """
    z = jnp.asarray(z)
    q = jnp.where(z > 0, 1.0, -1.0).astype(z.dtype)
    return jax.lax.stop_gradient(q) + (z - jax.lax.stop_gradient(z))


def lfq_codes_to_indices(z: Float[AnyArray, "*batch d"]) -> Int[Array, " *batch"]:
    """Index of the code of ``z`` (codes or raw latents): ``Σ_i [z_i > 0] · 2**i``.

    Dimension 0 is the least significant bit.

    Args:
      z: codes or latents, shape ``(*batch, d)``, ``d <= 31``.

    Returns:
      int32 indices in ``[0, 2**d)``, shape ``(*batch,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> lfq_codes_to_indices(jnp.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]]))  # 1+4, 2+4
      Array([5, 6], dtype=int32)
    """
    z = jnp.asarray(z)
    d = _check_code_dim(z.shape, "z")
    weights = jnp.left_shift(jnp.int32(1), jnp.arange(d, dtype=jnp.int32))
    return jnp.sum(jnp.where(z > 0, weights, 0), axis=-1).astype(jnp.int32)


def lfq_indices_to_codes(
    indices: Integer[AnyArray, " *batch"], dim: int
) -> Float[Array, "*batch d"]:
    """Inverse of :func:`lfq_codes_to_indices`.

    ``code_i = +1`` if bit ``i`` of the index is set, else ``−1``.

    Args:
      indices: integer indices in ``[0, 2**dim)``, shape ``(*batch,)``.
      dim: number of code dimensions ``d`` (static, ``1 <= d <= 31``).

    Returns:
      float32 codes in ``{−1, +1}``, shape ``(*batch, dim)``.

    Example:
      >>> import jax.numpy as jnp
      >>> lfq_indices_to_codes(jnp.array([5]), dim=3)
      Array([[ 1., -1.,  1.]], dtype=float32)
    """
    dim = check_int(dim, "dim", minimum=1)
    _check_code_dim((dim,), "dim")
    indices = jnp.asarray(indices)
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise ValueError(f"`indices` must be an integer array, got dtype {indices.dtype}.")
    bits = jnp.right_shift(indices.astype(jnp.int32)[..., None], jnp.arange(dim, dtype=jnp.int32))
    return jnp.where(bits & 1 == 1, 1.0, -1.0).astype(jnp.float32)


def lfq_implicit_codebook(dim: int) -> Float[Array, "codes d"]:
    """All ``2**dim`` codes, row ``k`` being the code of index ``k``.

    Example:
      >>> lfq_implicit_codebook(3).shape
      (8, 3)
    """
    dim = check_int(dim, "dim", minimum=1)
    _check_code_dim((dim,), "dim")
    return lfq_indices_to_codes(jnp.arange(2**dim, dtype=jnp.int32), dim)


def lfq_entropy(
    z: Float[AnyArray, "*batch d"], temperature: float | int = 1.0
) -> LFQEntropy:
    """Per-sample and codebook entropies of the soft code assignments (MAGVIT-v2, eq. 4-5).

    Every position ``n`` (all ``*batch`` entries) gets a distribution over the ``2**d`` implicit
    codes ``c``: ``p(c | z_n) = softmax_c(−||z_n − c||² / T) = softmax_c(2 z_n·c / T)`` (the two
    logits differ by a constant in ``c``; this is ``vector-quantize-pytorch``'s form with
    ``inv_temperature = 1 / T``). Then::

        sample_entropy   = mean_n H(p(· | z_n))          (low: confident assignments)
        codebook_entropy = H(mean_n p(· | z_n))          (high: all codes used in the batch)

    in nats, both in ``[0, d log 2]``. Exact (log-softmax and log-mean-exp, no probability
    clamping). Memory: ``positions × 2**d`` floats, hence ``d <= LFQ_MAX_ENTROPY_DIM = 16``.

    Numerics: computed in float32 (half-precision ``z`` is upcast; in float16 the logits
    ``2 z·c / T`` overflow for ordinary latents and the softmax turned into NaN).

    Reduction: means over all positions (batch and spatial), as in the paper, not the library's
    usual sum over event dimensions: the codebook entropy is a property of the whole batch's
    average assignment, and the two terms must share a per-position scale for their difference
    to mean anything. (Consequently the codebook entropy is not batch-size invariant.)

    Args:
      z: unquantized latents, shape ``(*batch, d)``, ``1 <= d <= 16``.
      temperature: ``T > 0``; smaller is sharper.

    Returns:
      :class:`LFQEntropy` of two scalars.

    Example:
      >>> import jax.numpy as jnp
      >>> e = lfq_entropy(jnp.array([[5.0, -5.0], [-5.0, 5.0]]))
      >>> round(float(e.sample_entropy), 4), round(float(e.codebook_entropy), 4)  # log 2
      (0.0, 0.6931)
    """
    temperature = check_number(temperature, "temperature", minimum=0.0, strict=True)
    z = jnp.asarray(z)
    d = _check_code_dim(z.shape, "z")
    if d > LFQ_MAX_ENTROPY_DIM:
        raise ValueError(
            f"`z` has d = {d} code dimensions; the LFQ entropy is a softmax over all 2**d codes "
            f"per position, so d must be <= {LFQ_MAX_ENTROPY_DIM} (memory)."
        )
    flat = z.reshape(-1, d)
    flat = flat.astype(jnp.promote_types(flat.dtype, jnp.float32))
    codes = lfq_implicit_codebook(d).astype(flat.dtype)
    log_p = jax.nn.log_softmax((2.0 / temperature) * flat @ codes.T, axis=-1)  # (N, 2**d)
    sample_entropy = jnp.mean(-jnp.sum(jnp.exp(log_p) * log_p, axis=-1))
    log_avg = jax.nn.logsumexp(log_p, axis=0) - jnp.log(flat.shape[0])  # log mean_n p(c | z_n)
    codebook_entropy = -jnp.sum(jnp.exp(log_avg) * log_avg)
    return LFQEntropy(sample_entropy, codebook_entropy)


def lfq_entropy_loss(
    z: Float[AnyArray, "*batch d"],
    temperature: float | int = 1.0,
    sample_entropy_weight: float | int = 1.0,
    codebook_entropy_weight: float | int = 1.0,
) -> Float[Array, ""]:
    """MAGVIT-v2 entropy penalty ``w_s · sample_entropy − w_c · codebook_entropy``.

    See :func:`lfq_entropy` for the two terms. With the default weights ``w_s = w_c = 1`` this
    is the paper's ``E[H(q(z))] − H[E(q(z))]`` (``vector-quantize-pytorch``'s
    ``diversity_gamma`` is ``w_c``). The value can be negative (down to ``−w_c · d log 2``).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(lfq_entropy_loss(jnp.array([[5.0, -5.0], [-5.0, 5.0]]))), 4)  # −log 2
      -0.6931
    """
    w_s = check_number(sample_entropy_weight, "sample_entropy_weight", minimum=0.0)
    w_c = check_number(codebook_entropy_weight, "codebook_entropy_weight", minimum=0.0)
    entropy = lfq_entropy(z, temperature)
    return w_s * entropy.sample_entropy - w_c * entropy.codebook_entropy


def lfq_commitment_loss(
    z: Float[AnyArray, " batch *rest"], z_q: Float[AnyArray, " batch *rest"]
) -> Float[Array, ""]:
    """Commitment loss ``mean_b Σ_{positions, d} (z − sg(z_q))²`` pulling latents to their codes.

    Reduction: summed over positions and the ``d`` code dimensions, averaged over the leading
    (batch) axis, as the VQ commitment loss of :func:`vaekit.quantizers.quantize` and the
    reconstruction NLL (``vector-quantize-pytorch`` averages over every element instead: its
    value is this one divided by ``positions · d``). Gradients reach ``z`` only. Computed in
    float32 like the VQ losses (half-precision inputs are upcast; the result is float32).

    Args:
      z: latents, shape ``(batch, ..., d)``, at least 2-D.
      z_q: their codes, same shape.

    Example:
      >>> import jax.numpy as jnp
      >>> float(lfq_commitment_loss(jnp.array([[0.5, -2.0]]), jnp.array([[1.0, -1.0]])))
      1.25
    """
    z, z_q = jnp.asarray(z), jnp.asarray(z_q)
    check_min_ndim(z.shape, 2, "z")
    check_same_shape(z.shape, z_q.shape, "z", "z_q")
    dtype = jnp.promote_types(jnp.result_type(z, z_q), jnp.float32)
    sq = jnp.square(z.astype(dtype) - jax.lax.stop_gradient(z_q.astype(dtype)))
    return jnp.mean(jnp.sum(sq.reshape(sq.shape[0], -1), axis=-1))


class LFQ(nnx.Module):
    """Lookup-free quantizer (MAGVIT-v2, Yu et al. 2023) as a small NNX holder.

    Shapes: ``z (batch, ..., dim) -> QuantizerOutput(z_q, indices (batch, ...), losses,
    metrics, z_q_raw)`` with ``z_q`` and ``z_q_raw`` (the codes without the straight-through
    gradient, equal to ``lookup(indices)``) shaped like ``z``. With ``codebook_dim`` (default
    ``dim``) different from ``dim``, ``z`` is first projected to ``codebook_dim`` dimensions and
    the codes back to ``dim`` with ``nnx.Linear`` layers (then ``rngs`` is required); otherwise
    there are no parameters. The codebook has ``2**codebook_dim`` entries.

    Losses, unweighted like the VQ module's (computed on the pre-projection latents):

    * ``entropy_loss = w_s · sample_entropy − w_c · codebook_entropy`` (:func:`lfq_entropy_loss`,
      may be negative; both entropies are means over all positions, see :func:`lfq_entropy`).
      Computed only when ``train=True`` and ``entropy``; otherwise it is 0 and
      the entropy metrics are not reported (this also lifts the ``d <= 16`` limit);
    * ``commitment_loss = mean_b Σ_{positions, d} (z − sg(z_q))²`` (:func:`lfq_commitment_loss`).

    The objective weights them (:func:`vaekit.quantized_autoencoder`, e.g. 0.1 and 0.25 as in
    MAGVIT-v2 and ``vector-quantize-pytorch``).

    Metrics: ``perplexity``, ``codebook_usage`` (:func:`code_usage_metrics`) and, when the entropy
    is computed, ``sample_entropy`` and ``codebook_entropy``. ``key`` is accepted for a uniform
    quantizer interface and ignored.

    Args:
      dim: input/output feature dimension.
      codebook_dim: number of binary code dimensions ``d`` (default ``dim``); ``d <= 31``, and
        ``d <= LFQ_MAX_ENTROPY_DIM = 16`` when ``entropy``.
      entropy: compute the entropy loss and metrics (``False``: ``entropy_loss`` is 0).
      temperature: ``T > 0`` of the soft assignments (``vector-quantize-pytorch`` defaults to
        ``1 / 100``).
      sample_entropy_weight: ``w_s >= 0``.
      codebook_entropy_weight: ``w_c >= 0`` (``diversity_gamma``).
      rngs: initialises the projections (only needed when ``codebook_dim != dim``).

    Example:
      >>> import jax.numpy as jnp
      >>> lfq = LFQ(4)
      >>> out = lfq(jnp.ones((2, 3, 3, 4)))
      >>> out.z_q.shape, out.indices.shape, sorted(out.losses)
      ((2, 3, 3, 4), (2, 3, 3), ['commitment_loss', 'entropy_loss'])
    """

    def __init__(
        self,
        dim: int,
        *,
        codebook_dim: int | None = None,
        entropy: bool = True,
        temperature: float | int = 1.0,
        sample_entropy_weight: float | int = 1.0,
        codebook_entropy_weight: float | int = 1.0,
        rngs: nnx.Rngs | None = None,
    ):
        self.dim = check_int(dim, "dim", minimum=1)
        dim_name = "dim" if codebook_dim is None else "codebook_dim"
        self.codebook_dim = (
            self.dim if codebook_dim is None else check_int(codebook_dim, "codebook_dim")
        )
        if not isinstance(entropy, bool):
            raise ValueError(f"`entropy` must be a bool, got {entropy!r}.")
        self.entropy = entropy
        self.deterministic = False  # nnx.Module.eval() sets it
        self.temperature = check_number(temperature, "temperature", minimum=0.0, strict=True)
        self.sample_entropy_weight = check_number(
            sample_entropy_weight, "sample_entropy_weight", minimum=0.0
        )
        self.codebook_entropy_weight = check_number(
            codebook_entropy_weight, "codebook_entropy_weight", minimum=0.0
        )
        if self.codebook_dim > _MAX_INDEX_BITS:
            raise ValueError(
                f"`{dim_name}` must be <= {_MAX_INDEX_BITS} (indices are int32), "
                f"got {self.codebook_dim}."
            )
        if self.entropy and self.codebook_dim > LFQ_MAX_ENTROPY_DIM:
            raise ValueError(
                f"`{dim_name}` must be <= {LFQ_MAX_ENTROPY_DIM} when the entropy loss is on "
                f"(entropy=True): it is a softmax over all 2**{dim_name} codes per "
                f"position; got {self.codebook_dim}. Set entropy=False or project to "
                f"fewer code dimensions with `codebook_dim`."
            )
        self.codebook_size = 2**self.codebook_dim
        self.projection = CodeProjection(self.dim, self.codebook_dim, rngs,
                                         ("dim", "`codebook_dim`"))

    def __call__(
        self,
        z: Float[Array, "*batch dim"],
        *,
        key: PRNGKeyArray | None = None,
        train: bool | None = None,
    ) -> QuantizerOutput:
        """Quantizes ``z``; the entropy loss only in training (``key`` is unused)."""
        del key  # deterministic
        train = resolve_train(self, train)  # None: the module's mode (eval(): no entropy)
        if z.ndim < 2 or z.shape[-1] != self.dim:
            raise ValueError(
                f"`z` must have shape (batch, ..., {self.dim}), got {tuple(z.shape)}."
            )
        z_e = self.projection.into(z)
        codes = lfq_quantize(z_e)
        indices = lfq_codes_to_indices(codes)
        metrics = code_usage_metrics(indices, self.codebook_size)
        entropy_loss = jnp.zeros((), jnp.float32)
        if train and self.entropy:
            entropy = lfq_entropy(z_e, self.temperature)
            entropy_loss = (
                self.sample_entropy_weight * entropy.sample_entropy
                - self.codebook_entropy_weight * entropy.codebook_entropy
            )
            metrics["sample_entropy"] = entropy.sample_entropy
            metrics["codebook_entropy"] = entropy.codebook_entropy
        commitment_loss = lfq_commitment_loss(z_e, codes)
        losses = {
            "entropy_loss": entropy_loss,
            "commitment_loss": commitment_loss,
        }
        return QuantizerOutput(
            z_q=self.projection.out(codes),
            indices=indices,
            losses=losses,
            metrics=metrics,
            z_q_raw=self.projection.out(jax.lax.stop_gradient(codes)),
        )

    def lookup(self, indices: Integer[Array, " *batch"]) -> Float[Array, "*batch dim"]:
        """Codes (projected to ``dim`` if there is a projection) for ``indices (*batch,)``."""
        return self.projection.out(lfq_indices_to_codes(indices, self.codebook_dim))
