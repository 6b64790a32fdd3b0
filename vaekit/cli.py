"""The ``vaekit`` command line: ``train``, ``eval``, ``sample``, ``reconstruct``, ``reproduce``."""

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vaekit.reproduce._registry import REPRODUCTIONS
from vaekit.runner._config import (
    ARCHITECTURES,
    BINARIZE,
    DATASETS,
    FUSED,
    MODEL_KINDS,
    ON_NONFINITE,
    SAMPLERS,
    TRACKERS,
    did_you_mean,
)
from vaekit.schedules import SCHEDULE_NAMES


class UsageError(Exception):
    """A bad command-line value; reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        raise UsageError(f"{self.prog}: error: {message}{_did_you_mean(message)}")


def _did_you_mean(message: str) -> str:
    """`` (did you mean 'vae'?)`` for argparse's "invalid choice" message, else ``""``."""
    import re

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found.group(2)) or [
        c.strip() for c in found.group(2).split(",")]
    return did_you_mean(found.group(1), choices)


def _int(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _float(minimum: float, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'>' if strict else '>='} {minimum:g}, got {value:g}"
            )
        return value

    return parse


def _names(text: str, choices: tuple[str, ...]) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        if name not in choices:
            raise argparse.ArgumentTypeError(
                f"{name!r} is not one of {', '.join(choices)}{did_you_mean(name, choices)}")
    return names


def _sizes(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"must be comma-separated sizes, got {text!r}")
    return [_int(1)(p) for p in parts]


# flag -> (config section, key, argparse options); a section may be an objective sub-section
# ("objective.capacity"), which the chosen model kind must use.
TRAIN_FLAGS = {
    "--steps": ("train", "steps", {"type": _int(1), "help": "optimiser steps"}),
    "--batch-size": ("train", "batch_size", {"type": _int(1)}),
    "--lr": ("train", "lr", {"type": _float(0.0, True), "help": "Adam learning rate"}),
    "--eval-every": ("train", "eval_every", {"type": _int(0), "help": "0: only at the end"}),
    "--checkpoint-every": ("train", "checkpoint_every", {"type": _int(0)}),
    "--seed": ("train", "seed", {"type": _int(0)}),
    "--on-nonfinite": ("train", "on_nonfinite", {"choices": ON_NONFINITE}),
    "--device-data": ("train", "device_data", {
        "action": "store_const", "const": True,
        "help": "train.device_data: copy the training set to the device once"}),
    "--fused": ("train", "fused", {"choices": FUSED, "help": "train.fused: a chunk of steps "
                                   "as one scan, or one call per step (auto: per step for "
                                   "conv models on a CPU)"}),
    "--track": ("train", "track", {"type": lambda text: _names(text, TRACKERS),
                                   "help": "experiment trackers, e.g. tensorboard,mlflow,wandb "
                                           "(pip install \"vaekit[track]\")"}),
    "--architecture": ("model", "architecture", {"choices": ARCHITECTURES}),
    "--latent-dim": ("model", "latent_dim", {"type": _int(1)}),
    "--hidden": ("model", "hidden", {"type": _sizes, "help": "MLP sizes, e.g. 512,256"}),
    "--channels": ("model", "channels", {"type": _sizes, "help": "CNN channels"}),
    "--vq-channels": ("model", "vq_channels", {"type": _sizes,
                                               "help": "conv channels of quantized models"}),
    "--num-codes": ("model", "num_codes", {"type": _int(1), "help": "VQ codebook size"}),
    "--code-dim": ("model", "code_dim", {"type": _int(1)}),
    "--commitment-cost": ("objective.vq", "commitment_cost", {"type": _float(0.0, False)}),
    "--beta": ("objective.beta_vae", "beta", {"type": _float(0.0, False),
                                     "help": "β (the final value of an annealed β)"}),
    "--beta-schedule": ("objective.annealing", "schedule", {"choices": SCHEDULE_NAMES}),
    "--beta-start": ("objective.annealing", "start", {"type": _float(0.0, False)}),
    "--beta-steps": ("objective.annealing", "steps", {"type": _int(1)}),
    "--tc-beta": ("objective.tcvae", "beta", {"type": _float(0.0, False),
                                          "help": "beta-tcvae: total-correlation weight"}),
    "--gamma": ("objective.capacity", "gamma", {"type": _float(0.0, False), "help": "capacity γ"}),
    "--c-max": ("objective.capacity", "c_max", {"type": _float(0.0, False),
                                                "help": "capacity C_max"}),
    "--capacity-steps": ("objective.capacity", "steps", {"type": _int(1)}),
    "--num-samples": ("objective.iwae", "num_samples", {"type": _int(1),
                                                   "help": "iwae: importance samples k"}),
    "--dreg": ("objective.iwae", "dreg", {"action": "store_const", "const": True,
                                     "help": "iwae: doubly reparameterised gradients"}),
    "--latent-dims": ("model", "latent_dims", {"type": _sizes,
                                               "help": "hvae: layer sizes, bottom first"}),
    "--num-pseudo-inputs": ("model", "num_pseudo_inputs", {"type": _int(1)}),
    "--num-flows": ("model", "num_flows", {"type": _int(1), "help": "iaf-vae: flow steps"}),
    "--prior-steps": ("prior", "steps", {"type": _int(0), "help": "quantized models: code "
                                         "prior steps after training (0: none)"}),
    "--data": ("data", "name", {"choices": DATASETS}),
    "--data-path": ("data", "path", {"help": ".npz with `images` (and optional `labels`), "
                                             "or the folder of --data image-folder"}),
    "--data-dir": ("data", "dir", {"help": "data cache directory (default $VAEKIT_DATA_DIR "
                                           "or the platform cache)"}),
    "--offline": ("data", "offline", {
        "action": "store_const", "const": True,
        "help": "data.offline: use only the data cache, never the network"}),
    "--binarize": ("data", "binarize", {"choices": BINARIZE,
                                        "help": "dynamic: redraw binary pixels every step"}),
    "--num-train": ("data", "num_train", {"type": _int(0), "help": "0: all (default)"}),
    "--num-val": ("data", "num_val", {"type": _int(1)}),
}


