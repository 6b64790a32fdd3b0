"""vaekit.evaluation: metric definitions against hand-computed cases and slow numpy references,
known answers on synthetic representations, argument errors, and encoding a data set."""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import vaekit
from vaekit.data import IMAGE_SHAPE, render, sample_factors
from vaekit.evaluation import (
    DSpritesData,
    GroundTruthData,
    IdentityObservationData,
    completeness,
    compute_beta_vae,
    compute_dci,
    compute_factor_vae,
    compute_mig,
    compute_sap,
    dci,
    dci_importance_matrix,
    discrete_entropy,
    discrete_mutual_info,
    disentanglement,
    encode_dataset,
    evaluate_model,
    evaluate_representation,
    histogram_discretize,
    latent_statistics,
    majority_vote_accuracy,
    mean_representation,
    mig,
    sample_codes_and_factors,
    sap,
    sap_score_matrix,
)
from vaekit.evaluation._dci import _normalised_entropy

SMALL = IdentityObservationData((3, 4, 5))


def identity(x):
    return np.asarray(x, np.float64)


def noise(x):
    return np.random.default_rng(int(np.sum(x)) + len(x)).normal(size=x.shape)


def collapsed(x):
    return np.zeros_like(x, dtype=np.float64)


def split(codes, factors, n_train):
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


# ---------------------------------------------------------------- slow numpy references


def reference_mutual_info(a, b):
    """Plug-in I(a; b) in nats from an explicit joint histogram."""
    n = len(a)
    total = 0.0
    for u in np.unique(a):
        for v in np.unique(b):
            joint = np.sum((a == u) & (b == v)) / n
            if joint > 0:
                total += joint * math.log(joint / (np.mean(a == u) * np.mean(b == v)))
    return total


def reference_mig(codes, factors, num_bins=20):
    """MIG by loops: own equal-width binning, plug-in MI and entropy, per-factor gap."""
    binned = []
    for column in codes.T:
        lo, hi = column.min(), column.max()
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = lo + (hi - lo) * np.arange(num_bins) / num_bins
        binned.append(np.array([np.sum(value >= edges) for value in column]))
    gaps = []
    for factor in factors.T:
        mi = sorted((reference_mutual_info(b, factor) for b in binned), reverse=True)
        gaps.append((mi[0] - mi[1]) / reference_mutual_info(factor, factor))
    return float(np.mean(gaps))


# ---------------------------------------------------------------- discretisation and MI


