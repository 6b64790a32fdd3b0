"""Bar charts and heat maps: KL per dimension, latent variances, codebook usage, MI matrices."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vaekit.plots._render import PathLike, new_figure, render_figure

__all__ = ["bar_chart_figure", "heatmap_figure"]


def bar_chart_figure(
    values: npt.ArrayLike,
    path: PathLike | None = None,
    *,
    labels: Sequence[str] | None = None,
    threshold: float | int | None = None,
    ylabel: str = "",
    title: str | None = None,
    log_scale: bool = False,
) -> np.ndarray:
    """One bar per entry of ``values`` (e.g. KL per latent dimension, code counts).

    Args:
        values: 1-D values, finite.
        path: Optional file to save the figure to (parent dirs are created).
        labels: Optional bar labels, one per value (default ``0..n-1``; many bars hide them).
        threshold: Optional horizontal line, e.g. the active-dimension threshold.
        ylabel: y-axis label.
        title: Optional title.
        log_scale: logarithmic y axis (non-positive bars are not drawn).

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Example:
        >>> bar_chart_figure([0.1, 2.0, 0.0], labels=["z0", "z1", "z2"], threshold=0.01).ndim
        3
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    if labels is not None and len(labels) != v.size:
        raise ValueError(f"labels has {len(labels)} entries but values has {v.size}")
    width = min(max(3.0, 0.35 * v.size + 1.2), 12.0)
    fig = new_figure(width, 3.0)
    ax = fig.add_axes((0.12, 0.2, 0.84, 0.66 if title else 0.72))
    x = np.arange(v.size)
    ax.bar(x, v, color="C0", width=0.8 if v.size <= 64 else 1.0)
    if labels is not None and v.size <= 40:
        ax.set_xticks(x, [str(s) for s in labels], fontsize=7, rotation=90 if v.size > 12 else 0)
    if threshold is not None:
        ax.axhline(float(threshold), color="C3", linestyle="--", linewidth=1.0,
                   label=f"threshold {float(threshold):g}")
        ax.legend(loc="upper right", fontsize=8)
    if log_scale and np.any(v > 0):
        ax.set_yscale("log", nonpositive="mask")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, y=0.97, va="top", fontsize=10)
    return render_figure(fig, path)


def heatmap_figure(
    matrix: npt.ArrayLike,
    path: PathLike | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    colorbar_label: str = "",
) -> np.ndarray:
    """A matrix as an annotated heat map (e.g. mutual information, latents × factors).

    Example:
        >>> heatmap_figure([[0.1, 0.9], [0.5, 0.0]], row_labels=["z0", "z1"],
        ...                col_labels=["shape", "scale"]).ndim
        3
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-D array, got shape {m.shape}")
    for name, labels, n in (("row_labels", row_labels, m.shape[0]),
                            ("col_labels", col_labels, m.shape[1])):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} entries but the matrix has {n}")
    width = min(2.0 + 0.8 * m.shape[1], 12.0)
    height = min(1.2 + 0.35 * m.shape[0], 12.0)
    fig = new_figure(width, height)
    ax = fig.add_axes((0.2, 0.12, 0.62, 0.72 if title else 0.8))
    image = ax.imshow(np.where(np.isfinite(m), m, np.nan), cmap="viridis", aspect="auto")
    ax.set_xticks(np.arange(m.shape[1]), col_labels or [str(i) for i in range(m.shape[1])],
                  fontsize=8)
    ax.set_yticks(np.arange(m.shape[0]), row_labels or [str(i) for i in range(m.shape[0])],
                  fontsize=8)
    if m.size <= 200:
        for (i, j), value in np.ndenumerate(m):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="w")
    bar = fig.colorbar(image, ax=ax, fraction=0.05)
    bar.set_label(colorbar_label, fontsize=8)
    if title:
        fig.suptitle(title, y=0.98, va="top", fontsize=10)
    return render_figure(fig, path)
