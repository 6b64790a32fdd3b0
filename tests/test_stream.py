"""On-disk arrays (vaekit.data.array_store) and the grain stream (vaekit.data.stream)."""

import copy
import importlib
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

import vaekit
from vaekit.data._array_store import MANIFEST, ArrayStoreError, open_arrays, write_arrays

grain = pytest.importorskip("grain")

from vaekit.data.stream import (  # noqa: E402  (needs grain)
    ArraySource,
    make_loader,
    stream_batches,
    stream_chunks,
    stream_state_from_json,
    stream_state_to_json,
)


def _take(stream, n):
    return [next(stream) for _ in range(n)]


def _ids(batches, key="i"):
    return [b[key].tolist() for b in batches]


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.integers(0, 256, (24, 4, 4, 1), dtype=np.uint8),
              "i": np.arange(24, dtype=np.int64)}
    return write_arrays(tmp_path / "set", arrays), arrays


# --- array_store -------------------------------------------------------------------------


def test_write_open_round_trip(images):
    path, arrays = images
    opened = open_arrays(path)
    assert set(opened) == {"x", "i"}
    for name, want in arrays.items():
        assert isinstance(opened[name], np.memmap)
        assert opened[name].dtype == want.dtype and opened[name].shape == want.shape
        np.testing.assert_array_equal(opened[name], want)
    with pytest.raises(ValueError):
        opened["x"][0] = 1  # read-only
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["num_examples"] == 24 and manifest["version"] == 1
    assert manifest["arrays"]["x"] == {"file": "x.npy", "shape": [24, 4, 4, 1], "dtype": "|u1"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["set"]  # no temporary left


def test_chunked_write_of_more_rows_than_a_chunk(tmp_path):
    chunks = [{"x": np.full((7, 3), c, np.float32), "y": np.arange(7) + 7 * c} for c in range(5)]
    path = write_arrays(tmp_path / "chunked", iter(chunks), num_examples=35)
    opened = open_arrays(path)
    np.testing.assert_array_equal(opened["x"], np.concatenate([c["x"] for c in chunks]))
    np.testing.assert_array_equal(opened["y"], np.arange(35))


@pytest.mark.parametrize("chunks, num_examples, match", [
    ([{"x": np.zeros((3, 2))}] * 2, 5, "holds more than `num_examples` = 5"),
    ([{"x": np.zeros((3, 2))}] * 2, 7, "holds 6 rows, but `num_examples` = 7"),
    ([{"x": np.zeros((3, 2))}, {"y": np.zeros((3, 2))}], 6, "chunk 1 has keys"),
    ([{"x": np.zeros((3, 2))}, {"x": np.zeros((3, 2), np.uint8)}], 6, "chunk 1: 'x'"),
    ([{"x": np.zeros((3, 2)), "y": np.zeros(2)}], 3, "differ in length"),
    ([{"x": np.zeros((3, 2))}], None, "`num_examples`"),
    ([{"x": np.array([None] * 3)}], 3, "Python objects"),
    ([{"../x": np.zeros(3)}], 3, "file-name-safe"),
])
def test_bad_chunks_raise_and_leave_nothing(tmp_path, chunks, num_examples, match):
    with pytest.raises(ValueError, match=match):
        write_arrays(tmp_path / "bad", iter(chunks), num_examples=num_examples)
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_needs_overwrite(images):
    path, _ = images
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_arrays(path, {"x": np.zeros(3)})
    write_arrays(path, {"x": np.ones(3)}, overwrite=True)
    assert set(open_arrays(path)) == {"x"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["set"]


def test_truncated_or_missing_files_name_the_file(images):
    path, _ = images
    size = (path / "x.npy").stat().st_size
    with open(path / "x.npy", "r+b") as f:
        f.truncate(size - 5)
    with pytest.raises(ArrayStoreError, match=r"x\.npy is truncated"):
        open_arrays(path)
    with open(path / "x.npy", "r+b") as f:
        f.truncate(10)  # not even a header
    with pytest.raises(ArrayStoreError, match=r"x\.npy is truncated or not a \.npy"):
        open_arrays(path)
    (path / "x.npy").unlink()
    with pytest.raises(ArrayStoreError, match=r"x\.npy is missing"):
        open_arrays(path)
    (path / MANIFEST).unlink()
    with pytest.raises(ArrayStoreError, match=r"manifest .*manifest\.json"):
        open_arrays(path)
    with pytest.raises(ArrayStoreError, match=r"manifest"):
        stream_batches(path, batch_size=2, seed=0)


def test_manifest_that_disagrees_with_the_file(images):
    path, _ = images
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["arrays"]["x"]["dtype"] = "<f4"
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArrayStoreError, match=r"x\.npy holds .* but the manifest says"):
        open_arrays(path)
    (path / MANIFEST).write_text("{not json")
    with pytest.raises(ArrayStoreError, match="cannot be read"):
        open_arrays(path)


# --- the stream --------------------------------------------------------------------------


def test_batches_keep_uint8_and_are_plain_arrays(images):
    path, arrays = images
    batch = next(stream_batches(path, batch_size=4, seed=0))
    assert batch["x"].dtype == np.uint8 and type(batch["x"]) is np.ndarray
    assert batch["x"].shape == (4, 4, 4, 1)
    np.testing.assert_array_equal(batch["x"], arrays["x"][batch["i"]])


def test_order_is_a_function_of_the_seed(images):
    path, arrays = images
    a = _ids(_take(stream_batches(path, batch_size=4, seed=1), 9))
    assert a == _ids(_take(stream_batches(path, batch_size=4, seed=1), 9))
    assert a == _ids(_take(stream_batches(arrays, batch_size=4, seed=1), 9))  # in memory
    assert a != _ids(_take(stream_batches(path, batch_size=4, seed=2), 9))


def test_each_epoch_is_a_permutation(images):
    path, _ = images
    batches = list(stream_batches(path, batch_size=4, seed=3, num_epochs=3))
    assert len(batches) == 18
    epochs = [np.concatenate([b["i"] for b in batches[e * 6:(e + 1) * 6]]) for e in range(3)]
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(24))
    assert not np.array_equal(epochs[0], epochs[1])


