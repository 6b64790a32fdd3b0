"""`vaekit train --data NAME`: a downloadable source through the runner (loopback server), the
on-device procedural dSprites default, uint8 storage, dynamic binarisation, clear failures."""

import gzip
import json

import numpy as np
import pytest

pytest.importorskip("pooch")
pytestmark = pytest.mark.usefixtures("clean_data_environment")

from vaekit.cli import main  # noqa: E402
from vaekit.data._idx import encode_idx  # noqa: E402
from vaekit.runner import RunConfig, load_run, resume_run, start_run  # noqa: E402
from vaekit.runner._config import SOURCE_DATASETS  # noqa: E402
from vaekit.runner._datasets import load_data  # noqa: E402

SMALL = ["--latent-dim", "2", "--hidden", "16", "--steps", "20", "--batch-size", "8",
         "--eval-every", "10", "--checkpoint-every", "10", "--no-progress"]


def _publish_mnist(server, n_train=48, n_test=8):
    rng = np.random.default_rng(0)
    registry, arrays = {}, {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        arrays[stem] = images, labels
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            key = f"mnist/{stem}-{kind}-ubyte.gz"
            registry[key] = server.publish(key, gzip.compress(encode_idx(array)))
    return registry, arrays


def test_the_runner_lists_exactly_the_registered_sources():
    from vaekit.data import DATASET_NAMES

    assert tuple(SOURCE_DATASETS) == tuple(DATASET_NAMES)


def test_vaekit_train_mnist_downloads_then_trains_offline_from_the_warm_cache(
        server, tmp_path, monkeypatch, capsys):
    registry, arrays = _publish_mnist(server)
    registry_file = tmp_path / "registry.json"
    registry_file.write_text(json.dumps(registry))
    monkeypatch.setenv("VAEKIT_DATA_REGISTRY", str(registry_file))
    cache = tmp_path / "cache"
    common = ["--data", "mnist", "--data-dir", str(cache), "--num-val", "8", *SMALL]
    assert main(["train", *common, "--out", str(tmp_path / "online")]) == 0
    server.stop()
    assert main(["train", *common, "--offline", "--out", str(tmp_path / "offline")]) == 0
    for run in ("online", "offline"):
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        assert summary["complete"] and np.isfinite(summary["final_val"]["loss"])
    # The two runs (download, then cache only) trained on the same data: same metrics.
    assert ((tmp_path / "online" / "metrics.jsonl").read_text()
            == (tmp_path / "offline" / "metrics.jsonl").read_text())
    # The run's data stay uint8; the validation images for plots are their float view.
    parts = load_run(tmp_path / "offline")
    assert parts.data.train["x"].dtype == np.uint8 and parts.data.train["x"].shape[1:] == (
        28, 28, 1)
    train_and_val = np.concatenate([parts.data.train["x"], parts.data.val["x"]])
    np.testing.assert_array_equal(np.sort(train_and_val.ravel()),
                                  np.sort(arrays["train"][0].ravel()))
    np.testing.assert_array_equal(parts.data.val_images,
                                  parts.data.val["x"].astype(np.float32) / np.float32(255))


def test_vaekit_train_mnist_offline_without_a_cache_fails_clearly(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", "mnist", "--data-dir", str(tmp_path / "empty"),
                 "--offline", *SMALL, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "train-images-idx3-ubyte.gz" in err
    assert not out.exists()


def test_unknown_data_name_and_missing_image_folder_path_are_config_errors(tmp_path, capsys):
    assert main(["train", "--data", "mnsit", "--out", str(tmp_path / "a")]) == 2
    assert "mnsit" in capsys.readouterr().err
    assert main(["train", "--data", "image-folder", "--out", str(tmp_path / "b")]) == 2
    assert "data.path" in capsys.readouterr().err


def _tiny(**data):
    return RunConfig.from_dict({
        "model": {"latent_dim": 2, "hidden": [16]},
        "data": {"num_val": 16, **data},
        "train": {"steps": 20, "batch_size": 8, "eval_every": 10, "checkpoint_every": 10,
                  "steps_per_call": 10},
    })


def test_procedural_dsprites_holds_only_grid_indices_on_the_host():
    from vaekit.data import NUM_COMBINATIONS, index_to_factors, render

    data = load_data(_tiny().data, seed=0)
    assert set(data.train) == {"index"} and data.train["index"].dtype == np.int32
    assert data.num_train == NUM_COMBINATIONS - 16  # num_train = 0: the whole grid less val
    assert len(np.intersect1d(data.train["index"], data.val["index"])) == 0
    np.testing.assert_array_equal(data.val_images, render(index_to_factors(data.val["index"])))


def test_dynamic_binarization_run_resumes_bit_for_bit(tmp_path):
    rng = np.random.default_rng(1)
    npz = tmp_path / "gray.npz"
    np.savez(npz, images=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8))
    config = _tiny(name="npz", path=str(npz), binarize="dynamic")
    start_run(config, tmp_path / "whole")
    start_run(config, tmp_path / "split", stop_at=10)
    resume_run(tmp_path / "split")
    assert ((tmp_path / "whole" / "metrics.jsonl").read_text()
            == (tmp_path / "split" / "metrics.jsonl").read_text())


def test_streamed_arrays_run_resumes_bit_for_bit_with_the_stream_state_checkpointed(tmp_path):
    from vaekit.data import write_arrays
    from vaekit.runner import Checkpoints

    rng = np.random.default_rng(2)
    chunks = ({"x": rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8),
               "y": rng.integers(0, 3, 40).astype(np.int32)} for _ in range(2))
    store = write_arrays(tmp_path / "store", chunks, num_examples=80)
    config = _tiny(name="arrays", path=str(store))
    start_run(config, tmp_path / "whole")
    _, stopped = start_run(config, tmp_path / "split", stop_at=10)
    assert stopped["step"] == 10
    checkpoints = Checkpoints(tmp_path / "split")
    try:
        saved = json.loads(checkpoints.restore_stream())
    finally:
        checkpoints.close()
    assert saved  # the stream's position travels with the train state
    resume_run(tmp_path / "split")
    assert ((tmp_path / "whole" / "metrics.jsonl").read_text()
            == (tmp_path / "split" / "metrics.jsonl").read_text())
    a, b = load_run(tmp_path / "whole"), load_run(tmp_path / "split")
    import jax

    for x, y in zip(jax.tree.leaves(a.state.params), jax.tree.leaves(b.state.params),
                    strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.data.stream and a.data.num_train == 80 - 16


def test_resuming_a_streamed_run_without_a_stream_state_is_refused(tmp_path):
    from vaekit.data import write_arrays
    from vaekit.runner import CheckpointError

    rng = np.random.default_rng(3)
    store = write_arrays(tmp_path / "store",
                         {"x": rng.integers(0, 256, (48, 8, 8, 1), dtype=np.uint8)})
    npz_like = _tiny(name="npz", path=str(tmp_path / "g.npz"))
    np.savez(tmp_path / "g.npz", images=np.asarray(np.load(store / "x.npy")))
    start_run(npz_like, tmp_path / "run", stop_at=10)
    # Point the stopped (in-memory) run at the streamed copy of the same data.
    text = (tmp_path / "run" / "config.toml").read_text()
    text = text.replace('name = "npz"', 'name = "arrays"').replace(
        str(tmp_path / "g.npz"), str(store))
    (tmp_path / "run" / "config.toml").write_text(text)
    # The edit would be refused as such (tests/test_faults.py); drop the record of the config
    # the run started with, as in a run directory written before that record existed.
    (tmp_path / "run" / "config.started.json").unlink()
    with pytest.raises(CheckpointError, match="stream"):
        resume_run(tmp_path / "run")


def _publish_source(name, server, tmp_path):
    """Registry entries serving a tiny file set of ``name`` in its real format."""
    import io

    from tests import test_data_sources as files

    if name in ("mnist", "binarized-mnist", "fashion-mnist"):
        prefix = "fashion-mnist" if name == "fashion-mnist" else "mnist"
        return files._publish_mnist(server, prefix=prefix)[0]
    if name == "cifar10":
        key = "cifar10/cifar-10-binary.tar.gz"
        return {key: server.publish(key, files._cifar_archive()[0])}
    if name == "celeba64":
        zip_bytes, partition, _ = files._celeba_files()
        return {key: server.publish(key, data) for key, data in (
            ("celeba/img_align_celeba.zip", zip_bytes),
            ("celeba/list_eval_partition.txt", partition))}
    if name == "shapes3d":
        files._shapes3d_h5(tmp_path / "3dshapes.h5")
        key = "shapes3d/3dshapes.h5"
        return {key: server.publish(key, (tmp_path / "3dshapes.h5").read_bytes())}
    assert name == "dsprites-file", name
    rng = np.random.default_rng(3)
    classes = np.stack([np.zeros(6, int)] + [rng.integers(0, s, 6) for s in (3, 6, 40, 32, 32)],
                       axis=1)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, imgs=rng.integers(0, 2, (6, 64, 64), dtype=np.uint8),
                        latents_classes=classes, latents_values=classes.astype(float))
    key = "dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    return {key: server.publish(key, buffer.getvalue())}


