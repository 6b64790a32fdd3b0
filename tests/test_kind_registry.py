"""The registry of model kinds: a kind registered here trains from `vaekit train`, with its
own [objective.<name>] section; every registered kind builds and takes a step; config errors
of the per-objective sections name the key; the loss curves plot every scalar metric."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaekit.cli import main
from vaekit.objectives import LIKELIHOODS
from vaekit.runner import (
    KINDS,
    MODEL_KINDS,
    ConfigError,
    Kind,
    RunConfig,
    register_kind,
    unregister_kind,
)
from vaekit.runner import _report as report
from vaekit.runner import _zoo as zoo
from vaekit.runner._config import QUANTIZED_KINDS, flat_config, nonnegative
from vaekit.runner._kinds import (
    VQConfig,
    build_forward,
    build_model,
    build_objective,
    build_optimizer,
    objective_sections,
)
from vaekit.runner._report import curve_keys
from vaekit.runner._run import STARTED_NAME, check_config_unchanged
from vaekit.training import make_train_step

NAME = "l2-ae"


@dataclasses.dataclass(frozen=True)
class L2Config:
    """``[objective.l2]``: the weight of the squared norm of the posterior means."""

    weight: float = nonnegative(0.01)


def l2_autoencoder(weight: float, likelihood):
    """An L2-regularised autoencoder: recon + weight · E‖mean‖² (no KL)."""

    def objective(out, batch, step):
        recon = jnp.mean(likelihood(out.recon, batch["x"]))
        penalty = jnp.mean(jnp.sum(out.mean**2, axis=-1))
        loss = recon + weight * penalty
        return loss, {"reconstruction_loss": recon, "l2_penalty": penalty,
                      "l2_weight": jnp.float32(weight)}

    return objective


def _l2_objective(config: RunConfig, dataset_size: int):
    return l2_autoencoder(config.objective.l2.weight, LIKELIHOODS[config.objective.likelihood])


@pytest.fixture
def l2_kind():
    kind = register_kind(Kind(NAME, zoo.build_vae, _l2_objective, {"l2": L2Config},
                              summary="a test's L2-regularised autoencoder"))
    try:
        yield kind
    finally:
        unregister_kind(NAME)
    assert NAME not in KINDS and "l2" not in objective_sections()


TOML = f"""
[model]
kind = "{NAME}"
latent_dim = 3
hidden = [16]

[objective]
likelihood = "bernoulli"

[objective.l2]
weight = 0.5

[data]
num_train = 64
num_val = 16

