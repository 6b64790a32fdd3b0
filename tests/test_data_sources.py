"""vaekit.data.sources end to end: real file formats served by a loopback HTTP server.

No network and no mocked parsers: each test writes tiny files in the real formats (IDX .gz,
cifar-10-binary.tar.gz, the dSprites npz layout, the 3dshapes.h5 layout, a CelebA zip and
partition file, an image folder), serves them from 127.0.0.1, points the registry override at
them with their own sha256, and checks what ``load_dataset`` returns and what the cache holds.
"""

import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("pooch")
Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.usefixtures("clean_data_environment")

from vaekit.data._cifar import CIFAR10_CLASSES  # noqa: E402
from vaekit.data._idx import MNIST_CLASSES, encode_idx  # noqa: E402
from vaekit.data._sources import (  # noqa: E402
    DATASET_NAMES,
    REMOTE_FILES,
    DatasetError,
    ImageDataset,
    dataset_files,
    load_dataset,
)

# The loopback `server` fixture (and a clean environment) live in tests/conftest.py.


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def _files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- writers


def _gz_idx(array: np.ndarray) -> bytes:
    return gzip.compress(encode_idx(array))


def _mnist_arrays(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, :4] = 0  # some exact zeros and 255s for the binarisation checks
    images[:, -4:] = 255
    return images, rng.integers(0, 10, n).astype(np.uint8)


def _publish_mnist(server, prefix: str = "mnist") -> tuple[dict, dict]:
    registry, arrays = {}, {}
    for split, stem, n in (("train", "train", 5), ("test", "t10k", 3)):
        images, labels = _mnist_arrays(len(stem) + n, n)
        arrays[split] = (images, labels)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            key = f"{prefix}/{stem}-{kind}-ubyte.gz"
            registry[key] = server.publish(key, _gz_idx(array))
    return registry, arrays


