"""Run directories of vaekit before per-objective sections (a flat ``[objective]`` table of 19
hyperparameters, written for every kind) load, resume and sample: each flat key moves to its
section when the run's kind uses it, and is dropped when it does not (the kind never read it);
resume compares the migrated record, so objective keys are still checked."""

import json

import numpy as np
import pytest

from vaekit.cli import main
from vaekit.runner import ConfigError, RunConfig
from vaekit.runner._config import MOVED_KEYS, _toml_value, migrate_flat_objective
from vaekit.runner._kinds import KINDS, CapacityConfig, TCVAEConfig
from vaekit.runner._run import STARTED_NAME, check_config_unchanged, start_run

# ObjectiveConfig of e452c94 (vaekit/runner/config.py), the last version with the flat table.
OLD_OBJECTIVE = {
    "likelihood": "bernoulli", "beta": 4.0, "beta_schedule": "linear", "beta_start": 0.0,
    "beta_steps": 1000, "gamma": 1000.0, "c_max": 25.0, "capacity_steps": 5000,
    "free_bits": 0.5, "tc_alpha": 1.0, "tc_beta": 15.0, "tc_gamma": 1.0, "mmd_alpha": 0.0,
    "mmd_lambda": 1000.0, "dip_kind": "ii", "dip_lambda_od": 10.0, "commitment_cost": 0.25,
    "factor_gamma": 35.0, "num_samples": 5, "dreg": False,
}
# A value other than the default for every flat key (of the type its new key reads).
CHANGED = {
    "beta": 8.0, "beta_schedule": "cosine", "beta_start": 0.5, "beta_steps": 300, "gamma": 3.0,
    "c_max": 7.0, "capacity_steps": 400, "free_bits": 0.25, "tc_alpha": 0.5, "tc_beta": 6.0,
    "tc_gamma": 2.0, "mmd_alpha": 0.5, "mmd_lambda": 20.0, "dip_kind": "i",
    "dip_lambda_od": 4.0, "commitment_cost": 0.5, "factor_gamma": 9.0, "num_samples": 3,
    "dreg": True,
}
SMALL = {"model": {"latent_dim": 2, "hidden": [8]}, "data": {"num_train": 16, "num_val": 8},
         "train": {"steps": 2, "batch_size": 8, "eval_every": 0, "checkpoint_every": 1,
                   "steps_per_call": 1}}


def old_dict(kind: str, **objective) -> dict:
    """What e452c94's ``RunConfig.to_dict`` gave: every flat key, whatever the kind."""
    raw = RunConfig().replace(model={"kind": kind}, **{k: v for k, v in SMALL.items()
                                                       if k != "model"}).to_dict()
    raw["model"].update(SMALL["model"])
    raw["objective"] = {**OLD_OBJECTIVE, **objective}
    return raw


def old_toml(raw: dict) -> str:
    """e452c94's ``RunConfig.to_toml``: one flat table per section."""
    lines = []
    for section, table in raw.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def test_sanity_every_flat_key_is_changed_and_moves_to_a_registered_section():
    assert set(CHANGED) == set(MOVED_KEYS) == set(OLD_OBJECTIVE) - {"likelihood"}
    assert all(CHANGED[k] != OLD_OBJECTIVE[k] for k in CHANGED)
    sections = {name: cls for kind in KINDS.values() for name, cls in kind.sections.items()}
    for new in MOVED_KEYS.values():
        _, section, key = new.split(".")
        assert key in {f for f in sections[section].__dataclass_fields__}, new