def _kinds_help() -> str:
    """``--model``'s help text: the kinds registered now, with their summaries.

    ``%`` is doubled: argparse formats a help string that contains one (and since Python
    3.14 leaves one without ``%`` as it is).
    """
    from vaekit.runner._kinds import KINDS

    kinds = "; ".join(f"{k.name}: {k.summary}" if k.summary else k.name
                      for k in KINDS.values())
    return f"model kind (default beta-tcvae): {kinds}".replace("%", "%%")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model (default: β-TCVAE on dSprites)")
    p.add_argument("--model", choices=MODEL_KINDS, metavar="KIND", help=_kinds_help())
    p.add_argument("--config", help="TOML config file; flags override its values")
    p.add_argument("--out", help="run directory (default runs/<model>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for flag, (section, key, options) in TRAIN_FLAGS.items():
        p.add_argument(flag, dest=f"{section}.{key}", default=None,
                       **{"help": f"{section}.{key}", **options})


def _add_checkpoint_command(sub, name: str, help_text: str, default_num: int) -> None:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("run_dir", help="a run directory written by `vaekit train`")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--num", type=_int(1), default=default_num)
    p.add_argument("--seed", type=_int(0), default=0)
    p.add_argument("--out", help="PNG path (default: inside the run directory)")


def _seeds(text: str) -> list[int]:
    return [_int(0)(part) for part in text.split(",") if part.strip()]


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="reproduce a published result (docs/reproductions.md)")
    p.add_argument("name", choices=REPRODUCTIONS, help="which reproduction")
    profile = p.add_mutually_exclusive_group()
    for name, text in (("smoke", "seconds: a pipeline check"),
                       ("quick", "minutes on a CPU (the default)"),
                       ("full", "the papers' settings, for a GPU")):
        profile.add_argument(f"--{name}", dest="profile", action="store_const", const=name,
                             help=text)
    p.set_defaults(profile="quick")
    p.add_argument("--seeds", nargs="+", type=_seeds, metavar="SEED",
                   help="seeds, e.g. --seeds 0 1 2 (default: the profile's)")
    p.add_argument("--out", default="runs/reproduce",
                   help="output directory (default runs/reproduce)")


