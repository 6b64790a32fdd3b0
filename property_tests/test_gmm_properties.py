"""Properties of the EM Gaussian mixture (vaekit.samplers.gmm).

One EM configuration (N, D, K, iterations) is shared by the fitting properties so that the
jitted EM loop compiles once per covariance type.
"""

import itertools

import jax
import numpy as np
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp

from property_tests.strategies import arrays, floats
from vaekit.samplers import (
    GaussianMixture,
    fit_gmm,
    gmm_log_prob,
    gmm_responsibilities,
    sample_gmm,
)

N, D, K, ITERS = 30, 2, 3, 15
REG = 1e-3
KEY = jax.random.key(0)

points_st = arrays((N, D), -5.0, 5.0)
covariance_st = st.sampled_from(["full", "diag"])


def _fit(points, covariance, k=K):
    return fit_gmm(points, k, key=KEY, num_iters=ITERS, covariance=covariance, reg=REG, tol=0.0,
                   return_history=True)


def _full(gmm: GaussianMixture) -> np.ndarray:
    cov = np.asarray(gmm.covariances, np.float64)
    return cov if cov.ndim == 3 else np.stack([np.diag(c) for c in cov])


@given(points_st, covariance_st)
def test_em_objective_never_decreases(points, covariance):
    fit = _fit(points, covariance)
    objective, loglik = fit.objective_history, fit.log_likelihood_history
    assert len(objective) == fit.num_iters + 1 and np.all(np.isfinite(objective))
    slack = 2e-5 * np.maximum(1.0, np.abs(objective[:-1]))
    assert np.all(np.diff(objective) >= -slack), objective
    # The penalty exp(-reg/2 tr Σ⁻¹) lies in [exp(-D/2), 1]: the objective is within D/2 nats
    # below the plain log-likelihood.
    tol = 1e-4 * np.maximum(1.0, np.abs(loglik))
    assert np.all(loglik >= objective - tol)
    assert np.all(loglik - objective <= D / 2 + tol)


@given(points_st, covariance_st)
def test_fitted_mixture_is_a_valid_distribution(points, covariance):
    gmm = _fit(points, covariance).gmm
    weights = np.asarray(gmm.weights, np.float64)
    assert np.all(weights >= 0) and abs(weights.sum() - 1.0) < 1e-5
    cov = _full(gmm)
    np.testing.assert_allclose(cov, np.swapaxes(cov, 1, 2), rtol=0, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(cov) >= 0.5 * REG)
    resp = np.asarray(gmm_responsibilities(gmm, points), np.float64)
    assert np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-5)


@given(points_st, covariance_st)
def test_one_component_is_the_sample_mean_and_biased_covariance(points, covariance):
    gmm = _fit(points, covariance, k=1).gmm
    x = points.astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(x))))
    np.testing.assert_allclose(gmm.means[0], x.mean(axis=0), atol=1e-5 * scale)
    expected = np.cov(x.T, bias=True).reshape(D, D) + REG * np.eye(D)
    if covariance == "diag":
        expected = np.diag(np.diag(expected))
    np.testing.assert_allclose(_full(gmm)[0], expected, atol=1e-5 * scale**2)
    np.testing.assert_allclose(gmm.weights, [1.0], atol=1e-6)


def _separated(centres: np.ndarray) -> bool:
    return all(np.linalg.norm(a - b) >= 6.0 for a, b in itertools.combinations(centres, 2))


_NOISE = np.random.default_rng(0).normal(size=(K, N // K, D)).astype(np.float32)


@given(arrays((K, D), -12.0, 12.0).filter(_separated), covariance_st)
def test_recovers_well_separated_cluster_means(centres, covariance):
    points = (centres[:, None, :] + 0.1 * _NOISE).reshape(N, D)
    gmm = _fit(points, covariance).gmm
    cluster_means = points.reshape(K, N // K, D).mean(axis=1)
    fitted = np.asarray(gmm.means)
    best = min(itertools.permutations(range(K)),
               key=lambda p: np.abs(fitted[list(p)] - cluster_means).max())
    np.testing.assert_allclose(fitted[list(best)], cluster_means, atol=1e-3)
    np.testing.assert_allclose(gmm.weights, np.full(K, 1.0 / K), atol=1e-4)


def _mixtures(k: int = 2, d: int = D):
    weights = arrays((k,), 0.0625, 1.0).map(lambda w: w / w.sum())
    means = arrays((k, d), -3.0, 3.0)
    factors = arrays((k, d, d), -1.0, 1.0)
    diag = st.booleans()

    def build(w, m, a, is_diag):
        cov = np.einsum("kij,klj->kil", a, a) + 0.1 * np.eye(d, dtype=np.float32)
        cov = np.stack([np.diag(np.diag(c)) for c in cov]) if is_diag else cov
        stored = np.stack([np.diag(c) for c in cov]) if is_diag else cov
        return GaussianMixture(w.astype(np.float32), m, stored.astype(np.float32)), cov

    return st.builds(build, weights, means, factors, diag)


@given(_mixtures(), arrays((8, D), -10.0, 10.0))
def test_log_prob_matches_scipy_mixture(mixture, points):
    gmm, cov = mixture
    w = np.asarray(gmm.weights, np.float64)
    per_component = np.stack([
        np.log(w[k]) + scipy.stats.multivariate_normal(
            np.asarray(gmm.means[k], np.float64), cov[k].astype(np.float64)).logpdf(points)
        for k in range(len(w))
    ], axis=1)
    expected = logsumexp(per_component, axis=1)
    np.testing.assert_allclose(gmm_log_prob(gmm, points), expected, rtol=1e-4, atol=1e-3)


@given(_mixtures(), arrays((8, D), -1e3, 1e3))
def test_responsibilities_sum_to_one_even_far_away(mixture, points):
    gmm, _ = mixture
    resp = np.asarray(gmm_responsibilities(gmm, points), np.float64)
    assert np.all(np.isfinite(resp)) and np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(np.asarray(gmm_log_prob(gmm, points))))


NUM_SAMPLES = 4000


@given(_mixtures(), st.integers(0, 2**31 - 1))
def test_samples_have_the_mixture_moments(mixture, seed):
    gmm, cov = mixture
    w, m = np.asarray(gmm.weights, np.float64), np.asarray(gmm.means, np.float64)
    mean = w @ m
    second = np.einsum("k,kij->ij", w, cov + np.einsum("ki,kj->kij", m, m))
    covariance = second - np.outer(mean, mean)
    x = np.asarray(sample_gmm(gmm, jax.random.key(seed), NUM_SAMPLES), np.float64)
    std = np.sqrt(np.diag(covariance))
    assert np.all(np.abs(x.mean(axis=0) - mean) <= 5.0 * std / np.sqrt(NUM_SAMPLES))
    # Standard error of a (co)variance is about sqrt(2/n) σ_i σ_j = 0.022 σ_i σ_j here.
    np.testing.assert_array_less(np.abs(np.cov(x.T, bias=True) - covariance),
                                 0.15 * np.outer(std, std))


@given(floats(0.0009765625, 1.0))
def test_regularisation_floors_the_covariance_of_coincident_points(reg):
    points = np.zeros((N, D), np.float32)
    gmm = fit_gmm(points, K, key=KEY, num_iters=ITERS, reg=reg, tol=0.0)
    np.testing.assert_allclose(_full(gmm), np.broadcast_to(reg * np.eye(D), (K, D, D)),
                               rtol=1e-4)
    assert np.all(np.isfinite(np.asarray(gmm_log_prob(gmm, points))))