[train]
steps = 20
batch_size = 16
eval_every = 10
checkpoint_every = 10
steps_per_call = 10
"""


def test_a_kind_registered_in_a_test_trains_from_vaekit_train(l2_kind, tmp_path, monkeypatch,
                                                              capsys):
    assert NAME in MODEL_KINDS and NAME not in QUANTIZED_KINDS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert f"{NAME}: a test's L2-regularised autoencoder" in " ".join(
        capsys.readouterr().out.split())

    plotted: list[list[str]] = []
    original = report.loss_curves_figure

    def spy(history, steps, path, *, keys, **kwargs):
        plotted.append(list(keys))
        return original(history, steps, path, keys=keys, **kwargs)

    monkeypatch.setattr(report, "loss_curves_figure", spy)
    path = tmp_path / "l2.toml"
    path.write_text(TOML)
    run = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(run), "--no-progress"]) == 0

    written = (run / "config.toml").read_text()
    assert "[objective.l2]\nweight = 0.5\n" in written
    config = RunConfig.from_toml(run / "config.toml")
    assert config == RunConfig.from_toml(path) and config.objective.l2 == L2Config(0.5)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["complete"] and np.isfinite(summary["final_val"]["loss"])
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert all(r["l2_weight"] == 0.5 and r["l2_penalty"] >= 0 for r in train_rows)
    assert {"loss_curves.png", "reconstructions.png", "prior_samples.png"} <= {
        p.name for p in run.iterdir()}
    # Every scalar the objective (and the step) reported is a panel of the loss curves.
    (keys,) = plotted
    assert keys[0] == "loss"
    assert set(keys) == {k for k in train_rows[-1] if k not in ("split", "step")}
    assert {"l2_penalty", "l2_weight", "reconstruction_loss", "grad_norm"} <= set(keys)

    # The written config.toml re-runs with --config.
    again = tmp_path / "again"
    assert main(["train", "--config", str(run / "config.toml"), "--out", str(again),
                 "--steps", "10", "--no-progress"]) == 0
    assert RunConfig.from_toml(again / "config.toml").objective.l2.weight == 0.5


def test_the_registered_kinds_section_is_checked_and_named(l2_kind):
    def error(raw) -> str:
        with pytest.raises(ConfigError) as info:
            RunConfig.from_dict(raw)
        return str(info.value)

    model = {"kind": NAME}
    assert "`objective.l2.weight` must be >= 0" in error(
        {"model": model, "objective": {"l2": {"weight": -1.0}}})
    assert "`objective.l2.weight` must be a number" in error(
        {"model": model, "objective": {"l2": {"weight": "big"}}})
    message = error({"model": model, "objective": {"l2": {"wieght": 1.0}}})
    assert "objective.l2.wieght" in message and "did you mean 'weight'?" in message
    message = error({"objective": {"l2": {"weight": 1.0}}})  # the default kind: beta-tcvae
    assert "[objective.l2] is not used by model.kind = 'beta-tcvae'" in message
    assert "[objective.tcvae]" in message
    assert "did you mean 'l2'?" in error({"model": model, "objective": {"l3": {}}})
    assert RunConfig.from_dict({"model": model}).objective.l2 == L2Config()


def test_a_kind_is_accepted_only_while_registered(tmp_path, capsys):
    assert NAME not in MODEL_KINDS
    with pytest.raises(ConfigError, match="model.kind"):
        RunConfig.from_dict({"model": {"kind": NAME}})
    with pytest.raises(ConfigError, match=r"objective\.l2"):
        RunConfig.from_dict({"objective": {"l2": {"weight": 1.0}}})
    assert main(["train", "--model", NAME, "--out", str(tmp_path / "r")]) == 2
    assert "--model" in capsys.readouterr().err


def test_register_kind_refuses_bad_records(l2_kind):
    with pytest.raises(ValueError, match=r"`kind`.*'l2-ae' is already registered"):
        register_kind(Kind(NAME, zoo.build_vae, _l2_objective))
    with pytest.raises(ValueError, match=r"\[objective.l2\] is already declared"):
        register_kind(Kind("other", zoo.build_vae, _l2_objective, {"l2": VQConfig}))
    with pytest.raises(ValueError, match="key of \\[objective\\]"):
        register_kind(Kind("other", zoo.build_vae, _l2_objective, {"likelihood": L2Config}))
    with pytest.raises(TypeError, match="`kind`|parameter 'kind'"):  # the test run's beartype
        register_kind("l2-ae")
    with pytest.raises(TypeError, match=r"`sections\['l2'\]`"):
        Kind("other", zoo.build_vae, _l2_objective, {"l2": dict})
    with pytest.raises(TypeError, match="`build_objective`|parameter 'build_objective'"):
        Kind("other", zoo.build_vae, None)
    with pytest.raises(ValueError, match="`name`"):
        unregister_kind("no-such-kind")
    assert "other" not in KINDS


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_every_registered_kind_builds_and_takes_a_step(kind):
    config = RunConfig.from_dict({
        "model": {"kind": kind, "latent_dim": 2, "hidden": [8], "vq_channels": [4],
                  "num_res_blocks": 0, "code_dim": 2, "num_codes": 4, "fsq_levels": [3, 3],
                  "discriminator_hidden": [8], "num_pseudo_inputs": 2, "num_flows": 1,
                  "flow_hidden": [4], "latent_dims": [2, 2]},
        "train": {"batch_size": 4}})
    record = KINDS[kind]
    model = build_model(config.model, (8, 8, 1), 0, num_classes=3 if record.labelled else 0)
    objective = build_objective(config, 16)
    train = make_train_step(objective, build_optimizer(config),
                            forward=build_forward(kind, objective))
    state = train.init(model, jax.random.key(0))
    rng = np.random.default_rng(0)
    batch = {"x": jnp.asarray(rng.random((4, 8, 8, 1)) < 0.5, jnp.float32)}
    if record.labelled:
        batch["y"] = jnp.array([0, 1, 2, 0], jnp.int32)
    state, metrics = train.step(state, batch)
    assert int(state.step) == 1 and np.isfinite(float(metrics["loss"]))


def test_objective_section_errors_name_the_key(capsys, tmp_path):
    def error(raw) -> str:
        with pytest.raises(ConfigError) as info:
            RunConfig.from_dict(raw)
        return str(info.value)

    capacity = {"kind": "beta-vae-capacity"}
    assert "`objective.capacity.steps` must be > 0" in error(
        {"model": capacity, "objective": {"capacity": {"steps": 0}}})
    assert "`objective.capacity.steps` must be an integer" in error(
        {"model": capacity, "objective": {"capacity": {"steps": 1.5}}})
    assert "`objective.tcvae.beta` must be >= 0 and finite" in error(
        {"objective": {"tcvae": {"beta": float("inf")}}})
    assert "`objective.dip.variant` must be one of ['i', 'ii']" in error(
        {"model": {"kind": "dip-vae"}, "objective": {"dip": {"variant": "iii"}}})
    assert "`objective.info_vae.alpha` must be in [0, 1]" in error(
        {"model": {"kind": "info-vae"}, "objective": {"info_vae": {"alpha": 1.5}}})
    message = error({"objective": {"tcvea": {"beta": 6.0}}})
    assert "objective.tcvea" in message and "did you mean 'tcvae'?" in message
    assert "config section `objective.tcvae` must be a table" in error(
        {"objective": {"tcvae": 6.0}})
    # A key of the flat [objective] table of earlier versions is migrated (see
    # tests/test_config_migration.py), but not one whose value is a table.
    assert "`objective.tc_beta` is now `objective.tcvae.beta`" in error(
        {"objective": {"tc_beta": {"x": 6.0}}})


@pytest.mark.parametrize(("argv", "flag", "kind", "usable"), [
    (["--beta", "8"], "--beta", "beta-tcvae", "--tc-beta"),
    (["--model", "factor-vae", "--gamma", "8"], "--gamma", "factor-vae", "none"),
    (["--model", "beta-vae-annealed", "--gamma", "8"], "--gamma", "beta-vae-annealed",
     "--beta, --beta-schedule, --beta-start, --beta-steps"),
])
def test_an_objective_flag_of_an_unused_section_names_the_flag_and_kind(argv, flag, kind, usable,
                                                                      tmp_path, capsys):
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"error: {flag} sets objective." in err and f"model kind {kind!r}" in err, err
    assert f"its objective flags: {usable} " in err, err
    assert "[objective." not in err  # no config section the user never wrote
    assert not (tmp_path / "r").exists()


def test_an_objective_flag_is_checked_against_the_config_files_kind(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nkind = "beta-vae-capacity"\n')
    args = ["train", "--config", str(path), "--out", str(tmp_path / "r")]
    assert main([*args, "--tc-beta", "3"]) == 2
    err = capsys.readouterr().err
    assert "--tc-beta" in err and "'beta-vae-capacity'" in err
    assert "--gamma, --c-max, --capacity-steps" in err
    from vaekit.cli import _config_from_args, build_parser

    config = _config_from_args(build_parser().parse_args([*args, "--gamma", "8"]))
    assert config.objective.capacity.gamma == 8.0


def test_sections_follow_the_model_kind():
    default = RunConfig()
    assert default.objective.tcvae.beta == 15.0 and default.train.lr == 1e-3
    assert [name for name, _ in default.objective.sections] == ["tcvae"]
    vq = default.replace(model={"kind": "vq-vae"})  # the tcvae section is dropped, vq added
    assert vq.objective.sections == (("vq", VQConfig()),)
    annealed = default.replace(model={"kind": "beta-vae-annealed"},
                               objective={"annealing": {"schedule": "cosine"}})
    assert annealed.objective.annealing.schedule == "cosine"
    assert annealed.objective.beta_vae.beta == 4.0
    # The sections of a kind come in its declared order whatever the file's order.
    swapped = RunConfig.from_dict({"model": {"kind": "free-bits-vae"},
                                   "objective": {"free_bits": {"nats": 0.1},
                                                 "beta_vae": {"beta": 1.0}}})
    assert [name for name, _ in swapped.objective.sections] == ["beta_vae", "free_bits"]
    with pytest.raises(AttributeError, match="no section `capacity`"):
        _ = default.objective.capacity
    flat = flat_config(default.to_dict())
    assert flat["objective.tcvae.beta"] == 15.0 and flat["objective.likelihood"] == "bernoulli"


def test_resume_refuses_an_edited_objective_section_naming_the_key(tmp_path):
    config = RunConfig()
    (tmp_path / STARTED_NAME).write_text(json.dumps(config.to_dict()))
    (tmp_path / "config.toml").write_text(config.to_toml())
    check_config_unchanged(tmp_path)
    (tmp_path / "config.toml").write_text(config.to_toml().replace("beta = 15.0", "beta = 6.0"))
    with pytest.raises(ConfigError, match=r"objective\.tcvae\.beta: 15\.0 -> 6\.0"):
        check_config_unchanged(tmp_path)


def test_curve_keys_are_every_scalar_but_per_dimension_families():
    train = {"reconstruction_loss": [1.0], "kl_dim_0": [0.1], "kl_dim_11": [0.2],
             "loss": [2.0], "total_correlation": [0.3], "mutual_info_weight": [1.0],
             "kl_layer_0": [0.5], "active_dims": [2.0], "grad_norm": [4.0]}
    assert curve_keys(train) == ["loss", "reconstruction_loss", "total_correlation",
                                 "mutual_info_weight", "kl_layer_0", "active_dims",
                                 "grad_norm"]


def test_tc_beta_flag_sets_the_default_kinds_total_correlation_weight():
    from vaekit.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["train", "--tc-beta", "6"])
    config = _config_from_args(args)
    assert config.model.kind == "beta-tcvae" and config.objective.tcvae.beta == 6.0
    assert config.objective.tcvae.alpha == 1.0  # the section's other keys keep their defaults


@dataclasses.dataclass(frozen=True)
class NoDefaultConfig:
    """A section whose field has no default."""

    weight: float


@dataclasses.dataclass(frozen=True)
class OptionalConfig:
    """A section whose field a config file cannot hold (TOML has no None)."""

    weight: float | None = None


@dataclasses.dataclass(frozen=True)
class WrongDefaultConfig:
    """A section whose default is not of its field's type."""

    steps: int = 1.5