def _tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _cifar_batch(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    chw = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    records = np.concatenate([labels[:, None], chw.reshape(n, -1)], axis=1)
    return records.tobytes(), chw.transpose(0, 2, 3, 1), labels


def _cifar_archive() -> tuple[bytes, dict[str, tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(10)
    meta = ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()
    members = {"cifar-10-batches-bin/batches.meta.txt": meta}
    train_images, train_labels = [], []
    for i in range(1, 6):
        data, images, labels = _cifar_batch(rng, 2)
        members[f"cifar-10-batches-bin/data_batch_{i}.bin"] = data
        train_images.append(images)
        train_labels.append(labels)
    data, test_images, test_labels = _cifar_batch(rng, 3)
    members["cifar-10-batches-bin/test_batch.bin"] = data
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"
    expected = {
        "train": (np.concatenate(train_images), np.concatenate(train_labels)),
        "test": (test_images, test_labels),
    }
    return _tar_gz(members), expected


# ----------------------------------------------------------------------------- MNIST family


def test_mnist_end_to_end_then_offline_from_the_warm_cache(server, cache):
    registry, arrays = _publish_mnist(server)
    for split in ("train", "test"):
        data = load_dataset("mnist", split, data_dir=cache, registry=registry)
        images, labels = arrays[split]
        assert isinstance(data, ImageDataset)
        assert (data.name, data.split, data.class_names) == ("mnist", split, MNIST_CLASSES)
        assert data.images.dtype == np.uint8 and data.images.shape == (len(images), 28, 28, 1)
        np.testing.assert_array_equal(data.images[..., 0], images)
        assert data.labels.dtype == np.int32
        np.testing.assert_array_equal(data.labels, labels)
        assert data.factors is None
    assert _files_in(cache) == sorted(registry)  # exactly the four files, no temporaries
    server.stop()
    again = load_dataset("mnist", "test", data_dir=cache, registry=registry, offline=True)
    np.testing.assert_array_equal(again.images[..., 0], arrays["test"][0])
    assert "(3, 28, 28, 1) uint8" in repr(again)


def test_fashion_mnist_reads_its_own_files(server, cache):
    registry, arrays = _publish_mnist(server, prefix="fashion-mnist")
    data = load_dataset("fashion-mnist", "train", data_dir=cache, registry=registry)
    np.testing.assert_array_equal(data.images[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(data.labels, arrays["train"][1])
    assert data.class_names[0] == "T-shirt/top" and len(data.class_names) == 10
    assert _files_in(cache) == sorted(k for k in registry if k.startswith("fashion-mnist/train"))


def test_binarized_mnist_is_a_fixed_documented_draw(server, cache):
    registry, arrays = _publish_mnist(server)
    first = load_dataset("binarized-mnist", "train", data_dir=cache, registry=registry)
    same = load_dataset("binarized-mnist", "train", data_dir=cache, registry=registry, seed=0)
    other = load_dataset("binarized-mnist", "train", data_dir=cache, registry=registry, seed=1)
    test = load_dataset("binarized-mnist", "test", data_dir=cache, registry=registry)
    images = arrays["train"][0][..., None]
    assert first.images.dtype == np.uint8 and set(np.unique(first.images)) <= {0, 255}
    np.testing.assert_array_equal(first.images, same.images)  # deterministic
    assert (first.images != other.images).any()  # the seed matters
    assert (first.images[images == 0] == 0).all() and (first.images[images == 255] == 255).all()
    middle = (images > 0) & (images < 255)
    assert abs((first.images[middle] == 255).mean() - (images[middle] / 255.0).mean()) < 0.05
    np.testing.assert_array_equal(first.labels, arrays["train"][1])
    assert test.images.shape == (3, 28, 28, 1)


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar10_binary_archive_end_to_end(server, cache):
    archive, expected = _cifar_archive()
    key = "cifar10/cifar-10-binary.tar.gz"
    registry = {key: server.publish(key, archive)}
    for split in ("train", "test"):
        data = load_dataset("cifar10", split, data_dir=cache, registry=registry)
        images, labels = expected[split]
        assert data.images.shape == (len(images), 32, 32, 3) and data.images.dtype == np.uint8
        np.testing.assert_array_equal(data.images, images)  # CHW records -> NHWC
        np.testing.assert_array_equal(data.labels, labels)
        assert data.labels.dtype == np.int32 and data.class_names == CIFAR10_CLASSES
    server.stop()
    offline = load_dataset("cifar10", "test", data_dir=cache, registry=registry, offline=True)
    np.testing.assert_array_equal(offline.images, expected["test"][0])


def test_cifar10_rejects_a_link_member_and_a_cut_record(server, cache):
    meta = {"cifar-10-batches-bin/batches.meta.txt": b"a\n"}
    linked = _tar_gz(meta, links={"cifar-10-batches-bin/test_batch.bin": "/etc/passwd"})
    key = "cifar10/cifar-10-binary.tar.gz"
    with pytest.raises(DatasetError, match="not a regular file"):
        load_dataset("cifar10", "test", data_dir=cache, registry={key: server.publish(key, linked)})
    (cache / key).unlink()
    cut = _tar_gz({**meta, "cifar-10-batches-bin/test_batch.bin": bytes(3073 + 100)})
    with pytest.raises(DatasetError, match="test_batch.bin.*3073"):
        load_dataset("cifar10", "test", data_dir=cache, registry={key: server.publish(key, cut)})


# ----------------------------------------------------------------------------- dSprites, 3D Shapes


def test_dsprites_file_reads_imgs_and_latents_classes_without_pickle(server, cache):
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 2, (6, 64, 64), dtype=np.uint8)
    classes = np.stack(
        [np.zeros(6, int)] + [rng.integers(0, s, 6) for s in (3, 6, 40, 32, 32)], axis=1
    ).astype(np.int64)
    buffer = io.BytesIO()  # the real layout minus the pickled ``metadata`` entry
    np.savez_compressed(buffer, imgs=imgs, latents_classes=classes,
                        latents_values=classes.astype(np.float64))
    key = "dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    registry = {key: server.publish(key, buffer.getvalue())}
    data = load_dataset("dsprites-file", data_dir=cache, registry=registry)
    assert data.images.shape == (6, 64, 64, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[..., 0], imgs * 255)
    np.testing.assert_array_equal(data.factors, classes[:, 1:])
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert data.factor_sizes == (3, 6, 40, 32, 32) and data.labels is None
    server.stop()
    whole = load_dataset("dsprites-file", "all", data_dir=cache, registry=registry, offline=True)
    np.testing.assert_array_equal(whole.factors, classes[:, 1:])


def _shapes3d_h5(path: Path) -> tuple[np.ndarray, np.ndarray]:
    n = 15
    rows = np.arange(n)
    hues = np.linspace(0.0, 0.9, 10)
    labels = np.stack([
        hues[rows % 10], hues[(rows + 3) % 10], hues[(rows + 7) % 10],
        np.linspace(0.75, 1.25, 8)[rows % 8], (rows % 4).astype(float),
        np.linspace(-30.0, 30.0, 15)[(rows * 4) % 15],
    ], axis=1)
    factors = np.stack(
        [rows % 10, (rows + 3) % 10, (rows + 7) % 10, rows % 8, rows % 4, (rows * 4) % 15], axis=1
    )
    images = np.random.default_rng(4).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=images, compression="gzip", chunks=(4, 64, 64, 3))
        h5.create_dataset("labels", data=labels)
    return images, factors


def test_shapes3d_h5_labels_become_factor_indices(server, cache, tmp_path):
    images, factors = _shapes3d_h5(tmp_path / "3dshapes.h5")
    key = "shapes3d/3dshapes.h5"
    registry = {key: server.publish(key, (tmp_path / "3dshapes.h5").read_bytes())}
    data = load_dataset("shapes3d", data_dir=cache, registry=registry)
    assert data.images.shape == (15, 64, 64, 3) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.factors, factors)
    assert data.factor_sizes == (10, 10, 10, 8, 4, 15) and data.factor_names[-1] == "orientation"
    server.stop()
    offline = load_dataset("shapes3d", "all", data_dir=cache, registry=registry, offline=True)
    np.testing.assert_array_equal(offline.factors, factors)


# ----------------------------------------------------------------------------- CelebA


def _celeba_files() -> tuple[bytes, bytes, np.ndarray]:
    """A 6-image aligned zip: each crop square one colour, everything outside it another."""
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200],
                        [200, 200, 30], [30, 200, 200], [120, 120, 120]], np.uint8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("img_align_celeba/", b"")
        for i, colour in enumerate(colours, 1):
            pixels = np.full((218, 178, 3), 255 - colour, np.uint8)
            pixels[40:188, 15:163] = colour
            jpeg = io.BytesIO()
            Image.fromarray(pixels).save(jpeg, "JPEG", quality=100, subsampling=0)
            archive.writestr(f"img_align_celeba/{i:06d}.jpg", jpeg.getvalue())
    partition = b"".join(f"{i:06d}.jpg {c}\r\n".encode() for i, c in
                         zip(range(1, 7), (0, 0, 0, 1, 2, 2), strict=True))
    return buffer.getvalue(), partition, colours


