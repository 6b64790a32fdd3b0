"""Latent traversals: build traversal codes and plot the decoded grid.

A traversal varies one latent coordinate at a time while keeping the rest of a base code
fixed. :func:`traverse_latents` produces the ``(dims, steps, latent)`` grid of codes (pure
``jax.numpy``, usable inside ``jit``); decode it with any model and hand the images to
:func:`latent_traversal_figure`.
"""

import operator
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, Float, Int

from vaekit.plots._render import (
    PathLike,
    as_image_batch,
    draw_image,
    grid_figure,
    label_width_in,
    render_figure,
)

__all__ = ["latent_traversal_figure", "traverse_latents"]


@jax.jit
def _traverse(
    z_base: Float[Array, " latent"],
    dims: Int[Array, " dims"],
    values: Float[Array, " steps"],
) -> Float[Array, "dims steps latent"]:
    n_dims, n_steps, latent = dims.shape[0], values.shape[0], z_base.shape[0]
    out = jnp.broadcast_to(z_base, (n_dims, n_steps, latent))
    rows = jnp.arange(n_dims)[:, None]
    cols = jnp.arange(n_steps)[None, :]
    return out.at[rows, cols, dims[:, None]].set(
        jnp.broadcast_to(values[None, :], (n_dims, n_steps))
    )


def traverse_latents(
    z_base: Float[Array, " latent"],
    dims: Sequence[int],
    values: Float[Array, " steps"],
) -> Float[Array, "dims steps latent"]:
    """Build a grid of latent codes that sweep selected coordinates of ``z_base``.

    Entry ``out[i, j]`` equals ``z_base`` with coordinate ``dims[i]`` replaced by
    ``values[j]``; every other coordinate is copied unchanged. The result has the promoted
    dtype of ``z_base`` and ``values``. Purely functional (``.at[].set``); ``z_base`` and
    ``values`` may be traced, ``dims`` must be concrete Python/NumPy integers.

    Args:
        z_base: Base latent code, shape ``(latent,)``.
        dims: Latent coordinates to sweep, each in ``[0, latent)``. Repeats are allowed.
        values: Values assigned to the swept coordinate, shape ``(steps,)``.

    Returns:
        Array of shape ``(len(dims), steps, latent)``.

    Raises:
        ValueError: If ``z_base`` or ``values`` is not 1-D, or an entry of ``dims`` is not an
            integer in range.

    Example:
        >>> z = jnp.zeros(4)
        >>> grid = traverse_latents(z, dims=[0, 2], values=jnp.linspace(-2.0, 2.0, 5))
        >>> grid.shape
        (2, 5, 4)
        >>> float(grid[1, 0, 2]), float(grid[1, 0, 0])
        (-2.0, 0.0)
    """
    z_base = jnp.asarray(z_base)
    values = jnp.asarray(values)
    if z_base.ndim != 1:
        raise ValueError(f"z_base must be 1-D (latent,), got shape {z_base.shape}")
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (steps,), got shape {values.shape}")
    latent = z_base.shape[0]
    checked: list[int] = []
    for d in dims:
        try:
            idx = operator.index(d)
        except TypeError as err:
            raise ValueError(f"dims entries must be integers, got {d!r}") from err
        if not 0 <= idx < latent:
            raise ValueError(f"dims entry {idx} is out of range for latent size {latent}")
        checked.append(idx)
    dtype = jnp.result_type(z_base.dtype, values.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, jnp.float32)
    dims_arr = jnp.asarray(checked, dtype=jnp.int32).reshape(len(checked))
    return _traverse(z_base.astype(dtype), dims_arr, values.astype(dtype))


def latent_traversal_figure(
    images: npt.ArrayLike,
    path: PathLike | None = None,
    *,
    dim_labels: Sequence[str] | None = None,
    values: npt.ArrayLike | None = None,
    title: str | None = None,
) -> np.ndarray:
    """Plot decoded latent traversals as a grid: one row per latent dim, one column per step.

    Args:
        images: Decoded traversal, shape ``(dims, steps, H, W)`` or
            ``(dims, steps, H, W, C)`` with ``C`` in ``{1, 3}``; values in ``[0, 1]``
            (clipped otherwise, non-finite pixels drawn black).
        path: Optional file to save the figure to (parent dirs are created).
        dim_labels: Optional row labels, one per dim, e.g. ``"z3 (KL 2.1)"``.
        values: Optional traversal values, one per step, used as column headers.
        title: Optional figure title.

    Returns:
        Rendered figure as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ValueError: If ``images`` has a bad shape, or ``dim_labels`` / ``values`` do not
            match its ``dims`` / ``steps`` axes.

    Example:
        >>> vals = jnp.linspace(-2.0, 2.0, 5)
        >>> codes = traverse_latents(jnp.zeros(8), [0, 3], vals)      # (2, 5, 8)
        >>> imgs = decode(codes.reshape(-1, 8)).reshape(2, 5, 28, 28)  # doctest: +SKIP
        >>> latent_traversal_figure(imgs, "traversal.png",
        ...     dim_labels=["z0 (KL 3.2)", "z3 (KL 0.4)"], values=vals)  # doctest: +SKIP
    """
    imgs = as_image_batch(images, "images", batch_ndim=2)
    n_dims, n_steps, height, width = imgs.shape[:4]
    labels: list[str] | None = None
    if dim_labels is not None:
        if isinstance(dim_labels, str):
            raise ValueError("dim_labels must be a sequence of strings, not a single string")
        labels = [str(s) for s in dim_labels]
        if len(labels) != n_dims:
            raise ValueError(
                f"dim_labels has {len(labels)} entries but images has {n_dims} dims (rows)"
            )
    headers: list[str] | None = None
    if values is not None:
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        if vals.shape[0] != n_steps:
            raise ValueError(
                f"values has {vals.shape[0]} entries but images has {n_steps} steps (columns)"
            )
        headers = [f"{v:.3g}" for v in vals]

    fig, axes = grid_figure(
        n_dims,
        n_steps,
        aspect=height / width,
        left_in=label_width_in(labels or []),
        header=headers is not None,
        title=title,
    )
    for r in range(n_dims):
        for c in range(n_steps):
            draw_image(axes[r][c], imgs[r, c])
        if labels is not None:
            axes[r][0].set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=10)
    if headers is not None:
        for c in range(n_steps):
            axes[0][c].set_title(headers[c], fontsize=9)
    return render_figure(fig, path)
