"""Shared pieces of the reproductions: the training loop, models, metric helpers, plots."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from flax import nnx

from vaekit.data import IMAGE_SHAPE, index_to_factors, render, split_indices
from vaekit.models import VAE, MLPDecoder, MLPEncoder
from vaekit.plots._render import new_figure, render_figure
from vaekit.training import History, TrainState, TrainStep, array_source, run_chunks

PROFILES = ("smoke", "quick", "full")


def train_history(
    train: TrainStep,
    state: TrainState,
    data: Mapping[str, np.ndarray],
    *,
    num_steps: int,
    batch_size: int,
    seed: int,
    fused: bool = True,
    steps_per_call: int = 100,
    keep: Callable[[str], bool] = lambda name: not name.startswith("kl_dim_"),
) -> tuple[TrainState, History]:
    """Trains ``num_steps`` steps; returns the state and the per-step metrics ``keep`` accepts.

    The loop is :func:`vaekit.training.run_chunks` on :func:`vaekit.training.array_source`
    (as :func:`vaekit.fit`); the :class:`vaekit.training.History` holds ``train`` (per-step
    float64 arrays) and ``train_steps``. ``fused=True`` runs chunks of ``steps_per_call``
    steps through ``train.multi_step`` (one ``lax.scan``); ``fused=False`` calls
    ``train.step`` once per step with the same batches, which convolutional models need on a
    CPU (see :func:`vaekit.training.run_chunks` for the measurement).
    """
    history = History()
    source = array_source(data, batch_size=batch_size, seed=seed)
    chunks = run_chunks(train, state, source, num_steps=num_steps,
                        steps_per_call=steps_per_call, fused=fused)
    for chunk in chunks:
        state = chunk.state
        history.append_train(chunk.step, {k: v for k, v in chunk.metrics.items() if keep(k)})
    return state, history


def dsprites_on_device(
    num_train: int, num_val: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """``make_dsprites``'s split as ``({"index": train}, {"index": val}, val images)``.

    The training set stays grid indices, rendered inside the compiled step
    (``make_train_step(preprocess=vaekit.data.render_dsprites_batch)``, the same images bit
    for bit), so even the whole 737,280-image grid never becomes a host array; the
    ``(num_val, 64, 64, 1)`` float32 validation images are also rendered on the host (for
    encoders and plots outside the step).
    """
    train_index, val_index = split_indices(num_train, num_val, seed)
    return {"index": train_index}, {"index": val_index}, render(index_to_factors(val_index))


def mlp_vae(latent_dim: int, hidden: Sequence[int], seed: int,
            image_shape: Sequence[int] = IMAGE_SHAPE) -> VAE:
    """An MLP VAE: encoder ``hidden``, mirrored decoder (vaekit's dSprites default 512-256)."""
    rngs = nnx.Rngs(seed)
    return VAE(MLPEncoder(image_shape, latent_dim, tuple(hidden), rngs=rngs),
               MLPDecoder(latent_dim, image_shape, tuple(hidden)[::-1], rngs=rngs))


def window_means(values: np.ndarray, window: int) -> np.ndarray:
    """Means of consecutive windows of ``window`` values (the last partial window dropped)."""
    k = len(values) // window
    return np.asarray(values[: k * window], np.float64).reshape(k, window).mean(axis=1)


def grouped_bars_figure(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    path,
    *,
    errors: Mapping[str, Sequence[float]] | None = None,
    ylabel: str = "",
    title: str | None = None,
    reference: Mapping[str, Sequence[float | None]] | None = None,
) -> np.ndarray:
    """Grouped bars of several named series.

    Bars of several named series per group (e.g. one bar per metric for each model), with optional
    error bars and optional reference markers (e.g. published values).
    """
    width_in = min(2.0 + 0.5 * len(groups) * max(1, len(series)), 12.0)
    fig = new_figure(width_in, 3.4)
    ax = fig.add_axes((0.09, 0.16, 0.88, 0.66 if title else 0.74))
    x = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        offset = x - 0.4 + width * (i + 0.5)
        err = None if errors is None else np.asarray(errors[name], np.float64)
        ax.bar(offset, np.asarray(values, np.float64), width, yerr=err, capsize=2,
               color=f"C{i}", label=name)
        if reference is not None and name in reference:
            ref = np.asarray([np.nan if v is None else v for v in reference[name]], np.float64)
            ax.plot(offset, ref, linestyle="none", marker="_", markersize=14,
                    markeredgewidth=2, color="k")
    ax.set_xticks(x, list(groups), fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(6, max(1, len(series))), loc="lower left",
              bbox_to_anchor=(0.0, 1.0), frameon=False)
    if title:
        fig.suptitle(title, y=0.98, va="top", fontsize=10)
    return render_figure(fig, path)


def small_multiples_figure(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    path,
    *,
    ylabel: str = "",
    title: str | None = None,
    log_y: bool = False,
) -> np.ndarray:
    """One axis per panel, each with several named ``(x, y)`` curves."""
    n = len(panels)
    fig = new_figure(min(3.2 * n, 12.8), 3.0)
    for i, (panel, curves) in enumerate(panels.items()):
        left = 0.06 + i * (0.94 / n)
        ax = fig.add_axes((left, 0.16, 0.94 / n - 0.06, 0.66 if title else 0.74))
        for j, (name, (xs, ys)) in enumerate(curves.items()):
            ax.plot(np.asarray(xs), np.asarray(ys), color=f"C{j}", linewidth=1.0, label=name)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(panel, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("step", fontsize=8)
        if i == 0:
            ax.set_ylabel(ylabel, fontsize=8)
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, y=0.98, va="top", fontsize=10)
    return render_figure(fig, path)


def flat_metrics(prefix: str, values: Mapping[str, Any]) -> dict[str, float]:
    """``{prefix.key: float(value)}``."""
    return {f"{prefix}.{k}": float(v) for k, v in values.items()}
