"""CLI and report polish: suggestions for typos, vaekit's own message for unreadable files,
robust loss-curve ranges, a progress line that fits 80 columns."""

import io

import numpy as np
import pytest
from rich.console import Console

from vaekit.cli import _progress_callback, main
from vaekit.plots._curves import _robust_limits
from vaekit.runner import ConfigError, RunConfig


def _err(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_a_mistyped_model_kind_gets_a_suggestion(capsys, tmp_path):
    assert "did you mean 'vq-vae'?" in _err(["train", "--model", "vqvae",
                                             "--out", str(tmp_path / "r")], capsys)
    assert "did you mean" not in _err(["train", "--model", "zzzzzz",
                                       "--out", str(tmp_path / "r")], capsys)


def test_a_mistyped_config_key_or_value_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"did you mean 'latent_dim'\?"):
        RunConfig.from_dict({"model": {"latent_dims_": [3], "latnt_dim": 3}})
    with pytest.raises(ConfigError, match=r"did you mean 'objective'\?"):
        RunConfig.from_dict({"objectve": {}})
    with pytest.raises(ConfigError, match=r"did you mean 'cosine'\?"):
        RunConfig.from_dict({"model": {"kind": "beta-vae-annealed"},
                             "objective": {"annealing": {"schedule": "cosin"}}})


def test_a_file_that_is_not_an_npz_gets_vaekits_message(tmp_path, capsys):
    fake = tmp_path / "images.npz"
    fake.write_bytes(b"this is not a zip archive")
    err = _err(["train", "--data", "npz", "--data-path", str(fake),
                "--out", str(tmp_path / "r")], capsys)
    assert "not a readable .npz archive" in err and "pickle" not in err
    objects = tmp_path / "objects.npz"
    np.savez(objects, images=np.array([{"a": 1}], dtype=object))
    err = _err(["train", "--data", "npz", "--data-path", str(objects),
                "--out", str(tmp_path / "r")], capsys)
    assert "object (pickled) arrays" in err


def test_robust_limits_ignore_the_first_tenth_but_keep_the_minimum():
    steps = np.arange(1, 101, dtype=float)
    y = np.concatenate([[5000.0, 900.0], np.linspace(120.0, 100.0, 98)])
    low, high = _robust_limits(steps, y, None, None)
    assert high < 200 and low < 100 <= high
    low, high = _robust_limits(steps, y, np.array([100.0]), np.array([80.0]))
    assert low < 80  # a validation point below the training curve stays in view
    assert _robust_limits(steps, np.full(100, 3.0), None, None) is None  # no spread


@pytest.mark.parametrize("width", [80, 120])
def test_the_progress_line_fits_the_console(width, monkeypatch):
    clock = iter([0.0, 100.0])  # 3000 steps in 100 s: 30 steps/s
    monkeypatch.setattr("vaekit.cli.time.perf_counter", lambda: next(clock))
    console = Console(file=io.StringIO(), width=width, force_terminal=True,
                      color_system=None)
    progress, update, phase = _progress_callback(console, 6000, 0, True)
    row = {"loss": 1234.5678, "reconstruction_loss": 1200.123, "kl_loss": 34.44,
           "beta": 0.75, "current_capacity": 12.5, "perplexity": 48.2}
    with progress:
        update(3000, row)
        line = progress.get_renderable()
        rendered = console.render_lines(line, console.options)
        assert all(len("".join(seg.text for seg in r).rstrip()) <= width for r in rendered)
        text = "".join(seg.text for r in rendered for seg in r)
        assert "3000/6000" in text and "loss 1.23e+03" in text and "30 steps/s" in text
        assert ("KL 34.4" in text) == (width == 120)  # what does not fit is left out
        phase("evaluate")
        text = "".join(seg.text for r in console.render_lines(progress.get_renderable(),
                                                                console.options) for seg in r)
        assert "evaluate" in text