@pytest.mark.parametrize("name", [n for n in SOURCE_DATASETS if n != "image-folder"])
def test_every_source_loads_for_a_run_then_from_the_warm_cache_offline(
        name, server, tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    pytest.importorskip("PIL")
    import re
    from pathlib import Path

    from vaekit.runner import ConfigError, DataConfig

    registry = _publish_source(name, server, tmp_path)
    registry_file = tmp_path / "registry.json"
    registry_file.write_text(json.dumps(registry))
    monkeypatch.setenv("VAEKIT_DATA_REGISTRY", str(registry_file))
    config = DataConfig(name=name, dir=str(tmp_path / "cache"), num_val=1)
    online = load_data(config, seed=0)
    server.stop()
    offline = load_data(DataConfig(name=name, dir=str(tmp_path / "cache"), num_val=1,
                                   offline=True), seed=0)
    for data in (online, offline):
        assert data.train["x"].dtype == np.uint8 and data.train["x"].ndim == 4
        assert data.val_images.dtype == np.float32 and len(data.val_images) == 1
    np.testing.assert_array_equal(online.train["x"], offline.train["x"])
    file_names = "|".join(re.escape(Path(key).name) for key in registry)
    with pytest.raises(ConfigError, match=file_names):
        load_data(DataConfig(name=name, dir=str(tmp_path / "empty"), num_val=1, offline=True), 0)


def test_an_image_folder_trains_through_vaekit_train(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    for label in ("cats", "dogs"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    argv = ["train", "--data", "image-folder", "--data-path", str(tmp_path / "images"),
            "--model", "cvae", "--num-val", "4", *SMALL, "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    parts = load_run(tmp_path / "run")
    assert parts.data.num_classes == 2 and parts.data.image_shape == (8, 8, 3)
    assert (tmp_path / "run" / "class_samples.png").exists()


def test_a_source_without_the_data_extra_names_the_extra(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_pooch(name, *args, **kwargs):
        if name == "pooch" or name.startswith("pooch."):
            raise ImportError("No module named 'pooch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pooch)
    code = main(["train", "--data", "mnist", "--data-dir", str(tmp_path / "c"), *SMALL,
                 "--out", str(tmp_path / "run")])
    assert code == 2 and 'pip install "vaekit[data]"' in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
