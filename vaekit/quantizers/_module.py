"""The vector-quantizer NNX holder: a codebook (parameter or EMA statistics) around `quantize`."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._mode import resolve_train
from vaekit._types import AnyArray
from vaekit.quantizers._dead_code import reset_dead_codes
from vaekit.quantizers._ema import EMAState, check_decay, ema_update
from vaekit.quantizers._kmeans import kmeans_init
from vaekit.quantizers._output import QuantizerOutput
from vaekit.quantizers._vector_quantize import ESTIMATORS, l2_normalize, quantize

CODEBOOK_INITS = ("uniform_k", "uniform")


class EMAStats(nnx.Variable):
    """NNX variable type of EMA codebook statistics: never an ``nnx.Param``, never trained.

    :func:`vaekit.make_train_step` carries it in ``TrainState.rest`` and returns it as the
    forward left it.
    """


def check_indices(indices: object, num_codes: int, name: str = "indices") -> None:
    """Raises naming ``name`` if concrete indices are not integers in ``[0, num_codes)``."""
    if isinstance(indices, jax.core.Tracer):
        return
    values = np.asarray(indices)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"`{name}` must be integers, got dtype {values.dtype}.")
    if values.size and (values.min() < 0 or values.max() >= num_codes):
        raise ValueError(
            f"`{name}` must lie in [0, {num_codes}), got values in "
            f"[{values.min()}, {values.max()}]."
        )


class VectorQuantizer(nnx.Module):
    """A VQ-VAE bottleneck (van den Oord et al. 2017): ``z_e (*batch, D) -> nearest code``.

    The pure :func:`quantize` does the work; this module only holds the codebook and, in train
    mode with ``ema=True``, updates it:

    - ``ema=True``: the codebook and its statistics are :class:`EMAStats` variables (cluster
      sizes, EMA sums, update count); each training forward applies :func:`ema_update`
      (Sonnet's ``VectorQuantizerEMA``) to this batch's assignments, then, if
      ``dead_code_threshold`` is not ``None``, :func:`reset_dead_codes` with ``key``. The
      codebook gets no gradient; ``codebook_loss`` is reported but has none.
    - ``ema=False``: the codebook is an ``nnx.Param`` trained by ``codebook_loss`` only (the
      estimator stops its gradient on the reconstruction path). Dead-code reset applies only to
      EMA codebooks, so ``dead_code_threshold`` is ignored.

    The forward quantizes with the codebook as it was *before* this step's update. It returns a
    :class:`QuantizerOutput`: ``losses`` holds the unweighted ``codebook_loss`` and
    ``commitment_loss`` (reduction in :func:`quantize`), weighted by the objective alone
    (:func:`vaekit.vq_vae`: ``codebook_loss + β · commitment_loss``); ``metrics`` holds
    ``perplexity`` and ``codebook_usage`` (fraction of the codes used in the batch);
    ``z_q_raw`` the codebook rows used.

    Args:
      num_codes: ``K >= 1``.
      dim: ``D >= 1``.
      ema: EMA codebook (``True``) or trained ``nnx.Param`` codebook.
      decay: EMA decay in (0, 1).
      epsilon: Laplace smoothing ``> 0``.
      dead_code_threshold: EMA count below which a code is reset, or ``None`` (no resets).
      estimator: ``"straight_through"`` or ``"rotation"``.
      cosine: quantize by cosine similarity to l2-normalised codes.
      init: ``"uniform_k"`` (U[−1/K, 1/K]) or ``"uniform"`` (U[−1, 1]).
      chunk_size: codebook chunk for the nearest-code search (``None``: direct).
      rngs: ``nnx.Rngs`` for the initial codebook (``params`` stream).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> vq = VectorQuantizer(16, 4, rngs=nnx.Rngs(0))
      >>> out = vq(jnp.ones((2, 3, 3, 4)), key=jax.random.key(1))
      >>> out.z_q.shape, out.indices.shape, sorted(out.losses)
      ((2, 3, 3, 4), (2, 3, 3), ['codebook_loss', 'commitment_loss'])
    """

    def __init__(
        self,
        num_codes: int,
        dim: int,
        *,
        ema: bool = True,
        decay: float | int = 0.99,
        epsilon: float | int = 1e-5,
        dead_code_threshold: float | int | None = 1e-3,
        estimator: str = "straight_through",
        cosine: bool = False,
        init: str = "uniform_k",
        chunk_size: int | None = None,
        rngs: nnx.Rngs,
    ):
        self.num_codes = check_int(num_codes, "num_codes")
        self.dim = check_int(dim, "dim")
        self.ema = bool(ema)
        self.deterministic = False  # nnx.Module.eval() sets it: no EMA update, no resets
        self.decay = check_decay(decay)
        self.epsilon = check_number(epsilon, "epsilon", minimum=0.0, strict=True)
        self.dead_code_threshold = (
            None if dead_code_threshold is None
            else check_number(dead_code_threshold, "dead_code_threshold", minimum=0.0)
        )
        if estimator not in ESTIMATORS:
            raise ValueError(f"`estimator` must be one of {ESTIMATORS}, got {estimator!r}.")
        self.estimator = estimator
        self.cosine = bool(cosine)
        if init not in CODEBOOK_INITS:
            raise ValueError(f"`init` must be one of {CODEBOOK_INITS}, got {init!r}.")
        self.chunk_size = None if chunk_size is None else check_int(chunk_size, "chunk_size")
        bound = 1.0 / self.num_codes if init == "uniform_k" else 1.0
        codebook = jax.random.uniform(
            rngs.params(), (self.num_codes, self.dim), jnp.float32, -bound, bound
        )
        if self.ema:
            self.codebook = EMAStats(codebook)
            self.cluster_size = EMAStats(jnp.zeros((self.num_codes,), jnp.float32))
            self.embed_sum = EMAStats(jnp.zeros((self.num_codes, self.dim), jnp.float32))
            self.ema_step = EMAStats(jnp.zeros((), jnp.int32))
        else:
            self.codebook = nnx.Param(codebook)

    def codes(self) -> Float[Array, "codes dim"]:
        """The codebook vectors :meth:`lookup` returns (l2-normalised when ``cosine``)."""
        codebook = self.codebook[...]
        return l2_normalize(codebook) if self.cosine else codebook

    def lookup(self, indices: Integer[AnyArray, "*batch"]) -> Float[Array, "*batch dim"]:
        """Decodes indices to codebook vectors: ``(*batch,) -> (*batch, D)``."""
        check_indices(indices, self.num_codes)
        return jnp.take(self.codes(), jnp.asarray(indices), axis=0)

    def init_kmeans(
        self, z_e: Float[AnyArray, "*batch dim"], key: PRNGKeyArray, num_iters: int = 10
    ) -> None:
        """Sets the codebook to :func:`kmeans_init` centroids of a batch of encoder outputs.

        With ``ema``, the running statistics restart too (``cluster_size``, ``embed_sum`` and
        ``ema_step`` to zero, as on a fresh module): otherwise the next update would pull every
        code that had a history back toward its old running mean.
        """
        self._check_dim(z_e)
        z = jnp.asarray(z_e, jnp.float32).reshape(-1, self.dim)  # normalised in float32
        if self.cosine:
            z = l2_normalize(z)
        self.codebook[...] = kmeans_init(
            z, self.num_codes, key, num_iters, chunk_size=self.chunk_size
        )
        if self.ema:
            self.cluster_size[...] = jnp.zeros_like(self.cluster_size[...])
            self.embed_sum[...] = jnp.zeros_like(self.embed_sum[...])
            self.ema_step[...] = jnp.zeros_like(self.ema_step[...])

    def _check_dim(self, z_e) -> None:
        if z_e.ndim < 2 or z_e.shape[-1] != self.dim:
            raise ValueError(
                f"`z_e` must have shape (batch, ..., {self.dim}) to match the codebook, got "
                f"{tuple(z_e.shape)}."
            )

    def _update_ema(self, z_e: Array, indices: Array, key: PRNGKeyArray | None) -> None:
        z = jax.lax.stop_gradient(jnp.asarray(z_e, jnp.float32)).reshape(-1, self.dim)
        if self.cosine:
            z = l2_normalize(z)
        state = EMAState(
            codebook=self.codebook[...],
            cluster_size=self.cluster_size[...],
            embed_sum=self.embed_sum[...],
            step=self.ema_step[...],
        )
        state = ema_update(state, z, indices.reshape(-1), self.decay, self.epsilon)
        codebook, cluster_size, embed_sum = state.codebook, state.cluster_size, state.embed_sum
        if self.dead_code_threshold is not None:
            codebook, cluster_size, reset = reset_dead_codes(
                codebook, cluster_size, z, key, self.dead_code_threshold
            )
            embed_sum = jnp.where(reset[:, None], codebook * cluster_size[:, None], embed_sum)
        self.codebook[...] = codebook
        self.cluster_size[...] = cluster_size
        self.embed_sum[...] = embed_sum
        self.ema_step[...] = state.step

    def __call__(
        self,
        z_e: Float[AnyArray, "*batch dim"],
        *,
        key: PRNGKeyArray | None = None,
        train: bool | None = None,
    ) -> QuantizerOutput:
        """Quantizes ``z_e (batch, ..., D)``; in train mode updates an EMA codebook.

        ``train=None`` follows the module's mode (``nnx.Module.eval()`` / ``.train()``; train
        by default). ``key`` is required in train mode when the codebook is EMA with dead-code
        reset.
        """
        train = resolve_train(self, train)
        self._check_dim(z_e)
        z_e = jnp.asarray(z_e)
        resets = self.ema and train and self.dead_code_threshold is not None
        if resets and key is None:
            raise ValueError(
                "`key` is required in train mode: dead codes are reset from random batch rows "
                "(pass key=..., train=False, or dead_code_threshold=None)."
            )
        result = quantize(
            z_e, self.codebook[...], estimator=self.estimator, cosine=self.cosine,
            chunk_size=self.chunk_size,
        )
        if self.ema and train:
            self._update_ema(z_e, result.indices, key)
        losses = {
            "codebook_loss": result.codebook_loss,
            "commitment_loss": result.commitment_loss,
        }
        metrics = {"perplexity": result.perplexity, "codebook_usage": result.usage_fraction}
        return QuantizerOutput(
            z_q=result.z_q, indices=result.indices, losses=losses, metrics=metrics,
            z_q_raw=result.z_q_raw,
        )