def test_an_old_beta_tcvae_config_toml_loads_with_its_values_in_tcvae(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(old_toml(old_dict("beta-tcvae", likelihood="gaussian", tc_alpha=0.5,
                                      tc_beta=6.0, tc_gamma=2.0, beta=8.0, gamma=3.0)))
    assert "\ntc_beta = 6.0\n" in path.read_text()  # the old layout
    config = RunConfig.from_toml(path)
    assert config.objective.likelihood == "gaussian"
    assert config.objective.sections == (("tcvae", TCVAEConfig(0.5, 6.0, 2.0)),)
    assert config.model.latent_dim == 2 and config.train.steps == 2
    # Written again, it is in the new layout and reads back equal.
    assert "tc_beta" not in config.to_toml() and "[objective.tcvae]" in config.to_toml()
    path.write_text(config.to_toml())
    assert RunConfig.from_toml(path) == config


def test_an_old_beta_vae_capacity_config_toml_loads_with_its_values_in_capacity(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(old_toml(old_dict("beta-vae-capacity", gamma=500.0, c_max=10.0,
                                      capacity_steps=300, tc_beta=6.0)))
    config = RunConfig.from_toml(path)
    assert config.objective.sections == (("capacity", CapacityConfig(500.0, 10.0, 300)),)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kinds_old_config_keeps_the_values_of_the_sections_it_uses(kind):
    config = RunConfig.from_dict(old_dict(kind, **CHANGED))
    used = dict(KINDS[kind].sections)
    assert [name for name, _ in config.objective.sections] == list(used)
    moved = 0
    for old, new in MOVED_KEYS.items():
        _, section, key = new.split(".")
        if section in used:
            assert getattr(getattr(config.objective, section), key) == CHANGED[old], old
            moved += 1
    assert moved == sum(len(cls.__dataclass_fields__) for cls in used.values())


def test_a_flat_key_and_its_new_key_must_agree():
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"objective": {"tc_beta": 6.0, "tcvae": {"beta": 7.0}}})
    assert "`objective.tc_beta` = 6.0" in str(info.value)
    assert "`objective.tcvae.beta` = 7.0" in str(info.value)
    agreed = RunConfig.from_dict({"objective": {"tc_beta": 6, "tcvae": {"beta": 6.0,
                                                                         "alpha": 2.0}}})
    assert agreed.objective.tcvae == TCVAEConfig(2.0, 6.0, 1.0)
    # replace() merges into the config's own sections, so a flat key meets its new key there.
    with pytest.raises(ConfigError, match=r"`objective\.tc_beta` = 3\.0 .* "
                                          r"`objective\.tcvae\.beta` = 15\.0 disagree"):
        RunConfig().replace(objective={"tc_beta": 3.0})


def test_unknown_keys_are_still_refused():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) or section\(s\) "
                                          r"\['objective\.tc_betta'\]"):
        RunConfig.from_dict(old_dict("beta-tcvae", tc_betta=1.0))
    with pytest.raises(ConfigError, match=r"`objective\.tcvae\.beta` must be >= 0"):
        RunConfig.from_dict(old_dict("beta-tcvae", tc_beta=-1.0))


def test_migrate_flat_objective_leaves_what_it_cannot_place():
    assert migrate_flat_objective([1]) == [1]
    unknown_kind = {"model": {"kind": "nope"}, "objective": {"beta": 1.0}}
    assert migrate_flat_objective(unknown_kind) == unknown_kind
    assert migrate_flat_objective({"objective": {"beta": 1.0, "tc_beta": 2.0}}) == {
        "objective": {"tcvae": {"beta": 2.0}}}  # the default kind: beta-tcvae


def _write_old_run(run, raw: dict) -> None:
    (run / "config.toml").write_text(old_toml(raw))
    (run / STARTED_NAME).write_text(json.dumps(raw))


def test_resume_of_an_old_run_still_compares_the_objective_keys(tmp_path):
    raw = old_dict("beta-tcvae", tc_beta=6.0, beta=8.0)
    _write_old_run(tmp_path, raw)
    check_config_unchanged(tmp_path)
    edited = old_toml({**raw, "objective": {**raw["objective"], "tc_beta": 2.0}})
    (tmp_path / "config.toml").write_text(edited)
    with pytest.raises(ConfigError, match=r"objective\.tcvae\.beta: 6\.0 -> 2\.0"):
        check_config_unchanged(tmp_path)
    # Migrated to the new layout by hand: the same values resume, a changed one does not.
    config = RunConfig.from_dict(raw)
    (tmp_path / "config.toml").write_text(config.to_toml())
    check_config_unchanged(tmp_path)
    changed = config.replace(objective={"tcvae": {"beta": 2.0}})
    (tmp_path / "config.toml").write_text(changed.to_toml())
    with pytest.raises(ConfigError, match=r"objective\.tcvae\.beta: 6\.0 -> 2\.0"):
        check_config_unchanged(tmp_path)
    # A key the kind never read (beta of a beta-tcvae run) was ignored then and is now.
    (tmp_path / "config.toml").write_text(
        old_toml({**raw, "objective": {**raw["objective"], "beta": 9.0}}))
    check_config_unchanged(tmp_path)


def test_an_old_capacity_run_resumes_and_samples_from_vaekit(tmp_path, capsys):
    raw = old_dict("beta-vae-capacity", gamma=50.0, c_max=5.0, capacity_steps=10)
    run = tmp_path / "run"
    start_run(RunConfig.from_dict(raw), run)
    _write_old_run(run, raw)  # as that version wrote it
    raw["train"]["steps"] = 4  # extending a run is allowed
    (run / "config.toml").write_text(old_toml(raw))
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0, capsys.readouterr().err
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["split"] == "train"]
    assert steps[-1] == 4 and all(np.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert main(["sample", str(run), "--num", "2", "--checkpoint", "last"]) == 0
    assert (run / "sample_last.png").is_file()
