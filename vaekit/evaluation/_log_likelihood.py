"""Importance-sampled marginal log-likelihood ``log p(x)`` of a trained latent-variable model.

For ``k`` draws ``z_i ~ q(z|x)``, ``log p(x) ≈ logsumexp_i log w_i − log k`` with the log
importance weights ``log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)`` (Burda, Grosse &
Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8; Rezende et al. 2014, appendix E).
The estimate is a lower bound in expectation that rises with ``k`` towards ``log p(x)``; at
``k = 1`` its expectation is the ELBO.

The log weight of one draw comes from the *importance-weight protocol*: a model's method
``model.log_importance_weight(batch, key, likelihood) -> (batch,)`` where it has one (VampPrior,
IAF and hierarchical VAEs), else the default for the Gaussian-posterior, standard-normal-prior
models :class:`vaekit.VAE` and :class:`vaekit.ConditionalVAE` (labels from ``batch["y"]``).

Randomness: the draw of example ``n`` (its index in the data, or in ``batch``) and sample ``i``
uses the key ``fold_in(fold_in(key, n), i)``, one example at a time. So an example's estimate
depends only on ``key``, its index and its own data: batch size and sample chunking change the
result only by float rounding, and the first ``k`` samples of a larger ``k`` are the same draws.
"""

import math
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.scipy.special import logsumexp
from jaxtyping import Array, Float, Int, Integer, PRNGKeyArray

from vaekit._checks import check_int, check_min_ndim
from vaekit._types import AnyArray, Likelihood
from vaekit.conditioning import check_labels
from vaekit.models._cvae import ConditionalVAE
from vaekit.models._reparameterize import reparameterize
from vaekit.models._vae import VAE
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._tcvae import gaussian_log_density


class LogLikelihood(NamedTuple):
    """What :func:`log_likelihood` returns.

    Attributes:
      log_px: per-example estimates of ``log p(x)`` in nats, shape ``(N,)``.
      nll: the negative mean, ``−mean(log_px)``, nats per example.
      stderr: standard error of that mean over the examples, ``std(log_px, ddof=1) / √N``
        (NaN for ``N = 1``, where it is undefined). It does not include the (downward) bias
        of the estimator at finite ``k``.
      bits_per_dim: ``nll / (D · ln 2)`` with ``D`` the number of values per example
        (pixels · channels).
      num_samples: ``k``, the importance samples per example.
    """

    log_px: Float[Array, " n"]
    nll: float
    stderr: float
    bits_per_dim: float
    num_samples: int


class LogWeightParts(NamedTuple):
    """The parts of the default log weight.

    Each part is ``(batch,)`` (``log w = log_px_given_z + log_prior − log_q``); ``dreg_tangent`` is
    0 in value (see :func:`vaekit.objectives.iwae`).
    """

    log_px_given_z: Array
    log_prior: Array
    log_q: Array
    dreg_tangent: Array | None = None


def has_log_weight(model: nnx.Module) -> bool:
    """Whether :func:`importance_log_weights` can evaluate ``model`` (protocol or default)."""
    return callable(getattr(model, "log_importance_weight", None)) or isinstance(
        model, VAE | ConditionalVAE
    )


def _check_model(model: nnx.Module) -> None:
    if not has_log_weight(model):
        raise ValueError(
            f"`model` ({type(model).__name__}) has no `log_importance_weight(batch, key, "
            "likelihood)` method and is not a vaekit.VAE or vaekit.ConditionalVAE (whose "
            "Gaussian posterior and N(0, I) prior give the default log weight)."
        )


def _encoder_decoder(model: nnx.Module, batch: Mapping[str, AnyArray]):
    x = jnp.asarray(batch["x"])
    if isinstance(model, ConditionalVAE):
        if "y" not in batch:
            raise ValueError("a ConditionalVAE needs labels: `batch['y']` (or `labels=`).")
        y = jnp.asarray(batch["y"])
        mean, logvar = model.encode(x, y)
        return x, mean, logvar, lambda z: model.decode(z, y)
    mean, logvar = model.encode(x)
    return x, mean, logvar, model.decode


