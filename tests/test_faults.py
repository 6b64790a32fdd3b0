"""Faults a run survives: a second process, an edited config, SIGINT/SIGTERM, SIGKILL at five
moments, a full disk, and a long run's checkpoint count and memory.

Real processes: the runs that get hurt are children (tests/fault_worker.py, or the ``vaekit``
CLI), started together so their start-up overlaps; the resumed runs and the uninterrupted
reference run in this process. Every resumed run must end with the metrics and parameters of
the uninterrupted run of the same seed (float32 on one CPU: equal to ~1e-6, in practice bit for
bit). The plots and evaluation after the last step are skipped (``_finish``): they are not what
is tested here and are most of a tiny run's time.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import vaekit.runner._run as run_module
from vaekit.cli import main
from vaekit.runner import (
    ConfigError,
    RunConfig,
    RunDirInUse,
    StorageError,
    load_run,
    resume_run,
    start_run,
)
from vaekit.runner._lock import LOCK_NAME, check_not_in_use
from vaekit.runner._run import committed_steps

# orbax's asynchronous work abandoned by a failed save ends as "exception ignored" noise.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
ROOT = Path(__file__).resolve().parents[1]
WORKER = str(ROOT / "tests" / "fault_worker.py")
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
TINY = {
    "model": {"latent_dim": 2, "hidden": [8]},
    "data": {"num_train": 64, "num_val": 16},
    "train": {"steps": 40, "batch_size": 8, "eval_every": 20, "checkpoint_every": 10,
              "steps_per_call": 5, "keep": 2},
}
STEPS = TINY["train"]["steps"]


def _config(**train) -> RunConfig:
    return RunConfig.from_dict({**TINY, "train": {**TINY["train"], **train}})


def _no_finish(*args, **kwargs) -> None:
    """Stands in for the plots and evaluation after the last step."""


@pytest.fixture
def fast_finish(monkeypatch):
    monkeypatch.setattr(run_module, "_finish", _no_finish)


def _rows(run: Path) -> list[dict]:
    """Every line of metrics.jsonl, which must all be whole JSON rows."""
    text = (run / "metrics.jsonl").read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _assert_same_run(run: Path, reference: dict) -> None:
    rows = _rows(run)
    assert [(r["split"], r["step"]) for r in rows] == [
        (r["split"], r["step"]) for r in reference["rows"]]
    for got, want in zip(rows, reference["rows"], strict=True):
        assert set(got) == set(want)
        for key in want:
            if key not in ("split", "step"):
                np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    state = load_run(run).state
    assert int(state.step) == STEPS
    for a, b in zip(jax.tree.leaves(state.params), reference["params"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run: its metrics rows and final parameters."""
    run = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "_finish", _no_finish)
        start_run(_config(), run)
    return {"rows": _rows(run), "params": jax.tree.leaves(load_run(run).state.params)}