def test_drop_remainder_false_keeps_the_last_short_batch(tmp_path):
    path = write_arrays(tmp_path / "ten", {"i": np.arange(10)})
    kept = list(stream_batches(path, batch_size=4, seed=0, num_epochs=1, drop_remainder=False))
    assert [len(b["i"]) for b in kept] == [4, 4, 2]
    np.testing.assert_array_equal(np.sort(np.concatenate([b["i"] for b in kept])), np.arange(10))
    dropped = list(stream_batches(path, batch_size=4, seed=0, num_epochs=1))
    assert [len(b["i"]) for b in dropped] == [4, 4]


@pytest.mark.parametrize("n", [24, 25])
def test_two_shards_are_disjoint_and_cover_an_epoch(tmp_path, n):
    path = write_arrays(tmp_path / "set", {"i": np.arange(n)})
    shards = [np.concatenate([b["i"] for b in stream_batches(
        path, batch_size=4, seed=0, num_epochs=1, shard_index=k, shard_count=2)])
        for k in range(2)]
    assert len(shards[0]) == len(shards[1]) == 12
    assert not set(shards[0]) & set(shards[1])
    np.testing.assert_array_equal(np.sort(np.concatenate(shards)), np.arange(24))  # 25th unread


def test_default_shard_is_the_jax_process(images, monkeypatch):
    # What process 1 of 2 under jax.distributed sees (grain's ShardByJaxProcess).
    path, _ = images
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    default = _ids(_take(stream_batches(path, batch_size=3, seed=0), 8))
    explicit = _ids(_take(stream_batches(path, batch_size=3, seed=0, shard_index=1,
                                         shard_count=2), 8))
    assert default == explicit and min(min(b) for b in default) >= 12


def test_same_order_as_grain_data_loader(images):
    path, _ = images
    loader = iter(make_loader(path, batch_size=5, seed=4, shard_index=0, shard_count=2))
    want = _ids(_take(loader, 7))
    assert _ids(_take(stream_batches(path, batch_size=5, seed=4, shard_index=0,
                                     shard_count=2), 7)) == want
    resumed = iter(make_loader(path, batch_size=5, seed=4, shard_index=0, shard_count=2))
    _take(resumed, 3)
    state = resumed.get_state()
    again = iter(make_loader(path, batch_size=5, seed=4, shard_index=0, shard_count=2))
    again.set_state(state)
    assert _ids(_take(again, 4)) == want[3:]


