"""The importance-weighted autoencoder bound (IWAE) as an objective.

The importance-weighted autoencoder bound (IWAE) as an objective, with the optional DReG gradient
estimator.

Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders" (ICLR):
``L_k = E[log (1/k) Σ_i w_i]`` with ``w_i = p(x, z_i) / q(z_i|x)``, ``z_i ~ q(z|x)``; ``L_1``
is the ELBO and ``L_k`` rises with ``k`` to ``log p(x)``. Tucker, Lawson, Gu & Maddison (2019),
"Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives" (ICLR): the encoder
gradient ``Σ_i w̃_i² ∂log w_i/∂z_i · ∂z_i/∂φ`` (q's parameters stopped inside ``log q``), whose
signal-to-noise ratio does not vanish as ``k`` grows; the decoder gradient stays
``Σ_i w̃_i ∂log w_i/∂θ`` (``w̃`` the normalised weights).

The ``(forward, objective)`` split: the forward draws the ``k`` samples and returns their log
weights ``(k, batch)`` (:class:`IWAEOutput`); the objective is the negative bound of those. Both
come from one call, so ``k``, the likelihood and DReG cannot disagree::

    objective = iwae(num_samples=5)
    train = make_train_step(objective, optax.adam(1e-3), forward=objective.forward)
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import Batch, Likelihood, Metrics
from vaekit.evaluation._log_likelihood import (
    _check_model,
    _example_keys,
    _per_sample,
    gaussian_log_weight_parts,
    single_log_weight,
)
from vaekit.models._cvae import ConditionalVAE
from vaekit.models._vae import VAE
from vaekit.objectives._likelihoods import bernoulli_nll


class IWAEOutput(NamedTuple):
    """What the IWAE forward returns; every field ``(k, batch)``.

    Attributes:
      log_w: log importance weights ``log p(x|z_i) + log p(z_i) − log q(z_i|x)``. With DReG
        its value is unchanged and its gradient is routed as Tucker et al. (2019) prescribe.
      log_px_given_z: ``log p(x|z_i)``, or ``None`` for a model that supplies only ``log w``
        (its own ``log_importance_weight``).
      log_prior: ``log p(z_i)``, or ``None`` as above.
      log_q: ``log q(z_i|x)``, or ``None`` as above.
    """

    log_w: Array
    log_px_given_z: Array | None = None
    log_prior: Array | None = None
    log_q: Array | None = None


def iwae_forward(
    num_samples: int, likelihood: Likelihood = bernoulli_nll, *, dreg: bool = False
):
    """A forward ``(model, batch, key) -> IWAEOutput`` drawing ``num_samples`` z per example.

    Sample ``i`` of example ``n`` uses the key ``fold_in(fold_in(key, n), i)``, exactly as
    :func:`vaekit.evaluation.importance_log_weights` and :func:`vaekit.evaluation.log_likelihood`
    do (one definition of the weights). A model's own ``log_importance_weight`` is used where
    it has one (only ``log_w`` is then filled in); otherwise the model must be a
    :class:`vaekit.VAE` or :class:`vaekit.ConditionalVAE` (labels ``batch["y"]``). The encoder
    runs once per example, the decoder once per sample.

    ``dreg=True`` needs the default (VAE / ConditionalVAE) weights: ``log w`` is evaluated at
    ``stop_gradient(z)`` with q's parameters stopped, and the term
    ``stop(w̃_i) · ∇_z log w_i · (z_i − stop(z_i))`` (0 in value) is added, so that the gradient
    of ``logsumexp_i log w_i`` reaches the decoder as ``Σ_i w̃_i ∂log w_i/∂θ`` and the encoder as
    ``Σ_i w̃_i² ∂log w_i/∂z_i · ∂z_i/∂φ`` (Tucker et al. 2019, eq. 7). Rows of a batch must be
    independent in the decoder (no batch statistics).

    Example:
      >>> from vaekit.objectives import iwae_forward
      >>> forward = iwae_forward(5)
    """
    num_samples = check_int(num_samples, "num_samples")
    if not callable(likelihood):
        raise ValueError(f"`likelihood` must be callable, got {type(likelihood).__name__}.")
    if not isinstance(dreg, bool):
        raise ValueError(f"`dreg` must be a bool, got {dreg!r}.")

    def forward(model: nnx.Module, batch: Batch, key: PRNGKeyArray) -> IWAEOutput:
        _check_model(model)
        has_method = callable(getattr(model, "log_importance_weight", None))
        if dreg and (has_method or not isinstance(model, VAE | ConditionalVAE)):
            raise ValueError(
                "`dreg=True` needs a vaekit.VAE or vaekit.ConditionalVAE (Gaussian posterior, "
                f"N(0, I) prior) without its own `log_importance_weight`; got "
                f"{type(model).__name__}."
            )
        keys = _example_keys(key, jnp.arange(jnp.shape(batch["x"])[0]))
        ids = jnp.arange(num_samples)
        if has_method:
            def one(m, b, k):
                return single_log_weight(m, b, k, likelihood)

            return IWAEOutput(log_w=_per_sample(one, model, batch, keys, ids))

        def parts_of(m, b, k):
            return gaussian_log_weight_parts(m, b, k, likelihood, dreg=dreg)

        parts = _per_sample(parts_of, model, batch, keys, ids)
        log_w = parts.log_px_given_z + parts.log_prior - parts.log_q
        if dreg:
            weights = jax.lax.stop_gradient(jax.nn.softmax(log_w, axis=0))
            log_w = log_w + weights * parts.dreg_tangent
        return IWAEOutput(log_w=log_w, log_px_given_z=parts.log_px_given_z,
                          log_prior=parts.log_prior, log_q=parts.log_q)

    return forward


def iwae_bound(log_w: Float[Array, "k batch"]) -> Float[Array, " batch"]:
    """``logsumexp_i log w_i − log k`` per example: the IWAE bound ``L_k`` (Burda et al. 2016).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(iwae_bound(jnp.log(jnp.array([[1.0], [3.0]])))[0]), 4)  # log 2
      0.6931
    """
    if log_w.ndim != 2:
        raise ValueError(f"`log_w` must have shape (k, batch), got {log_w.shape}.")
    return logsumexp(log_w, axis=0) - math.log(log_w.shape[0])


def effective_sample_size(log_w: Float[Array, "k batch"]) -> Float[Array, " batch"]:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` per example, in ``[1, k]``.

    Example:
      >>> import jax.numpy as jnp
      >>> effective_sample_size(jnp.zeros((4, 2))).tolist()
      [4.0, 4.0]
    """
    if log_w.ndim != 2:
        raise ValueError(f"`log_w` must have shape (k, batch), got {log_w.shape}.")
    normalized = jax.nn.softmax(log_w, axis=0)
    return 1.0 / jnp.sum(jnp.square(normalized), axis=0)


