"""`vaekit reproduce likelihood`: the smoke run end to end, the NLL/ELBO relations, the data.

The smoke run trains five tiny models on the scikit-learn digits and compiles about fifteen
programs, so it runs with XLA's "most optimisations off" (as tests/test_reproduce.py does for
all smoke runs): about 15-20 s on 2 cores instead of 40 s.
"""

import json

import jax
import numpy as np
import pytest

from vaekit.data import DatasetError
from vaekit.reproduce import read_result, reproduction_config, run_reproduction
from vaekit.reproduce._likelihood import (
    MODELS,
    PUBLISHED,
    build,
    load_binary_data,
    metric_name,
    score,
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("likelihood")
    previous = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        result = run_reproduction("likelihood", "smoke", out=out)
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)
    return out, result


def test_smoke_result_follows_the_schema_and_every_nll_is_finite_and_positive(smoke):
    out, result = smoke
    assert read_result(out / "likelihood-smoke" / "result.json") == result  # validated
    assert result["name"] == "likelihood" and result["profile"] == "smoke"
    assert result["config"] == json.loads(json.dumps(reproduction_config("likelihood", "smoke")))
    metrics = {name: summary["mean"] for name, summary in result["metrics"].items()}
    # the smoke profile always uses the digits, and the result says so
    assert metrics["dataset_is_mnist"] == 0.0 and metrics["data_dims"] == 64.0
    assert metrics["num_test"] == 100.0 and metrics["num_train"] == 1500.0
    for kind in MODELS:
        for name in ("nll", "nll_stderr", "bits_per_dim", "neg_elbo", "train_neg_elbo"):
            value = metrics[metric_name(name, kind)]
            assert value is not None and np.isfinite(value) and value > 0, (kind, name)
        nll = metrics[f"nll_{kind}"]
        assert nll < 64 * np.log(2.0), kind  # beats coin flips for every pixel
        assert metrics[f"bits_per_dim_{kind}"] == pytest.approx(nll / (64 * np.log(2.0)))
    assert set(PUBLISHED) == {f"nll_{kind}" for kind in MODELS}
    assert all("MNIST" in entry["note"] for entry in PUBLISHED.values())
    assert any("digits" in note for note in result["notes"])
    assert result["plots"] == ["nll.png"]
    png = (out / "likelihood-smoke" / "nll.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_k_sample_bound_is_at_least_the_elbo_for_every_model(smoke):
    # log p(x) ≥ L_k ≥ L_1 = ELBO in expectation: the NLL at k_eval must not exceed the −ELBO
    # of the same model (k = 1, the same first draws), beyond the paired standard error.
    _, result = smoke
    metrics = {name: summary["mean"] for name, summary in result["metrics"].items()}
    for kind in MODELS:
        gap = metrics[f"elbo_gap_{kind}"]
        assert gap == pytest.approx(metrics[f"neg_elbo_{kind}"] - metrics[f"nll_{kind}"],
                                    abs=1e-4)
        assert gap > -3 * metrics[f"elbo_gap_{kind}_stderr"], kind
        if kind != "vae":
            assert metrics[f"nll_{kind}_minus_vae"] == pytest.approx(
                metrics[f"nll_{kind}"] - metrics["nll_vae"], abs=1e-4)
    assert 1.0 <= metrics["iwae_train_ess"] <= reproduction_config("likelihood",
                                                                   "smoke")["iwae_samples"]


def test_one_sample_nll_is_exactly_the_elbo_of_the_same_draw():
    # score() pairs the NLL and the ELBO through the draws: with k_eval = 1 they coincide.
    config = reproduction_config("likelihood", "smoke")
    data = load_binary_data(config)
    model, _ = build("vae", config, data.test.shape[1:], seed=0)
    scores, log_px = score(model, data.test[:16], jax.random.key(3), k_eval=1)
    assert log_px.shape == (16,)
    assert scores["elbo_gap"] == 0.0 and scores["nll"] == scores["neg_elbo"]


def test_auto_falls_back_to_the_digits_offline_and_mnist_never_falls_back(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path))  # an empty cache
    monkeypatch.delenv("VAEKIT_DATA_REGISTRY", raising=False)
    config = {**reproduction_config("likelihood", "quick"), "dataset": "auto", "max_test": 50}
    data = load_binary_data(config)
    assert not data.is_mnist
    assert data.train.shape == (1500, 8, 8, 1) and data.test.shape == (50, 8, 8, 1)
    assert set(np.unique(data.train)) == {0.0, 1.0}
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")  # asking for MNIST by name must not fall back
    with pytest.raises(DatasetError, match="not in the cache"):
        load_binary_data({**config, "dataset": "binarized-mnist"})
    with pytest.raises(ValueError, match="`dataset`"):
        load_binary_data({**config, "dataset": "mnist"})
    assert not any(tmp_path.iterdir())  # nothing was written to the cache


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_model_of_the_larger_profiles_builds_for_mnist(profile):
    from flax import nnx

    config = reproduction_config("likelihood", profile)
    for kind in MODELS:  # built abstractly: no parameter initialisation runs
        built = []
        model = nnx.eval_shape(lambda kind=kind, built=built: built.append(
            build(kind, config, (28, 28, 1), 0)) or built[0][0])
        assert isinstance(model, nnx.Module) and callable(built[0][1].step), kind
    with pytest.raises(ValueError, match="unknown model"):
        build("flow", config, (28, 28, 1), 0)
