"""Orbax checkpoints of a :class:`vaekit.TrainState`: the last ``k`` and the best by validation."""

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from vaekit.training import TrainState


class CheckpointError(ValueError):
    """A checkpoint that is missing or does not fit the model of the run."""


def _tree(state: TrainState) -> dict:
    # Typed PRNG keys are stored as their raw key data.
    return {"params": state.params, "rest": state.rest, "opt_state": state.opt_state,
            "step": state.step, "key": jax.random.key_data(state.key)}


class Checkpoints:
    """Two orbax managers under ``run_dir/checkpoints``: ``last`` (keeps ``keep``) and ``best``.

    Saves are atomic (orbax writes to a temporary directory and renames it), and a save
    finishes before :meth:`save` returns, so a crash never leaves a half-written step behind.
    """

    def __init__(self, run_dir: str | Path, keep: int = 2):
        root = Path(run_dir).resolve() / "checkpoints"
        self.last = ocp.CheckpointManager(
            root / "last", options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )
        self.best = ocp.CheckpointManager(
            root / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True)
        )

    def save(self, state: TrainState, *, best: bool = False) -> None:
        step = int(state.step)
        manager = self.best if best else self.last
        if step not in manager.all_steps():
            manager.save(step, args=ocp.args.StandardSave(_tree(state)))
            manager.wait_until_finished()

    def latest_step(self, which: str = "last") -> int | None:
        return getattr(self, which).latest_step()

    def restore(self, template: TrainState, which: str = "last") -> TrainState:
        """Restores into the structure of ``template`` (a freshly initialised state)."""
        manager = getattr(self, which)
        step = manager.latest_step()
        if step is None:
            raise CheckpointError(f"no `{which}` checkpoint in {manager.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _tree(template))
        try:
            tree = manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except (ValueError, KeyError, TypeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"checkpoint {manager.directory}/{step} does not match this run's model: {first}"
            ) from None
        return template.replace(
            params=tree["params"], rest=tree["rest"], opt_state=tree["opt_state"],
            step=tree["step"], key=jax.random.wrap_key_data(tree["key"]),
        )

    def close(self) -> None:
        self.last.close()
        self.best.close()
