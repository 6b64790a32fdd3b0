"""Running, resuming and loading a training run directory.

A run directory holds ``config.toml`` (the resolved configuration), ``metrics.jsonl`` (one row
per chunk of training steps and one per validation), ``checkpoints/{last,best}`` (orbax),
``summary.json`` and the plots. Everything is a pure function of the config, so a run resumed
from its last checkpoint continues bit for bit.
"""

import contextlib
import dataclasses
import errno
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

from vaekit.runner._checkpoint import Checkpoints
from vaekit.runner._config import ConfigError, RunConfig, flat_config, migrate_flat_objective
from vaekit.runner._datasets import RunData, load_data
from vaekit.runner._evaluate import evaluate_trained
from vaekit.runner._kinds import (
    build_forward,
    build_model,
    build_objective,
    build_optimizer,
    kind_of,
)
from vaekit.runner._lock import LOCK_NAME, check_not_in_use, hold_run_dir
from vaekit.runner._posthoc import fit_code_prior, load_code_prior
from vaekit.runner._report import read_rows, write_plots, write_rows
from vaekit.runner._tracking import make_trackers
from vaekit.runner._zoo import scan_chunks
from vaekit.training import (
    TrainState,
    TrainStep,
    array_source,
    evaluate_dataset,
    iterator_source,
    make_train_step,
    run_chunks,
)

Progress = Callable[[int, dict[str, float]], None]


class NonFiniteError(RuntimeError):
    """Training produced a NaN/Inf metric; the message names the step and the metric."""


class StorageError(RuntimeError):
    """The run directory could not be written (e.g. the disk is full).

    The message is one line naming the directory and the last complete checkpoint, which is
    left intact: free space and resume from it.
    """


class RunInterrupted(Exception):
    """SIGINT/SIGTERM stopped training.

    Training stopped after the current chunk; a ``last`` checkpoint of ``step`` was saved.
    ``signum`` is the signal (the CLI exits with ``128 + signum``).
    """

    def __init__(self, run_dir: Path, step: int, signum: int):
        self.run_dir, self.step, self.signum = run_dir, step, signum
        super().__init__(f"interrupted at step {step}; checkpoint saved; resume with: "
                         f"vaekit train --resume {run_dir}")


STARTED_NAME = "config.started.json"
# Settings that may differ between config.toml and the config a run started with when it is
# resumed: the length of the run (raise train.steps to extend a finished run), and where data
# are cached and whether the network may be used, which do not change the data or results.
RESUMABLE_KEYS = frozenset({"train.steps", "train.track", "data.dir", "data.offline"})


@dataclasses.dataclass
class RunParts:
    """Everything rebuilt from a config: data, the compiled step and an initial state."""

    config: RunConfig
    data: RunData
    train: TrainStep
    state: TrainState
    fused: bool = True


def build_run(config: RunConfig) -> RunParts:
    """Loads the data and builds model, objective, optimiser and the initial state."""
    t = config.train
    data = load_data(config.data, t.seed)
    if t.batch_size > data.num_train:
        raise ConfigError(f"`train.batch_size` ({t.batch_size}) must be <= the number of "
                          f"training images ({data.num_train})")
    model = build_model(config.model, data.image_shape, t.seed, data.num_classes)
    objective = build_objective(config, data.num_train)
    train = make_train_step(objective, build_optimizer(config),
                            forward=build_forward(config.model.kind, objective),
                            skip_nonfinite=t.on_nonfinite == "skip", grad_norm=t.grad_norm,
                            preprocess=data.preprocess)
    return RunParts(config, data, train, train.init(model, jax.random.key(t.seed)),
                    fused=scan_chunks(config, model))


def default_run_dir(config: RunConfig) -> Path:
    """A new run directory ``runs/<kind>-<date>-<time>``."""
    return Path("runs") / f"{config.model.kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new_run_dir(out: Path, *, locked: bool = False) -> None:
    """Refuses a run directory that is in use, non-empty or unwritable.

    Refuses a run directory in use by another process, or a non-empty or unwritable one (before
    anything is written). ``locked``: this process holds the directory's lock.
    """
    if out.is_dir() and not locked:
        check_not_in_use(out)
    if out.exists() and (not out.is_dir() or any(p.name != LOCK_NAME for p in out.iterdir())):
        raise ConfigError(f"output directory {out} already exists and is not empty; continue "
                          f"it with `--resume {out}` or choose another `--out`")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"output directory {out} is not writable ({parent} is read-only)")


