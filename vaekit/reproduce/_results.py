"""The result record of a reproduction: schema, JSON file, JSONL log and a markdown table row.

Every reproduction writes ``<out>/<name>-<profile>/result.json``, one JSON object with the keys
of :data:`RESULT_KEYS`:

========================  =====================================================================
key                       value
========================  =====================================================================
``schema``                ``"vaekit.reproduction/1"`` (this layout)
``name``                  the reproduction (``capacity``, ``disentanglement``, ...)
``profile``               ``"smoke"``, ``"quick"`` or ``"full"``
``seeds``                 list of int seeds, one training run (or one run per model) each
``config``                the resolved settings of the profile (JSON values)
``metrics``               ``{metric: {"mean", "std", "per_seed"}}``: mean and population std over
                          the seeds (``std`` 0 for one seed) and the value of every seed, floats
                          (``null`` for a non-finite value)
``published``             ``{metric: {"value", "source", "note"}}``: the published numbers the
                          reproduction is compared with (``value`` may be a string, e.g. "≈ C")
``wall_time_s``           seconds from start to the written result (training, evaluation, plots)
``machine``               ``platform``, ``processor``, ``cpu_count``, ``jax_backend``,
                          ``jax_devices``, ``load_average`` (1/5/15 min, at the start and end)
``date``                  ISO-8601 date and time of the end of the run (local time)
``versions``              ``python``, ``vaekit``, ``jax``, ``flax``, ``optax``, ``numpy``,
                          ``scikit-learn`` (``null`` when not installed)
``plots``                 file names of the PNGs written next to ``result.json``
``command``               the ``vaekit reproduce`` command line that re-runs it
``notes``                 list of strings: what the profile leaves out or changes
========================  =====================================================================

:func:`append_jsonl` appends the record as one line to a results log, and
:func:`markdown_row` formats it for the table of ``docs/reproductions.md``
(:func:`append_markdown_row` inserts the row at the end of a marked table).
"""

import datetime
import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "vaekit.reproduction/1"
RESULT_KEYS = ("schema", "name", "profile", "seeds", "config", "metrics", "published",
               "wall_time_s", "machine", "date", "versions", "plots", "command", "notes")
TABLE_MARKER = "<!-- reproductions-table -->"
_PACKAGES = ("vaekit", "jax", "jaxlib", "flax", "optax", "numpy", "scikit-learn")


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def summarize(per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """``{metric: {"mean", "std", "per_seed"}}`` over the runs (population std; NaN-aware).

    Every run must report the same metric names. Non-finite values become ``None``; the mean
    and std are over the finite values (``None`` when there are none).

    Example:
      >>> summarize([{"a": 1.0}, {"a": 3.0}])["a"]
      {'mean': 2.0, 'std': 1.0, 'per_seed': [1.0, 3.0]}
    """
    if not per_seed:
        raise ValueError("`per_seed` must hold at least one run's metrics.")
    names = list(per_seed[0])
    for i, run in enumerate(per_seed):
        if list(run) != names:
            raise ValueError(f"run {i} reports metrics {sorted(run)}, run 0 {sorted(names)}.")
    out = {}
    for name in names:
        values = [_finite(run[name]) for run in per_seed]
        finite = np.asarray([v for v in values if v is not None], np.float64)
        out[name] = {
            "mean": float(finite.mean()) if finite.size else None,
            "std": float(finite.std()) if finite.size else None,
            "per_seed": values,
        }
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return None


def machine_info(load_at_start: Sequence[float] | None = None) -> dict[str, Any]:
    """Where the run ran: OS, CPU count, JAX backend and devices, and the load averages."""
    import jax

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "load_average_start": list(load_at_start) if load_at_start is not None else None,
        "load_average_end": _load_average(),
    }