def test_histogram_discretize_matches_the_library_example():
    target = np.array([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    np.testing.assert_array_equal(
        histogram_discretize(target, num_bins=3), [[1, 1, 2, 2, 3, 3], [3, 3, 2, 2, 1, 1]]
    )


def test_histogram_discretize_labels_lie_in_one_to_num_bins():
    target = np.random.default_rng(0).normal(size=(3, 200))
    labels = histogram_discretize(target, num_bins=7)
    assert labels.min() == 1 and labels.max() == 7
    assert labels.dtype == np.int64


def test_discrete_entropy_and_mutual_info_exact_values():
    np.testing.assert_allclose(
        discrete_entropy([[1, 1, 2, 2, 3, 3], [3, 3, 2, 2, 1, 1]]), [np.log(3)] * 2
    )
    m = discrete_mutual_info([[1, 2, 1, 2], [1, 1, 2, 2]], [[1, 2, 1, 2], [2, 2, 1, 1]])
    np.testing.assert_allclose(m, [[np.log(2), 0.0], [0.0, np.log(2)]], atol=1e-12)


def test_discrete_mutual_info_matches_a_joint_histogram_reference():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(3, 50))
    ys = np.stack([codes[0] // 2, rng.integers(0, 3, 50)])
    m = discrete_mutual_info(codes, ys)
    expected = [[reference_mutual_info(c, y) for y in ys] for c in codes]
    np.testing.assert_allclose(m, expected, atol=1e-12)


# ---------------------------------------------------------------- MIG


def test_mig_two_factor_toy_with_exact_entropies():
    a = np.array([0, 0, 1, 1] * 5)
    b = np.array([0, 1, 0, 1] * 5)
    factors = np.stack([a, b], axis=1)
    # One code per factor: gap = H(v_k) for both factors.
    one_each = np.stack([a, b], axis=1).astype(float)
    assert mig(one_each, factors)["discrete_mig"] == pytest.approx(1.0)
    # Factor a is duplicated in two codes (gap 0), factor b has one code (gap log 2 / log 2).
    codes = np.stack([a, b, a], axis=1).astype(float)
    assert mig(codes, factors)["discrete_mig"] == pytest.approx(0.5)
    # A code that is a XOR b carries no information about either factor alone.
    xor = np.stack([a ^ b, np.zeros_like(a)], axis=1).astype(float)
    assert mig(xor, factors)["discrete_mig"] == pytest.approx(0.0, abs=1e-12)


def test_mig_matches_the_slow_reference_on_random_codes():
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 3, size=(120, 2))
    codes = np.stack(
        [factors[:, 0] + 0.3 * rng.normal(size=120), rng.normal(size=120),
         factors[:, 1] - factors[:, 0] + 0.5 * rng.normal(size=120)], axis=1,
    )
    for bins in (2, 5, 20):
        assert mig(codes, factors, num_bins=bins)["discrete_mig"] == pytest.approx(
            reference_mig(codes, factors, bins), abs=1e-12
        )


def test_mig_is_high_for_the_identity_and_near_zero_for_noise():
    high = compute_mig(identity, SMALL, num_train=1000)["discrete_mig"]
    low = compute_mig(noise, SMALL, num_train=1000)["discrete_mig"]
    assert high > 0.9
    assert low < 0.05


def test_mig_duplicated_latent_space_is_zero():
    # disentanglement_lib's test_duplicated_latent_space: every factor is in two codes.
    score = compute_mig(lambda x: np.hstack([x, x]), SMALL, num_train=500)["discrete_mig"]
    assert score == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- SAP


def test_sap_continuous_matrix_is_the_squared_correlation():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 5, size=(200, 2))
    codes = np.stack([factors[:, 0] + rng.normal(size=200), np.full(200, 3.0)], axis=1)
    matrix = sap_score_matrix(codes, factors, continuous_factors=True)
    r = np.corrcoef(codes[:, 0], factors[:, 0])[0, 1]
    assert matrix[0, 0] == pytest.approx(r**2)
    assert matrix[1].tolist() == [0.0, 0.0]  # a constant code scores 0, not NaN
    top = np.sort(matrix, axis=0)
    assert sap(codes, factors, continuous_factors=True)["SAP_score"] == pytest.approx(
        np.mean(top[-1] - top[-2])
    )


def test_sap_discrete_perfectly_separable_binary_factor():
    factors = np.repeat([[0], [1]], 50, axis=0)
    codes = np.stack([factors[:, 0] * 4.0 - 2.0, np.tile([0.0, 1.0], 50)], axis=1)
    matrix = sap_score_matrix(codes, factors, codes, factors)
    assert matrix[0, 0] == 1.0
    assert matrix[1, 0] == pytest.approx(0.5)
    assert sap(codes, factors, codes, factors)["SAP_score"] == pytest.approx(0.5)


def test_sap_identity_high_noise_and_duplicates_low():
    # Discrete SAP is far below 1 even for the identity: an uninformative code still scores the
    # chance accuracy, and a 1-D one-vs-rest LinearSVC (C=0.01) rarely isolates middle classes.
    high = compute_sap(identity, SMALL, num_train=600, num_test=300)["SAP_score"]
    low = compute_sap(noise, SMALL, num_train=600, num_test=300)["SAP_score"]
    dup = compute_sap(lambda x: np.hstack([x, x]), SMALL, num_train=600, num_test=300)
    assert high > 0.3
    assert low < 0.1
    assert dup["SAP_score"] < 0.05


# ---------------------------------------------------------------- DCI


def test_normalised_entropy_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    weights = np.random.default_rng(0).random((4, 3)) + 1e-11
    np.testing.assert_allclose(_normalised_entropy(weights), stats.entropy(weights, base=4))


@pytest.mark.parametrize(
    ("matrix", "d", "c"),
    [
        (np.diag(5.0 * np.ones(5)), 1.0, 1.0),
        (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 1.0, 1.0),
        (np.zeros((10, 10)), 0.0, 0.0),
        (np.vstack([np.diag(5.0 * np.ones(5))] * 2), 1.0, 1.0 - np.log(2) / np.log(10)),
        (np.diag(5.0 * np.ones(5))[:2], 1.0, 1.0),
        (np.hstack([np.diag(5.0 * np.ones(5))] * 2), 1.0 - np.log(2) / np.log(10), 1.0),
    ],
    ids=["diagonal", "empty-code", "zero", "redundant-codes", "missed-factors", "shared-code"],
)
def test_disentanglement_and_completeness_library_cases(matrix, d, c):
    assert disentanglement(matrix) == pytest.approx(d, abs=1e-7)
    assert completeness(matrix) == pytest.approx(c, abs=1e-7)


def test_dci_identity_high_and_noise_low():
    rng = np.random.default_rng(0)
    factors = SMALL.sample_factors(400, rng)
    good = dci(*split(identity(factors), factors, 300), n_estimators=5)
    bad = dci(*split(rng.normal(size=(400, 3)), factors, 300), n_estimators=5)
    assert good["disentanglement"] > 0.8
    assert good["completeness"] > 0.8
    assert good["informativeness_test"] == 1.0
    assert bad["disentanglement"] < 0.2
    assert bad["informativeness_test"] < 0.5


def test_dci_lasso_recovers_a_linear_identity():
    rng = np.random.default_rng(0)
    factors = SMALL.sample_factors(300, rng)
    codes = identity(factors) @ np.diag([1.0, -2.0, 0.5]) + 0.01 * rng.normal(size=(300, 3))
    scores = dci(*split(codes, factors, 200), predictor="lasso")
    assert scores["disentanglement"] > 0.99 and scores["completeness"] > 0.99
    assert scores["informativeness_test"] > 0.9


def test_dci_importance_matrix_is_equivariant_under_code_permutation():
    rng = np.random.default_rng(3)
    factors = SMALL.sample_factors(120, rng)
    codes = identity(factors) @ rng.normal(size=(3, 4)) + rng.normal(size=(120, 4))
    perm = np.array([2, 0, 3, 1])
    a = dci_importance_matrix(*split(codes, factors, 80), n_estimators=5)
    b = dci_importance_matrix(*split(codes[:, perm], factors, 80), n_estimators=5)
    np.testing.assert_array_equal(a[0][perm], b[0])
    assert a[1:] == b[1:]


def test_compute_dci_samples_train_then_test():
    scores = compute_dci(identity, SMALL, num_train=200, num_test=100, n_estimators=5)
    assert set(scores) == {
        "disentanglement", "completeness", "informativeness_train", "informativeness_test"
    }
    assert scores["disentanglement"] > 0.8


# ---------------------------------------------------------------- FactorVAE and β-VAE


def test_majority_vote_accuracy_hand_computed():
    train = np.array([[3, 1, 0], [0, 4, 2], [1, 0, 0]])
    # Classifier: code 0 -> factor 0, code 1 -> factor 1, code 2 -> factor 1.
    evaluation = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 1]])
    assert majority_vote_accuracy(train, evaluation) == (9 / 11, 3 / 6)