def gaussian_log_weight_parts(
    model: nnx.Module, batch: Mapping[str, AnyArray], key: PRNGKeyArray,
    likelihood: Likelihood = bernoulli_nll, *, dreg: bool = False,
) -> LogWeightParts:
    """The default log weight of a :class:`vaekit.VAE` / :class:`vaekit.ConditionalVAE`, in parts.

    One draw ``z = mean + σ ε`` from q(z|x) (or q(z|x, y)) with ``ε`` from ``key``; returns
    ``log p(x|z) = −likelihood(decode(z), x)``, ``log N(z; 0, I)`` and ``log q(z|x)``, each
    summed over event/latent dims, shape ``(batch,)``.

    ``dreg=True`` (for the doubly reparameterised gradient of Tucker et al. 2019): the parts
    are evaluated at ``stop_gradient(z)`` with q's parameters stopped inside ``log q``, so they
    carry gradients to the decoder only, and ``dreg_tangent = ∇_z log w · (z − stop(z))`` (0 in
    value) carries the pathwise gradient ``∇_z log w · ∂z/∂φ`` to the encoder.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> parts = gaussian_log_weight_parts(vae, {"x": jnp.zeros((3, 4))}, jax.random.key(0))
      >>> parts.log_q.shape
      (3,)
    """
    x, mean, logvar, decode = _encoder_decoder(model, batch)
    z = reparameterize(key, mean, logvar)
    def parts_at(zz, q_mean, q_logvar):
        return (-likelihood(decode(zz), x),
                jnp.sum(gaussian_log_density(zz, jnp.zeros_like(zz), jnp.zeros_like(zz)), -1),
                jnp.sum(gaussian_log_density(zz, q_mean, q_logvar), -1))

    if not dreg:
        return LogWeightParts(*parts_at(z, mean, logvar))
    mean_s, logvar_s = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(logvar)

    def log_w(zz):
        parts = parts_at(zz, mean_s, logvar_s)
        return parts[0] + parts[1] - parts[2], parts

    z_stop = jax.lax.stop_gradient(z)
    value, vjp, parts = jax.vjp(log_w, z_stop, has_aux=True)
    (grad_z,) = vjp(jnp.ones_like(value))  # rows are independent: row b is ∇_{z_b} log w_b
    tangent = jnp.sum(jax.lax.stop_gradient(grad_z) * (z - z_stop), axis=-1)
    return LogWeightParts(*parts, dreg_tangent=tangent)


def single_log_weight(
    model: nnx.Module, batch: Mapping[str, AnyArray], key: PRNGKeyArray,
    likelihood: Likelihood = bernoulli_nll,
) -> Float[Array, " batch"]:
    """``log w = log p(x|z) + log p(z) − log q(z|x)`` for one draw per example, ``(batch,)``.

    The model's ``log_importance_weight`` where it has one, else the default of
    :func:`gaussian_log_weight_parts`. One key for the whole batch (see
    :func:`importance_log_weights` for per-example keys).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> single_log_weight(vae, {"x": jnp.zeros((3, 4))}, jax.random.key(0)).shape
      (3,)
    """
    method = getattr(model, "log_importance_weight", None)
    if callable(method):
        return method(batch, key, likelihood)
    _check_model(model)
    parts = gaussian_log_weight_parts(model, batch, key, likelihood)
    return parts.log_px_given_z + parts.log_prior - parts.log_q


