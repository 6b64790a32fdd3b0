"""Maximum mean discrepancy and the InfoVAE / MMD-VAE objectives (Zhao et al. 2017).

Kernels are pure functions of two sample sets; :func:`mmd` estimates the squared MMD between
the distributions the two sets were drawn from; :func:`info_vae` and :func:`mmd_vae` match the
aggregate posterior ``q(z)`` (the batch of samples ``out.z``) to the prior ``N(0, I)``.
"""

from collections.abc import Callable
from typing import TypeAlias

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from vaekit._checks import check_int, check_number
from vaekit._outputs import GaussianOutput
from vaekit._types import AnyArray, Batch, Likelihood, Objective, Step
from vaekit.objectives._compose import Term, Weight, compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._precision import at_least_float32
from vaekit.objectives._terms import kl_term, reconstruction_term

Kernel: TypeAlias = Callable[[Array, Array], Array]
"""``kernel(x (n, d), y (m, d)) -> (n, m)`` Gram matrix of a positive-definite kernel."""



def _squared_distances(
    x: Float[AnyArray, "n d"], y: Float[AnyArray, "m d"]
) -> Float[AnyArray, "n m"]:
    # Explicit differences (not |x|² + |y|² − 2x·y): exactly 0 on the diagonal, never negative.
    # In float32 (half-precision inputs upcast): finite while |x − y| < 1.8e19 / sqrt(d).
    x, y = at_least_float32(x), at_least_float32(y)
    return jnp.sum(jnp.square(x[:, None, :] - y[None, :, :]), axis=-1)


def rbf_kernel(
    x: Float[AnyArray, "n d"], y: Float[AnyArray, "m d"], scale: float | int = 1.0
) -> Float[AnyArray, "n m"]:
    """Gaussian (RBF) kernel ``k(x, y) = exp(−||x − y||² / (2 · d · scale))``.

    Bandwidth convention: the denominator is ``2 · d · σ²`` with ``σ² = scale`` the per-dimension
    variance of the prior (1 for ``N(0, I)``), the convention of Tolstikhin et al. (2018, WAE),
    which keeps the kernel's reach proportional to the typical ``||x − y||² ≈ 2 · d · σ²`` of two
    prior samples. Zhao et al.'s InfoVAE reference code uses ``exp(−||x − y||² / d²)``, which is
    this kernel with ``scale = d / 2``.

    Args:
      x: samples, shape ``(n, d)``.
      y: samples, shape ``(m, d)``.
      scale: ``σ² > 0``.

    Returns:
      The Gram matrix ``K[i, j] = k(x_i, y_j)``, shape ``(n, m)``, values in (0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(rbf_kernel(jnp.zeros((1, 2)), jnp.ones((1, 2)))[0, 0]), 4)  # exp(-2/4)
      0.6065
    """
    scale = check_number(scale, "scale", minimum=0.0, strict=True)
    return jnp.exp(-_squared_distances(x, y) / (2.0 * x.shape[-1] * scale))


def inverse_multiquadric_kernel(
    x: Float[AnyArray, "n d"], y: Float[AnyArray, "m d"], scale: float | int = 1.0
) -> Float[AnyArray, "n m"]:
    """Inverse multiquadric kernel ``k(x, y) = C / (C + ||x − y||²)`` with ``C = 2 · d · scale``.

    From Tolstikhin et al. (2018), "Wasserstein Auto-Encoders", who use ``C = 2 · d · σ²`` for a
    prior ``N(0, σ² I)``; its heavy tails give useful gradients to samples far from the prior
    (WAE also sums it over several multiples of ``C``; this is the single-scale kernel).

    Args:
      x: samples, shape ``(n, d)``.
      y: samples, shape ``(m, d)``.
      scale: ``σ² > 0``.

    Returns:
      The Gram matrix ``K[i, j] = k(x_i, y_j)``, shape ``(n, m)``, values in (0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> inverse_multiquadric_kernel(jnp.zeros((1, 2)), jnp.ones((1, 2))).tolist()  # 4/(4+2)
      [[0.6666666865348816]]
    """
    scale = check_number(scale, "scale", minimum=0.0, strict=True)
    c = 2.0 * x.shape[-1] * scale
    return c / (c + _squared_distances(x, y))


