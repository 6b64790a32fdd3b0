"""Headless plotting for VAE diagnostics (matplotlib Agg, no pyplot, no global state).

Every ``*_figure`` function builds a standalone figure, optionally saves it to ``path``
(parent directories are created) and returns the rendered RGB image as a ``uint8`` array of
shape ``(H, W, 3)``, convenient for logging to image sinks.

Example:
    >>> import jax.numpy as jnp
    >>> from vaekit.plots import traverse_latents
    >>> traverse_latents(jnp.zeros(6), [1, 4], jnp.linspace(-3.0, 3.0, 7)).shape
    (2, 7, 6)
"""

from vaekit.plots._bars import bar_chart_figure, heatmap_figure
from vaekit.plots._curves import loss_curves_figure, overlay_figure
from vaekit.plots._reconstructions import image_grid_figure, reconstruction_figure
from vaekit.plots._traversal import latent_traversal_figure, traverse_latents

__all__ = [
    "bar_chart_figure",
    "heatmap_figure",
    "image_grid_figure",
    "latent_traversal_figure",
    "loss_curves_figure",
    "overlay_figure",
    "reconstruction_figure",
    "traverse_latents",
]
