"""Orbax checkpoints of a :class:`vaekit.TrainState`: the last ``k`` and the best by validation."""

import contextlib
import json
import logging
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from vaekit.training import TrainState


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted or truncated, or does not fit the run's model.

    The message is one line and names the checkpoint directory.
    """


_DETAIL_CHARS = 200
_ITEMS = ("default", "stream")


def _one_line(err: BaseException) -> str:
    """The first line of an error (at most ``_DETAIL_CHARS`` characters), or its type name."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return first if len(first) <= _DETAIL_CHARS else first[: _DETAIL_CHARS - 1] + "…"


@contextlib.contextmanager
def _quiet_orbax():
    """Silences orbax's own error logs (absl) while a failure becomes a CheckpointError."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _tree(state: TrainState) -> dict:
    # Typed PRNG keys are stored as their raw key data.
    return {"params": state.params, "rest": state.rest, "opt_state": state.opt_state,
            "step": state.step, "key": jax.random.key_data(state.key)}


class Checkpoints:
    """Two orbax managers under ``run_dir/checkpoints``: ``last`` (keeps ``keep``) and ``best``.

    ``subdir`` moves them (``checkpoints/prior`` holds a quantized run's code prior).

    Saves are atomic (orbax writes to a temporary directory and renames it), and a save
    finishes before :meth:`save` returns, so a crash never leaves a half-written step behind.
    """

    def __init__(self, run_dir: str | Path, keep: int = 2, subdir: str = "checkpoints"):
        root = Path(run_dir).resolve() / subdir
        with _quiet_orbax():  # a damaged step's metadata is reported by `restore` instead
            # Two named items per step: the train state ("default", the single-item layout of
            # earlier checkpoints) and, for streamed data, the input stream's state ("stream"),
            # written in the same atomic step.
            self.last = ocp.CheckpointManager(
                root / "last", item_names=_ITEMS,
                options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            )
            self.best = ocp.CheckpointManager(
                root / "best", item_names=_ITEMS,
                options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True),
            )

    def save(self, state: TrainState, *, best: bool = False,
             stream_state: bytes | None = None) -> None:
        """Saves ``state`` (and the JSON ``stream_state`` of a streamed input, if given)."""
        step = int(state.step)
        manager = self.best if best else self.last
        if step not in manager.all_steps():
            items = {"default": ocp.args.StandardSave(_tree(state))}
            if stream_state is not None:
                items["stream"] = ocp.args.JsonSave(json.loads(stream_state))
            # A failed write (e.g. a full disk) raises here, and is logged by orbax's
            # background threads too: keep the log quiet, the caller reports the error.
            with _quiet_orbax():
                manager.save(step, args=ocp.args.Composite(**items))
                manager.wait_until_finished()

    def latest_step(self, which: str = "last") -> int | None:
        """The latest step saved under ``which`` (``last`` or ``best``), or ``None``."""
        return getattr(self, which).latest_step()

    def restore(self, template: TrainState, which: str = "last") -> TrainState:
        """Restores into the structure of ``template`` (a freshly initialised state).

        Raises:
          CheckpointError: one line naming the checkpoint directory when there is no
            checkpoint, or when it cannot be read back: files truncated, overwritten or
            missing, or saved from a different model. Whatever orbax/tensorstore raise while
            deserialising is turned into this error; nothing half-restored is returned.
        """
        manager = getattr(self, which)
        with _quiet_orbax():
            step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"no `{which}` checkpoint in {manager.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _tree(template))
        try:
            with _quiet_orbax():
                tree = manager.restore(step, args=ocp.args.Composite(
                    default=ocp.args.StandardRestore(abstract)))["default"]
        except Exception as err:  # any deserialisation failure (see Raises)
            raise CheckpointError(
                f"checkpoint {manager.directory}/{step} cannot be restored: it is corrupted, "
                f"truncated or does not match this run's model ({_one_line(err)})"
            ) from None
        return template.replace(
            params=tree["params"], rest=tree["rest"], opt_state=tree["opt_state"],
            step=tree["step"], key=jax.random.wrap_key_data(tree["key"]),
        )

    def restore_stream(self, which: str = "last") -> bytes:
        """The input stream's state saved with the latest ``which`` checkpoint (JSON bytes).

        Raises:
          CheckpointError: there is no checkpoint, or it holds no stream state (a run
            that did not stream cannot be resumed as a streamed one).
        """
        manager = getattr(self, which)
        with _quiet_orbax():
            step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"no `{which}` checkpoint in {manager.directory}")
        try:
            with _quiet_orbax():
                got = manager.restore(step, args=ocp.args.Composite(stream=ocp.args.JsonRestore()))
        except Exception as err:
            raise CheckpointError(
                f"checkpoint {manager.directory}/{step} has no readable input-stream state, so "
                f"the streamed run cannot resume exactly ({_one_line(err)})"
            ) from None
        return json.dumps(got["stream"]).encode()

    def close(self) -> None:
        """Closes both checkpoint managers."""
        self.last.close()
        self.best.close()