def test_factor_vae_identity_noise_and_collapsed():
    kwargs = dict(batch_size=8, num_train=200, num_eval=100, num_variance_estimate=300)
    good = compute_factor_vae(identity, SMALL, **kwargs)
    bad = compute_factor_vae(noise, SMALL, **kwargs)
    empty = compute_factor_vae(collapsed, SMALL, **kwargs)
    assert good == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3}
    assert bad["eval_accuracy"] < 0.6  # chance is 1/3
    assert empty == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_prunes_collapsed_codes():
    def with_dead_code(x):
        return np.hstack([np.zeros((len(x), 1)), identity(x)])

    scores = compute_factor_vae(with_dead_code, SMALL, batch_size=8, num_train=100,
                                num_eval=50, num_variance_estimate=200)
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3}


def test_beta_vae_identity_high_noise_low():
    good = compute_beta_vae(identity, SMALL, batch_size=8, num_train=150, num_eval=100)
    bad = compute_beta_vae(noise, SMALL, batch_size=8, num_train=150, num_eval=100)
    assert good["train_accuracy"] > 0.9 and good["eval_accuracy"] > 0.9
    assert bad["eval_accuracy"] < 0.6  # chance is 1/3


def test_beta_vae_rejects_a_single_class_training_set():
    with pytest.raises(ValueError, match="num_train"):
        compute_beta_vae(identity, SMALL, batch_size=2, num_train=1, num_eval=1)


# ---------------------------------------------------------------- all metrics


