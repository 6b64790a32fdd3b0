"""Hypothesis property tests for vaekit.data.stream (in-memory arrays: no disk, no compile).

For any data size, batch size, shard count, seed and resume point: shards are disjoint and
together cover each epoch; a stream resumed from ``get_state()`` yields exactly the batches
the uninterrupted stream yields next.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("grain")

from vaekit.data.stream import stream_batches  # noqa: E402  (needs grain)


@st.composite
def layouts(draw):
    shard_count = draw(st.integers(1, 3))
    batch_size = draw(st.integers(1, 6))
    per_shard = draw(st.integers(batch_size, 12))
    extra = draw(st.integers(0, shard_count - 1))  # rows no shard reads
    return per_shard * shard_count + extra, batch_size, shard_count


@settings(max_examples=12, deadline=None)
@given(layouts(), st.integers(0, 2**32 - 1))
def test_shards_partition_every_epoch(layout, seed):
    n, batch_size, shard_count = layout
    data = {"i": np.arange(n)}
    per_shard = n // shard_count
    for epoch in range(2):
        seen = []
        for k in range(shard_count):
            stream = stream_batches(data, batch_size=1, seed=seed, shard_index=k,
                                    shard_count=shard_count)
            rows = [int(next(stream)["i"][0]) for _ in range(per_shard * (epoch + 1))]
            shard_epoch = rows[epoch * per_shard:]
            assert sorted(shard_epoch) == list(range(k * per_shard, (k + 1) * per_shard))
            seen.extend(shard_epoch)
        assert sorted(seen) == list(range(per_shard * shard_count))


@settings(max_examples=12, deadline=None)
@given(layouts(), st.integers(0, 2**32 - 1), st.integers(0, 30), st.data())
def test_resume_anywhere_is_exact(layout, seed, consumed, data):
    n, batch_size, shard_count = layout
    shard_index = data.draw(st.integers(0, shard_count - 1))
    arrays = {"i": np.arange(n)}
    kwargs = dict(batch_size=batch_size, seed=seed, shard_index=shard_index,
                  shard_count=shard_count)
    whole = stream_batches(arrays, **kwargs)
    want = [next(whole)["i"].tolist() for _ in range(consumed + 5)]
    stream = stream_batches(arrays, **kwargs)
    for _ in range(consumed):
        next(stream)
    resumed = stream_batches(arrays, **kwargs, state=stream.get_state())
    assert [next(resumed)["i"].tolist() for _ in range(5)] == want[consumed:]