def _worker(run: Path, config: Path, *extra: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the child
        return subprocess.Popen([sys.executable, WORKER, str(run), str(config), "--no-finish",
                                 *extra], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=ENV)


def _cli(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as err:
        return subprocess.Popen([sys.executable, "-m", "vaekit.cli", *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err, env=ENV)


def _wait_for(condition, children, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for child in children:
            if child.poll() is not None:
                pytest.fail(f"a child exited ({child.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- 1. one process per run directory ------------------------------------------------------

def _snapshot(run: Path) -> dict:
    return {str(p.relative_to(run)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*"))}


def test_a_second_process_is_refused_while_the_first_holds_the_run_dir(tmp_path, capsys,
                                                                       fast_finish):
    config, run, marker = tmp_path / "c.toml", tmp_path / "run", tmp_path / "holding"
    config.write_text(_config().to_toml())
    holder = _worker(run, config, "--hold", str(marker), log=tmp_path / "holder.log")
    try:
        _wait_for(marker.exists, [holder], "the first process held the run directory")
        assert (run / LOCK_NAME).read_text().strip() == str(holder.pid)
        before = _snapshot(run)
        expected = f"run directory {run} is in use by process {holder.pid}"
        # A real second process: `vaekit train --resume` of the same directory.
        second = _cli(["train", "--resume", str(run), "--no-progress"], tmp_path / "second.log")
        assert second.wait(timeout=120) == 2
        err = (tmp_path / "second.log").read_text()
        assert expected in err and err.count("\n") == 1, err
        # A new run into it, and the library call, from this process.
        assert main(["train", "--config", str(config), "--out", str(run), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
        with pytest.raises(RunDirInUse, match=re.escape(expected)):
            resume_run(run)
        with pytest.raises(RunDirInUse, match=re.escape(expected)):
            start_run(_config(), run)
        assert _snapshot(run) == before  # nothing written by the refused attempts
    finally:
        marker.unlink(missing_ok=True)  # lets the holder finish
        rc = holder.wait(timeout=120)
    assert rc == 0, (tmp_path / "holder.log").read_text()
    assert not (run / LOCK_NAME).exists()  # released
    check_not_in_use(run)  # the directory is free again
    (run / LOCK_NAME).write_text("12345\n")  # a stale file left by a killed holder...
    check_not_in_use(run)  # ...does not lock it: the flock died with its process


# --- 2. an edited config.toml --------------------------------------------------------------

def test_resuming_an_edited_config_is_refused_naming_the_keys(tmp_path, capsys, fast_finish):
    run = tmp_path / "run"
    start_run(_config(), run, stop_at=10)
    original = (run / "config.toml").read_text()
    edited = original.replace("lr = 0.001", "lr = 0.002").replace("hidden = [8]",
                                                                    "hidden = [16]")
    assert edited.count("\n") == original.count("\n") and edited != original
    (run / "config.toml").write_text(edited)
    before = _snapshot(run)
    with pytest.raises(ConfigError) as info:
        resume_run(run)
    message = str(info.value)
    assert "train.lr: 0.001 -> 0.002" in message and "model.hidden: [8] -> [16]" in message
    assert "train.batch_size" not in message
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.lr: 0.001 -> 0.002" in err, err
    assert _snapshot(run) == before  # refused before anything was written

    # Raising train.steps (extending the run) stays allowed.
    (run / "config.toml").write_text(original.replace(f"steps = {STEPS}\n", "steps = 50\n"))
    _, summary = resume_run(run)
    assert summary["complete"] and summary["step"] == 50
    assert [r["step"] for r in _rows(run) if r["split"] == "train"] == list(range(5, 51, 5))


# --- 3 and 4. signals and SIGKILL ----------------------------------------------------------

# name -> fault_worker --fault, and the newest complete checkpoint the kill must leave.
KILLS = {
    "chunk": ("chunk:25", 20),  # trained, rows not flushed, no checkpoint yet
    "torn_metrics_line": ("torn:35", 30),  # half a row on disk
    "checkpoint_tmpdir": ("tmpdir:30", 20),  # the save of step 30 has only begun
    "checkpoint_mid_commit": ("precommit:20", 10),  # step 20 written, not yet renamed
    "checkpoint_after_commit": ("postcommit:30", 30),  # renamed, orbax's bookkeeping not done
    "random": (None, None),  # SIGKILL from outside at a random moment after a checkpoint
}
SIGNALS = {"sigint": (signal.SIGINT, 130), "sigterm": (signal.SIGTERM, 143)}


@pytest.fixture(scope="module")
def hurt(tmp_path_factory) -> dict:
    """Runs every killed and signalled child at once; returns name -> (run, returncode, log)."""
    root = tmp_path_factory.mktemp("hurt")
    config = root / "c.toml"
    config.write_text(_config().to_toml())
    children, logs, runs = {}, {}, {}
    for name, (fault, _) in KILLS.items():
        runs[name], logs[name] = root / name, root / f"{name}.log"
        extra = ["--fault", fault] if fault else []
        children[name] = _worker(runs[name], config, *extra, log=logs[name])
    for name in SIGNALS:
        runs[name], logs[name] = root / name, root / f"{name}.log"
        children[name] = _cli(["train", "--config", str(config), "--out", str(runs[name]),
                               "--no-progress"], logs[name])
    seed = random.randrange(2**32)
    delay = random.Random(seed).uniform(0.0, 0.3)
    kill_at = None
    signalled: set[str] = set()
    deadline = time.monotonic() + 200.0
    try:
        while any(child.poll() is None for child in children.values()):
            if time.monotonic() > deadline:
                pytest.fail("the hurt children did not all end in time")
            random_child = children["random"]
            if kill_at is None and committed_steps(runs["random"]):
                kill_at = time.monotonic() + delay
            if kill_at is not None and time.monotonic() >= kill_at and (
                    random_child.poll() is None):
                random_child.send_signal(signal.SIGKILL)
            for name, (signum, _) in SIGNALS.items():
                metrics = runs[name] / "metrics.jsonl"
                if name not in signalled and metrics.exists() and metrics.read_text().strip():
                    children[name].send_signal(signum)
                    signalled.add(name)
            time.sleep(0.02)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
    print(f"random SIGKILL {delay:.3f} s after the first checkpoint (seed {seed})")
    return {name: (runs[name], children[name].returncode, logs[name].read_text())
            for name in children}


@pytest.mark.parametrize("name", sorted(KILLS))
def test_sigkill_then_resume_gives_the_uninterrupted_run(name, hurt, reference, fast_finish):
    run, returncode, log = hurt[name]
    assert returncode == -signal.SIGKILL, log
    steps = committed_steps(run)
    last_dir = run / "checkpoints" / "last"
    if name == "random":
        assert steps and steps[-1] <= STEPS
    else:
        assert steps[-1] == KILLS[name][1], steps
    in_flight = [p.name for p in last_dir.iterdir() if not p.name.isdigit()]
    if name in ("checkpoint_tmpdir", "checkpoint_mid_commit"):  # a half-written save
        assert in_flight and all(n.startswith(KILLS[name][0].split(":")[1] + ".")
                                 for n in in_flight), in_flight
        assert int(load_run(run).state.step) == steps[-1]  # the complete one is used
    if name == "torn_metrics_line":
        text = (run / "metrics.jsonl").read_text()
        assert not text.endswith("\n")
        with pytest.raises(json.JSONDecodeError):
            json.loads(text.splitlines()[-1])
    if name != "random":  # (a random kill may come after the lock was released)
        assert (run / LOCK_NAME).exists()  # a stale lock file; its flock died with the process

    _, summary = resume_run(run)
    assert summary["complete"]
    _assert_same_run(run, reference)  # a torn line is dropped, no row twice
    assert len(committed_steps(run)) == TINY["train"]["keep"]


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_signal_saves_a_checkpoint_and_exits_128_plus_signum(name, hurt, reference,
                                                            fast_finish):
    run, returncode, err = hurt[name]
    assert returncode == SIGNALS[name][1], err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    found = re.fullmatch(r"vaekit: interrupted at step (\d+); checkpoint saved; resume with: "
                         r"vaekit train --resume (.+)", lines[0])
    assert found and found.group(2) == str(run), lines[0]
    step = int(found.group(1))
    assert 0 < step < STEPS and committed_steps(run)[-1] == step
    assert not (run / LOCK_NAME).exists()  # released on the way out
    assert not (run / "summary.json").exists()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    _assert_same_run(run, reference)


# --- 5. a full disk ------------------------------------------------------------------------

def test_full_disk_is_one_clear_error_and_the_last_checkpoint_restores(tmp_path, capfd,
                                                                      fast_finish):
    in_ci = os.environ.get("CI", "").lower() == "true"
    if os.geteuid() != 0:
        if in_ci:
            pytest.fail("CI runs as root, so the tmpfs test must run there")
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if in_ci:
            pytest.fail(f"cannot mount a tmpfs in CI: {mounted.stderr.strip()}")
        pytest.skip(f"mount -t tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        run = disk / "run"
        # Each checkpoint is ~0.6 MB and none is dropped: the 3 MB fill after a few.
        config = tmp_path / "c.toml"
        config.write_text(_config(steps=400, checkpoint_every=5, eval_every=0,
                                  keep=1000).to_toml())
        assert main(["train", "--config", str(config), "--out", str(run), "--no-progress"]) == 1
        err = capfd.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("vaekit")]
        assert len(lines) == 1, err
        found = re.fullmatch(
            r"vaekit: error: no space left on the device of run directory (.+); the last good "
            r"checkpoint is step (\d+) in (.+) \(free space, then resume with: vaekit train "
            r"--resume (.+)\)", lines[0])
        assert found, lines[0]
        assert found.group(1) == found.group(4) == str(run)
        assert found.group(3) == str(run / "checkpoints" / "last")
        assert "ERROR:absl" not in err and "orbax" not in err, err  # no orbax traceback
        step = int(found.group(2))
        assert step == committed_steps(run)[-1] and 0 < step < 400
        restored = load_run(run)
        assert int(restored.state.step) == step
        assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored.state.params))
        assert not (run / LOCK_NAME).exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_library_raises_storage_error_on_a_full_disk(tmp_path, monkeypatch):
    """Without root: the runner's own write failing with ENOSPC (a metrics row here)."""
    import errno

    real_open = Path.open

    class FullFile:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def flush(self):
            self.f.flush()
            if committed_steps(tmp_path / "run"):  # the disk fills after a checkpoint
                raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(self, mode="r", *args, **kwargs):
        f = real_open(self, mode, *args, **kwargs)
        return FullFile(f) if self.name == "metrics.jsonl" and "a" in mode else f

    monkeypatch.setattr(Path, "open", fake_open)
    monkeypatch.setattr(run_module, "_finish", _no_finish)
    run = tmp_path / "run"
    with pytest.raises(StorageError) as info:
        start_run(_config(), run)
    message = str(info.value)
    step = committed_steps(run)[-1]
    assert f"the last good checkpoint is step {step} in {run / 'checkpoints' / 'last'}" in message
    assert f"run directory {run}" in message


# --- 6. a long run -------------------------------------------------------------------------

SOAK_STEPS = 3000
RSS_GROWTH_BOUND_MB = 64.0


def test_soak_keeps_k_checkpoints_and_bounded_memory(tmp_path):
    config, run, samples = tmp_path / "c.toml", tmp_path / "run", tmp_path / "rss.json"
    config.write_text(_config(steps=SOAK_STEPS, steps_per_call=50, checkpoint_every=100,
                              eval_every=500, keep=2).to_toml())
    child = _worker(run, config, "--rss", str(samples), log=tmp_path / "soak.log")
    assert child.wait(timeout=400) == 0, (tmp_path / "soak.log").read_text()
    rss = {s["step"]: s for s in json.loads(samples.read_text())}
    assert sorted(rss) == list(range(50, SOAK_STEPS + 1, 50))
    # Seen after each chunk, before its own save: never more than keep, from the 2nd on keep.
    assert all(s["checkpoints"] == 2 for step, s in rss.items() if step > 200), rss
    assert committed_steps(run) == [SOAK_STEPS - 100, SOAK_STEPS]
    assert [p.name for p in (run / "checkpoints" / "last").iterdir()
            if not p.name.isdigit()] == []
    growth_mb = (rss[SOAK_STEPS]["rss_kb"] - rss[1000]["rss_kb"]) / 1024
    print(f"VmRSS step 1000: {rss[1000]['rss_kb'] / 1024:.1f} MB, step {SOAK_STEPS}: "
          f"{rss[SOAK_STEPS]['rss_kb'] / 1024:.1f} MB (growth {growth_mb:.1f} MB)")
    assert growth_mb < RSS_GROWTH_BOUND_MB