def _first_nonfinite(step: int, metrics: dict[str, np.ndarray]) -> tuple[int, str] | None:
    k = len(next(iter(metrics.values())))
    for i in range(k):
        for name, values in metrics.items():
            if not np.isfinite(values[i]):
                return step - k + 1 + i, name
    return None


def _chunk_row(step: int, metrics: dict[str, np.ndarray]) -> dict:
    row = {"split": "train", "step": step}
    for name, values in metrics.items():
        if name == "skipped":
            row[name] = float(np.sum(values))
        else:
            finite = values[np.isfinite(values)]
            row[name] = float(np.mean(finite)) if finite.size else float("nan")
    return row


def _chunks(parts: RunParts, checkpoints: Checkpoints, start: int) -> Iterator:
    """Trains chunk by chunk.

    ``(state, step, metrics, stream_state)`` per chunk; ``stream_state`` is ``None`` unless the data
    are streamed (then it is checkpointed with the state, for exact resume).
    """
    config, data, train = parts.config, parts.data, parts.train
    t = config.train
    if start >= t.steps:
        return
    labelled = kind_of(config.model.kind).labelled
    stream = None
    if data.stream:
        from vaekit.data.stream import stream_batches

        stream = stream_batches(data.arrays("train", labelled), batch_size=t.batch_size,
                                seed=t.seed,
                                state=checkpoints.restore_stream() if start else None)
        source = iterator_source(stream, prefetch=2)
    else:
        source = array_source(data.arrays("train", labelled), batch_size=t.batch_size,
                              seed=t.seed, device_data=t.device_data)
    try:
        yield from run_chunks(train, parts.state, source, num_steps=t.steps - start,
                              steps_per_call=t.steps_per_call,
                              periods=(t.eval_every, t.checkpoint_every), fused=parts.fused)
    finally:
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Defers SIGINT/SIGTERM while training.

    While training, SIGINT/SIGTERM only record themselves in the yielded list (the loop stops after
    the current chunk); the first one restores the previous handlers, so a second signal acts at
    once. Only in the main thread (signals cannot be caught elsewhere).
    """
    received: list[int] = []
    previous: dict[int, object] = {}

    def handler(signum, frame):
        received.append(signum)
        for sig, old in previous.items():
            signal.signal(sig, old)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old = signal.getsignal(sig)
            if old is not None:  # None: a handler installed outside Python; leave it alone
                previous[sig] = old
                signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _disk_full(err: BaseException) -> bool:
    """Whether ``err`` is "no space left".

    Whether ``err`` (or an error it was raised from) is "no space left" (orbax and tensorstore
    re-raise the OSError as their own types, keeping only its message).
    """
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, OSError) and err.errno in _DISK_FULL:
            return True
        if "No space left on device" in str(err) or "Disk quota exceeded" in str(err):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def committed_steps(out: Path, which: str = "last") -> list[int]:
    """Steps of the complete checkpoints under ``out/checkpoints/<which>``.

    Read from the directory names (orbax renames a step's temporary directory to ``<step>`` only
    once all of it is written, so a half-written save is never among them).
    """
    root = out / "checkpoints" / which
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


@contextlib.contextmanager
def _storage_errors(out: Path) -> Iterator[None]:
    """Turns "no space left" anywhere in a run into one-line :class:`StorageError`."""
    try:
        yield
    except BaseException as err:
        if not _disk_full(err):
            raise
        steps = committed_steps(out)
        last = (f"the last good checkpoint is step {steps[-1]} in {out / 'checkpoints' / 'last'}"
                if steps else "there is no complete checkpoint yet")
        raise StorageError(f"no space left on the device of run directory {out}; {last} "
                           "(free space, then resume with: vaekit train --resume "
                           f"{out})") from None


def execute(parts: RunParts, out: Path, *, on_progress: Progress | None = None,
            on_phase: Callable[[str], None] | None = None, stop_at: int | None = None) -> dict:
    """Trains ``parts.state`` up to ``train.steps``, logging, validating and checkpointing.

    ``on_phase(name)`` is told when the work after the last step starts (``"prior"``: a
    quantized run's code prior; ``"plots"``; ``"evaluate"``). ``stop_at`` stops after the
    chunk that reaches that step (an interrupted run, for tests).

    Raises:
      RunInterrupted: SIGINT or SIGTERM arrived; training stopped after the chunk it arrived
        in, which was saved as a ``last`` checkpoint.
      StorageError: the run directory's device is full; the last complete checkpoint stays.
      NonFiniteError: a NaN/Inf metric with ``train.on_nonfinite = "stop"``.
    """
    with _storage_errors(out):
        return _execute(parts, out, on_progress, on_phase, stop_at)


def _execute(parts: RunParts, out: Path, on_progress: Progress | None,
             on_phase: Callable[[str], None] | None, stop_at: int | None) -> dict:
    phase = on_phase or (lambda name: None)
    config, data, train = parts.config, parts.data, parts.train
    t = config.train
    start = int(parts.state.step)
    metrics_path = out / "metrics.jsonl"
    rows = read_rows(metrics_path, max_step=start)
    write_rows(metrics_path, rows)
    val_losses = [(r["loss"], r["step"]) for r in rows if r["split"] == "val"]
    best_loss, best_step = min(val_losses, default=(float("inf"), None))
    checkpoints = Checkpoints(out, t.keep)
    trackers = make_trackers(t.track, out, config.to_dict(), start)
    labelled = kind_of(config.model.kind).labelled
    val = data.arrays("val", labelled)
    t0 = time.perf_counter()
    state, step = parts.state, start

    def record(row: dict) -> None:
        log.write(json.dumps(row) + "\n")
        for tracker in trackers:
            tracker.log(row)

    try:
        with metrics_path.open("a") as log, contextlib.closing(
                _chunks(parts, checkpoints, start)) as chunks, _deferred_signals() as received:
            for state, step, metrics, stream_state in chunks:
                bad = _first_nonfinite(step, metrics) if t.on_nonfinite == "stop" else None
                if bad is not None:
                    last = checkpoints.latest_step()
                    raise NonFiniteError(
                        f"non-finite training metric {bad[1]!r} at step {bad[0]}; the last good "
                        f"checkpoint is step {last} in {out / 'checkpoints' / 'last'} (set "
                        "train.on_nonfinite = \"skip\" to skip such steps instead)"
                    )
                row = _chunk_row(step, metrics)
                record(row)
                if on_progress is not None:
                    on_progress(step, row)
                final = step >= t.steps
                if final or (t.eval_every and step % t.eval_every == 0):
                    result = evaluate_dataset(train, state, val, t.batch_size)
                    record({"split": "val", "step": step, **result})
                    if result["loss"] < best_loss:
                        best_loss, best_step = result["loss"], step
                        checkpoints.save(state, best=True, stream_state=stream_state)
                log.flush()
                if final or (t.checkpoint_every and step % t.checkpoint_every == 0):
                    checkpoints.save(state, stream_state=stream_state)
                if received:  # SIGINT/SIGTERM during this chunk: save it and stop
                    checkpoints.save(state, stream_state=stream_state)
                    raise RunInterrupted(out, step, received[0])
                if stop_at is not None and step >= stop_at:
                    break
    except BaseException:
        for tracker in trackers:  # what was logged up to the failure stays readable
            tracker.close()
        raise
    finally:
        checkpoints.close()
    seconds = time.perf_counter() - t0
    rows = read_rows(metrics_path)
    summary = {
        "config": config.to_dict(),
        "step": step,
        "complete": step >= t.steps,
        "final_val": next((r for r in reversed(rows) if r["split"] == "val"), None),
        "best_val_loss": best_loss if best_step is not None else None,
        "best_step": best_step,
        "session_seconds": seconds,
        "steps_per_second": (step - start) / seconds if step > start else None,
    }
    try:
        if summary["complete"]:
            _finish(parts, state, rows, out, summary, phase, trackers)
    finally:
        for tracker in trackers:
            tracker.close()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _finish(parts: RunParts, state, rows: list[dict], out: Path, summary: dict, phase,
            trackers: list) -> None:
    """What runs after the last step.

    After the last step: a quantized run's code prior, the plots, the evaluation, and the plots to
    the trackers; fills ``summary``.
    """
    config, data, t = parts.config, parts.data, parts.config.train
    model = state.model()
    code_prior = None
    if kind_of(config.model.kind).quantized and config.prior.steps:
        if (out / "prior.json").is_file():  # a resumed run keeps its finished prior
            code_prior = load_code_prior(out, parts, model)
            summary["prior"] = json.loads((out / "prior.json").read_text())
        else:
            phase("prior")
            code_prior, summary["prior"] = fit_code_prior(parts, model, out)
    phase("plots")
    write_plots(model, config.model.latent_dim, data, rows, out, t.seed, code_prior=code_prior)
    phase("evaluate")
    try:
        summary["evaluation"] = evaluate_trained(parts, model, out, quick=True)
    except ValueError as err:  # e.g. a diverged model's non-finite latents
        summary["evaluation"] = {"error": str(err)}
    summary["files"] = {p.stem: str(p) for p in sorted(out.glob("*.png"))}
    for tracker in trackers:
        tracker.images(summary["files"], summary["step"])


def start_run(config: RunConfig, out: Path | None = None, **kwargs) -> tuple[Path, dict]:
    """Checks ``out``, builds everything, then writes ``config.toml`` and trains."""
    out = Path(out) if out is not None else default_run_dir(config)
    check_new_run_dir(out)
    try:  # everything that can fail on bad input happens before anything is written
        parts = build_run(config)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    with hold_run_dir(out):
        check_new_run_dir(out, locked=True)  # another process may have started a run here meanwhile
        (out / STARTED_NAME).write_text(json.dumps(config.to_dict(), indent=1) + "\n")
        (out / "config.toml").write_text(config.to_toml())
        return out, execute(parts, out, **kwargs)


def load_run(run_dir: str | Path, which: str = "last") -> RunParts:
    """Rebuilds a run from ``config.toml`` and restores its ``last`` or ``best`` checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir} is not a vaekit run directory (no config.toml)")
    parts = build_run(RunConfig.from_toml(run_dir / "config.toml"))
    checkpoints = Checkpoints(run_dir)
    try:
        parts.state = checkpoints.restore(parts.state, which)
    finally:
        checkpoints.close()
    return parts