@pytest.mark.parametrize("consumed", [0, 1, 5, 6, 13])  # 6 batches per epoch
def test_resumed_stream_yields_exactly_the_next_batches(images, consumed):
    path, _ = images
    want = _ids(_take(stream_batches(path, batch_size=4, seed=5), consumed + 8))
    stream = stream_batches(path, batch_size=4, seed=5)
    _take(stream, consumed)
    state = stream.get_state()
    json.loads(state)  # JSON bytes
    resumed = stream_batches(path, batch_size=4, seed=5, state=state)
    assert _ids(_take(resumed, 8)) == want[consumed:]
    via_json = stream_state_from_json(json.loads(json.dumps(stream_state_to_json(state))))
    assert _ids(_take(stream_batches(path, batch_size=4, seed=5, state=via_json), 8)) == \
        want[consumed:]


def test_state_of_another_stream_is_refused(images):
    path, _ = images
    state = stream_batches(path, batch_size=4, seed=5).get_state()
    with pytest.raises(ValueError, match=r"`state` belongs to a different stream \(seed: 5"):
        stream_batches(path, batch_size=4, seed=6, state=state)
    with pytest.raises(ValueError, match="batch_size"):
        stream_batches(path, batch_size=3, seed=5, state=state)
    with pytest.raises(ValueError, match="not a stream state"):
        stream_batches(path, batch_size=4, seed=5, state=b"{oops")


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "`batch_size` must be >= 1"),
    ({"batch_size": 13, "shard_index": 0, "shard_count": 2}, "examples per shard"),
    ({"seed": -1}, "`seed`"),
    ({"seed": 2**32}, "`seed` must be < 2\\*\\*32"),
    ({"shard_index": 0}, "both `shard_index` and `shard_count`"),
    ({"shard_index": 2, "shard_count": 2}, "`shard_index` \\(2\\) must be < `shard_count`"),
    ({"num_epochs": 0}, "`num_epochs`"),
])
def test_bad_arguments_are_named(images, kwargs, match):
    path, _ = images
    args = {"batch_size": 4, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        stream_batches(path, **args)


def test_source_copies_reopen_the_memory_maps(images):
    path, arrays = images
    source = ArraySource(path)
    clone = copy.deepcopy(source)  # the path travels, not the data (grain's worker processes)
    assert isinstance(clone.arrays["x"], np.memmap) and repr(clone) == repr(source)
    assert len(clone) == 24 and clone[3]["i"] == 3
    np.testing.assert_array_equal(clone.gather([5, 1])["x"], arrays["x"][[5, 1]])
    with pytest.raises(ValueError, match="equally long"):
        ArraySource({"a": np.zeros(3), "b": np.zeros(4)})


# --- training from the stream, with exact resume -----------------------------------------

STEPS, SPC, PERIOD, HALF = 12, 4, 6, 6  # chunks end at steps 4, 6, 8, 12


@pytest.fixture(scope="module")
def train():
    return vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-3))


@pytest.fixture
def vectors(tmp_path):
    x = np.random.default_rng(1).random((40, 4), dtype=np.float32)
    return write_arrays(tmp_path / "vectors", {"x": x})


def _fresh(train):
    rngs = nnx.Rngs(0)
    model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
                       vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
    return train.init(model, jax.random.key(0))


def _stream(path, state=None):
    return stream_batches(path, batch_size=8, seed=7, state=state)


def _tree(state):
    return {"params": state.params, "rest": state.rest, "opt_state": state.opt_state,
            "step": state.step, "key": jax.random.key_data(state.key)}


def _manager(directory):
    return ocp.CheckpointManager(directory, item_names=("default", "stream"),
                                 options=ocp.CheckpointManagerOptions(create=True))


def _save(directory, state, stream_state):
    with _manager(directory) as manager:
        manager.save(int(state.step), args=ocp.args.Composite(
            default=ocp.args.StandardSave(_tree(state)),
            stream=ocp.args.JsonSave(stream_state_to_json(stream_state))))
        manager.wait_until_finished()


