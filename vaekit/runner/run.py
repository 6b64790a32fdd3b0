"""Running, resuming and loading a training run directory.

A run directory holds ``config.toml`` (the resolved configuration), ``metrics.jsonl`` (one row
per chunk of training steps and one per validation), ``checkpoints/{last,best}`` (orbax),
``summary.json`` and the plots. Everything is a pure function of the config, so a run resumed
from its last checkpoint continues bit for bit.
"""

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

from vaekit.runner.checkpoint import Checkpoints
from vaekit.runner.config import QUANTIZED_KINDS, ConfigError, RunConfig
from vaekit.runner.datasets import RunData, load_data
from vaekit.runner.evaluate import evaluate_trained
from vaekit.runner.posthoc import fit_code_prior, load_code_prior
from vaekit.runner.report import read_rows, write_plots, write_rows
from vaekit.runner.tracking import make_trackers
from vaekit.runner.zoo import (
    build_forward,
    build_model,
    build_objective,
    build_optimizer,
    scan_chunks,
)
from vaekit.training import (
    TrainState,
    TrainStep,
    evaluate_dataset,
    make_train_step,
    train_chunks,
)

Progress = Callable[[int, dict[str, float]], None]


class NonFiniteError(RuntimeError):
    """Training produced a NaN/Inf metric; the message names the step and the metric."""


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
    return Path("runs") / f"{config.model.kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new_run_dir(out: Path) -> None:
    """Refuses a non-empty or unwritable run directory (before anything is written)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
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
    """``(state, step, metrics, stream_state)`` per chunk; ``stream_state`` is ``None`` unless
    the data are streamed (then it is checkpointed with the state, for exact resume)."""
    config, data, train = parts.config, parts.data, parts.train
    t = config.train
    if start >= t.steps:
        return
    labelled = config.model.kind == "cvae"
    common = dict(num_steps=t.steps - start, steps_per_call=t.steps_per_call,
                  periods=(t.eval_every, t.checkpoint_every))
    if not data.stream:
        for state, step, metrics in train_chunks(
                train, parts.state, data.arrays("train", labelled), batch_size=t.batch_size,
                seed=t.seed, device_data=t.device_data, fused=parts.fused, **common):
            yield state, step, metrics, None
        return
    from vaekit.data.stream import stream_batches, stream_chunks

    saved = checkpoints.restore_stream() if start else None
    stream = stream_batches(data.arrays("train", labelled), batch_size=t.batch_size,
                            seed=t.seed, state=saved)
    try:
        yield from stream_chunks(train, parts.state, stream, prefetch=2, **common)
    finally:
        stream.close()


def execute(parts: RunParts, out: Path, *, on_progress: Progress | None = None,
            on_phase: Callable[[str], None] | None = None, stop_at: int | None = None) -> dict:
    """Trains ``parts.state`` up to ``train.steps``, logging, validating and checkpointing.

    ``on_phase(name)`` is told when the work after the last step starts (``"prior"``: a
    quantized run's code prior; ``"plots"``; ``"evaluate"``). ``stop_at`` stops after the
    chunk that reaches that step (an interrupted run, for tests).
    """
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
    labelled = config.model.kind == "cvae"
    val = data.arrays("val", labelled)
    t0 = time.perf_counter()
    state, step = parts.state, start

    def record(row: dict) -> None:
        log.write(json.dumps(row) + "\n")
        for tracker in trackers:
            tracker.log(row)

    try:
        with metrics_path.open("a") as log, contextlib.closing(
                _chunks(parts, checkpoints, start)) as chunks:
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
    """After the last step: a quantized run's code prior, the plots, the evaluation, and the
    plots to the trackers; fills ``summary``."""
    config, data, t = parts.config, parts.data, parts.config.train
    model = state.model()
    code_prior = None
    if config.model.kind in QUANTIZED_KINDS and config.prior.steps:
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


def resume_run(run_dir: str | Path, **kwargs) -> tuple[Path, dict]:
    """Continues a stopped run from its last checkpoint, exactly as if it had not stopped."""
    run_dir = Path(run_dir)
    return run_dir, execute(load_run(run_dir, "last"), run_dir, **kwargs)