KERNELS: dict[str, Callable[..., Array]] = {
    "rbf": rbf_kernel,
    "imq": inverse_multiquadric_kernel,
}


def _resolve_kernel(kernel: str | Kernel, scale: float | int) -> Kernel:
    """Returns a two-argument kernel; validates a kernel name and ``scale`` (named kernels)."""
    if callable(kernel):
        return kernel
    if kernel not in KERNELS:
        raise ValueError(
            f"`kernel` must be one of {sorted(KERNELS)} or a callable, got {kernel!r}."
        )
    scale = check_number(scale, "scale", minimum=0.0, strict=True)
    named = KERNELS[kernel]
    return lambda x, y: named(x, y, scale)


def _off_diagonal_mean(gram: Float[AnyArray, "n n"]) -> Float[AnyArray, ""]:
    n = gram.shape[0]
    return jnp.sum(jnp.where(jnp.eye(n, dtype=bool), 0.0, gram)) / (n * (n - 1))


def _mmd(x, y, kernel: Kernel, unbiased: bool):
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"`x` and `y` must have the same number of columns, got {x.shape} and {y.shape}."
        )
    kxy = jnp.mean(kernel(x, y))
    if unbiased:
        for name, arr in (("x", x), ("y", y)):
            if arr.shape[0] < 2:
                raise ValueError(f"the unbiased MMD needs >= 2 samples in `{name}`, got "
                                 f"shape {arr.shape}.")
        return _off_diagonal_mean(kernel(x, x)) + _off_diagonal_mean(kernel(y, y)) - 2.0 * kxy
    value = jnp.mean(kernel(x, x)) + jnp.mean(kernel(y, y)) - 2.0 * kxy
    # The V-statistic is ||mean embedding(x) − mean embedding(y)||² >= 0 for a positive-definite
    # kernel; clamp the last-ulp rounding so the estimate is never negative.
    return jnp.maximum(value, 0.0)


def mmd(
    x: Float[AnyArray, "n d"],
    y: Float[AnyArray, "m d"],
    kernel: str | Kernel = "rbf",
    *,
    unbiased: bool = False,
    scale: float | int = 1.0,
) -> Float[AnyArray, ""]:
    """Squared maximum mean discrepancy ``MMD²(P, Q)`` from samples ``x ~ P`` and ``y ~ Q``.

    Biased (V-statistic, default; Gretton et al. 2012, eq. 5), all pairs including ``i = j``::

        MMD²_b = mean_ij k(x_i, x_j) + mean_ij k(y_i, y_j) − 2 mean_ij k(x_i, y_j)

    It equals ``||mean_i φ(x_i) − mean_j φ(y_j)||²`` in the kernel's feature space, so it is
    ``>= 0`` and exactly 0 when ``x`` and ``y`` are the same sample (it is what Zhao et al. 2017
    use). Unbiased (U-statistic, ``unbiased=True``; Gretton et al. 2012, eq. 3): the two
    within-sample means exclude ``i = j`` (divide by ``n(n−1)`` and ``m(m−1)``); it can be
    negative, and needs ``n, m >= 2``.

    Args:
      x: samples from P, shape ``(n, d)``.
      y: samples from Q, shape ``(m, d)``; ``m`` may differ from ``n``.
      kernel: ``"rbf"`` (:func:`rbf_kernel`), ``"imq"`` (:func:`inverse_multiquadric_kernel`), or
        any callable ``(x (n, d), y (m, d)) -> (n, m)`` Gram matrix.
      unbiased: U-statistic instead of V-statistic.
      scale: ``σ² > 0`` of a named kernel (ignored for a callable).

    Returns:
      The scalar estimate (a batch-level statistic: not a mean of per-sample values).

    Example:
      >>> import jax
      >>> x = jax.random.normal(jax.random.key(0), (8, 2))
      >>> float(mmd(x, x))
      0.0
      >>> float(mmd(x, x + 3.0, "imq")) > 0.1
      True
    """
    return _mmd(x, y, _resolve_kernel(kernel, scale), unbiased)


