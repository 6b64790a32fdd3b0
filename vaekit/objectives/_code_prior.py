"""The autoregressive code prior's objective: the negative log-likelihood of a code grid."""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from vaekit._types import AnyArray, Batch, Metrics, Objective
from vaekit.quantizers._module import check_indices

_LN2 = math.log(2.0)


def code_prior_nll() -> Objective:
    """``−log p(c) = −Σ_t log p(c_t | c_<t)`` of each code grid, averaged over the batch.

    The objective of an autoregressive prior over a VQ-VAE's codes (van den Oord et al. 2017,
    §3.1; Esser et al. 2021): ``out`` is the prior's logits ``(B, T, K)`` from a teacher-forced
    forward (:class:`vaekit.models.CodePrior` with :func:`vaekit.models.code_prior_forward`),
    ``batch["codes"]`` the true indices, ``(B, T)`` or ``(B, *grid)`` with ``prod(grid) = T``.

    Reduction: the cross-entropy is summed over the ``T`` positions (nats per grid) and
    averaged over the batch. Metrics: ``loss``; ``bits_per_code``, the mean over batch and
    positions of the cross-entropy in bits (``log2 K`` for uniform logits); ``accuracy``, the
    fraction of positions whose argmax logit is the true code.

    Example:
      >>> import jax.numpy as jnp
      >>> objective = code_prior_nll()
      >>> loss, metrics = objective(jnp.zeros((2, 3, 4)), {"codes": jnp.zeros((2, 3), int)}, 0)
      >>> round(float(loss), 4), float(metrics["bits_per_code"])
      (4.1589, 2.0)
    """

    def objective(out: Float[AnyArray, "..."], batch: Batch,
                  step) -> tuple[Float[Array, ""], Metrics]:
        del step
        logits = jnp.asarray(out)
        if logits.ndim != 3:
            raise ValueError(
                f"the forward's output must be logits (batch, T, K), got shape "
                f"{tuple(logits.shape)}."
            )
        codes = jnp.asarray(batch["codes"])
        if not jnp.issubdtype(codes.dtype, jnp.integer):
            raise ValueError(f"`batch[\"codes\"]` must be integers, got dtype {codes.dtype}.")
        codes = codes.reshape(codes.shape[0], -1) if codes.ndim >= 2 else codes
        if codes.shape != logits.shape[:2]:
            raise ValueError(
                f"`batch[\"codes\"]` must flatten to (batch, T) = {tuple(logits.shape[:2])} "
                f"to match the logits, got shape {tuple(jnp.shape(batch['codes']))}."
            )
        check_indices(codes, logits.shape[-1], 'batch["codes"]')
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        nll = -jnp.take_along_axis(log_probs, codes[..., None].astype(jnp.int32), axis=-1)[..., 0]
        loss = jnp.mean(jnp.sum(nll, axis=-1))
        correct = jnp.argmax(logits, axis=-1) == codes
        return loss, {
            "loss": loss,
            "bits_per_code": jnp.mean(nll) / _LN2,
            "accuracy": jnp.mean(correct.astype(jnp.float32)),
        }

    return objective