def versions() -> dict[str, str | None]:
    """Python and the installed versions of vaekit and its main dependencies."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def make_result(
    *,
    name: str,
    profile: str,
    seeds: Sequence[int],
    config: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, Any]],
    published: Mapping[str, Mapping[str, Any]],
    wall_time_s: float,
    plots: Sequence[str],
    command: str,
    notes: Sequence[str] = (),
    load_at_start: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The result record (see the module docstring), validated."""
    result = {
        "schema": SCHEMA,
        "name": name,
        "profile": profile,
        "seeds": [int(s) for s in seeds],
        "config": json.loads(json.dumps(dict(config), default=_json_default)),
        "metrics": {k: dict(v) for k, v in metrics.items()},
        "published": {k: dict(v) for k, v in published.items()},
        "wall_time_s": round(float(wall_time_s), 1),
        "machine": machine_info(load_at_start),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "plots": list(plots),
        "command": command,
        "notes": list(notes),
    }
    validate_result(result)
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def validate_result(result: Mapping[str, Any]) -> None:
    """Raises ``ValueError`` naming the first key that does not follow the schema."""
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f"result is missing the keys {missing}.")
    if result["schema"] != SCHEMA:
        raise ValueError(f"result `schema` must be {SCHEMA!r}, got {result['schema']!r}.")
    if result["profile"] not in ("smoke", "quick", "full"):
        raise ValueError(f"result `profile` must be smoke/quick/full, got {result['profile']!r}.")
    seeds = result["seeds"]
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"result `seeds` must be a non-empty list of ints, got {seeds!r}.")
    for metric, summary in result["metrics"].items():
        if set(summary) != {"mean", "std", "per_seed"}:
            raise ValueError(f"result `metrics[{metric!r}]` must have mean, std, per_seed.")
        if len(summary["per_seed"]) != len(seeds):
            raise ValueError(f"result `metrics[{metric!r}]['per_seed']` must have one value per "
                             f"seed ({len(seeds)}), got {len(summary['per_seed'])}.")
    for metric, entry in result["published"].items():
        if not {"value", "source"} <= set(entry):
            raise ValueError(f"result `published[{metric!r}]` must have value and source.")
    if not isinstance(result["wall_time_s"], int | float) or result["wall_time_s"] < 0:
        raise ValueError("result `wall_time_s` must be a number >= 0.")
    json.dumps(result, allow_nan=False)  # raises on NaN / inf / non-JSON values


def write_result(result: Mapping[str, Any], directory: str | os.PathLike) -> Path:
    """Writes ``result.json`` (indented, no NaN) into ``directory``; returns its path."""
    validate_result(result)
    path = Path(directory) / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    return path


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    """A ``result.json`` (or one JSONL line's object), validated."""
    result = json.loads(Path(path).read_text())
    validate_result(result)
    return result


def append_jsonl(result: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Appends ``result`` as one line to the JSONL results log ``path`` (created if needed)."""
    validate_result(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(result, allow_nan=False) + "\n")
    return path


def _format(summary: Mapping[str, Any], digits: int) -> str:
    if summary["mean"] is None:
        return "n/a"
    text = f"{summary['mean']:.{digits}f}"
    if len(summary["per_seed"]) > 1:
        text += f" ± {summary['std']:.{digits}f}"
    return text


def machine_summary(machine: Mapping[str, Any]) -> str:
    """``"2-core CPU, load 4.9"``: CPU count, JAX backend and the 1-minute load at the start."""
    cores = machine.get("cpu_count")
    backend = str(machine.get("jax_backend") or "?").upper()
    text = f"{cores}-core {backend}" if backend == "CPU" else f"{backend} ({cores} cores)"
    load = machine.get("load_average_start") or machine.get("load_average_end")
    return text + (f", load {load[0]:.1f}" if load else "")


def markdown_row(result: Mapping[str, Any], metric: str, *, label: str | None = None,
                 digits: int = 3) -> str:
    """One row of the table in ``docs/reproductions.md``.

    One row of the table in ``docs/reproductions.md``::

        | reproduction | metric | vaekit | published (source) | command | profile, seeds |
        machine | wall time | date |

    Example:
      >>> r = {"name": "cvae", "profile": "quick", "seeds": [0, 1], "wall_time_s": 31.0,
      ...      "date": "2026-11-25T12:00:00", "published": {}, "command": "vaekit reproduce cvae",
      ...      "machine": {"cpu_count": 2, "jax_backend": "cpu", "load_average_start": [1.0]},
      ...      "metrics": {"acc": {"mean": 0.99, "std": 0.01, "per_seed": [0.98, 1.0]}}}
      >>> markdown_row(r, "acc").split(" | ")[2:6]
      ['0.990 ± 0.010', '—', '`vaekit reproduce cvae`', 'quick, seeds 0, 1']
    """
    summary = result["metrics"][metric]
    published = result["published"].get(metric)
    pub = "—" if published is None else f"{published['value']} ({published['source']})"
    seeds = ", ".join(str(s) for s in result["seeds"])
    return (f"| {result['name']} | {label or metric} | {_format(summary, digits)} | {pub} | "
            f"`{result['command']}` | {result['profile']}, seeds {seeds} | "
            f"{machine_summary(result['machine'])} | {result['wall_time_s']:.0f} s | "
            f"{result['date'][:10]} |")


def append_markdown_row(path: str | os.PathLike, row: str) -> None:
    """Inserts ``row`` after the last row of the table that follows :data:`TABLE_MARKER`."""
    path = Path(path)
    lines = path.read_text().splitlines()
    try:
        start = lines.index(TABLE_MARKER)
    except ValueError:
        raise ValueError(
            f"{path} has no line {TABLE_MARKER!r} marking the results table."
        ) from None
    end = start + 1
    while end < len(lines) and not lines[end].startswith("|"):
        end += 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    path.write_text("\n".join(lines) + "\n")
