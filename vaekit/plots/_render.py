"""Shared rendering helpers for :mod:`vaekit.plots`.

Every figure in this package is built on a standalone :class:`matplotlib.figure.Figure`
attached to a :class:`matplotlib.backends.backend_agg.FigureCanvasAgg`. ``pyplot`` is never
imported, so no global figure registry or interactive backend is touched and the functions
are safe to call from worker threads and headless jobs.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaekit._checks import is_numeric

__all__ = [
    "DEFAULT_DPI",
    "PathLike",
    "as_image_batch",
    "draw_image",
    "grid_figure",
    "label_width_in",
    "new_figure",
    "render_figure",
]

PathLike = str | os.PathLike[str]

#: Resolution used for every figure (dots per inch). Kept low so rendering stays cheap.
DEFAULT_DPI = 80

# Grid layout constants, in inches.
_CELL = 1.0
_GAP = 0.08
_MARGIN = 0.1
_TITLE_H = 0.45
_HEADER_H = 0.3


def new_figure(width_in: float | int, height_in: float | int, *, dpi: int = DEFAULT_DPI) -> Figure:
    """Create a pyplot-free figure backed by an Agg canvas.

    Args:
        width_in: Figure width in inches.
        height_in: Figure height in inches.
        dpi: Dots per inch.

    Returns:
        A :class:`Figure` whose ``canvas`` is a :class:`FigureCanvasAgg`.

    Example:
        >>> fig = new_figure(2.0, 1.0)
        >>> render_figure(fig).shape
        (80, 160, 3)
    """
    fig = Figure(figsize=(float(width_in), float(height_in)), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def render_figure(fig: Figure, path: PathLike | None = None) -> np.ndarray:
    """Rasterise ``fig``, optionally save it, and return its pixels.

    Args:
        fig: Figure created by :func:`new_figure` (any figure with an Agg canvas works).
        path: Optional output file. Parent directories are created. The format follows
            the suffix (``.png`` recommended); the saved image has the same pixel size as
            the returned array.

    Returns:
        ``uint8`` array of shape ``(H, W, 3)`` holding the rendered RGB image.

    Example:
        >>> img = render_figure(new_figure(1.0, 1.0), "out/blank.png")  # doctest: +SKIP
        >>> img.dtype, img.shape  # doctest: +SKIP
        (dtype('uint8'), (80, 80, 3))
    """
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.array(canvas.buffer_rgba(), dtype=np.uint8, copy=True)[..., :3]
    rgb = np.ascontiguousarray(rgb)
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=fig.dpi)
    return rgb


def as_image_batch(images: npt.ArrayLike, name: str, batch_ndim: int) -> np.ndarray:
    """Validate and normalise a batch of images for display.

    Args:
        images: Array of shape ``(*batch, H, W)`` or ``(*batch, H, W, C)`` with ``C`` in
            ``{1, 3}`` and ``len(batch) == batch_ndim``; values are expected in ``[0, 1]``.
        name: Argument name used in error messages.
        batch_ndim: Number of leading batch axes.

    Returns:
        ``float32`` array of shape ``(*batch, H, W)`` (grayscale) or ``(*batch, H, W, 3)``,
        clipped to ``[0, 1]`` with non-finite values replaced by ``0``.

    Raises:
        ValueError: If the rank, channel count or any size is invalid.

    Example:
        >>> as_image_batch(np.zeros((2, 4, 4, 1)), "images", 1).shape
        (2, 4, 4)
    """
    arr = np.asarray(images)
    if not is_numeric(arr.dtype):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    gray_ndim = batch_ndim + 2
    if arr.ndim == gray_ndim + 1:
        channels = arr.shape[-1]
        if channels == 1:
            arr = arr[..., 0]
        elif channels != 3:
            raise ValueError(
                f"{name} must have 1 or 3 channels in its last axis, got shape {arr.shape}"
            )
    elif arr.ndim != gray_ndim:
        raise ValueError(
            f"{name} must have {gray_ndim} or {gray_ndim + 1} dimensions "
            f"(batch axes + H, W[, C]), got shape {arr.shape}"
        )
    if any(s == 0 for s in arr.shape):
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


def draw_image(ax: Axes, image: np.ndarray) -> None:
    """Show one ``(H, W)`` or ``(H, W, 3)`` image in ``[0, 1]`` on ``ax`` without ticks."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def grid_figure(
    nrows: int,
    ncols: int,
    *,
    aspect: float | int = 1.0,
    left_in: float | int = 0.0,
    header: bool = False,
    title: str | None = None,
) -> tuple[Figure, list[list[Axes]]]:
    """Create a figure holding an ``nrows x ncols`` grid of equally sized image cells.

    The figure size grows linearly with the number of rows and columns, so larger grids
    always render to larger images.

    Args:
        nrows: Number of rows (>= 1).
        ncols: Number of columns (>= 1).
        aspect: Cell height / width ratio (image ``H / W``).
        left_in: Extra left margin in inches (room for row labels).
        header: Reserve room above the first row for column titles.
        title: Optional figure title (``suptitle``).

    Returns:
        ``(fig, axes)`` where ``axes[r][c]`` is the cell in row ``r``, column ``c``.
    """
    cell_w = _CELL
    cell_h = _CELL * float(np.clip(aspect, 0.25, 4.0))
    top_in = _MARGIN + (_HEADER_H if header else 0.0) + (_TITLE_H if title else 0.0)
    grid_w = ncols * cell_w + (ncols - 1) * _GAP
    grid_h = nrows * cell_h + (nrows - 1) * _GAP
    width = _MARGIN + left_in + grid_w + _MARGIN
    height = top_in + grid_h + _MARGIN
    fig = new_figure(width, height)
    gs = fig.add_gridspec(
        nrows,
        ncols,
        left=(_MARGIN + left_in) / width,
        right=1.0 - _MARGIN / width,
        top=1.0 - top_in / height,
        bottom=_MARGIN / height,
        wspace=_GAP / cell_w,
        hspace=_GAP / cell_h,
    )
    axes = [[fig.add_subplot(gs[r, c]) for c in range(ncols)] for r in range(nrows)]
    if title:
        fig.suptitle(title, y=1.0 - (_MARGIN * 0.5) / height, va="top")
    return fig, axes


def label_width_in(labels: Sequence[str], fontsize: float | int = 10.0) -> float:
    """Rough width in inches needed to print the longest of ``labels`` at ``fontsize``."""
    longest = max((len(s) for s in labels), default=0)
    if longest == 0:
        return 0.0
    # ~0.6 em per character plus padding for the label offset.
    return 0.6 * fontsize / 72.0 * longest + 0.15
