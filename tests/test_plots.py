"""Tests for vaekit.plots: figure rendering, PNG output, layout scaling and validation."""

import warnings

import jax
import jax.numpy as jnp
import matplotlib.image as mpimg
import numpy as np
import pytest

from vaekit.plots import (
    image_grid_figure,
    latent_traversal_figure,
    loss_curves_figure,
    reconstruction_figure,
    traverse_latents,
)
from vaekit.plots._render import as_image_batch, new_figure, render_figure

RNG = np.random.default_rng(0)


def _imgs(*shape: int) -> np.ndarray:
    return RNG.random(shape).astype(np.float32)


def _check_rgb(img: np.ndarray) -> None:
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[-1] == 3
    assert img.shape[0] > 10 and img.shape[1] > 10
    # Something was drawn: not a uniform canvas.
    assert img.min() < img.max()


def _check_png(path, img: np.ndarray) -> None:
    assert path.exists() and path.stat().st_size > 0
    read = mpimg.imread(path)
    assert abs(read.shape[0] - img.shape[0]) <= 2
    assert abs(read.shape[1] - img.shape[1]) <= 2


# --------------------------------------------------------------------------- render helper


def test_render_figure_shape_and_saves(tmp_path):
    fig = new_figure(2.0, 1.0, dpi=50)
    img = render_figure(fig, tmp_path / "a" / "b" / "blank.png")
    assert img.dtype == np.uint8
    assert img.shape == (50, 100, 3)
    assert np.all(img == 255)  # white background
    _check_png(tmp_path / "a" / "b" / "blank.png", img)


def test_as_image_batch_normalises():
    raw = np.array([[[[-1.0], [np.nan]], [[2.0], [0.5]]]])  # (1, 2, 2, 1)
    out = as_image_batch(raw, "images", batch_ndim=1)
    assert out.shape == (1, 2, 2)
    np.testing.assert_array_equal(out[0], [[0.0, 0.0], [1.0, 0.5]])


# --------------------------------------------------------------------------- traverse_latents


def test_traverse_latents_example():
    z = jnp.arange(5, dtype=jnp.float32)
    vals = jnp.array([-1.0, 0.5, 9.0])
    out = traverse_latents(z, [4, 0], vals)
    assert out.shape == (2, 3, 5)
    assert out.dtype == jnp.float32
    expected = np.tile(np.arange(5, dtype=np.float32), (2, 3, 1))
    expected[0, :, 4] = [-1.0, 0.5, 9.0]
    expected[1, :, 0] = [-1.0, 0.5, 9.0]
    np.testing.assert_array_equal(np.asarray(out), expected)
    # z_base is untouched (functional update).
    np.testing.assert_array_equal(np.asarray(z), np.arange(5))


def test_traverse_latents_under_jit():
    f = jax.jit(lambda z, v: traverse_latents(z, (1, 2), v))
    out = f(jnp.zeros(4), jnp.ones(3))
    assert out.shape == (2, 3, 4)
    assert float(out.sum()) == 6.0


@pytest.mark.parametrize("dims", [[6], [-1], [0, 7]])
def test_traverse_latents_out_of_range_dims(dims):
    with pytest.raises(ValueError, match="dims"):
        traverse_latents(jnp.zeros(6), dims, jnp.ones(3))


# Wrongly *typed* arguments raise ValueError from the function's own validation, or a
# jaxtyping TypeCheckError (a TypeError) first when runtime type checking is enabled
# (pytest --jaxtyping-packages=vaekit,...). Both name the offending argument.
def test_traverse_latents_non_integer_dims():
    with pytest.raises((ValueError, TypeError), match="dims"):
        traverse_latents(jnp.zeros(6), [1.5], jnp.ones(3))


def test_traverse_latents_bad_ranks():
    with pytest.raises((ValueError, TypeError), match="z_base"):
        traverse_latents(jnp.zeros((2, 3)), [0], jnp.ones(3))
    with pytest.raises((ValueError, TypeError), match="values"):
        traverse_latents(jnp.zeros(3), [0], jnp.ones((3, 1)))


# --------------------------------------------------------------------------- traversal figure


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 8, 8, 1), (2, 3, 8, 8, 3)])
def test_latent_traversal_figure_png(tmp_path, shape):
    path = tmp_path / "nested" / "traversal.png"
    img = latent_traversal_figure(
        _imgs(*shape),
        path,
        dim_labels=["z0 (KL 2.1)", "z3 (KL 0.2)"],
        values=[-2.0, 0.0, 2.0],
        title="traversal",
    )
    _check_rgb(img)
    _check_png(path, img)


