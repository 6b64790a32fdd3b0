"""The registry of reproductions and :func:`run_reproduction`, which runs one and records it.

A reproduction is a module of :mod:`vaekit.reproduce` with ``NAME``, ``TITLE``, ``PROFILES``
(``{"smoke" | "quick" | "full": config dict}``), ``DEFAULT_SEEDS`` (per profile), ``PUBLISHED``
(the numbers it is compared with), ``NOTES`` (per profile: what the profile changes) and
``run(config, seeds, out_dir) -> (per_seed_metrics, plot_file_names)``. Modules are imported
only when run, so listing the names is cheap (the CLI builds its parser from
:data:`REPRODUCTIONS`).
"""

import importlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from vaekit.reproduce._results import append_jsonl, make_result, summarize, write_result

REPRODUCTIONS = ("capacity", "disentanglement", "vq", "annealing", "cvae", "likelihood")
"""Names of the reproductions, one module each under :mod:`vaekit.reproduce`."""

PROFILES = ("smoke", "quick", "full")
"""``smoke``: seconds, for tests; ``quick``: at most about 10 minutes on a 2-core CPU each;
``full``: the papers' settings, for a GPU."""

DEFAULT_OUT = Path("runs") / "reproduce"


def get_reproduction(name: str) -> ModuleType:
    """The module of reproduction ``name`` (``ValueError`` naming the known ones otherwise)."""
    if name not in REPRODUCTIONS:
        raise ValueError(
            f"unknown reproduction {name!r}; choose one of {', '.join(REPRODUCTIONS)}."
        )
    return importlib.import_module(f"vaekit.reproduce._{name}")


def reproduction_config(name: str, profile: str = "quick") -> dict[str, Any]:
    """A copy of the settings of ``profile`` for reproduction ``name``."""
    if profile not in PROFILES:
        raise ValueError(f"`profile` must be one of {PROFILES}, got {profile!r}.")
    return dict(get_reproduction(name).PROFILES[profile])


def _command(name: str, profile: str, seeds: Sequence[int], out: Path) -> str:
    return (f"vaekit reproduce {name} --{profile} --seeds {' '.join(map(str, seeds))} "
            f"--out {out}")


def run_reproduction(
    name: str,
    profile: str = "quick",
    seeds: Sequence[int] | None = None,
    out: str | os.PathLike = DEFAULT_OUT,
    *,
    results_log: str | os.PathLike | None = "results.jsonl",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs reproduction ``name`` with ``profile`` and writes its result and plots.

    Files: ``<out>/<name>-<profile>/result.json`` (schema:
    :func:`vaekit.reproduce.validate_result`), the PNG plots next to it, and one line appended
    to ``<out>/<results_log>`` (a JSONL log of every run; ``None`` skips it).
    Existing files of the same name are overwritten.

    Args:
      name: one of :data:`REPRODUCTIONS`.
      profile: ``"smoke"``, ``"quick"`` (the default) or ``"full"``.
      seeds: the seeds (default: the reproduction's ``DEFAULT_SEEDS[profile]``).
      out: output directory.
      results_log: JSONL file name inside ``out`` (or a path), or ``None``.
      overrides: settings that replace the profile's (recorded in the result's ``config``).

    Returns:
      The result record (a JSON-ready dict).

    Example:
      >>> result = run_reproduction("cvae", "smoke", out="/tmp/vaekit-repro")  # doctest: +SKIP
      >>> sorted(result["metrics"])[:1]  # doctest: +SKIP
      ['classifier_accuracy_real']
    """
    module = get_reproduction(name)
    config = reproduction_config(name, profile)
    for key, value in (overrides or {}).items():
        if key not in config:
            raise ValueError(f"`overrides` key {key!r} is not a setting of {name!r} "
                             f"({', '.join(sorted(config))}).")
        config[key] = value
    seeds = list(module.DEFAULT_SEEDS[profile] if seeds is None else seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ValueError(f"`seeds` must be a non-empty list of integers >= 0, got {seeds!r}.")
    out = Path(out)
    directory = out / f"{name}-{profile}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    start = time.perf_counter()
    per_seed, plots = module.run(config, seeds, directory)
    result = make_result(
        name=name, profile=profile, seeds=seeds, config=config, metrics=summarize(per_seed),
        published=module.PUBLISHED, wall_time_s=time.perf_counter() - start, plots=plots,
        command=_command(name, profile, seeds, out), notes=module.NOTES[profile],
        load_at_start=load,
    )
    write_result(result, directory)
    if results_log is not None:
        append_jsonl(result, out / results_log)
    return result
