"""One process per run directory: an exclusive ``fcntl.flock`` on ``<run_dir>/.vaekit.lock``.

``vaekit train`` (a new run or ``--resume``) holds the lock from before it writes anything until
it returns; a second process that tries to train into or resume the same directory meanwhile is
refused with :class:`RunDirInUse` ("run directory <dir> is in use by process <PID>") before it
writes anything. The holder writes its PID into the lock file and removes the file when it is
done. A process killed while holding the lock leaves the file behind, but the kernel drops the
``flock`` with the process, so the directory is free again (the stale file is reused).
"""

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from vaekit.runner._config import ConfigError

LOCK_NAME = ".vaekit.lock"


class RunDirInUse(ConfigError):
    """Another live process holds the run directory's lock; the message names its PID."""


def _in_use(run_dir: Path, fd: int) -> RunDirInUse:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    return RunDirInUse(f"run directory {run_dir} is in use by process {pid or '(unknown)'}")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def check_not_in_use(run_dir: str | Path) -> None:
    """Raises :class:`RunDirInUse` if a live process holds ``run_dir``'s lock; writes nothing."""
    run_dir = Path(run_dir)
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return
    except OSError:  # e.g. not readable: let the caller's own checks report the directory
        return
    try:
        if not _try_lock(fd):
            raise _in_use(run_dir, fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[None]:
    """Holds ``run_dir``'s lock (the directory must exist) for the ``with`` block.

    Raises:
      RunDirInUse: another live process holds it.
    """
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            err = _in_use(run_dir, fd)
            os.close(fd)
            raise err
        try:  # the previous holder may have removed the file between our open and lock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before the unlock, so no one locks a file that is going away
        os.close(fd)  # releases the lock
