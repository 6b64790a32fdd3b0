"""The runner's likelihood and generative zoo: NLL in the evaluation, the learned code prior of a
quantized run, and the post-hoc samplers of ``vaekit sample --sampler``."""

import json
import math

import numpy as np
import pytest

from vaekit.cli import main

TINY = ["--latent-dim", "3", "--hidden", "32", "--num-train", "128", "--num-val", "32",
        "--steps", "30", "--batch-size", "16", "--eval-every", "30", "--checkpoint-every", "30",
        "--no-progress"]


def _train(tmp_path_factory, name: str, *flags: str):
    run = tmp_path_factory.mktemp(name) / "run"
    assert main(["train", *flags, *TINY, "--out", str(run)]) == 0
    return run, json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return _train(tmp_path_factory, "vae", "--model", "vae")


@pytest.fixture(scope="module")
def hvae_run(tmp_path_factory):
    return _train(tmp_path_factory, "hvae", "--model", "hvae", "--latent-dims", "4,3,2")


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    return _train(tmp_path_factory, "vq", "--model", "vq-vae", "--data", "digits",
                  "--vq-channels", "8,8",
                  "--num-codes", "16", "--code-dim", "4", "--prior-steps", "60")


def test_end_of_run_evaluation_reports_an_nll_below_the_negative_elbo(vae_run):
    _, summary = vae_run
    evaluation = summary["evaluation"]
    nll, stderr = evaluation["likelihood.val_nll"], evaluation["likelihood.val_nll_stderr"]
    assert evaluation["likelihood.num_samples"] == 100 and stderr > 0
    assert np.isfinite(nll) and nll > 0
    # log p(x) >= the IWAE bound, whose expectation is >= the ELBO: the k = 100 estimate is
    # below the validation loss (the single-sample negative ELBO) up to noise.
    assert nll <= summary["final_val"]["loss"] + 3 * stderr
    pixels = 64 * 64
    assert math.isclose(evaluation["likelihood.val_bits_per_dim"], nll / pixels / math.log(2),
                        rel_tol=1e-6)


def test_eval_takes_nll_samples_and_zero_skips_it(vae_run, capsys):
    run, _ = vae_run
    assert main(["eval", str(run), "--quick", "--nll-samples", "20"]) == 0
    report = json.loads((run / "eval_best.json").read_text())
    assert report["likelihood.num_samples"] == 20
    assert main(["eval", str(run), "--quick", "--nll-samples", "0"]) == 0
    report = json.loads((run / "eval_best.json").read_text())
    assert not any(k.startswith("likelihood.") for k in report)
    assert main(["eval", str(run), "--nll-samples", "-1"]) == 2
    assert "--nll-samples" in capsys.readouterr().err


@pytest.mark.parametrize("sampler", ["gmm", "two-stage"])
def test_posthoc_samplers_write_a_sample_grid(vae_run, sampler):
    run, _ = vae_run
    argv = ["sample", str(run), "--sampler", sampler, "--num", "8"]
    assert main([*argv, "--components", "3"] if sampler == "gmm" else argv) == 0
    assert (run / f"sample_{sampler}_best.png").stat().st_size > 0


def test_hierarchical_run_monitors_every_layer_and_refuses_a_latent_sampler(hvae_run, capsys):
    run, summary = hvae_run
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"][-1]
    for layer in range(3):
        assert np.isfinite(train[f"kl_layer_{layer}"]) and train[f"kl_layer_{layer}"] >= 0
        assert f"active_dims_layer_{layer}" in train
    assert np.isfinite(summary["evaluation"]["likelihood.val_nll"])
    assert "latent_traversal" not in summary["files"]
    assert main(["sample", str(run), "--num", "8"]) == 0  # ancestral samples
    assert main(["sample", str(run), "--sampler", "gmm"]) == 2
    assert "--sampler gmm" in capsys.readouterr().err


def test_quantized_run_trains_a_code_prior_better_than_uniform(vq_run, capsys):
    run, summary = vq_run
    prior = summary["prior"]
    assert (run / "checkpoints" / "prior" / "best").is_dir()
    assert prior == json.loads((run / "prior.json").read_text())
    assert prior["prior.uniform_bits_per_code"] == 4.0  # log2(16)
    # 60 steps already learn the code statistics: below the uniform log2 K on held-out codes.
    assert prior["prior.val_bits_per_code"] < prior["prior.uniform_bits_per_code"]
    assert {"prior_samples", "random_codes"} <= set(summary["files"])
    rows = [json.loads(r) for r in (run / "prior_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "val"][-1] == 60
    assert main(["eval", str(run), "--quick"]) == 0
    report = json.loads((run / "eval_best.json").read_text())
    assert math.isclose(report["prior.val_bits_per_code"], prior["prior.val_bits_per_code"],
                        rel_tol=1e-5)
    assert main(["sample", str(run), "--num", "4", "--temperature", "0.5"]) == 0
    assert "uniformly random" not in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # keeps its prior
    assert json.loads((run / "summary.json").read_text())["prior"] == prior


def test_bad_new_config_values_name_the_key(tmp_path, capsys):
    for flags, key in ((["--model", "iwae", "--num-samples", "0"], "--num-samples"),
                       (["--model", "hvae", "--latent-dims", "4,0"], "--latent-dims"),
                       (["--prior-steps", "-1"], "--prior-steps")):
        assert main(["train", *flags, "--out", str(tmp_path / "r")]) == 2
        assert key in capsys.readouterr().err
    from vaekit.runner import ConfigError, RunConfig

    with pytest.raises(ConfigError, match=r"prior\.width"):
        RunConfig.from_dict({"prior": {"width": 30, "num_heads": 4}})