def check_config_unchanged(run_dir: Path) -> None:
    """Refuses to resume a run whose ``config.toml`` was edited since it started.

    The config a run started with is kept in ``config.started.json``; every key but
    :data:`RESUMABLE_KEYS` must be the same in ``config.toml``. A record of a version with
    the flat ``[objective]`` table is migrated as ``config.toml`` is
    (:func:`~vaekit.runner._config.migrate_flat_objective`), so its objective keys are
    compared too. A run directory written before that record existed is not checked.

    Raises:
      ConfigError: naming each changed key, ``section.key: old -> new``.
    """
    record = run_dir / STARTED_NAME
    if not record.is_file():
        return
    try:
        started = flat_config(migrate_flat_objective(json.loads(record.read_text())))
    except (OSError, ValueError, AttributeError) as err:
        raise ConfigError(f"cannot read {record} (the config this run started with): "
                          f"{err}") from None
    now = flat_config(RunConfig.from_toml(run_dir / "config.toml").to_dict())
    changed = [f"{key}: {json.dumps(started[key])} -> {json.dumps(value)}"
               for key, value in now.items()
               if key in started and key not in RESUMABLE_KEYS and started[key] != value]
    if changed:
        raise ConfigError(
            f"{run_dir / 'config.toml'} was edited after the run started, so it cannot be "
            f"resumed exactly: {'; '.join(changed)} (only {', '.join(sorted(RESUMABLE_KEYS))} "
            "may change on resume; start a new run with --config to train with the new "
            "settings)")


def resume_run(run_dir: str | Path, **kwargs) -> tuple[Path, dict]:
    """Continues a stopped run from its last checkpoint, exactly as if it had not stopped.

    Holds the run directory's lock throughout (``vaekit/runner/_lock.py``) and refuses a
    ``config.toml`` edited since the run started (:func:`check_config_unchanged`).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir} is not a vaekit run directory (no config.toml)")
    check_not_in_use(run_dir)
    check_config_unchanged(run_dir)
    with hold_run_dir(run_dir):
        return run_dir, execute(load_run(run_dir, "last"), run_dir, **kwargs)