def test_latent_traversal_figure_grows_with_grid():
    small = latent_traversal_figure(_imgs(2, 3, 8, 8))
    more_rows = latent_traversal_figure(_imgs(4, 3, 8, 8))
    more_cols = latent_traversal_figure(_imgs(2, 6, 8, 8))
    assert more_rows.shape[0] > small.shape[0]
    assert more_rows.shape[1] == small.shape[1]
    assert more_cols.shape[1] > small.shape[1]
    assert more_cols.shape[0] == small.shape[0]


def test_latent_traversal_figure_accepts_jax_arrays():
    vals = jnp.linspace(-2.0, 2.0, 3)
    img = latent_traversal_figure(jnp.asarray(_imgs(2, 3, 8, 8)), values=vals)
    _check_rgb(img)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"images": np.zeros((3, 8, 8))}, "images"),
        ({"images": np.zeros((2, 3, 8, 8, 2))}, "images"),
        ({"images": np.zeros((2, 0, 8, 8))}, "images"),
        ({"images": np.zeros((2, 3, 8, 8)), "dim_labels": ["a"]}, "dim_labels"),
        ({"images": np.zeros((2, 3, 8, 8)), "dim_labels": "ab"}, "dim_labels"),
        ({"images": np.zeros((2, 3, 8, 8)), "values": [1.0, 2.0]}, "values"),
    ],
)
def test_latent_traversal_figure_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        latent_traversal_figure(**kwargs)


# --------------------------------------------------------------------------- reconstructions


@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 8, 8, 3)])
def test_reconstruction_figure_png(tmp_path, shape):
    path = tmp_path / "out" / "recon.png"
    img = reconstruction_figure(_imgs(*shape), _imgs(*shape), path, n=4, title="recon")
    _check_rgb(img)
    _check_png(path, img)


def test_reconstruction_figure_columns():
    x = _imgs(6, 8, 8)
    two = reconstruction_figure(x, x, n=2)
    four = reconstruction_figure(x, x, n=4)
    capped = reconstruction_figure(x, x, n=100)  # only N = 6 columns
    six = reconstruction_figure(x, x, n=6)
    assert four.shape[1] > two.shape[1]
    assert four.shape[0] == two.shape[0]
    assert capped.shape == six.shape
    np.testing.assert_array_equal(capped, six)


def test_reconstruction_figure_bad_inputs():
    x = _imgs(4, 8, 8)
    with pytest.raises(ValueError, match="recons"):
        reconstruction_figure(x, _imgs(4, 8, 9))
    with pytest.raises(ValueError, match="recons"):
        reconstruction_figure(x, _imgs(3, 8, 8))
    with pytest.raises(ValueError, match="n "):
        reconstruction_figure(x, x, n=0)
    with pytest.raises(ValueError, match="inputs"):
        reconstruction_figure(_imgs(8, 8), _imgs(8, 8))


# --------------------------------------------------------------------------- image grid


def test_image_grid_figure_png(tmp_path):
    path = tmp_path / "samples.png"
    img = image_grid_figure(_imgs(5, 8, 8, 1), path, ncols=4, title="prior samples")
    _check_rgb(img)
    _check_png(path, img)


def test_image_grid_figure_grows():
    base = image_grid_figure(_imgs(4, 8, 8), ncols=4)  # 1 x 4
    more_rows = image_grid_figure(_imgs(8, 8, 8), ncols=4)  # 2 x 4
    more_cols = image_grid_figure(_imgs(8, 8, 8), ncols=8)  # 1 x 8
    assert more_rows.shape[0] > base.shape[0]
    assert more_rows.shape[1] == base.shape[1]
    assert more_cols.shape[1] > base.shape[1]
    assert more_cols.shape[0] == base.shape[0]


def test_image_grid_figure_bad_inputs():
    with pytest.raises(ValueError, match="ncols"):
        image_grid_figure(_imgs(4, 8, 8), ncols=0)
    with pytest.raises(ValueError, match="images"):
        image_grid_figure(_imgs(4, 8))
    with pytest.raises(ValueError, match="images"):
        image_grid_figure(_imgs(4, 8, 8, 4))


# --------------------------------------------------------------------------- loss curves

