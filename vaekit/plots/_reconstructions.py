"""Image grids: input/reconstruction comparisons and sample grids."""

import math
import operator

import numpy as np
import numpy.typing as npt

from vaekit.plots._render import (
    PathLike,
    as_image_batch,
    draw_image,
    grid_figure,
    label_width_in,
    render_figure,
)

__all__ = ["image_grid_figure", "reconstruction_figure"]

_ROW_LABELS = ("input", "reconstruction")


def _positive_int(value: int, name: str) -> int:
    try:
        out = operator.index(value)
    except TypeError as err:
        raise ValueError(f"{name} must be an integer, got {value!r}") from err
    if out < 1:
        raise ValueError(f"{name} must be >= 1, got {out}")
    return out


def reconstruction_figure(
    inputs: npt.ArrayLike,
    recons: npt.ArrayLike,
    path: PathLike | None = None,
    *,
    n: int = 8,
    title: str | None = None,
) -> np.ndarray:
    """Plot inputs (top row) above their reconstructions (bottom row).

    Args:
        inputs: Original images, shape ``(N, H, W)`` or ``(N, H, W, C)`` with ``C`` in
            ``{1, 3}``; values in ``[0, 1]`` (clipped otherwise).
        recons: Reconstructions with exactly the same shape as ``inputs``.
        path: Optional file to save the figure to (parent dirs are created).
        n: Maximum number of examples (columns); the first ``min(n, N)`` are shown.
        title: Optional figure title.

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: If ``inputs`` has a bad shape, ``recons`` does not match it, or ``n < 1``.

    Example:
        >>> x = np.random.rand(16, 28, 28)
        >>> img = reconstruction_figure(x, x, "recon.png", n=6)  # doctest: +SKIP
        >>> img.shape[-1]  # doctest: +SKIP
        3
    """
    n = _positive_int(n, "n")
    x = as_image_batch(inputs, "inputs", batch_ndim=1)
    recons_shape = np.shape(recons)
    if recons_shape != np.shape(inputs):
        raise ValueError(
            f"recons must have the same shape as inputs: got {recons_shape} vs {np.shape(inputs)}"
        )
    r = as_image_batch(recons, "recons", batch_ndim=1)
    k = min(n, x.shape[0])
    height, width = x.shape[1:3]
    fig, axes = grid_figure(
        2, k, aspect=height / width, left_in=label_width_in(_ROW_LABELS), title=title
    )
    for c in range(k):
        draw_image(axes[0][c], x[c])
        draw_image(axes[1][c], r[c])
    for row, label in enumerate(_ROW_LABELS):
        axes[row][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    return render_figure(fig, path)


def image_grid_figure(
    images: npt.ArrayLike,
    path: PathLike | None = None,
    *,
    ncols: int = 8,
    title: str | None = None,
) -> np.ndarray:
    """Plot a batch of images (e.g. prior samples) as a grid, filled row by row.

    Args:
        images: Images, shape ``(N, H, W)`` or ``(N, H, W, C)`` with ``C`` in ``{1, 3}``;
            values in ``[0, 1]`` (clipped otherwise).
        path: Optional file to save the figure to (parent dirs are created).
        ncols: Maximum number of columns; the grid has ``min(ncols, N)`` columns and
            ``ceil(N / columns)`` rows. Unused trailing cells are left blank.
        title: Optional figure title.

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: If ``images`` has a bad shape or ``ncols < 1``.

    Example:
        >>> samples = np.random.rand(16, 28, 28)  # e.g. decoder(prior samples)
        >>> image_grid_figure(samples, "samples.png", ncols=4).shape  # doctest: +SKIP
        (355, 355, 3)
    """
    ncols = _positive_int(ncols, "ncols")
    imgs = as_image_batch(images, "images", batch_ndim=1)
    count, height, width = imgs.shape[:3]
    cols = min(ncols, count)
    rows = math.ceil(count / cols)
    fig, axes = grid_figure(rows, cols, aspect=height / width, title=title)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i < count:
            draw_image(ax, imgs[i])
        else:
            ax.set_axis_off()
    return render_figure(fig, path)
