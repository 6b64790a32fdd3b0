"""vaekit.evaluation properties: plug-in MI is non-negative and symmetric, MIG lies in [0, 1],
MIG / SAP / DCI do not depend on the order of the latent dimensions, and the active-unit count
is the number of dimensions whose variance of the means exceeds the threshold."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from property_tests.strategies import arrays, floats
from vaekit.evaluation import dci, discrete_mutual_info, latent_statistics, mig, sap

NUM_POINTS = 24
NUM_CODES = 4
NUM_FACTORS = 2


def labels(n: int = NUM_POINTS) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, 3))


def varying_factors(n: int = NUM_POINTS) -> st.SearchStrategy[np.ndarray]:
    """``(n, NUM_FACTORS)`` labels in {0, 1, 2}; every column takes at least two values."""
    column = hnp.arrays(np.int64, (n,), elements=st.integers(0, 2)).filter(
        lambda c: np.unique(c).size > 1
    )
    return st.lists(column, min_size=NUM_FACTORS, max_size=NUM_FACTORS).map(
        lambda cols: np.stack(cols, axis=1)
    )


def codes(n: int = NUM_POINTS) -> st.SearchStrategy[np.ndarray]:
    return arrays((n, NUM_CODES), -5.0, 5.0).map(lambda a: a.astype(np.float64))


@given(labels(), labels())
def test_discrete_mutual_info_is_nonnegative_and_symmetric(a, b):
    ab = discrete_mutual_info(a[None], b[None])[0, 0]
    ba = discrete_mutual_info(b[None], a[None])[0, 0]
    assert ab >= 0.0
    np.testing.assert_allclose(ab, ba, rtol=1e-12, atol=1e-15)
    # Bounded by the entropy of either variable.
    assert ab <= discrete_mutual_info(a[None], a[None])[0, 0] + 1e-12
    assert ab <= discrete_mutual_info(b[None], b[None])[0, 0] + 1e-12


@given(codes(), varying_factors(), st.integers(2, 20))
def test_mig_lies_in_the_unit_interval(z, factors, num_bins):
    score = mig(z, factors, num_bins=num_bins)["discrete_mig"]
    assert -1e-12 <= score <= 1.0 + 1e-12


@given(st.integers(0, 2**32 - 1), st.permutations(range(NUM_CODES)))
def test_mig_sap_dci_are_invariant_to_permuting_latent_dimensions(seed, perm):
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, 3, size=(48, NUM_FACTORS))
    factors[:3] = np.arange(3)[:, None]  # every factor varies within the training split
    # Codes that depend on the factors (and on noise), so the scores are not trivially zero.
    z = factors @ rng.normal(size=(NUM_FACTORS, NUM_CODES)) + rng.normal(size=(48, NUM_CODES))
    perm = np.asarray(perm)
    train, test = slice(0, 32), slice(32, None)

    def scores(codes_):
        return (
            mig(codes_, factors)["discrete_mig"],
            sap(codes_[train], factors[train], codes_[test], factors[test])["SAP_score"],
            sap(codes_, factors, continuous_factors=True)["SAP_score"],
            dci(codes_[train], factors[train], codes_[test], factors[test], n_estimators=3),
            dci(codes_[train], factors[train], codes_[test], factors[test], "lasso"),
        )

    original, permuted = scores(z), scores(z[:, perm])
    for a, b in zip(original, permuted, strict=True):
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-12,
                                       atol=1e-12)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@given(arrays((8, NUM_CODES), -3.0, 3.0), arrays((8, NUM_CODES), -3.0, 3.0), floats(0.0, 2.0))
def test_active_dims_counts_dimensions_whose_mean_varies_more_than_the_threshold(
    means, logvars, threshold
):
    stats = latent_statistics(means, logvars, threshold)
    variance = np.var(means.astype(np.float64), axis=0)
    np.testing.assert_allclose(stats["variance_of_means"], variance)
    assert stats["active_mask"].tolist() == (variance > threshold).tolist()
    assert stats["active_dims"] == int(np.sum(variance > threshold))
    # A larger threshold never activates more dimensions.
    assert latent_statistics(means, logvars, threshold + 0.5)["active_dims"] <= stats["active_dims"]
