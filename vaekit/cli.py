"""The ``vaekit`` command line."""

import argparse
import sys
from collections.abc import Sequence

from vaekit.schedules import SCHEDULE_NAMES


class UsageError(Exception):
    """A bad command-line value; reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        raise UsageError(f"{self.prog}: error: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _float(minimum: float | int, strict: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum:g}, "
                                             f"got {value:g}")
        return value

    return parse


def _sizes(text: str) -> tuple[int, ...]:
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"must be comma-separated sizes, got {text!r}")
    return tuple(_positive_int(p.strip()) for p in parts)


def _train_parser(sub) -> None:
    from vaekit.jobs.train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train a β-VAE on procedural dSprites")
    p.add_argument("--steps", type=_positive_int, default=d.steps, help="optimiser steps")
    p.add_argument("--batch-size", type=_positive_int, default=d.batch_size)
    p.add_argument("--lr", type=_float(0.0, True), default=d.lr, help="Adam learning rate")
    p.add_argument("--beta", type=_float(0.0, False), default=d.beta,
                   help="β (the final value when a schedule is used)")
    p.add_argument("--beta-schedule", choices=SCHEDULE_NAMES, default=d.beta_schedule,
                   help="how β goes from --beta-start to --beta over --beta-steps")
    p.add_argument("--beta-start", type=_float(0.0, False), default=d.beta_start)
    p.add_argument("--beta-steps", type=_positive_int, default=d.beta_steps)
    p.add_argument("--latent-dim", type=_positive_int, default=d.latent_dim)
    p.add_argument("--hidden", type=_sizes, default=d.hidden,
                   help="encoder hidden sizes, e.g. 512,256 (the decoder mirrors them)")
    p.add_argument("--num-train", type=_positive_int, default=d.num_train)
    p.add_argument("--num-val", type=_positive_int, default=d.num_val)
    p.add_argument("--eval-every", type=_nonnegative_int, default=d.eval_every,
                   help="validation period in steps (0: only at the end)")
    p.add_argument("--seed", type=_nonnegative_int, default=d.seed)
    p.add_argument("--out", default=d.out, help="output directory")
    p.add_argument("--no-progress", action="store_true", help="disable the progress bar")


def build_parser() -> argparse.ArgumentParser:
    from vaekit import __version__

    parser = _Parser(prog="vaekit", description="Composable variational autoencoders in JAX.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _train_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vaekit`` console script; returns the exit code."""
    from vaekit.jobs.train import TrainConfig, run_train

    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            config = TrainConfig(
                steps=args.steps, batch_size=args.batch_size, lr=args.lr, beta=args.beta,
                beta_schedule=args.beta_schedule, beta_start=args.beta_start,
                beta_steps=args.beta_steps, latent_dim=args.latent_dim, hidden=args.hidden,
                num_train=args.num_train, num_val=args.num_val, eval_every=args.eval_every,
                seed=args.seed, out=args.out, progress=not args.no_progress,
            )
    except (UsageError, ValueError) as err:  # bad flags: one line, exit code 2
        message = str(err) if isinstance(err, UsageError) else f"vaekit: error: {err}"
        print(message.replace("\n", " "), file=sys.stderr)
        return 2
    run_train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