@pytest.mark.parametrize(("section", "cls", "message"), [
    ("l2.v2", L2Config, r"section name 'l2\.v2' is not a TOML bare key"),
    ("l2 v2", L2Config, r"section name 'l2 v2' is not a TOML bare key"),
    ("nd", NoDefaultConfig, r"\[objective\.nd\] \(NoDefaultConfig\): field `weight` has no "
                            "default"),
    ("opt", OptionalConfig, r"\[objective\.opt\] \(OptionalConfig\): field `weight` has type "
                            r"float \| None, which a config file cannot hold"),
    ("wrong", WrongDefaultConfig, r"\[objective\.wrong\] .*do not round-trip.*"
                                  r"`objective\.wrong\.steps` must be an integer, got 1\.5"),
])
def test_register_kind_refuses_a_section_config_files_cannot_hold(section, cls, message):
    with pytest.raises(ValueError, match=f"kind 'bad-kind'.*{message}"):
        register_kind(Kind("bad-kind", zoo.build_vae, _l2_objective, {section: cls}))
    assert "bad-kind" not in KINDS and section not in objective_sections()


# A kind defined in another package, in a module with `from __future__ import annotations`
# (its section's field types are strings), reached through an entry point.
PLUGIN = '''
from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from vaekit.objectives import LIKELIHOODS
from vaekit.runner import Kind
from vaekit.runner import _zoo as zoo
from vaekit.runner._config import nonnegative, positive


@dataclasses.dataclass(frozen=True)
class ShrinkConfig:
    weight: float = nonnegative(0.01)
    every: int = positive(1)
    widths: tuple[int, ...] = (4, 2)
    centred: bool = False


def build_objective(config, dataset_size):
    weight, likelihood = config.objective.shrink.weight, LIKELIHOODS[config.objective.likelihood]

    def objective(out, batch, step):
        recon = jnp.mean(likelihood(out.recon, batch["x"]))
        penalty = jnp.mean(jnp.sum(out.mean**2, axis=-1))
        return recon + weight * penalty, {"reconstruction_loss": recon, "shrink": penalty}

    return objective


KIND = Kind("shrink-ae", zoo.build_vae, build_objective, {"shrink": ShrinkConfig},
            summary="a plugin's shrinking autoencoder")


def kinds():
    return [KIND]


def clash():
    return dataclasses.replace(KIND, name="vae")


def fresh():
    return dataclasses.replace(KIND)  # a new, equal record at every call
'''
TINY = ["--steps", "2", "--batch-size", "8", "--num-train", "16", "--num-val", "8",
        "--latent-dim", "2", "--hidden", "8", "--eval-every", "0", "--checkpoint-every", "1",
        "--no-progress"]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The module ``vaekit_test_plugin`` (PLUGIN) importable; its kind unregistered after."""
    import sys

    (tmp_path / "vaekit_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield "vaekit_test_plugin"
    finally:
        if "shrink-ae" in KINDS:
            unregister_kind("shrink-ae")
        sys.modules.pop("vaekit_test_plugin", None)


def test_a_section_of_a_future_annotations_module_loads_writes_and_resumes(plugin, tmp_path):
    import importlib

    module = importlib.import_module(plugin)
    assert module.ShrinkConfig.__annotations__["weight"] == "float"  # strings, not types
    register_kind(module.KIND)
    config = RunConfig.from_dict({"model": {"kind": "shrink-ae"},
                                  "objective": {"shrink": {"weight": 2, "widths": [3]}}})
    assert config.objective.shrink == module.ShrinkConfig(2.0, 1, (3,), False)
    changed = config.replace(train={"steps": 5}, objective={"shrink": {"centred": True}})
    assert changed.train.steps == 5 and changed.objective.shrink.centred
    assert changed.objective.shrink.widths == (3,)
    path = tmp_path / "c.toml"
    path.write_text(changed.to_toml())
    assert RunConfig.from_toml(path) == changed
    with pytest.raises(ConfigError, match=r"`objective\.shrink\.every` must be an integer"):
        config.replace(objective={"shrink": {"every": 1.5}})
    # ...and trains from `vaekit train`, its written config reading back.
    run = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(run), *TINY]) == 0
    assert RunConfig.from_toml(run / "config.toml").objective.shrink == changed.objective.shrink
    check_config_unchanged(run)


class FakeEntryPoints:
    """``importlib.metadata.entry_points`` with the given entry points of group vaekit.kinds."""

    def __init__(self, *values: str):
        from importlib.metadata import EntryPoint

        self.entry_points = [EntryPoint(name=f"ep{i}", value=v, group="vaekit.kinds")
                             for i, v in enumerate(values)]
        self.groups: list[str] = []

    def __call__(self, *, group: str):
        self.groups.append(group)
        return [ep for ep in self.entry_points if ep.group == group]


@pytest.mark.parametrize("target", ["KIND", "kinds"])
def test_vaekit_train_trains_a_kind_of_an_entry_point(target, plugin, tmp_path, monkeypatch,
                                                      capsys):
    import importlib.metadata

    fake = FakeEntryPoints(f"{plugin}:{target}")
    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    assert "shrink-ae" not in KINDS
    with pytest.raises(SystemExit) as exit_info:  # a first main(): --help lists the kind
        main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "shrink-ae: a plugin's shrinking autoencoder" in " ".join(
        capsys.readouterr().out.split())
    run = tmp_path / "run"  # a second main() in the same process: no "already registered"
    assert main(["train", "--model", "shrink-ae", "--out", str(run), *TINY]) == 0, (
        capsys.readouterr().err)
    assert fake.groups == ["vaekit.kinds", "vaekit.kinds"]
    assert "[objective.shrink]\nweight = 0.01\nevery = 1\nwidths = [4, 2]\ncentred = false\n" \
        in (run / "config.toml").read_text()
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r["split"] == "train" and r["shrink"] >= 0 for r in rows)


@pytest.mark.parametrize(("value", "message"), [
    ("vaekit_no_such_module:KIND", "ModuleNotFoundError: No module named "
                                   "'vaekit_no_such_module'"),
    ("math:pi", "TypeError: must load to a vaekit.runner.Kind"),
    ("vaekit_test_plugin:clash", "ValueError: `kind`: a model kind named 'vae' is already "
                                 "registered"),
])
def test_a_broken_entry_point_is_one_line_naming_it(value, message, plugin, monkeypatch,
                                                    tmp_path, capsys):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", FakeEntryPoints(value))
    before = dict(KINDS)
    assert main(["eval", str(tmp_path / "no-run")]) == 2  # fails before the command runs
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"entry point `ep0 = {value}` of group 'vaekit.kinds': {message}" in err, err
    assert dict(KINDS) == before


def test_loading_entry_points_again_registers_nothing_twice(plugin, monkeypatch):
    import importlib.metadata

    from vaekit.runner._kinds import load_entry_point_kinds

    monkeypatch.setattr(importlib.metadata, "entry_points", FakeEntryPoints(f"{plugin}:fresh"))
    assert load_entry_point_kinds() == ["shrink-ae"]
    first = KINDS["shrink-ae"]
    assert load_entry_point_kinds() == ["shrink-ae"] and KINDS["shrink-ae"] is first
    unregister_kind("shrink-ae")  # a kind unregistered since is registered again
    assert load_entry_point_kinds() == ["shrink-ae"] and KINDS["shrink-ae"] is not first