def _restore(directory, template):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _tree(template))
    with _manager(directory) as manager:
        got = manager.restore(manager.latest_step(), args=ocp.args.Composite(
            default=ocp.args.StandardRestore(abstract), stream=ocp.args.JsonRestore()))
    tree = got["default"]
    state = template.replace(params=tree["params"], rest=tree["rest"],
                             opt_state=tree["opt_state"], step=tree["step"],
                             key=jax.random.wrap_key_data(tree["key"]))
    return state, stream_state_from_json(got["stream"])


def _run(train, start, stream, num_steps, **kwargs):
    steps, losses, out = [], [], None
    for state, step, metrics, stream_state in stream_chunks(
            train, start, stream, num_steps=num_steps, steps_per_call=SPC,
            periods=(PERIOD,), **kwargs):
        steps.append(step)
        losses.extend(metrics["loss"].tolist())
        out = (jax.device_get(_tree(state)), stream_state)
    return steps, losses, out


@pytest.fixture
def uninterrupted(train, vectors):
    return _run(train, _fresh(train), _stream(vectors), STEPS)


def _interrupt(train, path, ckpt, prefetch):
    """Trains to HALF, checkpoints train + stream state, and returns the stream object."""
    stream = _stream(path)
    for state, step, _, stream_state in stream_chunks(
            train, _fresh(train), stream, num_steps=STEPS, steps_per_call=SPC,
            periods=(PERIOD,), prefetch=prefetch):
        if step == HALF:
            _save(ckpt, state, stream_state)
            break
    return stream, stream_state


@pytest.mark.parametrize("prefetch", [0, 2])
def test_resume_from_a_checkpoint_is_exact(train, vectors, uninterrupted, tmp_path, prefetch):
    want_steps, want_losses, (want_tree, want_stream) = uninterrupted
    assert want_steps == [4, 6, 8, 12]
    stream, saved = _interrupt(train, vectors, tmp_path / "ckpt", prefetch)
    state, stream_state = _restore(tmp_path / "ckpt", _fresh(train))
    assert int(state.step) == HALF and stream_state == saved
    if prefetch:  # the prefetch thread read ahead; the saved state did not
        assert stream.get_state() != saved
    steps, losses, (tree, end_stream) = _run(train, state, _stream(vectors, stream_state),
                                             STEPS - HALF, prefetch=prefetch)
    assert steps == [8, 12]
    assert losses == want_losses[HALF:]
    jax.tree.map(np.testing.assert_array_equal, tree, want_tree)
    assert end_stream == want_stream


def test_prefetch_changes_nothing(train, vectors, uninterrupted):
    assert _run(train, _fresh(train), _stream(vectors), STEPS, prefetch=3)[1] == \
        uninterrupted[1]
    put_calls = []

    def put(group):
        put_calls.append(group["x"].shape)
        return jax.device_put(group)

    _run(train, _fresh(train), _stream(vectors), 6, put=put)
    assert put_calls == [(4, 8, 4), (2, 8, 4)]


def test_finite_stream_ends_with_a_shorter_chunk(train, vectors):
    stream = stream_batches(vectors, batch_size=8, seed=0, num_epochs=2)  # 10 batches
    steps, losses, _ = _run(train, _fresh(train), stream, STEPS)
    assert steps == [4, 6, 8, 10] and len(losses) == 10


def test_training_reads_uint8_as_stored(tmp_path, train):
    path = write_arrays(tmp_path / "u8", {"x": np.full((16, 4), 255, np.uint8)})
    # (4, 8, 4) float32 after the conversion: the chunk shape the other tests compiled
    seen = []

    def multi_step(state, batches):
        seen.append(batches["x"].dtype)
        return train.multi_step(state, {"x": jnp.asarray(batches["x"], jnp.float32) / 255})

    spy = train._replace(multi_step=multi_step)
    chunks = stream_chunks(spy, _fresh(train), stream_batches(path, batch_size=8, seed=0),
                           num_steps=4, steps_per_call=4)
    assert [step for _, step, _, _ in chunks] == [4]
    assert seen == [np.uint8]


def test_without_grain_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "grain", None)  # as if grain were not installed
    monkeypatch.delitem(sys.modules, "vaekit.data.stream")
    importlib.import_module("vaekit.data")  # the package itself does not need grain
    with pytest.raises(ImportError, match=r"pip install 'vaekit\[stream\]'"):
        importlib.import_module("vaekit.data.stream")