def test_celeba64_crops_splits_and_caches_a_memory_map(server, cache):
    zip_bytes, partition, colours = _celeba_files()
    registry = {
        "celeba/img_align_celeba.zip": server.publish("celeba/img_align_celeba.zip", zip_bytes),
        "celeba/list_eval_partition.txt": server.publish("celeba/list_eval_partition.txt",
                                                         partition),
    }
    expected_rows = {"train": [0, 1, 2], "valid": [3], "test": [4, 5], "all": list(range(6))}
    for split, rows in expected_rows.items():
        data = load_dataset("celeba64", split, data_dir=cache, registry=registry)
        assert data.images.shape == (len(rows), 64, 64, 3) and data.images.dtype == np.uint8
        assert isinstance(data.images, np.memmap) and not data.images.flags.writeable
        # the crop is exactly rows 40..187, cols 15..162: no outside colour bleeds in
        difference = np.abs(data.images.astype(int) - colours[rows][:, None, None, :].astype(int))
        assert difference.max() <= 16, (split, difference.max())
        assert data.labels is None and data.factors is None
    cached = [name for name in _files_in(cache) if name.endswith(".npy")]
    assert len(cached) == 1 and not [n for n in _files_in(cache) if n.endswith(".tmp")]
    # the decoded cache is all a later load needs: no zip, no server
    server.stop()
    (cache / "celeba/img_align_celeba.zip").unlink()
    again = load_dataset("celeba64", "test", data_dir=cache, registry=registry, offline=True)
    assert again.images.shape == (2, 64, 64, 3)