def _example_keys(key: PRNGKeyArray, example_ids: Int[AnyArray, " batch"]):
    """``fold_in(key, n)`` for every example index ``n``: one key per example, ``(batch,)``."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.asarray(example_ids))


def _per_sample(fn, model: nnx.Module, batch: Mapping[str, AnyArray], keys: Array,
                sample_ids: Int[AnyArray, " k"]):
    """``fn`` for every sample and example.

    ``fn(model, one_example_batch, fold_in(keys[n], i))`` for every sample ``i`` (rows) and example
    ``n`` (columns): each result leaf becomes ``(len(sample_ids), batch)``.

    ``fn(model, batch, key)`` sees a batch of one example (leading axis 1) and returns arrays
    with that leading axis 1 (or a NamedTuple of them).
    """

    def one(row, example_key, i):
        out = fn(model, {name: a[None] for name, a in row.items()},
                 jax.random.fold_in(example_key, i))
        return jax.tree.map(lambda a: a[0], out)

    rows = {name: jnp.asarray(a) for name, a in batch.items() if name in ("x", "y")}
    over_examples = jax.vmap(one, in_axes=(0, 0, None))
    return jax.vmap(over_examples, in_axes=(None, None, 0))(rows, keys, jnp.asarray(sample_ids))


def importance_log_weights(
    model: nnx.Module,
    batch: Mapping[str, AnyArray],
    key: PRNGKeyArray,
    num_samples: int,
    likelihood: Likelihood = bernoulli_nll,
) -> Float[Array, "k batch"]:
    """``num_samples`` log importance weights per example, shape ``(k, batch)``.

    ``log w[i, n] = log p(x_n|z) + log p(z) − log q(z|x_n)`` for a draw ``z ~ q(z|x_n)`` with
    the key ``fold_in(fold_in(key, n), i)``, from the model's ``log_importance_weight`` or the
    VAE / ConditionalVAE default (labels ``batch["y"]``). ``logsumexp(log_w, 0) − log k`` is
    the IWAE bound (Burda et al. 2016) that :func:`log_likelihood` and
    :func:`vaekit.objectives.iwae` both use. Pure and ``jit``/``grad``-safe.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> import vaekit
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> importance_log_weights(vae, {"x": jnp.zeros((3, 4))}, jax.random.key(0), 5).shape
      (5, 3)
    """
    num_samples = check_int(num_samples, "num_samples")
    _check_model(model)
    if "x" not in batch:
        raise ValueError("`batch` must hold the images under 'x'.")
    n = jnp.shape(batch["x"])[0]
    keys = _example_keys(key, jnp.arange(n))

    def fn(m, b, k):
        return single_log_weight(m, b, k, likelihood)

    return _per_sample(fn, model, batch, keys, jnp.arange(num_samples))


def _batch_log_px(graphdef, state, batch, ids, key, *, likelihood, num_samples, chunk):
    model = nnx.merge(graphdef, state)
    keys = _example_keys(key, ids)
    n_chunks = -(-num_samples // chunk)

    def fn(m, b, k):
        return single_log_weight(m, b, k, likelihood)

    def body(carry, c):
        sample_ids = c * chunk + jnp.arange(chunk)
        log_w = _per_sample(fn, model, batch, keys, sample_ids)
        log_w = jnp.where((sample_ids < num_samples)[:, None], log_w, -jnp.inf)
        return jnp.logaddexp(carry, logsumexp(log_w, axis=0)), None

    init = jnp.full(ids.shape, -jnp.inf, jnp.float32)
    total, _ = jax.lax.scan(body, init, jnp.arange(n_chunks))
    return total - math.log(num_samples)


_batch_log_px_jit = jax.jit(
    _batch_log_px, static_argnames=("graphdef", "likelihood", "num_samples", "chunk")
)


def log_likelihood(
    model: nnx.Module,
    images: Float[AnyArray, " n *event"],
    *,
    key: PRNGKeyArray,
    num_samples: int = 1000,
    likelihood: Likelihood = bernoulli_nll,
    labels: Integer[AnyArray, " n"] | None = None,
    batch_size: int = 100,
    sample_chunk: int = 100,
) -> LogLikelihood:
    """Importance-sampled ``log p(x)`` of every image, and the data set's NLL (Burda et al. 2016).

    ``log p(x) ≈ logsumexp_{i<k} log w_i − log k`` with ``log w_i = log p(x|z_i) + log p(z_i)
    − log q(z_i|x)``, ``z_i ~ q(z|x)``; see :func:`importance_log_weights` for the weights and
    the key layout (example ``n``, sample ``i``: ``fold_in(fold_in(key, n), i)``). The usual
    report is ``k = 5000`` (Burda et al.) or ``k = 1000``.

    Compiled once per (model structure, likelihood, ``k``, ``batch_size``, ``sample_chunk``,
    image shape): the data run through it in batches of ``batch_size`` (the last one padded),
    and the samples of a batch in chunks of ``sample_chunk`` under ``jax.lax.scan`` with a
    running logsumexp, so memory holds ``batch_size · sample_chunk`` draws at a time, whatever
    ``k`` is. Neither size changes the result beyond float rounding.

    Args:
      model: a model with ``log_importance_weight(batch, key, likelihood)``, or a
        :class:`vaekit.VAE` / :class:`vaekit.ConditionalVAE` (default log weight).
      images: ``(N, *event)`` finite floats (e.g. binary images for ``bernoulli_nll``).
      key: the PRNG key of all draws.
      num_samples: ``k >= 1`` importance samples per image.
      likelihood: the decoder's NLL ``(recon, x) -> (batch,)``, e.g.
        :func:`vaekit.bernoulli_nll` or ``vaekit.gaussian_nll(σ)``; a proper normalised
        density is needed for a meaningful ``log p(x)`` (not :func:`vaekit.sum_of_squares`).
      labels: ``(N,)`` integer labels for a conditional model (``batch["y"]``).
      batch_size: images per compiled call ``>= 1`` (capped at ``N``).
      sample_chunk: samples per scan step ``>= 1`` (capped at ``k``).

    Returns:
      :class:`LogLikelihood` ``(log_px (N,), nll, stderr, bits_per_dim, num_samples)``.

    Raises:
      ValueError: naming the argument: ``num_samples``/``batch_size``/``sample_chunk`` not an
        integer ``>= 1``, ``images`` empty, not batch-first or not finite, ``labels`` of the
        wrong shape, count or range (or missing for a ConditionalVAE), a ``model`` with
        neither protocol, or an estimate that is not finite.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> import vaekit
      >>> from vaekit.evaluation import log_likelihood
      >>> rngs = nnx.Rngs(0)
      >>> vae = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
      ...                  vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
      >>> result = log_likelihood(vae, jnp.ones((6, 4)), num_samples=50, key=jax.random.key(0))
      >>> result.log_px.shape, result.num_samples
      ((6,), 50)
    """
    num_samples = check_int(num_samples, "num_samples")
    batch_size = check_int(batch_size, "batch_size")
    sample_chunk = check_int(sample_chunk, "sample_chunk")
    if not callable(likelihood):
        raise ValueError(f"`likelihood` must be callable, got {type(likelihood).__name__}.")
    _check_model(model)
    host = np.asarray(images)
    check_min_ndim(host.shape, 2, "images")
    if host.shape[0] == 0:
        raise ValueError("`images` must hold at least one image, got shape "
                         f"{tuple(host.shape)}.")
    if not jnp.issubdtype(host.dtype, jnp.floating):
        raise ValueError(f"`images` must be floating point, got dtype {host.dtype}.")
    if not np.all(np.isfinite(host)):
        raise ValueError("`images` must be finite (found NaN or Inf).")
    n = host.shape[0]
    y = None
    if labels is not None:
        y = np.asarray(labels)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"`labels` must have shape ({n},) to match `images`, got "
                             f"{tuple(y.shape)}.")
        if isinstance(model, ConditionalVAE):
            check_labels(y, model.num_labels, name="labels")
        elif not callable(getattr(model, "log_importance_weight", None)):
            raise ValueError(f"`labels` were given but `model` ({type(model).__name__}) is "
                             "not conditional.")
    elif isinstance(model, ConditionalVAE):
        raise ValueError("`labels` are required for a ConditionalVAE.")

    batch_size, sample_chunk = min(batch_size, n), min(sample_chunk, num_samples)
    graphdef, state = nnx.split(model)
    x_all = jnp.asarray(images, jnp.promote_types(host.dtype, jnp.float32))
    y_all = None if y is None else jnp.asarray(y)
    pieces = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        pad = batch_size - (stop - start)
        batch = {"x": _pad(x_all[start:stop], pad)}
        if y_all is not None:
            batch["y"] = _pad(y_all[start:stop], pad)
        ids = jnp.arange(start, start + batch_size)
        log_px = _batch_log_px_jit(graphdef, state, batch, ids, key, likelihood=likelihood,
                                   num_samples=num_samples, chunk=sample_chunk)
        pieces.append(log_px[: stop - start])
    log_px = jnp.concatenate(pieces)
    values = np.asarray(log_px, np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"the log-likelihood estimate is not finite for {bad.size} image(s) (first: index "
            f"{int(bad[0])}); check `model` and `likelihood` (log weights overflowed)."
        )
    nll = float(-values.mean())
    stderr = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    dims = math.prod(host.shape[1:])
    return LogLikelihood(log_px=log_px, nll=nll, stderr=stderr,
                         bits_per_dim=nll / (dims * math.log(2.0)), num_samples=num_samples)


def _pad(a: Array, pad: int) -> Array:
    if pad == 0:
        return a
    return jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)])
