"""A training process for tests/test_faults.py that can hurt itself at a named moment.

    python tests/fault_worker.py RUN_DIR CONFIG_TOML [--resume] [--fault POINT:STEP]
                                 [--hold MARKER] [--rss RSS_JSON]

``--fault POINT:STEP`` SIGKILLs this process (``os.kill(os.getpid(), SIGKILL)``: no cleanup, no
flush) at ``POINT`` of step ``STEP``:

- ``chunk``: after the chunk ending at STEP was trained and its rows handed to the log, before
  they are flushed and before its checkpoint.
- ``torn``: as ``chunk``, after appending half a metrics row (no newline) to metrics.jsonl:
  what a kill in the middle of a write leaves on disk.
- ``tmpdir``: in the save of ``checkpoints/last/STEP``, just after orbax created its temporary
  directory, before the arrays are written.
- ``precommit``: in that save, after every file is written to the temporary directory and
  before orbax renames it to ``STEP`` (the commit).
- ``postcommit``: just after that rename, before orbax's bookkeeping and the removal of
  checkpoints beyond ``train.keep``.

``--no-finish`` skips the plots and evaluation after the last step (the tests compare the
metrics, and the finish is the slow part of a tiny run). ``--hold MARKER`` (the lock test)
writes MARKER after the first chunk, then waits until MARKER is deleted, holding the run
directory's lock all the while. ``--rss RSS_JSON`` records ``VmRSS`` (kB, /proc/self/status)
and the number of ``last`` checkpoints after every chunk.
"""

import argparse
import json
import os
import pathlib
import signal
import sys
import time


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _vm_rss_kb() -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _patch_orbax(point: str, step: int) -> None:
    import orbax.checkpoint as ocp

    temporary = ocp.path.atomicity.AtomicRenameTemporaryPath

    def ours(self) -> bool:
        final = pathlib.Path(str(self.get_final()))
        return final.parent.name == "last" and final.name == str(step)

    if point == "tmpdir":
        original_create = temporary.create

        async def create(self, *args, **kwargs):
            result = await original_create(self, *args, **kwargs)
            if ours(self):
                _die()
            return result

        temporary.create = create
    else:
        original_finalize = temporary.finalize

        async def finalize(self, *args, **kwargs):
            if point == "precommit" and ours(self):
                _die()
            result = await original_finalize(self, *args, **kwargs)
            if point == "postcommit" and ours(self):
                _die()
            return result

        temporary.finalize = finalize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=pathlib.Path)
    parser.add_argument("config", type=pathlib.Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--fault")
    parser.add_argument("--hold", type=pathlib.Path)
    parser.add_argument("--rss", type=pathlib.Path)
    parser.add_argument("--no-finish", action="store_true",
                        help="skip the plots and evaluation after the last step")
    args = parser.parse_args()
    point, fault_step = None, -1
    if args.fault:
        point, _, step_text = args.fault.partition(":")
        fault_step = int(step_text)
        if point in ("tmpdir", "precommit", "postcommit"):
            _patch_orbax(point, fault_step)
        elif point not in ("chunk", "torn"):
            raise SystemExit(f"unknown fault point {point!r}")

    import vaekit.runner._run
    from vaekit.runner import RunConfig, resume_run, start_run

    if args.no_finish:
        vaekit.runner._run._finish = lambda *args, **kwargs: None

    samples: list[dict] = []
    held = False

    def on_progress(step: int, row: dict) -> None:
        nonlocal held
        if args.rss is not None:
            last = args.run_dir / "checkpoints" / "last"
            count = sum(p.name.isdigit() for p in last.iterdir()) if last.is_dir() else 0
            samples.append({"step": step, "rss_kb": _vm_rss_kb(), "checkpoints": count})
        if args.hold is not None and not held:
            held = True
            args.hold.write_text(str(os.getpid()))
            while args.hold.exists():
                time.sleep(0.05)
        if step == fault_step and point == "torn":
            with (args.run_dir / "metrics.jsonl").open("a") as log:
                log.write(json.dumps(row)[: len(json.dumps(row)) // 2])
            _die()
        if step == fault_step and point == "chunk":
            _die()

    if args.resume:
        resume_run(args.run_dir, on_progress=on_progress)
    else:
        start_run(RunConfig.from_toml(args.config), args.run_dir, on_progress=on_progress)
    if args.rss is not None:
        args.rss.write_text(json.dumps(samples))
    if point is not None:
        print(f"fault {args.fault} never happened", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
