"""Gaussian mixtures fitted by expectation-maximisation, in JAX (pure functions).

Ex-post density estimation (Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders", section 4): after training, fit a mixture of Gaussians to the latent codes of the
training set and sample latents from it instead of from the prior N(0, I).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int, check_number
from vaekit._types import AnyArray

COVARIANCE_TYPES = ("full", "diag")
_LOG_2PI = float(np.log(2.0 * np.pi))


class GaussianMixture(NamedTuple):
    """A mixture ``p(x) = Σ_k weights_k · N(x; means_k, Σ_k)`` of ``K`` Gaussians in ``D`` dims.

    Attributes:
      weights: mixing weights ``(K,)``, non-negative, summing to 1.
      means: component means ``(K, D)``.
      covariances: ``(K, D, D)`` full covariance matrices (symmetric positive definite), or
        ``(K, D)`` variances of diagonal covariances.
    """

    weights: Float[Array, " K"]
    means: Float[Array, "K D"]
    covariances: Float[Array, "K D D"] | Float[Array, "K D"]

    @property
    def covariance_type(self) -> str:
        """``"full"`` for ``(K, D, D)`` covariances, ``"diag"`` for ``(K, D)`` variances."""
        return "full" if self.covariances.ndim == 3 else "diag"


class GaussianMixtureFit(NamedTuple):
    """What ``fit_gmm(..., return_history=True)`` returns.

    Attributes:
      gmm: the fitted :class:`GaussianMixture`.
      log_likelihood_history: mean per-point data log-likelihood ``(T + 1,)`` (numpy) of the
        initial mixture and of the mixture after each of the ``T`` EM iterations run.
      objective_history: the regularised objective EM maximises, same shape (see
        :func:`fit_gmm`); non-decreasing up to float rounding.
      num_iters: ``T``, the EM iterations run (``<= num_iters`` asked for).
      converged: whether the objective's last change was below ``tol``.
    """

    gmm: GaussianMixture
    log_likelihood_history: np.ndarray
    objective_history: np.ndarray
    num_iters: int
    converged: bool


def _check_gmm(gmm: GaussianMixture, dim: int | None = None) -> None:
    weights, means, cov = gmm.weights, gmm.means, gmm.covariances
    if weights.ndim != 1 or means.ndim != 2 or means.shape[0] != weights.shape[0]:
        raise ValueError(
            "`gmm` must have weights (K,) and means (K, D), got shapes "
            f"{tuple(weights.shape)} and {tuple(means.shape)}."
        )
    k, d = means.shape
    if tuple(cov.shape) not in ((k, d, d), (k, d)):
        raise ValueError(
            f"`gmm.covariances` must have shape ({k}, {d}, {d}) or ({k}, {d}), got "
            f"{tuple(cov.shape)}."
        )
    if dim is not None and dim != d:
        raise ValueError(f"`points` must have {d} columns to match `gmm`, got {dim}.")


def _check_points(points, name: str = "points") -> None:
    if points.ndim != 2:
        raise ValueError(f"`{name}` must have shape (N, D), got {tuple(points.shape)}.")


def _float(x) -> Array:
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _component_log_densities(points, means, covariances, reg_penalty: float | Array = 0.0):
    """``(N, K)`` ``log N(x_n; μ_k, Σ_k) − ½ reg_penalty · tr(Σ_k⁻¹)``."""
    d = points.shape[1]
    diff = points[:, None, :] - means[None, :, :]  # (N, K, D)
    if covariances.ndim == 3:
        chol = jnp.linalg.cholesky(covariances)  # (K, D, D)
        inv_chol = jax.vmap(
            lambda c: jax.scipy.linalg.solve_triangular(c, jnp.eye(d, dtype=c.dtype), lower=True)
        )(chol)  # L_k⁻¹: Σ_k⁻¹ = L_k⁻ᵀ L_k⁻¹
        maha = jnp.sum(jnp.square(jnp.einsum("kde,nke->nkd", inv_chol, diff)), axis=-1)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1)
        trace_inv = jnp.sum(jnp.square(inv_chol), axis=(1, 2))
    else:
        maha = jnp.sum(jnp.square(diff) / covariances[None], axis=-1)
        logdet = jnp.sum(jnp.log(covariances), axis=1)
        trace_inv = jnp.sum(1.0 / covariances, axis=1)
    log_n = -0.5 * (d * _LOG_2PI + logdet[None, :] + maha)
    return log_n - 0.5 * reg_penalty * trace_inv[None, :]


def _as_float(gmm: GaussianMixture) -> GaussianMixture:
    return GaussianMixture(*(_float(a) for a in gmm))


def _log_joint(gmm: GaussianMixture, points, reg_penalty=0.0):
    gmm = _as_float(gmm)
    log_w = jnp.log(gmm.weights)
    return log_w[None, :] + _component_log_densities(points, gmm.means, gmm.covariances,
                                                     reg_penalty)


def gmm_log_prob(
    gmm: GaussianMixture, points: Float[AnyArray, "N D"]
) -> Float[Array, " N"]:
    """Log density ``log Σ_k w_k N(x; μ_k, Σ_k)`` of every point, shape ``(N,)``.

    Computed with ``logsumexp`` over components (no under/overflow for points far from every
    component) and Cholesky factors of full covariances; float32 (or wider). Pure and jit-safe.

    Example:
      >>> import jax.numpy as jnp
      >>> gmm = GaussianMixture(jnp.ones(1), jnp.zeros((1, 2)), jnp.ones((1, 2)))
      >>> round(float(gmm_log_prob(gmm, jnp.zeros((1, 2)))[0]), 4)
      -1.8379
    """
    points = _float(points)
    _check_points(points)
    _check_gmm(gmm, points.shape[1])
    return jax.nn.logsumexp(_log_joint(gmm, points), axis=1)


def gmm_responsibilities(
    gmm: GaussianMixture, points: Float[AnyArray, "N D"]
) -> Float[Array, "N K"]:
    """Posterior component probabilities ``p(k | x_n)``, shape ``(N, K)``; rows sum to 1.

    A softmax of the log joint over components (shifted by its maximum), so the rows are finite
    and sum to 1 for any finite point, however far from every component.

    Example:
      >>> import jax.numpy as jnp
      >>> gmm = GaussianMixture(jnp.array([0.5, 0.5]), jnp.array([[-1.0], [1.0]]),
      ...                       jnp.ones((2, 1)))
      >>> gmm_responsibilities(gmm, jnp.zeros((1, 1))).tolist()
      [[0.5, 0.5]]
    """
    points = _float(points)
    _check_points(points)
    _check_gmm(gmm, points.shape[1])
    return jax.nn.softmax(_log_joint(gmm, points), axis=1)


@functools.partial(jax.jit, static_argnums=2)
def _sample(gmm: GaussianMixture, key, n: int):
    k_key, e_key = jax.random.split(key)
    comp = jax.random.categorical(k_key, jnp.log(gmm.weights), shape=(n,))
    eps = jax.random.normal(e_key, (n, gmm.means.shape[1]), gmm.means.dtype)
    if gmm.covariances.ndim == 3:
        chol = jnp.linalg.cholesky(gmm.covariances)
        noise = jnp.einsum("nde,ne->nd", chol[comp], eps)
    else:
        noise = jnp.sqrt(gmm.covariances[comp]) * eps
    return gmm.means[comp] + noise


def sample_gmm(gmm: GaussianMixture, key: PRNGKeyArray, n: int) -> Float[Array, "n D"]:
    """``n`` independent draws ``(n, D)`` from the mixture.

    A component ``k ~ Cat(weights)``, then ``μ_k + L_k ε`` with ``L_k`` the Cholesky factor of
    ``Σ_k`` and ``ε ~ N(0, I)``.

    Jitted; compiles once per ``n`` and mixture shape.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> gmm = GaussianMixture(jnp.ones(1), jnp.zeros((1, 3)), jnp.ones((1, 3)))
      >>> sample_gmm(gmm, jax.random.key(0), 5).shape
      (5, 3)
    """
    n = check_int(n, "n")
    _check_gmm(gmm)
    return _sample(_as_float(gmm), key, n)


# --------------------------------------------------------------------------------------------
# EM


def _kmeans_pp(points, num_components: int, key, lloyd_iters: int):
    """k-means++ seeding (Arthur & Vassilvitskii 2007) followed by Lloyd iterations."""
    n = points.shape[0]
    first, rest = jax.random.split(key)
    centers = jnp.zeros((num_components, points.shape[1]), points.dtype)
    centers = centers.at[0].set(points[jax.random.randint(first, (), 0, n)])
    d2 = jnp.sum(jnp.square(points - centers[0]), axis=1)

    def seed(j, carry):
        centers, d2 = carry
        total = jnp.sum(d2)
        logits = jnp.where(total > 0, jnp.log(d2), 0.0)  # all points coincide: uniform
        idx = jax.random.categorical(jax.random.fold_in(rest, j), logits)
        centers = centers.at[j].set(points[idx])
        d2 = jnp.minimum(d2, jnp.sum(jnp.square(points - points[idx]), axis=1))
        return centers, d2

    centers, _ = jax.lax.fori_loop(1, num_components, seed, (centers, d2))

    def lloyd(_, centers):
        dist = jnp.sum(jnp.square(points[:, None, :] - centers[None]), axis=-1)
        one_hot = jax.nn.one_hot(jnp.argmin(dist, axis=1), num_components, dtype=points.dtype)
        counts = jnp.sum(one_hot, axis=0)
        sums = one_hot.T @ points
        return jnp.where((counts > 0)[:, None], sums / jnp.maximum(counts, 1.0)[:, None],
                         centers)

    return jax.lax.fori_loop(0, lloyd_iters, lloyd, centers)


def _m_step(points, resp, full: bool, reg):
    n, d = points.shape
    tiny = 10.0 * jnp.finfo(points.dtype).eps
    counts = jnp.sum(resp, axis=0) + tiny  # (K,), never 0
    weights = counts / jnp.sum(counts)
    means = (resp.T @ points) / counts[:, None]
    diff = points[:, None, :] - means[None]  # (N, K, D)
    if full:
        cov = jnp.einsum("nk,nkd,nke->kde", resp, diff, diff) / counts[:, None, None]
        cov = 0.5 * (cov + jnp.swapaxes(cov, 1, 2)) + reg * jnp.eye(d, dtype=points.dtype)
    else:
        cov = jnp.einsum("nk,nkd->kd", resp, jnp.square(diff)) / counts[:, None] + reg
    return GaussianMixture(weights, means, cov)


def _e_step(gmm: GaussianMixture, points, reg):
    """Regularised objective, plain log-likelihood (both per-point means), responsibilities."""
    log_joint = _log_joint(gmm, points, reg)
    log_norm = jax.nn.logsumexp(log_joint, axis=1, keepdims=True)
    plain = jnp.mean(jax.nn.logsumexp(_log_joint(gmm, points), axis=1))
    return jnp.mean(log_norm), plain, jax.nn.softmax(log_joint, axis=1)


@functools.partial(jax.jit, static_argnums=(1, 3, 4, 5))
def _em(points, num_components, key, num_iters, full, lloyd_iters, reg, tol):
    shift = jnp.mean(points, axis=0)
    x = points - shift  # EM is shift-equivariant; centring keeps float32 sums accurate
    n, d = x.shape
    centers = _kmeans_pp(x, num_components, key, lloyd_iters)
    dist = jnp.sum(jnp.square(x[:, None, :] - centers[None]), axis=-1)
    hard = jax.nn.one_hot(jnp.argmin(dist, axis=1), num_components, dtype=x.dtype)
    gmm = _m_step(x, hard, full, reg)  # the k-means clusters' weights, means, covariances
    obj, plain, resp = _e_step(gmm, x, reg)
    nan = jnp.full((num_iters + 1,), jnp.nan, x.dtype)
    state = (0, gmm, resp, nan.at[0].set(obj), nan.at[0].set(plain), jnp.asarray(jnp.inf, x.dtype))

    def cond(state):
        t, *_, delta = state
        return (t < num_iters) & ~(jnp.abs(delta) < tol)

    def body(state):
        t, gmm, resp, objs, plains, _ = state
        new = _m_step(x, resp, full, reg)
        obj, plain, resp = _e_step(new, x, reg)
        delta = obj - objs[t]
        return t + 1, new, resp, objs.at[t + 1].set(obj), plains.at[t + 1].set(plain), delta

    t, gmm, _, objs, plains, delta = jax.lax.while_loop(cond, body, state)
    gmm = gmm._replace(means=gmm.means + shift)
    return gmm, objs, plains, t, jnp.abs(delta) < tol


def fit_gmm(
    points: Float[AnyArray, "N D"],
    num_components: int,
    *,
    key: PRNGKeyArray,
    num_iters: int = 100,
    covariance: str = "full",
    reg: float = 1e-6,
    tol: float = 1e-5,
    kmeans_iters: int = 10,
    return_history: bool = False,
) -> GaussianMixture | GaussianMixtureFit:
    """Fits a ``K``-component Gaussian mixture to ``points (N, D)`` by EM (Dempster et al. 1977).

    Initialisation (as scikit-learn's ``GaussianMixture``): k-means++ seeding from ``key`` and
    ``kmeans_iters`` Lloyd iterations cluster the points; the initial weights, means and
    covariances are those of the k-means clusters (an M-step from hard assignments). Each EM
    iteration is an M-step from the current responsibilities followed by an E-step;
    responsibilities are normalised in log space (a softmax of the log joint).
    Covariances are ``S_k + reg·I`` (``S_k`` the responsibility-weighted, biased scatter), so
    they stay positive definite; an empty component keeps a tiny positive weight. The loop is
    one jitted ``lax.while_loop`` (compiled once per ``(N, D, K, num_iters, covariance,
    kmeans_iters)``; ``reg`` and ``tol`` are traced); it stops after ``num_iters`` iterations
    or when the objective changes by less than ``tol``. ``fit_gmm`` itself is a host function
    (it checks the values of ``points``), so call it outside ``jax.jit``.

    The objective: adding ``reg·I`` is the exact M-step of the log-likelihood with each point's
    component density multiplied by ``exp(−½ reg·tr Σ_k⁻¹)`` (the expected log-density of the
    point jittered by N(0, reg·I)); EM runs on that objective, with responsibilities from the
    same penalised densities, so its per-point mean is non-decreasing (the EM guarantee) and
    lies within ``D/2`` nats (``reg·tr Σ⁻¹ <= D``) below the plain log-likelihood. For small
    ``reg`` the two coincide. With ``K = 1`` the fit is exactly the sample mean and the biased
    sample covariance ``+ reg·I``.

    Numerics: float32 unless the input is float64 under ``jax_enable_x64``; keep ``reg`` above
    about ``1e-7 ×`` the data's variance for full covariances in float32.

    Args:
      points: ``(N, D)`` finite data, ``N >= 1``, ``D >= 1``.
      num_components: ``K``, ``1 <= K <= N``.
      key: PRNG key of the k-means++ seeding.
      num_iters: EM iterations at most, ``>= 0``.
      covariance: ``"full"`` ``(K, D, D)`` or ``"diag"`` ``(K, D)``.
      reg: ``> 0``, added to every covariance's diagonal.
      tol: ``>= 0``; stop when the mean objective changes by less (``0``: run all iterations).
      kmeans_iters: Lloyd iterations after the seeding, ``>= 0``.
      return_history: return a :class:`GaussianMixtureFit` with the per-iteration histories.

    Returns:
      A :class:`GaussianMixture` (jax arrays), or a :class:`GaussianMixtureFit`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> points = jnp.array([[0.0], [0.1], [5.0], [5.1]])
      >>> gmm = fit_gmm(points, 2, key=jax.random.key(0), covariance="diag")
      >>> sorted(round(m, 2) for m in gmm.means[:, 0].tolist())
      [0.05, 5.05]
    """
    num_components = check_int(num_components, "num_components")
    num_iters = check_int(num_iters, "num_iters", minimum=0)
    kmeans_iters = check_int(kmeans_iters, "kmeans_iters", minimum=0)
    reg = check_number(reg, "reg", minimum=0.0, strict=True)
    tol = check_number(tol, "tol", minimum=0.0)
    if covariance not in COVARIANCE_TYPES:
        raise ValueError(f"`covariance` must be one of {COVARIANCE_TYPES}, got {covariance!r}.")
    x = _float(points)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"`points` must have shape (N >= 1, D >= 1), got {tuple(x.shape)}.")
    if num_components > x.shape[0]:
        raise ValueError(
            f"`num_components` ({num_components}) must be <= the number of points "
            f"({x.shape[0]})."
        )
    if not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError("`points` must be finite (no NaN or inf).")
    gmm, objs, plains, t, converged = _em(
        x, num_components, key, num_iters, covariance == "full", kmeans_iters,
        jnp.asarray(reg, x.dtype), jnp.asarray(tol, x.dtype),
    )
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in gmm):
        raise ValueError(
            f"the EM fit became non-finite; increase `reg` (got {reg}) relative to the scale "
            "of `points`, or fit in float64."
        )
    if not return_history:
        return gmm
    t = int(t)
    objs, plains = np.asarray(objs)[: t + 1], np.asarray(plains)[: t + 1]
    return GaussianMixtureFit(gmm, plains, objs, t, bool(converged))
