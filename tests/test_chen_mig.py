"""Chen et al.'s sample-based MIG on synthetic representations of a small factor grid."""

import math

import numpy as np
import pytest

from vaekit.evaluation import (
    DSpritesData,
    IdentityObservationData,
    chen_mig,
    compute_chen_mig,
    estimate_entropies,
    grid_values,
    mig,
)

SIZES = (4, 6, 10)
DATA = IdentityObservationData(SIZES)
_S = np.asarray(SIZES, np.float64)
MEAN, STD = (_S - 1) / 2, np.sqrt((_S**2 - 1) / 12)


def identity(sigma: float):
    """q(z|x) = N(standardised factors, sigma²): one code per factor."""

    def encode(x):
        return (x - MEAN) / STD, np.full(x.shape, 2 * math.log(sigma))

    return encode


def test_factors_plus_tiny_noise_score_near_one():
    scores = compute_chen_mig(identity(0.02), DATA)
    assert scores["chen_mig"] > 0.97, scores
    assert scores["grid_points"] == math.prod(SIZES)
    assert sorted(k for k in scores if k.startswith("chen_mig.")) == [
        "chen_mig.0", "chen_mig.1", "chen_mig.2"]


def test_best_dimension_of_each_factor_is_found_through_a_permutation():
    order = (2, 0, 1)  # latent j carries factor order[j]

    def permuted(x):
        means, logvars = identity(0.02)(x)
        return means[:, order], logvars[:, order]

    scores = compute_chen_mig(permuted, DATA)
    for k in range(3):
        assert scores[f"chen_mig_dim.{k}"] == order.index(k)
        assert scores[f"chen_mig_mi.{k}"] > 0.97


def test_mutual_info_of_a_perfect_code_is_the_factor_entropy():
    grid = np.stack(np.meshgrid(*map(np.arange, SIZES), indexing="ij"), -1).reshape(-1, 3)
    means, logvars = identity(0.02)(grid.astype(float))
    result = chen_mig(means, logvars, SIZES)
    np.testing.assert_allclose(np.diag(result.mutual_info), np.log(SIZES), atol=0.02)
    off_diagonal = result.mutual_info[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.05)
    np.testing.assert_allclose(result.normalized_mutual_info.diagonal(), 1.0, atol=0.01)


def test_independent_noise_scores_near_zero():
    rng = np.random.default_rng(0)

    def noise(x):  # posterior means unrelated to the factors, posterior close to the prior
        return 0.1 * rng.normal(size=x.shape), np.zeros(x.shape)

    assert compute_chen_mig(noise, DATA)["chen_mig"] < 0.03


def test_duplicating_a_latent_does_not_raise_the_score():
    def duplicated(x):
        means, logvars = identity(0.02)(x)
        return (np.concatenate([means, means[:, :1]], 1),
                np.concatenate([logvars, logvars[:, :1]], 1))

    original = compute_chen_mig(identity(0.02), DATA)
    dup = compute_chen_mig(duplicated, DATA)
    assert dup["chen_mig"] <= original["chen_mig"] + 1e-6
    assert dup["chen_mig.0"] < 0.05  # the duplicated factor has no gap left
    assert dup["chen_mig"] < 0.75


def test_posterior_variance_matters_unlike_the_discrete_mig():
    # The means order every factor perfectly, but the posterior std is as large as the spread of
    # the means: binning the means sees a perfect code, sampling q(z|x) sees a noisy one.
    grid = np.stack(np.meshgrid(*map(np.arange, SIZES), indexing="ij"), -1).reshape(-1, 3)
    means, logvars = identity(1.0)(grid.astype(float))
    noisy = chen_mig(means, logvars, SIZES).score
    discrete = mig(np.repeat(means, 10, 0), np.repeat(grid, 10, 0), num_bins=20)["discrete_mig"]
    assert discrete > 0.85 and noisy < 0.4, (discrete, noisy)


def test_excluded_factors_and_the_dsprites_default():
    scores = compute_chen_mig(identity(0.02), DATA, excluded_factors=(0,))
    assert "chen_mig.0" not in scores and "chen_mig.1" in scores
    with pytest.raises(ValueError, match="`excluded_factors`"):
        compute_chen_mig(identity(0.02), DATA, excluded_factors=(3,))
    with pytest.raises(ValueError, match="no factor"):
        compute_chen_mig(identity(0.02), DATA, excluded_factors=(0, 1, 2))
    # dSprites: shape (factor 0) is excluded by default, as in the paper; a tiny grid of 2^5.
    seen = []

    def encode(x):
        seen.append(x.shape)
        flat = x.reshape(len(x), -1)
        return flat[:, :2] + np.arange(len(x))[:, None], np.zeros((len(x), 2))

    scores = compute_chen_mig(encode, DSpritesData(), max_values=2, num_samples=8,
                              batch_size=16)
    assert "chen_mig.0" not in scores and scores["grid_points"] == 32
    assert seen == [(16, 64, 64, 1), (16, 64, 64, 1)]


def test_subsampled_grid_values():
    assert [v.tolist() for v in grid_values((3, 6), None)] == [[0, 1, 2], list(range(6))]
    assert [v.tolist() for v in grid_values((3, 40), 8)][1] == [0, 6, 11, 17, 22, 28, 33, 39]
    assert [len(v) for v in grid_values((3, 40), (2, 5))] == [2, 5]
    with pytest.raises(ValueError, match="`max_values`"):
        grid_values((3, 40), (2,))
    # On a subsampled grid the MI is normalised by log of the values kept.
    scores = compute_chen_mig(identity(0.02), DATA, max_values=3)
    assert scores["grid_points"] == 27 and scores["chen_mig"] > 0.95


def test_entropy_estimate_of_a_gaussian():
    z = np.random.default_rng(1).normal(0.0, 2.0, size=(5000, 2))
    h = estimate_entropies(z, np.zeros((1, 2)), np.full((1, 2), math.log(4.0)))
    np.testing.assert_allclose(h, 0.5 * math.log(2 * math.pi * math.e * 4.0), atol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"means": np.zeros((5, 2))}, "`means`"),
     ({"means": np.zeros((6, 1)), "logvars": np.zeros((6, 1))}, "at least 2 codes"),
     ({"logvars": np.zeros((6, 3))}, "`logvars`"),
     ({"logvars": np.full((6, 2), -np.inf)}, "`logvars` must be finite"),
     ({"grid_shape": (6, 1)}, "`grid_shape`|>= 2 values"),
     ({"num_samples": 0}, "`num_samples`")],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"means": np.zeros((6, 2)), "logvars": np.zeros((6, 2)), "grid_shape": (2, 3),
            **kwargs}
    with pytest.raises(ValueError, match=match):
        chen_mig(args.pop("means"), args.pop("logvars"), args.pop("grid_shape"), **args)


def test_encode_fn_shape_is_checked():
    with pytest.raises(ValueError, match="`encode_fn`"):
        compute_chen_mig(lambda x: (x, x[:, :1]), DATA)