def test_evaluate_representation_full_keys_on_synthetic_data(monkeypatch):
    from vaekit.evaluation import _metrics_all as metrics_all

    tiny = {
        "mig": {"num_train": 300},
        "sap": {"num_train": 300, "num_test": 100},
        "dci": {"num_train": 100, "num_test": 50, "n_estimators": 3},
        "factor_vae": {"num_train": 30, "num_eval": 20, "num_variance_estimate": 100,
                       "batch_size": 8},
        "beta_vae": {"num_train": 30, "num_eval": 20, "batch_size": 8},
    }
    monkeypatch.setattr(metrics_all, "FULL_SIZES", tiny)
    scores = evaluate_representation(identity, SMALL, seed=1)
    assert set(scores) == {
        "mig.discrete_mig", "sap.SAP_score", "dci.disentanglement", "dci.completeness",
        "dci.informativeness_train", "dci.informativeness_test", "factor_vae.train_accuracy",
        "factor_vae.eval_accuracy", "factor_vae.num_active_dims", "beta_vae.train_accuracy",
        "beta_vae.eval_accuracy",
    }
    assert all(isinstance(v, float) for v in scores.values())
    assert scores["factor_vae.eval_accuracy"] == 1.0


def test_evaluate_representation_quick_is_mig_only_and_seeded():
    a = evaluate_representation(identity, SMALL, seed=3, quick=True)
    b = evaluate_representation(identity, SMALL, seed=3, quick=True)
    assert a == b and list(a) == ["mig.discrete_mig"]


def test_evaluate_model_quick_on_dsprites_with_a_tiny_vae():
    scores = evaluate_model(tiny_image_vae(), quick=True)
    assert set(scores) == {"mig.discrete_mig", "latents.active_dims", "latents.kl"}
    assert 0.0 <= scores["mig.discrete_mig"] <= 1.0
    assert 0.0 <= scores["latents.active_dims"] <= 3.0
    assert scores["latents.kl"] >= 0.0


# ---------------------------------------------------------------- encoding and latents


def tiny_image_vae(latent: int = 3) -> vaekit.VAE:
    rngs = nnx.Rngs(0)
    return vaekit.VAE(
        vaekit.MLPEncoder(IMAGE_SHAPE, latent, (16,), rngs=rngs),
        vaekit.MLPDecoder(latent, IMAGE_SHAPE, (16,), rngs=rngs),
    )


def test_encode_dataset_matches_a_direct_encoder_pass_with_a_partial_batch():
    vae = tiny_image_vae()
    images = render(sample_factors(np.random.default_rng(0), 7))
    means, logvars = encode_dataset(vae, images, batch_size=3)  # batches of 3, 3, 1
    direct_mean, direct_logvar = jax.device_get(vae.encode(jnp.asarray(images)))
    assert isinstance(means, np.ndarray) and means.shape == (7, 3) and logvars.shape == (7, 3)
    np.testing.assert_allclose(means, direct_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvars, direct_logvar, rtol=1e-5, atol=1e-6)
    # One batch larger than the data set, and the representation function on top.
    np.testing.assert_allclose(encode_dataset(vae, images)[0], means, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean_representation(vae, 4)(images), means, rtol=1e-5, atol=1e-6)


def test_encode_dataset_accepts_a_bare_encoder():
    encoder = vaekit.MLPEncoder((4,), 2, (8,), rngs=nnx.Rngs(0))
    means, _ = encode_dataset(encoder, np.ones((5, 4), np.float32), batch_size=2)
    np.testing.assert_allclose(means, np.asarray(encoder(jnp.ones((5, 4)))[0]), rtol=1e-5)


def test_latent_statistics_hand_computed():
    means = np.array([[0.0, -1.0, 0.05], [0.0, 1.0, -0.05]])
    logvars = np.array([[0.0, 0.0, np.log(2.0)], [0.0, 0.0, np.log(2.0)]])
    stats = latent_statistics(means, logvars, threshold=0.001)
    np.testing.assert_allclose(stats["variance_of_means"], [0.0, 1.0, 0.0025])
    # KL of N(m, s²) to N(0, 1) = (m² + s² - 1 - log s²) / 2.
    np.testing.assert_allclose(
        stats["kl_per_dim"], [0.0, 0.5, 0.5 * (0.0025 + 1.0 - np.log(2.0))], rtol=1e-6
    )
    assert stats["kl"] == pytest.approx(float(np.sum(stats["kl_per_dim"])))
    assert stats["active_mask"].tolist() == [False, True, True]
    assert stats["active_dims"] == 2
    assert latent_statistics(means, logvars)["active_dims"] == 1  # default threshold 0.01


# ---------------------------------------------------------------- ground truth and sampling