def test_celeba_files_placed_by_hand_need_no_url(server, cache):
    zip_bytes, partition, _ = _celeba_files()
    with pytest.raises(DatasetError) as error:
        load_dataset("celeba64", data_dir=cache)
    message = str(error.value)  # both missing files at once, and where they go
    assert "\n" not in message and "cannot be downloaded automatically" in message
    assert message.startswith("celeba/list_eval_partition.txt, celeba/img_align_celeba.zip:")
    assert f"into {cache / 'celeba'}" in message and "mmlab.ie.cuhk.edu.hk" in message
    (cache / "celeba").mkdir(parents=True)
    (cache / "celeba/img_align_celeba.zip").write_bytes(zip_bytes)
    (cache / "celeba/list_eval_partition.txt").write_bytes(partition)
    with pytest.raises(DatasetError, match="corrupt or a different version"):
        load_dataset("celeba64", data_dir=cache)  # the real hashes do not match test files
    hashes = {key: {"hash": "sha256:" + hashlib.sha256(data).hexdigest()}
              for key, data in (("celeba/img_align_celeba.zip", zip_bytes),
                                ("celeba/list_eval_partition.txt", partition))}
    assert load_dataset("celeba64", "valid", data_dir=cache, registry=hashes).images.shape[0] == 1


def test_celeba_zip_with_a_traversal_member_is_rejected(server, cache):
    _, partition, _ = _celeba_files()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../evil.jpg", b"x")
    registry = {
        "celeba/img_align_celeba.zip": server.publish("celeba/img_align_celeba.zip",
                                                      buffer.getvalue()),
        "celeba/list_eval_partition.txt": server.publish("celeba/list_eval_partition.txt",
                                                         partition),
    }
    with pytest.raises(DatasetError, match="unsafe member name"):
        load_dataset("celeba64", data_dir=cache, registry=registry)
    assert not [n for n in _files_in(cache) if n.endswith((".npy", ".tmp"))]


# ----------------------------------------------------------------------------- image folder


def test_image_folder_classes_are_sorted_sub_folders(tmp_path):
    root = tmp_path / "pictures"
    rng = np.random.default_rng(5)
    written = {}
    for cls in ("zebra", "ant"):
        (root / cls / "nested").mkdir(parents=True)
        for i, where in enumerate(("a.png", "nested/b.PNG")):
            pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / where, "PNG")
            written[(cls, i)] = pixels
    (root / "ant" / ".hidden.png").write_bytes(b"not an image")
    (root / "ant" / "notes.txt").write_text("ignored")
    data = load_dataset("image-folder", path=root)
    assert data.class_names == ("ant", "zebra")
    np.testing.assert_array_equal(data.labels, [0, 0, 1, 1])
    assert data.labels.dtype == np.int32 and data.images.shape == (4, 6, 5, 3)
    np.testing.assert_array_equal(data.images[0], written[("ant", 0)])  # PNG is lossless
    np.testing.assert_array_equal(data.images[3], written[("zebra", 1)])
    small = load_dataset("image-folder", "all", path=root, size=(3, 4), grayscale=True)
    assert small.images.shape == (4, 3, 4, 1) and small.images.dtype == np.uint8


def test_image_folder_errors_name_the_argument(tmp_path):
    with pytest.raises(DatasetError, match="^path: 'image-folder' needs path"):
        load_dataset("image-folder")
    with pytest.raises(DatasetError, match="^path: .* is not a folder"):
        load_dataset("image-folder", path=tmp_path / "missing")
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    Image.new("RGB", (5, 4)).save(tmp_path / "b.jpg")
    with pytest.raises(DatasetError, match="pass size="):
        load_dataset("image-folder", path=tmp_path)
    unlabelled = load_dataset("image-folder", path=tmp_path, size=4)
    assert unlabelled.labels is None and unlabelled.images.shape == (2, 4, 4, 3)
    with pytest.raises(DatasetError, match="^size: "):
        load_dataset("image-folder", path=tmp_path, size=0)


