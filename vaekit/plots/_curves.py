"""Training curves: one subplot per logged metric, train and validation overlaid."""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from vaekit.plots._render import PathLike, new_figure, render_figure

__all__ = ["loss_curves_figure", "overlay_figure"]

_MAX_COLS = 3
_PANEL_W = 3.2
_PANEL_H = 2.4


def _series(values: Sequence[float], name: str, key: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}[{key!r}] must be a sequence of numbers") from err
    if arr.ndim != 1:
        raise ValueError(f"{name}[{key!r}] must be 1-D, got shape {arr.shape}")
    return arr


def _steps(steps: Sequence[int], name: str) -> np.ndarray:
    try:
        arr = np.asarray(steps, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a sequence of numbers") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _plottable(y: np.ndarray, log_scale: bool) -> np.ndarray:
    """Mask values that cannot be drawn (non-finite, or non-positive on a log axis)."""
    bad = ~np.isfinite(y)
    if log_scale:
        bad |= y <= 0
    return np.where(bad, np.nan, y)


def _robust_limits(steps, y, val_steps, val_y) -> tuple[float, float] | None:
    """The y-range ``(low, high)`` of a curve, or ``None``.

    ``(low, high)`` covering every value after the first tenth of the step range, and the overall
    minimum, with 5 % padding; ``None`` when there is no such value or no spread.
    """
    xs, ys = [steps], [y]
    if val_y is not None:
        xs.append(val_steps)
        ys.append(_plottable(val_y, False))
    x, v = np.concatenate(xs), np.concatenate(ys)
    finite = np.isfinite(v)
    if not finite.any():
        return None
    start = np.nanmin(x) + 0.1 * (np.nanmax(x) - np.nanmin(x))
    late = v[finite & (x >= start)]
    if late.size == 0:
        return None
    low, high = float(np.min(v[finite])), float(np.max(late))
    if not high > low:
        return None
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _plot_keys(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None) -> list:
    """The metrics to plot: ``keys`` (checked against ``history``) or all of ``history``."""
    if keys is None:
        if not history:
            raise ValueError("history is empty: nothing to plot")
        return list(history)
    if isinstance(keys, str):
        raise ValueError("keys must be a sequence of metric names, not a single string")
    if not keys:
        raise ValueError("keys is empty: nothing to plot")
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"keys {missing} not found in history (has {list(history)})")
    return list(keys)


def _matching(values, name: str, key: str, steps: np.ndarray, steps_name: str) -> np.ndarray:
    """``values`` as a float series, checked to have one value per step."""
    y = _series(values, name, key)
    if y.shape[0] != steps.shape[0]:
        raise ValueError(f"{name}[{key!r}] has {y.shape[0]} values but {steps_name} has "
                         f"{steps.shape[0]}")
    return y


