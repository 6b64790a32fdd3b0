"""``vaekit train``: a β-VAE on procedural dSprites, with a progress bar, metrics and plots."""

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vaekit._checks import check_int, check_number
from vaekit.data import IMAGE_SHAPE, make_dsprites
from vaekit.models import VAE, MLPDecoder, MLPEncoder
from vaekit.objectives import beta_vae
from vaekit.plots import (
    image_grid_figure,
    latent_traversal_figure,
    loss_curves_figure,
    reconstruction_figure,
    traverse_latents,
)
from vaekit.schedules import SCHEDULE_NAMES, named_schedule
from vaekit.training import TrainState, evaluate_dataset, fit, make_train_step

CURVE_KEYS = ("loss", "reconstruction_loss", "kl_loss", "beta", "active_dims", "grad_norm")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of ``vaekit train``; every field has a command-line flag of the same name."""

    steps: int = 6000
    batch_size: int = 64
    lr: float | int = 5e-4
    beta: float | int = 4.0
    beta_schedule: str = "linear"
    beta_start: float | int = 0.0
    beta_steps: int = 1000
    latent_dim: int = 10
    hidden: tuple[int, ...] = (512, 256)
    num_train: int = 20000
    num_val: int = 1000
    eval_every: int = 1000
    seed: int = 0
    out: str = "runs/train"
    progress: bool = True

    def __post_init__(self):
        check_int(self.steps, "steps")
        check_int(self.batch_size, "batch_size")
        check_number(self.lr, "lr", minimum=0.0, strict=True)
        check_number(self.beta, "beta", minimum=0.0)
        check_number(self.beta_start, "beta_start", minimum=0.0)
        check_int(self.beta_steps, "beta_steps")
        if self.beta_schedule not in SCHEDULE_NAMES:
            raise ValueError(
                f"`beta_schedule` must be one of {SCHEDULE_NAMES}, got {self.beta_schedule!r}."
            )
        check_int(self.latent_dim, "latent_dim")
        if not self.hidden:
            raise ValueError("`hidden` must list at least one layer size.")
        for h in self.hidden:
            check_int(h, "hidden")
        check_int(self.num_train, "num_train")
        check_int(self.num_val, "num_val")
        check_int(self.eval_every, "eval_every", minimum=0)
        check_int(self.seed, "seed", minimum=0)
        if self.batch_size > self.num_train:
            raise ValueError(
                f"`batch_size` ({self.batch_size}) must be <= `num_train` ({self.num_train})."
            )


def build_model(config: TrainConfig, key_seed: int) -> VAE:
    """The MLP β-VAE of Higgins et al. (2017) sized by ``config``."""
    rngs = nnx.Rngs(key_seed)
    hidden = tuple(config.hidden)
    encoder = MLPEncoder(IMAGE_SHAPE, config.latent_dim, hidden, rngs=rngs)
    decoder = MLPDecoder(config.latent_dim, IMAGE_SHAPE, hidden[::-1], rngs=rngs)
    return VAE(encoder, decoder)


@nnx.jit
def _decode_probs(model: VAE, z: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.decode(z))


@nnx.jit
def _posterior_mean(model: VAE, x: jax.Array) -> jax.Array:
    return model.encode(x)[0]


def write_plots(
    state: TrainState, val_images: np.ndarray, history: dict, config: TrainConfig, out: Path
) -> dict[str, str]:
    """Writes reconstructions, latent traversal, prior samples and loss curves as PNGs."""
    model = state.model()
    x = jnp.asarray(val_images[:16])
    mean = _posterior_mean(model, x)
    recons = np.asarray(_decode_probs(model, mean))
    files = {"reconstructions": str(out / "reconstructions.png")}
    reconstruction_figure(val_images[:8], recons[:8], files["reconstructions"],
                          title="validation inputs (top) and reconstructions (bottom)")

    val = history["val"]
    kl = np.array([val[f"kl_dim_{i}"][-1] for i in range(config.latent_dim)])
    dims = [int(d) for d in np.argsort(-kl)]
    values = jnp.linspace(-2.5, 2.5, 9)
    codes = traverse_latents(mean[0], dims, values)
    images = np.asarray(_decode_probs(model, codes.reshape(-1, config.latent_dim)))
    images = images.reshape(len(dims), len(values), *images.shape[1:])
    files["latent_traversal"] = str(out / "latent_traversal.png")
    latent_traversal_figure(
        images, files["latent_traversal"], values=np.asarray(values),
        dim_labels=[f"z{d} (KL {kl[d]:.2f})" for d in dims],
        title="latent traversal of a validation image (dims sorted by KL)",
    )

    z = jax.random.normal(jax.random.key(config.seed + 1), (16, config.latent_dim))
    files["prior_samples"] = str(out / "prior_samples.png")
    image_grid_figure(np.asarray(_decode_probs(model, z)), files["prior_samples"],
                      title="samples from the prior")

    files["loss_curves"] = str(out / "loss_curves.png")
    loss_curves_figure(
        history["train"], history["train_steps"], files["loss_curves"],
        keys=[k for k in CURVE_KEYS if k in history["train"]],
        val_history=history["val"], val_steps=history["val_steps"], title="training curves",
    )
    return files


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


def _stats(m: dict[str, float]) -> str:
    return (f"loss {m['loss']:.1f}  recon {m['reconstruction_loss']:.1f}  "
            f"KL {m['kl_loss']:.2f}  β {m['beta']:.2f}")


def run_train(config: TrainConfig, console: Console | None = None) -> dict:
    """Runs the job described by ``config`` and returns its summary (also ``summary.json``).

    Writes into ``config.out``: ``metrics.jsonl`` (one JSON object per logged chunk, train and
    validation), ``summary.json``, ``reconstructions.png``, ``latent_traversal.png``,
    ``prior_samples.png`` and ``loss_curves.png``.
    """
    console = console or Console()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = make_dsprites(config.num_train, config.num_val, seed=config.seed)
    model = build_model(config, config.seed)
    beta = named_schedule(config.beta_schedule, config.beta_start, config.beta,
                          config.beta_steps)
    train = make_train_step(beta_vae(beta=beta), optax.adam(config.lr))
    state = train.init(model, jax.random.key(config.seed))
    console.print(
        f"vaekit train: β-VAE, {config.num_train} procedural dSprites, {config.steps} steps, "
        f"batch {config.batch_size}, latent {config.latent_dim}, β {config.beta_schedule} "
        f"{config.beta_start:g}->{config.beta:g}"
    )

    metrics_path = out / "metrics.jsonl"
    with metrics_path.open("w") as log, _progress(console, config.progress) as progress:
        task = progress.add_task("train", total=config.steps, stats="compiling...")

        def on_chunk(step: int, metrics: dict[str, float]) -> None:
            log.write(json.dumps({"split": "train", "step": step, **metrics}) + "\n")
            log.flush()
            progress.update(task, completed=step, stats=_stats(metrics))

        state, history = fit(
            train, state, {"x": data.train_images}, num_steps=config.steps,
            batch_size=config.batch_size, seed=config.seed, steps_per_call=50,
            val_data={"x": data.val_images}, eval_every=config.eval_every, callback=on_chunk,
        )
        for i, step in enumerate(history["val_steps"]):
            row = {k: v[i] for k, v in history["val"].items()}
            log.write(json.dumps({"split": "val", "step": step, **row}) + "\n")
    train_seconds = time.perf_counter() - t0

    files = write_plots(state, data.val_images, history, config, out)
    files["metrics"] = str(metrics_path)
    final_val = evaluate_dataset(train, state, {"x": data.val_images}, config.batch_size)
    summary = {
        "config": {**dataclasses.asdict(config), "hidden": list(config.hidden)},
        "final_val": final_val,
        "final_train": {k: v[-1] for k, v in history["train"].items()},
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - t0,
        "files": files,
    }
    files["summary"] = str(out / "summary.json")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(
        f"done in {summary['total_seconds']:.0f} s: validation loss {final_val['loss']:.1f} "
        f"(reconstruction {final_val['reconstruction_loss']:.1f}, KL {final_val['kl_loss']:.2f}, "
        f"{final_val['active_dims']:.0f}/{config.latent_dim} active dims)"
    )
    console.print(f"wrote {out}/: " + ", ".join(Path(p).name for p in files.values()))
    return summary