def test_ground_truth_objects_follow_the_protocol():
    rng = np.random.default_rng(0)
    for data in (DSpritesData(), SMALL):
        assert isinstance(data, GroundTruthData)
        factors = data.sample_factors(6, rng)
        assert factors.shape == (6, data.num_factors)
        assert np.all(factors < np.asarray(data.factors_num_values))
    images = DSpritesData().sample_observations_from_factors(
        DSpritesData().sample_factors(2, rng), rng
    )
    assert images.shape == (2, *IMAGE_SHAPE)


def test_sample_codes_and_factors_batches_with_a_partial_last_batch():
    calls = []

    def representation_fn(x):
        calls.append(len(x))
        return x[:, :2]

    codes, factors = sample_codes_and_factors(
        representation_fn, SMALL, 10, np.random.default_rng(0), batch_size=4
    )
    assert calls == [4, 4, 2]
    np.testing.assert_array_equal(codes, factors[:, :2])


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: histogram_discretize([[0.0, 1.0]], num_bins=1), "num_bins"),
        (lambda: histogram_discretize([0.0, 1.0]), "target"),
        (lambda: histogram_discretize([[0.0, np.nan]]), "target"),
        (lambda: discrete_mutual_info([[1, 2, 3]], [[1, 2]]), "mus_discrete"),
        (lambda: mig(np.zeros((4, 2)), np.zeros((5, 1))), "codes"),
        (lambda: mig(np.zeros((4, 1)), [[0], [1], [0], [1]]), "codes"),
        (lambda: mig(np.zeros((4, 2)), [[0, 1], [1, 1], [0, 1], [1, 1]]), "factors"),
        (lambda: mig(np.zeros((4, 2)), [[0], [1], [0], [1]], num_bins=0), "num_bins"),
        (lambda: sap(np.zeros((4, 2)), [[0], [1], [0], [1]]), "codes_test"),
        (lambda: sap(np.zeros((4, 2)), [[0], [1], [0], [1]], np.zeros((3, 3)), [[0]] * 3),
         "codes_test"),
        (lambda: dci(np.zeros((4, 2)), [[0], [1], [0], [1]], np.zeros((2, 2)), [[0], [1]],
                     predictor="forest"), "predictor"),
        (lambda: dci(np.zeros((4, 2)), [[0], [1], [0], [1]], np.zeros((2, 3)), [[0], [1]]),
         "codes_test"),
        (lambda: disentanglement(-np.eye(2)), "importance_matrix"),
        (lambda: completeness(np.ones((1, 3))), "importance_matrix"),
        (lambda: latent_statistics(np.zeros((2, 3)), np.zeros((2, 2))), "logvars"),
        (lambda: latent_statistics(np.zeros((2, 3)), np.zeros((2, 3)), threshold=-0.1),
         "threshold"),
        (lambda: compute_mig(identity, SMALL, num_train=0), "num_train"),
        (lambda: compute_mig(lambda x: x[:, 0], SMALL, num_train=10), "representation_fn"),
        (lambda: compute_mig(lambda x: x * np.nan, SMALL, num_train=10), "representation_fn"),
        (lambda: compute_factor_vae(identity, SMALL, batch_size=1), "batch_size"),
        (lambda: compute_factor_vae(identity, SMALL, prune_threshold=-1.0), "prune_threshold"),
        (lambda: IdentityObservationData((3, 1)), r"factor_sizes\[1\]"),
        (lambda: encode_dataset(tiny_image_vae(), np.zeros((0, *IMAGE_SHAPE))), "images"),
        (lambda: encode_dataset(tiny_image_vae(), np.zeros((2, *IMAGE_SHAPE)), 0), "batch_size"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    # Under pytest the jaxtyping/beartype hook may reject a shape first (TypeCheckError, a
    # TypeError), which also names the argument.
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(40, 3)), rng.integers(0, 3, size=(40, 2))
    with pytest.raises(ImportError, match=r"pip install vaekit\[eval\]"):
        sap(codes, factors, codes, factors)
    # MIG and the MI matrix are plain numpy: they work without scikit-learn.
    assert discrete_entropy([[0, 1]])[0] == pytest.approx(np.log(2))


def test_numpy_mutual_info_equals_sklearn():
    from sklearn.metrics import mutual_info_score as sk_mutual_info

    from vaekit.evaluation._mutual_info import mutual_info_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, rng.integers(1, 6), 200)
        b = (a + rng.integers(0, 3, 200)) % 4 if rng.random() < 0.5 else rng.integers(0, 7, 200)
        assert mutual_info_score(a, b) == pytest.approx(sk_mutual_info(a, b), abs=1e-12)