def _draw_panel(ax, key: str, steps, train, val_steps, val, *, log_scale: bool,
                robust_range: bool) -> None:
    """One metric's subplot: the training curve, the validation points, the y axis."""
    y = _plottable(train, log_scale)
    drawable = bool(np.isfinite(y).any())
    ax.plot(steps, y, color="C0", linewidth=1.2, label="train")
    if val is not None and val_steps is not None:
        yv = _plottable(val, log_scale)
        drawable = drawable or bool(np.isfinite(yv).any())
        ax.plot(val_steps, yv, color="C1", linewidth=1.0, marker="o", markersize=3,
                label="val")
    if log_scale and drawable:
        # With no positive finite data a log axis has no valid limits; keep it linear.
        ax.set_yscale("log", nonpositive="mask")
    elif robust_range and drawable:
        limits = _robust_limits(steps, y, val_steps, val)
        if limits is not None:
            ax.set_ylim(*limits)
    ax.set_title(key, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def loss_curves_figure(
    history: Mapping[str, Sequence[float]],
    steps: Sequence[int],
    path: PathLike | None = None,
    *,
    keys: Sequence[str] | None = None,
    val_history: Mapping[str, Sequence[float]] | None = None,
    val_steps: Sequence[int] | None = None,
    log_scale: bool = False,
    robust_range: bool = False,
    title: str | None = None,
) -> np.ndarray:
    """Plot training (and optionally validation) curves, one subplot per metric.

    Subplots are laid out in rows of at most three. Non-finite values (and non-positive
    values when ``log_scale``) are drawn as gaps instead of raising.

    Args:
        history: Metric name -> training values, each of length ``len(steps)``.
        steps: Step numbers of the training values, length ``T``.
        path: Optional file to save the figure to (parent dirs are created).
        keys: Metrics to plot, in order (default: all keys of ``history``).
        val_history: Optional metric name -> validation values, each of length
            ``len(val_steps)``. Keys absent from it are plotted without a validation curve.
        val_steps: Step numbers of the validation values (required with ``val_history``).
        log_scale: Use a logarithmic y axis.
        robust_range: Fit each linear y axis to the values after the first tenth of the steps
            (and the overall minimum), so the large losses of the first steps run off the top
            instead of flattening the rest of the curve.
        title: Optional figure title.

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: If there is nothing to plot, a key is missing from ``history``, or a
            curve's length does not match its steps (the message names the argument).

    Example:
        >>> hist = {"loss": [3.0, 2.0, 1.5], "kl": [0.1, 0.5, 0.7]}
        >>> img = loss_curves_figure(hist, [0, 100, 200], "curves.png",
        ...                          val_history={"loss": [2.2]}, val_steps=[200])
        ... # doctest: +SKIP
    """
    step_arr = _steps(steps, "steps")
    plot_keys = _plot_keys(history, keys)
    train = {k: _matching(history[k], "history", k, step_arr, "steps") for k in plot_keys}
    val: dict[str, np.ndarray] = {}
    val_step_arr: np.ndarray | None = None
    if (val_history is None) != (val_steps is None):
        missing = "val_steps" if val_steps is None else "val_history"
        given = "val_history" if val_steps is None else "val_steps"
        raise ValueError(f"{missing} is required when {given} is given")
    if val_history is not None:
        val_step_arr = _steps(val_steps, "val_steps")
        val = {k: _matching(val_history[k], "val_history", k, val_step_arr, "val_steps")
               for k in plot_keys if k in val_history}

    n_panels = len(plot_keys)
    ncols = min(_MAX_COLS, n_panels)
    nrows = math.ceil(n_panels / ncols)
    title_in = 0.4 if title else 0.0
    width = ncols * _PANEL_W
    height = nrows * _PANEL_H + title_in
    fig = new_figure(width, height)
    gs = fig.add_gridspec(
        nrows,
        ncols,
        left=0.75 / width,
        right=1.0 - 0.15 / width,
        top=1.0 - (0.35 + title_in) / height,
        bottom=0.5 / height,
        wspace=0.35,
        hspace=0.6,
    )
    for i, k in enumerate(plot_keys):
        _draw_panel(fig.add_subplot(gs[i // ncols, i % ncols]), str(k), step_arr, train[k],
                    val_step_arr, val.get(k), log_scale=log_scale, robust_range=robust_range)
    if title:
        fig.suptitle(title, y=1.0 - 0.05 / height, va="top")
    return render_figure(fig, path)


def overlay_figure(
    series: Mapping[str, Sequence[float]],
    steps: Sequence[int] | Mapping[str, Sequence[int]],
    path: PathLike | None = None,
    *,
    ylabel: str = "",
    title: str | None = None,
) -> np.ndarray:
    """Several named series on one axis (e.g. ``kl_loss`` against ``current_capacity``).

    Args:
        series: Name -> values.
        steps: Step numbers shared by every series, or name -> steps for each.
        path: Optional file to save the figure to (parent dirs are created).
        ylabel: Label of the y axis.
        title: Optional figure title.

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Example:
        >>> img = overlay_figure({"kl": [1.0, 2.0], "C": [0.5, 2.5]}, [0, 1])
        >>> img.dtype
        dtype('uint8')
    """
    if not series:
        raise ValueError("series is empty: nothing to plot")
    fig = new_figure(6.4, 3.6)
    ax = fig.add_axes((0.11, 0.15, 0.85, 0.72 if title else 0.8))
    for i, (name, values) in enumerate(series.items()):
        y = _series(values, "series", name)
        x = _steps(steps[name] if isinstance(steps, Mapping) else steps, f"steps[{name!r}]")
        if x.shape != y.shape:
            raise ValueError(
                f"series[{name!r}] has {y.shape[0]} values but its steps have {x.shape[0]}"
            )
        ax.plot(x, _plottable(y, False), color=f"C{i}", linewidth=1.2, label=str(name))
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title, y=0.98, va="top")
    return render_figure(fig, path)