class IWAEObjective:
    """The IWAE objective built by :func:`iwae`.

    The IWAE objective ``(out, batch, step) -> (loss, metrics)`` built by :func:`iwae`, with the
    matching forward as ``.forward``. Immutable (like :class:`ComposedObjective`).
    """

    __slots__ = ("__weakref__", "dreg", "forward", "likelihood", "num_samples")

    def __init__(self, num_samples: int, likelihood: Likelihood, dreg: bool):
        for name, value in (("num_samples", num_samples), ("likelihood", likelihood),
                            ("dreg", dreg),
                            ("forward", iwae_forward(num_samples, likelihood, dreg=dreg))):
            object.__setattr__(self, name, value)

    def __call__(self, out: IWAEOutput, batch: Batch, step) -> tuple[Float[Array, ""], Metrics]:
        """The ``(loss, metrics)`` of the IWAE bound of ``out.log_w``."""
        log_w = out.log_w
        if log_w.ndim != 2 or log_w.shape[0] != self.num_samples:
            raise ValueError(
                f"`out.log_w` must have shape ({self.num_samples}, batch): pass "
                "`forward=objective.forward` to make_train_step."
            )
        bound = iwae_bound(log_w)
        loss = -jnp.mean(bound)
        stopped = jax.lax.stop_gradient(log_w)
        metrics: Metrics = {
            "loss": loss,
            "elbo": jnp.mean(stopped),
            "ess": jnp.mean(effective_sample_size(stopped)),
        }
        if out.log_px_given_z is not None:
            metrics["reconstruction_loss"] = -jnp.mean(out.log_px_given_z)
            metrics["kl_loss"] = jnp.mean(out.log_q - out.log_prior)
        return loss, metrics

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"vaekit objectives are immutable: cannot set `{name}`; build a "
                             "new one with vaekit.objectives.iwae(...).")

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def __repr__(self) -> str:
        return f"IWAEObjective(num_samples={self.num_samples}, dreg={self.dreg})"


def iwae(
    num_samples: int, likelihood: Likelihood = bernoulli_nll, dreg: bool = False
) -> IWAEObjective:
    """The negative IWAE bound ``−mean_batch(logsumexp_i log w_i − log k)`` (Burda et al. 2016).

    Returns an objective ``(out, batch, step) -> (loss, metrics)`` that needs the forward
    ``objective.forward`` (:func:`iwae_forward` with the same ``k``, likelihood and ``dreg``):
    ``make_train_step(objective, optimizer, forward=objective.forward)``. ``k = 1`` is the
    single-sample ELBO with a *sampled* KL; ``dreg=True`` uses the doubly reparameterised
    gradient of Tucker et al. (2019) (same loss value; VAE / ConditionalVAE only).

    Reduction: ``log w`` is summed over event and latent dims per sample; the bound is taken
    over the ``k`` samples of each example and averaged over the batch.

    Metrics: ``loss``; ``elbo``, the mean of ``log w`` over samples and batch (the ELBO
    estimate, ``<= −loss`` by Jensen); ``ess``, the batch-mean effective sample size
    :func:`effective_sample_size` in ``[1, k]``; and for the default weights
    ``reconstruction_loss`` (mean ``−log p(x|z_i)``) and ``kl_loss`` (mean
    ``log q(z_i|x) − log p(z_i)``), both averaged over samples and batch.

    Args:
      num_samples: ``k >= 1`` samples per example.
      likelihood: the decoder's NLL ``(recon, x) -> (batch,)``, e.g. :func:`vaekit.bernoulli_nll`.
      dreg: use the DReG gradient estimator.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> from vaekit.objectives import iwae
      >>> rngs = nnx.Rngs(0)
      >>> model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                    vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> objective = iwae(num_samples=5)
      >>> train = vaekit.make_train_step(objective, optax.adam(1e-3), forward=objective.forward)
      >>> state = train.init(model, jax.random.key(0))
      >>> state, metrics = train.step(state, {"x": jax.numpy.zeros((2, 4))})
      >>> sorted(metrics)
      ['elbo', 'ess', 'kl_loss', 'loss', 'reconstruction_loss']
    """
    num_samples = check_int(num_samples, "num_samples")
    if not callable(likelihood):
        raise ValueError(f"`likelihood` must be callable, got {type(likelihood).__name__}.")
    if not isinstance(dreg, bool):
        raise ValueError(f"`dreg` must be a bool, got {dreg!r}.")
    return IWAEObjective(num_samples, likelihood, dreg)