HIST = {"loss": [3.0, 2.0, 1.5, 1.2], "kl": [0.1, 0.4, 0.6, 0.7], "recon": [3.0, 1.6, 0.9, 0.5]}
STEPS = [0, 10, 20, 30]


def test_loss_curves_figure_png(tmp_path):
    path = tmp_path / "logs" / "curves.png"
    img = loss_curves_figure(
        HIST, STEPS, path, val_history={"loss": [2.5, 1.4]}, val_steps=[10, 30], title="curves"
    )
    _check_rgb(img)
    _check_png(path, img)


def test_loss_curves_figure_keys_and_size():
    one = loss_curves_figure(HIST, STEPS, keys=["loss"])
    two = loss_curves_figure(HIST, STEPS, keys=["loss", "kl"])
    three = loss_curves_figure(HIST, STEPS)  # defaults to every key
    assert two.shape[1] > one.shape[1]
    assert three.shape[1] > two.shape[1]
    four = loss_curves_figure({**HIST, "beta": [0.0, 0.3, 0.6, 1.0]}, STEPS)
    assert four.shape[0] > three.shape[0]  # wraps onto a second row


@pytest.mark.parametrize("log_scale", [False, True])
def test_loss_curves_figure_non_finite(log_scale):
    hist = {
        "loss": [3.0, float("nan"), float("inf"), 1.0],
        "kl": [0.0, -1.0, float("-inf"), 1e-3],
        "dead": [float("nan")] * 4,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = loss_curves_figure(
            hist,
            STEPS,
            val_history={"loss": [float("nan"), 2.0], "dead": [float("inf"), float("nan")]},
            val_steps=[10, 30],
            log_scale=log_scale,
        )
    _check_rgb(img)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": [0, 1, 2]}, "history"),
        ({"keys": ["missing"]}, "keys"),
        ({"keys": []}, "keys"),
        ({"val_history": {"loss": [1.0, 2.0, 3.0]}, "val_steps": [1, 2]}, "val_history"),
        ({"val_history": {"loss": [1.0]}}, "val_steps"),
        ({"val_steps": [1]}, "val_history"),
        ({"history": {}}, "history"),
    ],
)
def test_loss_curves_figure_bad_inputs(kwargs, name):
    args = {"history": HIST, "steps": STEPS, **kwargs}
    with pytest.raises(ValueError, match=name):
        loss_curves_figure(**args)


def test_overlay_figure_draws_series_and_checks_lengths(tmp_path):
    from vaekit.plots import overlay_figure

    path = tmp_path / "overlay.png"
    img = overlay_figure({"kl_loss": [1.0, 2.0, 3.0], "current_capacity": [0.0, 2.0, 4.0]},
                         [0, 10, 20], path, ylabel="nats", title="t")
    assert img.dtype == np.uint8 and img.ndim == 3 and path.exists()
    blank = overlay_figure({"a": [np.nan, np.nan]}, [0, 1])
    assert blank.shape == img.shape[:2] + (3,) or blank.ndim == 3
    with pytest.raises(ValueError, match="series\\['b'\\]"):
        overlay_figure({"b": [1.0, 2.0]}, [0, 1, 2])
    with pytest.raises(ValueError, match="series is empty"):
        overlay_figure({}, [0])


def test_bar_chart_and_heatmap(tmp_path):
    from vaekit.plots import bar_chart_figure, heatmap_figure

    small = bar_chart_figure([0.0, 1.5, 0.2], tmp_path / "kl.png", labels=["a", "b", "c"],
                             threshold=0.01, ylabel="nats", title="KL")
    wide = bar_chart_figure(np.arange(30.0))
    assert small.dtype == np.uint8 and (tmp_path / "kl.png").exists()
    assert wide.shape[1] > small.shape[1]  # more bars, wider figure
    heat = heatmap_figure(np.random.default_rng(0).random((10, 5)), tmp_path / "mi.png",
                          row_labels=[f"z{i}" for i in range(10)],
                          col_labels=list("abcde"), title="MI")
    assert heat.ndim == 3 and (tmp_path / "mi.png").exists()
    with pytest.raises(ValueError, match="labels"):
        bar_chart_figure([1.0, 2.0], labels=["x"])
    with pytest.raises(ValueError, match="finite"):
        bar_chart_figure([1.0, np.nan])
    with pytest.raises(ValueError, match="col_labels"):
        heatmap_figure(np.zeros((2, 2)), col_labels=["a"])
