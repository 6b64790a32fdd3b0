"""The sample-based MIG of Chen, Li, Grosse & Duvenaud (2018), as in the β-TCVAE paper's code.

Chen et al. define the Mutual Information Gap with the mutual information between a latent
variable ``z_j`` and a ground-truth factor ``v_k`` under the *stochastic* encoder,
``I(z_j; v_k) = H(z_j) − H(z_j | v_k)``, where ``q(z_j) = 1/N Σ_n q(z_j | x_n)`` is the aggregate
posterior over the *whole factor grid* (every combination of factor values, each once). Their
code (``rtqichen/beta-tcvae``, ``disentanglement_metrics.py``: ``estimate_entropies`` and
``mutual_info_metric_shapes``) estimates the entropies by Monte Carlo:

* draw one ``z_n ~ q(z | x_n)`` per grid point ``n``;
* ``H(z_j) ≈ −1/S Σ_s log(1/N Σ_n q(z_sj | x_n))`` over ``S`` (≤ 10,000) random samples ``z_s``;
* ``H(z_j | v_k) = 1/|v_k| Σ_v H(z_j | v_k = v)`` (the "stratified" estimator: factors are uniform
  on the grid), each term estimated as above within the stratum ``{n : v_k(x_n) = v}``, with
  both the samples and the mixture restricted to the stratum;
* ``MIG = 1/K Σ_k (I_(1)k − I_(2)k) / log |v_k|``, the gap between the two largest (clamped at
  0) mutual informations of factor ``k``, normalised by the entropy of the uniform factor.

On dSprites the paper excludes the ``shape`` factor (``factor_entropies = [6, 40, 32, 32]``).

**How it differs from** :func:`vaekit.evaluation.mig` (disentanglement_lib's "discrete" MIG):
that one bins the posterior *means* of 10,000 random points into 20 equal-width bins per code
and uses plug-in discrete MI and the empirical ``H(v_k)``, over all factors (shape included).
The means are deterministic functions of ``x``, so binning caps the information a code can
carry about a factor with many values at ``log 20`` (an identity representation scores 0.886,
not 1, docs/evaluation.md), while sampling ``q(z|x)`` here makes MI depend on the posterior
variance: a code whose means separate the factor values by less than the posterior standard
deviation carries little information even if the means are perfectly ordered. The estimators,
the normalisation and the factor set all differ, so published numbers of the two kinds (Chen et
al. 2018: Chen-style; Locatello et al. 2019: discrete) are not comparable with
each other, and neither is comparable digit for digit with vaekit's procedural dSprites.
"""

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.scipy.special import logsumexp

from vaekit._checks import check_int
from vaekit.evaluation._arrays import as_matrix, check_same_width
from vaekit.evaluation._ground_truth import DSpritesData, GroundTruthData
from vaekit.evaluation._sampling import default_data

EncodeFn = Callable[[np.ndarray], tuple[Any, Any]]
"""Observations ``(n, ...)`` -> posterior ``(means, logvars)``, each ``(n, L)``."""

_LOG_2PI = math.log(2.0 * math.pi)
_CHUNK_ELEMENTS = 2**22  # float32 elements of one (samples, N, L) block of log densities


class ChenMIG(NamedTuple):
    """Result of :func:`chen_mig`.

    Attributes:
      score: the MIG, mean over the included factors of ``gap_k``.
      gaps: ``(num_included,)`` normalised gap of each included factor.
      factors: indices of the included factors.
      mutual_info: ``(K, L)`` estimated ``I(z_j; v_k)`` in nats for every factor (excluded
        ones too), not clamped.
      normalized_mutual_info: ``(K, L)`` clamped at 0 and divided by ``log |v_k|``.
      marginal_entropies: ``(L,)`` estimated ``H(z_j)`` (nats, differential).
      conditional_entropies: ``(K, L)`` estimated ``H(z_j | v_k)``.
    """

    score: float
    gaps: np.ndarray
    factors: tuple[int, ...]
    mutual_info: np.ndarray
    normalized_mutual_info: np.ndarray
    marginal_entropies: np.ndarray
    conditional_entropies: np.ndarray