# ----------------------------------------------------------------------------- failures


def test_offline_with_an_empty_cache_is_one_clear_error(cache):
    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", data_dir=cache, offline=True)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "mnist/train-images-idx3-ubyte.gz, mnist/train-labels-idx1-ubyte.gz: not in the cache"
    )
    assert f"into {cache / 'mnist'}" in message and "VAEKIT_OFFLINE" in message
    assert "http://yann.lecun.com/exdb/mnist/" in message and "VAEKIT_DATA_DIR" in message
    (cache / "mnist").mkdir(parents=True)  # one missing file: its own path and URL
    (cache / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", data_dir=cache, offline=True)
    message = str(error.value)
    assert message.startswith("mnist/train-images-idx3-ubyte.gz: not in the cache")
    assert str(cache / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in message
    assert _files_in(cache) == ["mnist/train-labels-idx1-ubyte.gz"]


def test_offline_environment_variable_never_touches_the_network(server, cache, monkeypatch):
    registry, _ = _publish_mnist(server)
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")
    with pytest.raises(DatasetError, match="offline"):
        load_dataset("mnist", data_dir=cache, registry=registry)
    assert not cache.exists() or _files_in(cache) == []


def test_wrong_bytes_fail_the_hash_and_leave_nothing(server, cache):
    registry, _ = _publish_mnist(server)
    key = "mnist/train-images-idx3-ubyte.gz"
    good = (server.root / key).read_bytes()
    server.publish(key, good, served=good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", data_dir=cache, registry=registry)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{key}: download from")
    assert "the server sent a different file" in message and "hash" in message.lower()
    assert _files_in(cache) == []


def test_truncated_transfer_fails_and_leaves_nothing(server, cache):
    registry, _ = _publish_mnist(server)
    key = "mnist/train-images-idx3-ubyte.gz"
    server.truncate[key] = 100  # the server announces the full length, then hangs up
    with pytest.raises(DatasetError, match=f"^{re.escape(key)}: download from"):
        load_dataset("mnist", data_dir=cache, registry=registry)
    assert _files_in(cache) == []


def test_http_error_and_refused_connection_are_clear(server, cache):
    registry, _ = _publish_mnist(server)
    key = "mnist/train-images-idx3-ubyte.gz"
    missing = {key: {**registry[key], "url": server.url + "nowhere.gz"}}
    with pytest.raises(DatasetError, match="404"):
        load_dataset("mnist", data_dir=cache, registry={**registry, **missing})
    server.stop()
    with pytest.raises(DatasetError, match="check your network"):
        load_dataset("mnist", data_dir=cache, registry=registry)
    assert _files_in(cache) == []


def test_cut_files_with_matching_hashes_name_the_file(server, cache):
    images, labels = _mnist_arrays(0, 4)
    short = gzip.compress(encode_idx(images)[:-10])  # valid gzip, IDX data too short
    cut_gzip = _gz_idx(labels)[:-6]  # the gzip stream itself is cut
    registry = {
        "mnist/train-images-idx3-ubyte.gz": server.publish("mnist/train-images-idx3-ubyte.gz",
                                                           short),
        "mnist/train-labels-idx1-ubyte.gz": server.publish("mnist/train-labels-idx1-ubyte.gz",
                                                           cut_gzip),
    }
    with pytest.raises(DatasetError, match=r"^train-images-idx3-ubyte.gz: IDX file truncated"):
        load_dataset("mnist", data_dir=cache, registry=registry)
    registry["mnist/train-images-idx3-ubyte.gz"] = server.publish(
        "mnist/train-images-idx3-ubyte.gz", _gz_idx(images)
    )
    with pytest.raises(DatasetError, match=r"^train-labels-idx1-ubyte.gz: unreadable"):
        load_dataset("mnist", data_dir=cache, registry=registry)


def test_a_corrupt_cached_file_is_detected(server, cache):
    registry, arrays = _publish_mnist(server)
    load_dataset("mnist", "test", data_dir=cache, registry=registry)
    key = "mnist/t10k-images-idx3-ubyte.gz"
    good = (cache / key).read_bytes()
    (cache / key).write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError, match="corrupt or a different version"):
        load_dataset("mnist", "test", data_dir=cache, registry=registry, offline=True)
    assert (cache / key).read_bytes() == b"\x1f\x8b garbage"  # offline: reported, not deleted
    data = load_dataset("mnist", "test", data_dir=cache, registry=registry)  # online: refetched
    np.testing.assert_array_equal(data.images[..., 0], arrays["test"][0])
    assert (cache / key).read_bytes() == good
    assert _files_in(cache) == sorted(k for k in registry if "t10k" in k)


# ----------------------------------------------------------------------------- arguments, registry


def test_argument_errors_name_the_argument():
    with pytest.raises(DatasetError, match=r"^name: unknown data set 'mnsit'; did you mean"):
        load_dataset("mnsit")
    with pytest.raises(DatasetError, match=r"^name: .*'celeba64'"):
        load_dataset("celeba")
    with pytest.raises(DatasetError, match=r"^split: 'mnist' has splits 'train', 'test'"):
        load_dataset("mnist", "valid")
    with pytest.raises(DatasetError, match=r"^path: 'mnist' takes no 'path'"):
        load_dataset("mnist", path="/tmp")
    with pytest.raises(DatasetError, match=r"^seed: .*binarized-mnist"):
        load_dataset("cifar10", seed=1)
    assert issubclass(DatasetError, ValueError)


def test_registry_override_is_validated(cache):
    with pytest.raises(DatasetError, match=r"^registry: unknown file key .*did you mean 'mnist/"):
        load_dataset("mnist", data_dir=cache, registry={"mnist/train-images.gz": {"url": "x"}})
    with pytest.raises(DatasetError, match=r"^registry\[.*\]\['hash'\]: hash must be"):
        load_dataset("mnist", data_dir=cache,
                     registry={"mnist/train-images-idx3-ubyte.gz": {"hash": "abc"}})
    with pytest.raises(DatasetError, match=r"must be a mapping with 'url' and/or 'hash'"):
        load_dataset("mnist", data_dir=cache,
                     registry={"mnist/train-images-idx3-ubyte.gz": {"sha": "abc"}})


def test_environment_data_dir_and_registry_file(server, tmp_path, monkeypatch):
    registry, arrays = _publish_mnist(server)
    registry_file = tmp_path / "mirror.json"
    registry_file.write_text(json.dumps(registry))
    monkeypatch.setenv("VAEKIT_DATA_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("VAEKIT_DATA_REGISTRY", str(registry_file))
    data = load_dataset("mnist", "test")
    np.testing.assert_array_equal(data.labels, arrays["test"][1])
    assert (tmp_path / "env-cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    # a path argument works like the environment variable
    monkeypatch.delenv("VAEKIT_DATA_REGISTRY")
    assert load_dataset("mnist", "test", registry=str(registry_file)).images.shape[0] == 3


def test_default_registry_is_well_formed():
    hash_pattern = re.compile(r"^(md5:[0-9a-f]{32}|sha256:[0-9a-f]{64})$")
    for key, remote in REMOTE_FILES.items():
        assert remote.key == key and hash_pattern.match(remote.hash), key
        if key.startswith("celeba/"):
            assert remote.url is None and remote.homepage  # Google Drive: placed by hand
        else:
            assert remote.url.startswith(("https://", "http://")) and remote.url.endswith(
                key.split("/", 1)[1]
            )
    assert REMOTE_FILES["cifar10/cifar-10-binary.tar.gz"].url.endswith("cifar-10-binary.tar.gz")
    for name in DATASET_NAMES:
        assert all(f.key in REMOTE_FILES for f in dataset_files(name, "train"))
    assert len(DATASET_NAMES) == 8 and "dsprites" not in DATASET_NAMES