def _base_key(prior_key: int | jax.Array) -> Callable[[], jax.Array]:
    if isinstance(prior_key, jax.Array):
        typed = jnp.issubdtype(prior_key.dtype, jax.dtypes.prng_key) and prior_key.shape == ()
        raw = prior_key.dtype == jnp.uint32 and prior_key.shape == (2,)
        if not (typed or raw):
            raise ValueError(
                "`prior_key` must be an integer seed or a single PRNG key, got an array of "
                f"dtype {prior_key.dtype} and shape {prior_key.shape}."
            )
        return lambda: prior_key
    seed = check_int(prior_key, "prior_key", minimum=0)
    return lambda: jax.random.key(seed)


def mmd_term(
    kernel: str | Kernel = "imq",
    *,
    scale: float | int = 1.0,
    prior_key: int | jax.Array = 0,
    unbiased: bool = False,
) -> Term:
    """``MMD²(q(z), N(0, I))`` between the batch of posterior samples ``out.z`` and prior samples.

    The prior sample has the shape of ``out.z`` and the dtype the MMD is computed in (float32,
    half-precision ``z`` is upcast) and is drawn from ``jax.random.fold_in(jax.random.key(
    prior_key), step)`` (or ``fold_in(prior_key, step)`` for a key): an objective takes no
    key, so the draw is a deterministic function of the seed and
    the traced step, fresh at every step and identical when a step is recomputed (resumed runs
    reproduce bit-for-bit). It does not depend on the batch order.

    Reduction: a batch-level statistic (see :func:`mmd`), so unlike per-sample terms the value on
    a batch is *not* the mean of its halves' values; it is invariant to permuting the batch.

    Example:
      >>> from vaekit.objectives import compose
      >>> objective = compose({"mmd": (mmd_term("rbf", prior_key=1), 100.0)})
    """
    kernel_fn = _resolve_kernel(kernel, scale)
    base_key = _base_key(prior_key)

    def term(out: GaussianOutput, batch: Batch, step: Step) -> Float[Array, ""]:
        z = at_least_float32(out.z)
        key = jax.random.fold_in(base_key(), step)
        prior = jax.random.normal(key, z.shape, z.dtype)
        return _mmd(z, prior, kernel_fn, unbiased)

    return term


def _affine(terms: list[tuple[float, Weight]], constant: float | int) -> Weight:
    """``constant + Σ c · w`` as a number, or as a schedule when any ``w`` is a schedule."""
    if not any(callable(w) for _, w in terms):
        return constant + sum(c * w for c, w in terms)

    def schedule(step):
        total = constant
        for c, w in terms:
            total = total + c * (w(step) if callable(w) else w)
        return total

    return schedule