@functools.partial(jax.jit, static_argnames=("chunk",))
def _entropies(samples, means, logvars, chunk: int):
    """``−mean_s log(1/N Σ_n q(z_sj | x_n))`` per dimension ``j``: ``(S, L), (N, L)² -> (L,)``.

    ``samples`` is padded to a multiple of ``chunk`` rows with NaN; padded rows are ignored.
    """
    n = means.shape[0]
    inv_var = jnp.exp(-logvars)
    const = -0.5 * (_LOG_2PI + logvars)  # (N, L)

    def block(z):  # (chunk, L) -> (chunk, L) of log q(z_j)
        log_q = const[None] - 0.5 * jnp.square(z[:, None, :] - means[None]) * inv_var[None]
        return logsumexp(log_q, axis=1) - math.log(n)

    blocks = samples.reshape(-1, chunk, samples.shape[-1])
    log_qz = jax.lax.map(block, blocks).reshape(-1, samples.shape[-1])
    valid = jnp.isfinite(samples[:, :1])
    total = jnp.sum(jnp.where(valid, -log_qz, 0.0), axis=0)
    return total / jnp.sum(valid)


def estimate_entropies(
    samples: npt.ArrayLike, means: npt.ArrayLike, logvars: npt.ArrayLike
) -> np.ndarray:
    """Monte-Carlo ``H(z_j)`` of the mixture ``q(z) = 1/N Σ_n N(means_n, exp(logvars_n))``.

    ``−1/S Σ_s log(1/N Σ_n q(z_sj | x_n))`` per dimension ``j`` (Chen et al. 2018,
    ``estimate_entropies`` with uniform weights); ``samples`` should be draws of the mixture.
    Computed in float32 with JAX, in blocks of samples (memory ``O(block · N · L)``).

    Args:
      samples: ``(S, L)`` samples ``z_s ~ q(z)``.
      means: ``(N, L)`` means of the mixture components.
      logvars: ``(N, L)`` log-variances, same shape.

    Returns:
      ``(L,)`` float64 entropies in nats.

    Example:
      >>> import numpy as np
      >>> z = np.random.default_rng(0).normal(size=(4000, 1))
      >>> h = estimate_entropies(z, np.zeros((1, 1)), np.zeros((1, 1)))  # one N(0, 1)
      >>> round(float(h[0]), 1)  # ½ log(2πe) = 1.42
      1.4
    """
    samples, means, logvars = (as_matrix(a, name).astype(np.float32) for a, name in
                               ((samples, "samples"), (means, "means"), (logvars, "logvars")))
    check_same_width(samples, means, "samples", "means")
    if logvars.shape != means.shape:
        raise ValueError(f"`logvars` must have the shape of `means` {means.shape}, got "
                         f"{logvars.shape}.")
    n, latent = means.shape
    chunk = max(1, min(len(samples), _CHUNK_ELEMENTS // max(1, n * latent)))
    pad = -len(samples) % chunk
    if pad:
        samples = np.concatenate([samples, np.full((pad, latent), np.nan, np.float32)])
    return np.asarray(_entropies(samples, means, logvars, chunk), np.float64)


def _subset(rng: np.random.Generator, n: int, num_samples: int) -> np.ndarray:
    """Chen's ``randperm(n)[:num_samples]``: all indices, or a random subset without repeats."""
    return rng.permutation(n)[:num_samples]


def _check_posterior(means, logvars, grid_shape) -> tuple[np.ndarray, np.ndarray, tuple]:
    means, logvars = np.asarray(means, np.float64), np.asarray(logvars, np.float64)
    grid_shape = tuple(check_int(s, "grid_shape") for s in grid_shape)
    if not grid_shape:
        raise ValueError("`grid_shape` must name at least one factor, got ().")
    n = math.prod(grid_shape)
    if means.ndim != 2 or means.shape[0] != n:
        raise ValueError(
            f"`means` must have shape ({n}, L): one row per point of the grid {grid_shape} in "
            f"row-major order, got {means.shape}."
        )
    if means.shape[1] < 2:
        raise ValueError(f"`means` must have at least 2 codes (the gap needs two), got "
                         f"{means.shape[1]}.")
    if logvars.shape != means.shape:
        raise ValueError(f"`logvars` must have the shape of `means` {means.shape}, got "
                         f"{logvars.shape}.")
    for name, value in (("means", means), ("logvars", logvars)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"`{name}` must be finite (no NaN or inf); a deterministic code has "
                             "no density: give it a small posterior variance.")
    return means, logvars, grid_shape


def chen_mig(
    means: npt.ArrayLike,
    logvars: npt.ArrayLike,
    grid_shape: Sequence[int],
    *,
    excluded_factors: Sequence[int] = (),
    num_samples: int = 10000,
    seed: int = 0,
) -> ChenMIG:
    """Chen et al.'s sample-based MIG from posterior parameters on a full factor grid.

    See the module docstring for the estimator. Row ``n`` of ``means`` / ``logvars`` is the
    posterior ``q(z | x_n)`` of grid point ``n`` in row-major order of ``grid_shape`` (factor 0
    slowest), every combination exactly once, so factors are uniform and independent. One
    ``z_n`` is drawn per point with ``np.random.default_rng(seed)``; each entropy uses at most
    ``num_samples`` of them (a random subset, as the paper's 10,000).

    Args:
      means: ``(N, L)`` posterior means, ``N = prod(grid_shape)``, ``L >= 2``.
      logvars: ``(N, L)`` posterior log-variances (finite).
      grid_shape: number of values of each factor on the grid, each ``>= 2``.
      excluded_factors: factor indices left out of the average (their MI is still reported);
        the paper excludes dSprites' shape, ``(0,)``.
      num_samples: samples per entropy estimate, ``>= 1``.
      seed: seed of the posterior samples and subsets.

    Returns:
      A :class:`ChenMIG`.

    Example:
      >>> import numpy as np
      >>> v = np.stack(np.meshgrid(np.arange(4), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
      >>> means = np.concatenate([v, np.zeros((20, 1))], axis=1).astype(float)
      >>> result = chen_mig(means, np.full((20, 3), np.log(0.01**2)), (4, 5))
      >>> round(result.score, 2)
      1.0
    """
    means, logvars, grid_shape = _check_posterior(means, logvars, grid_shape)
    for size in grid_shape:
        if size < 2:
            raise ValueError(f"every factor of `grid_shape` must take >= 2 values, got "
                             f"{grid_shape}.")
    num_samples = check_int(num_samples, "num_samples")
    num_factors = len(grid_shape)
    excluded = set()
    for k in excluded_factors:
        k = check_int(k, "excluded_factors", minimum=0)
        if k >= num_factors:
            raise ValueError(f"`excluded_factors` entry {k} is not a factor of the grid "
                             f"{grid_shape}.")
        excluded.add(k)
    included = tuple(k for k in range(num_factors) if k not in excluded)
    if not included:
        raise ValueError("`excluded_factors` leaves no factor to score.")
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    latent = means.shape[1]
    samples = means + np.exp(0.5 * logvars) * rng.normal(size=means.shape)

    idx = _subset(rng, len(means), num_samples)
    marginal = estimate_entropies(samples[idx], means, logvars)
    conditional = np.zeros((num_factors, latent))
    grid_samples = samples.reshape(*grid_shape, latent)
    grid_means = means.reshape(*grid_shape, latent)
    grid_logvars = logvars.reshape(*grid_shape, latent)
    for k, size in enumerate(grid_shape):
        for v in range(size):
            def stratum(a, k=k, v=v):
                return np.take(a, v, axis=k).reshape(-1, latent)

            z = stratum(grid_samples)
            sub = _subset(rng, len(z), num_samples)
            conditional[k] += estimate_entropies(
                z[sub], stratum(grid_means), stratum(grid_logvars)) / size
    mutual_info = marginal[None, :] - conditional
    log_sizes = np.log(np.asarray(grid_shape, np.float64))[:, None]
    normalized = np.clip(mutual_info, 0.0, None) / log_sizes
    top = -np.sort(-normalized, axis=1)
    gaps = (top[:, 0] - top[:, 1])[list(included)]
    return ChenMIG(
        score=float(np.mean(gaps)), gaps=gaps, factors=included, mutual_info=mutual_info,
        normalized_mutual_info=normalized, marginal_entropies=marginal,
        conditional_entropies=conditional,
    )


def grid_values(factor_sizes: Sequence[int], max_values: int | Sequence[int] | None = None):
    """The factor values an evaluation grid keeps: all, or ``max_values`` evenly spaced ones.

    Factor ``k`` keeps ``unique(round(linspace(0, size_k − 1, m_k)))`` with
    ``m_k = min(size_k, max_values[k])`` (a number applies to every factor); ``None`` keeps
    every value (the full grid, as the paper).

    Example:
      >>> [v.tolist() for v in grid_values((3, 40), 5)]
      [[0, 1, 2], [0, 10, 20, 29, 39]]
    """
    sizes = tuple(check_int(s, "factor_sizes", minimum=2) for s in factor_sizes)
    if max_values is None:
        caps = sizes
    elif isinstance(max_values, Sequence):
        if len(max_values) != len(sizes):
            raise ValueError(f"`max_values` must have one entry per factor ({len(sizes)}), got "
                             f"{len(max_values)}.")
        caps = tuple(check_int(m, "max_values", minimum=2) for m in max_values)
    else:
        caps = (check_int(max_values, "max_values", minimum=2),) * len(sizes)
    return [np.unique(np.round(np.linspace(0, s - 1, min(s, c))).astype(np.int64))
            for s, c in zip(sizes, caps, strict=True)]


def compute_chen_mig(
    encode_fn: EncodeFn,
    data: GroundTruthData | None = None,
    *,
    max_values: int | Sequence[int] | None = None,
    excluded_factors: Sequence[int] | None = None,
    num_samples: int = 10000,
    batch_size: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """Chen et al.'s MIG of a stochastic encoder over the factor grid of ``data``.

    Every point of the grid (:func:`grid_values`; ``max_values=None`` is the whole grid, the
    paper's setting; a number subsamples each factor to at most that many evenly spaced values,
    normalising by the log of the number kept) is rendered with
    ``data.sample_observations_from_factors`` and encoded, ``batch_size`` at a time, then
    scored by :func:`chen_mig`. The full procedural dSprites grid is 737,280 images and
    ``O(10⁴ · N · L)`` density evaluations per factor: minutes on a GPU, too slow for a CPU;
    ``max_values=8`` (9,216 points) takes seconds.

    Args:
      encode_fn: observations ``(n, ...)`` -> ``(means, logvars)``, each ``(n, L)``, e.g.
        ``lambda x: vaekit.evaluation.encode_dataset(model, x)``.
      data: ground-truth data (default: procedural dSprites).
      max_values: per-factor cap on the grid values (``None``: full grid).
      excluded_factors: factors left out of the average; ``None`` excludes dSprites' shape for
        :class:`DSpritesData` (as the paper) and nothing otherwise.
      num_samples: samples per entropy estimate (paper: 10,000).
      batch_size: observations per ``encode_fn`` call.
      seed: seed of the posterior samples (and of ``data``'s observation sampling).

    Returns:
      ``{"chen_mig": score, "chen_mig.<k>": gap of factor k, ...}`` for the included factors,
      ``"chen_mig_mi.<k>"`` (the largest normalised MI of factor ``k`` with one latent
      dimension) and ``"chen_mig_dim.<k>"`` (that dimension) for every factor, and
      ``"grid_points"``.

    Example:
      >>> import numpy as np
      >>> from vaekit.evaluation import IdentityObservationData
      >>> encode = lambda x: (x, np.full(x.shape, np.log(1e-4)))
      >>> round(compute_chen_mig(encode, IdentityObservationData((3, 4)))["chen_mig"], 2)
      1.0
    """
    data = default_data(data)
    sizes = tuple(data.factors_num_values)
    if excluded_factors is None:
        excluded_factors = (0,) if isinstance(data, DSpritesData) else ()
    batch_size = check_int(batch_size, "batch_size")
    values = grid_values(sizes, max_values)
    grid_shape = tuple(len(v) for v in values)
    mesh = np.meshgrid(*values, indexing="ij")
    factors = np.stack([m.reshape(-1) for m in mesh], axis=1)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    means, logvars = [], []
    for start in range(0, len(factors), batch_size):
        batch = factors[start:start + batch_size]
        mean, logvar = encode_fn(data.sample_observations_from_factors(batch, rng))
        mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
        if mean.shape != logvar.shape or mean.ndim != 2 or len(mean) != len(batch):
            raise ValueError(
                f"`encode_fn` must map {len(batch)} observations to (means, logvars) of shape "
                f"({len(batch)}, L), got {mean.shape} and {logvar.shape}."
            )
        means.append(mean)
        logvars.append(logvar)
    result = chen_mig(np.concatenate(means), np.concatenate(logvars), grid_shape,
                      excluded_factors=excluded_factors, num_samples=num_samples, seed=seed)
    scores = {"chen_mig": result.score, "grid_points": float(len(factors))}
    scores.update({f"chen_mig.{k}": float(g) for k, g in zip(result.factors, result.gaps,
                                                              strict=True)})
    best = np.argmax(result.normalized_mutual_info, axis=1)
    for k, dim in enumerate(best):  # every factor, the excluded ones too
        scores[f"chen_mig_mi.{k}"] = float(result.normalized_mutual_info[k, dim])
        scores[f"chen_mig_dim.{k}"] = float(dim)
    return scores