def build_parser() -> argparse.ArgumentParser:
    """The ``vaekit`` command-line parser, with its subcommands."""
    from vaekit import __version__

    parser = _Parser(prog="vaekit", description="Composable variational autoencoders in JAX.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_checkpoint_command(sub, "sample", "decode prior samples from a run's checkpoint", 32)
    sample = sub.choices["sample"]
    sample.add_argument("--sampler", choices=SAMPLERS, default="prior",
                        help="prior: the model's prior (a quantized run's learned code prior); "
                             "gmm: a Gaussian mixture fitted to the training latents; "
                             "two-stage: a second VAE on the latents")
    sample.add_argument("--temperature", type=_float(0.0, False), default=1.0,
                        help="code prior sampling temperature (0: argmax)")
    sample.add_argument("--components", type=_int(1), default=10,
                        help="--sampler gmm: mixture components")
    _add_checkpoint_command(sub, "reconstruct", "reconstruct validation images", 8)
    p = sub.add_parser("eval", help="latent analysis, disentanglement metrics, codebook usage, "
                                    "importance-sampled NLL")
    p.add_argument("run_dir", help="a run directory written by `vaekit train`")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--quick", action="store_true", help="MIG and latent statistics only")
    p.add_argument("--nll-samples", type=_int(0), default=1000,
                   help="importance samples per validation image for the NLL (0: skip)")
    _add_reproduce(sub)
    return parser


def _objective_flags(kind: str) -> list[str]:
    """The flags of ``TRAIN_FLAGS`` that set a key of an objective section ``kind`` uses."""
    from vaekit.runner._kinds import kind_of

    sections = kind_of(kind).sections
    return [flag for flag, (section, _, _) in TRAIN_FLAGS.items()
            if section.startswith("objective.") and section.split(".", 1)[1] in sections]


def _check_objective_flags(args, kind: str) -> None:
    """A UsageError for a given objective flag whose section model kind ``kind`` does not use."""
    usable = _objective_flags(kind)
    for flag, (section, key, _) in TRAIN_FLAGS.items():
        if (section.startswith("objective.") and flag not in usable
                and getattr(args, f"{section}.{key}") is not None):
            raise UsageError(
                f"vaekit train: error: {flag} sets {section}.{key}, which model kind "
                f"{kind!r} does not use; its objective flags: {', '.join(usable) or 'none'} "
                "(choose the kind with --model)")


def _config_from_args(args):
    from vaekit.runner import RunConfig

    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    _check_objective_flags(args, args.model or config.model.kind)
    overrides: dict[str, dict] = {}
    if args.model:
        overrides.setdefault("model", {})["kind"] = args.model
    for section, key, _ in TRAIN_FLAGS.values():
        value = getattr(args, f"{section}.{key}")
        if value is not None:
            table = overrides
            for name in section.split("."):
                table = table.setdefault(name, {})
            table[key] = value
    return config.replace(**overrides)


def _progress_callback(console, total: int, start: int, enabled: bool):
    """A rich progress bar for a training run.

    It fits the console (80 columns included): the phase, the bar, steps done, as many loss terms as
    fit, elapsed and remaining time; plus ``phase(name)`` to show what runs after the last step
    (plots, the code prior, the evaluation).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description:<8}"), BarColumn(bar_width=16),
        MofNCompleteColumn(), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, disable=not enabled,
    )
    task = progress.add_task("train", total=total, completed=start, stats="compiling…")
    t0 = time.perf_counter()
    shown = ("loss", "reconstruction_loss", "kl_loss", "beta", "current_capacity", "perplexity")
    names = {"reconstruction_loss": "recon", "kl_loss": "KL", "beta": "β",
             "current_capacity": "C"}
    fixed = 9 + 16 + (2 * len(str(total)) + 1) + 7 + 7 + 5  # all but the stats, spaced

    def update(step: int, row: dict) -> None:
        rate = (step - start) / max(time.perf_counter() - t0, 1e-9)
        budget = max(console.width - fixed, 12)
        fields = [f"{names.get(k, k)} {row[k]:.3g}" for k in shown if k in row]
        tail = f"{rate:.0f} steps/s"
        stats = next(("  ".join([*fields[:i], tail]) for i in range(len(fields), -1, -1)
                      if len("  ".join([*fields[:i], tail])) <= budget), tail)
        progress.update(task, completed=step, stats=stats[:budget])

    def phase(name: str) -> None:
        progress.update(task, description=name, stats="…")

    return progress, update, phase


def _train(args, console) -> None:
    from vaekit.runner import RunConfig, resume_run, start_run
    from vaekit.runner._run import check_new_run_dir, default_run_dir

    if args.resume:
        given = [f for f, (s, k, _) in TRAIN_FLAGS.items() if getattr(args, f"{s}.{k}") is not None]
        if args.config or args.model or args.out or given:
            raise UsageError("vaekit train: error: --resume takes only the run directory "
                             "(its config.toml fixes every setting)")
        config = RunConfig.from_toml(Path(args.resume) / "config.toml")
    else:
        config = _config_from_args(args)
        out = Path(args.out) if args.out else default_run_dir(config)
        check_new_run_dir(out)
    t = config.train
    console.print(f"vaekit train: {config.model.kind} ({config.model.architecture}), "
                  f"{config.data.name}, {t.steps} steps, batch {t.batch_size}")
    progress, update, phase = _progress_callback(console, t.steps, 0, not args.no_progress)
    with progress:
        if args.resume:
            out, summary = resume_run(args.resume, on_progress=update, on_phase=phase)
        else:
            out, summary = start_run(config, out, on_progress=update, on_phase=phase)
    final = (summary["final_val"] or {}).get("loss", float("nan"))
    best = summary["best_val_loss"]
    best_text = f"best {best:.2f} at step {summary['best_step']}" if best is not None else "no best"
    console.print(f"done: step {summary['step']}, validation loss {final:.2f} ({best_text})")
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in Path(out).iterdir())
    console.print(f"wrote {out}/: " + ", ".join(files))


def _from_checkpoint(args, console) -> None:
    import jax

    from vaekit.runner import load_run
    from vaekit.runner._kinds import kind_of
    from vaekit.runner._report import write_class_samples, write_reconstructions, write_samples

    parts = load_run(args.run_dir, args.checkpoint)
    model = parts.state.model()
    sampler = getattr(args, "sampler", "prior")
    name = args.command if sampler == "prior" else f"{args.command}_{sampler}"
    default = f"{name}_{args.checkpoint}.png"
    out = Path(args.out) if args.out else Path(args.run_dir) / default
    if args.command == "sample" and sampler != "prior":
        from vaekit.plots import image_grid_figure
        from vaekit.runner._posthoc import posthoc_images

        images = posthoc_images(parts, model, sampler, jax.random.key(args.seed), args.num,
                                args.components)
        image_grid_figure(images, out, title=f"samples of the post-hoc {sampler} sampler")
    elif args.command == "sample" and kind_of(parts.config.model.kind).labelled:
        write_class_samples(model, parts.data.num_classes, jax.random.key(args.seed), out,
                            args.num)
    elif args.command == "sample":
        from vaekit.runner._posthoc import load_code_prior

        code_prior = None
        if kind_of(parts.config.model.kind).quantized:
            code_prior = load_code_prior(args.run_dir, parts, model)
            if code_prior is None:
                console.print("no code prior in this run (prior.steps = 0): decoding uniformly "
                              "random codes")
        write_samples(model, parts.config.model.latent_dim, jax.random.key(args.seed), out,
                      args.num, image=parts.data.val_images[0], code_prior=code_prior,
                      temperature=args.temperature)
    else:
        write_reconstructions(model, parts.data.val_images, out, args.num,
                              labels=parts.data.val_labels)
    console.print(f"wrote {out} (checkpoint {args.checkpoint}, step {int(parts.state.step)})")


def _eval(args, console) -> None:
    from vaekit.runner._evaluate import evaluate_run

    report = evaluate_run(args.run_dir, args.checkpoint, quick=args.quick,
                          nll_samples=args.nll_samples)
    for key, value in report.items():
        console.print(f"{key:>40}  {value:.4g}" if isinstance(value, float) else
                      f"{key:>40}  {value}")
    console.print(f"wrote {Path(args.run_dir) / f'eval_{args.checkpoint}.json'} and plots")


def _reproduce(args, console) -> None:
    from vaekit.reproduce import run_reproduction

    seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
    if seeds == []:
        raise UsageError("vaekit reproduce: error: --seeds needs at least one seed")
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"vaekit reproduce: error: cannot write to --out {args.out}: "
                         f"{err.strerror or err}") from None
    console.print(f"vaekit reproduce {args.name} ({args.profile}) → {args.out}")
    result = run_reproduction(args.name, args.profile, seeds, args.out)
    for metric, summary in result["metrics"].items():
        mean, std = summary["mean"], summary["std"]
        text = "n/a" if mean is None else f"{mean:.4g}" + (
            f" ± {std:.2g}" if len(result["seeds"]) > 1 else "")
        console.print(f"{metric:>44}  {text}")
    directory = Path(args.out) / f"{args.name}-{args.profile}"
    console.print(f"done in {result['wall_time_s']:.0f} s: wrote {directory / 'result.json'}, "
                  + ", ".join(result["plots"]) + f"; appended {Path(args.out) / 'results.jsonl'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vaekit`` console script; returns the exit code.

    Model kinds of other packages (entry points of group ``vaekit.kinds``,
    :func:`vaekit.runner._kinds.load_entry_point_kinds`) are registered first.

    Exit codes: 0 success; 2 bad usage, configuration, data or checkpoint, an entry point of
    ``vaekit.kinds`` that does not load, or a run directory in use by another process (one
    line on stderr, nothing written); 1 training stopped on a non-finite metric or a full
    disk; 130 / 143 training stopped by SIGINT / SIGTERM after saving a checkpoint (one line
    on stderr saying how to resume).
    """
    from rich.console import Console

    from vaekit.runner import CheckpointError, ConfigError, NonFiniteError
    from vaekit.runner._kinds import EntryPointError, load_entry_point_kinds
    from vaekit.runner._run import RunInterrupted, StorageError

    console = Console()
    try:
        load_entry_point_kinds()  # other packages' kinds, before --model's choices are read
        args = build_parser().parse_args(argv)
        if args.command == "train":
            _train(args, console)
        elif args.command == "eval":
            _eval(args, console)
        elif args.command == "reproduce":
            _reproduce(args, console)
        else:
            _from_checkpoint(args, console)
    except (UsageError, ConfigError, CheckpointError, EntryPointError) as err:
        message = str(err) if isinstance(err, UsageError) else f"vaekit: error: {err}"
        print(message.replace("\n", " "), file=sys.stderr)
        return 2
    except (NonFiniteError, StorageError) as err:
        print(f"vaekit: error: {err}", file=sys.stderr)
        return 1
    except RunInterrupted as err:
        print(f"vaekit: {err}", file=sys.stderr)
        return 128 + err.signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