def info_vae(
    alpha: Weight = 0.0,
    lambda_: Weight = 1000.0,
    kernel: str | Kernel = "imq",
    likelihood: Likelihood = bernoulli_nll,
    *,
    scale: float | int = 1.0,
    prior_key: int | jax.Array = 0,
    unbiased: bool = False,
    active_threshold: float | int = 0.01,
) -> Objective:
    """InfoVAE objective with the MMD divergence.

    InfoVAE objective with the MMD divergence (Zhao et al. 2017, "InfoVAE", eq. 6)::

        L = E[−log p(x|z)] + (1 − α) · KL(q(z|x) || p(z)) + (α + λ − 1) · MMD²(q(z), p(z))

    ``α`` trades off the mutual information between ``x`` and ``z`` (``α = 0`` with a large ``λ``
    is the setting Zhao et al. recommend; ``α = 1`` drops the KL, see :func:`mmd_vae`), ``λ``
    weights the divergence between the aggregate posterior and the prior. Both weights must be
    non-negative: ``α <= 1`` and ``α + λ >= 1`` (checked when both are numbers; with a schedule
    the caller keeps them non-negative). Batch MMD values are small, so ``λ`` is usually large.

    Built with :func:`~vaekit.objectives.compose` from the terms
    ``reconstruction_loss`` (weight 1), ``kl_loss`` (weight ``1 − α``) and ``mmd``
    (weight ``α + λ − 1``); ``α`` and ``λ`` may be numbers or ``optax`` schedules.

    Reduction: reconstruction and KL are summed over event dims and averaged over the batch; the
    MMD (see :func:`mmd_term`) compares the batch of samples ``out.z`` with an equally sized
    ``N(0, I)`` sample drawn from ``fold_in(key(prior_key), step)``. The MMD is a batch-level
    statistic: the loss is invariant to the batch order but not exactly equal to the mean of the
    losses of the batch's halves.

    Args:
      alpha: ``α <= 1``, a number or a schedule.
      lambda_: ``λ`` with ``α + λ >= 1``, a number or a schedule.
      kernel: ``"imq"`` (default, as in WAE), ``"rbf"`` or a callable, see :func:`mmd`.
      likelihood: ``(recon, x) -> (batch,)`` NLL, e.g. :func:`bernoulli_nll` (decoder logits).
      scale: the kernels' ``σ² > 0`` (1 matches the ``N(0, I)`` prior).
      prior_key: integer seed (or a PRNG key) of the prior samples.
      unbiased: use the U-statistic MMD estimate.
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)``; ``out`` has ``recon``, ``mean``,
      ``logvar`` and ``z``. Metrics: ``loss``, ``reconstruction_loss``, ``kl_loss``, ``mmd``,
      their ``*_weight``, ``active_dims`` and ``kl_dim_{i}``.

    Example:
      >>> import vaekit
      >>> from vaekit.objectives import info_vae
      >>> objective = info_vae(alpha=0.0, lambda_=1000.0, kernel="imq")
    """
    if not callable(alpha):
        alpha = check_number(alpha, "alpha")
        if alpha > 1.0:
            raise ValueError(f"`alpha` must be <= 1 (the KL weight is 1 − alpha), got {alpha!r}.")
    if not callable(lambda_):
        lambda_ = check_number(lambda_, "lambda_")
        if not callable(alpha) and alpha + lambda_ < 1.0:
            raise ValueError(
                f"`lambda_` must be >= 1 − alpha = {1.0 - alpha!r} (the MMD weight is "
                f"alpha + lambda_ − 1), got {lambda_!r}."
            )
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_loss": (kl_term(), _affine([(-1.0, alpha)], 1.0)),
            "mmd": (
                mmd_term(kernel, scale=scale, prior_key=prior_key, unbiased=unbiased),
                _affine([(1.0, alpha), (1.0, lambda_)], -1.0),
            ),
        },
        reporters=[kl_monitor(active_threshold)],
    )


def mmd_vae(
    lambda_: Weight = 1000.0,
    kernel: str | Kernel = "imq",
    likelihood: Likelihood = bernoulli_nll,
    *,
    scale: float | int = 1.0,
    prior_key: int | jax.Array = 0,
    unbiased: bool = False,
    active_threshold: float | int = 0.01,
) -> Objective:
    """MMD-VAE: ``L = E[−log p(x|z)] + λ · MMD²(q(z), N(0, I))``, the InfoVAE with ``α = 1``.

    The KL term is dropped (Zhao et al. 2017, "InfoVAE"; the same loss as the MMD Wasserstein
    auto-encoder of Tolstikhin et al. 2018 with a stochastic encoder). Built with
    :func:`~vaekit.objectives.compose` from the terms ``reconstruction_loss`` and ``mmd``
    (weight ``λ``, a number ``>= 0`` or a schedule); the KL is still reported per dimension for
    collapse monitoring. Reduction and prior sampling as in :func:`info_vae`.

    Args:
      lambda_: ``λ >= 0`` or a schedule.
      kernel: see :func:`info_vae`.
      likelihood: see :func:`info_vae`.
      scale: see :func:`info_vae`.
      prior_key: see :func:`info_vae`.
      unbiased: see :func:`info_vae`.
      active_threshold: see :func:`info_vae`.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)`` with metrics ``loss``,
      ``reconstruction_loss``, ``mmd``, their ``*_weight``, ``active_dims`` and ``kl_dim_{i}``.

    Example:
      >>> from vaekit.objectives import mmd_vae
      >>> objective = mmd_vae(lambda_=100.0, kernel="rbf")
    """
    if not callable(lambda_):
        lambda_ = check_number(lambda_, "lambda_", minimum=0.0)
    return compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "mmd": (
                mmd_term(kernel, scale=scale, prior_key=prior_key, unbiased=unbiased),
                lambda_,
            ),
        },
        reporters=[kl_monitor(active_threshold)],
    )
