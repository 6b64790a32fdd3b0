"""Property tests for the format parsers of vaekit.data (IDX, CIFAR binary, 3D Shapes labels)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vaekit.data._cifar import RECORD_BYTES, parse_cifar_records
from vaekit.data._fetch import DatasetError
from vaekit.data._idx import binarize, encode_idx, parse_idx
from vaekit.data._shapes3d import labels_to_factors

_IDX_DTYPES = st.sampled_from(
    [np.uint8, np.int8, np.dtype(">i2"), np.dtype(">i4"), np.dtype(">f4"), np.dtype(">f8")]
)


@given(hnp.arrays(_IDX_DTYPES, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                  elements={"allow_nan": False}))
def test_idx_round_trips_every_supported_type(array):
    decoded = parse_idx(encode_idx(array), "x")
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)),
       st.data())
def test_any_cut_of_an_idx_file_is_a_clear_error(array, data):
    encoded = encode_idx(array)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        parse_idx(encoded[:cut], "cut.idx")
    except DatasetError as error:
        assert str(error).startswith("cut.idx: ")
    else:
        raise AssertionError("a cut IDX file parsed")


@given(st.integers(0, 4), st.data())
def test_cifar_records_are_label_then_chw(n, data):
    chw = data.draw(hnp.arrays(np.uint8, (n, 3, 32, 32)))
    labels = data.draw(hnp.arrays(np.uint8, (n,), elements=st.integers(0, 9)))
    buffer = np.concatenate([labels[:, None], chw.reshape(n, 3 * 32 * 32)], axis=1).tobytes()
    images, parsed = parse_cifar_records(buffer, "b.bin")
    np.testing.assert_array_equal(images, chw.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(parsed, labels)
    extra = data.draw(st.integers(1, RECORD_BYTES - 1))
    try:
        parse_cifar_records(buffer + bytes(extra), "b.bin")
    except DatasetError:
        pass
    else:
        raise AssertionError("a partial record parsed")


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=4, max_dims=4, max_side=4)),
       st.integers(0, 2**32 - 1))
def test_binarize_is_deterministic_binary_and_keeps_the_extremes(images, seed):
    out = binarize(images, seed)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert set(np.unique(out)) <= {0, 255}
    np.testing.assert_array_equal(out, binarize(images, seed))
    assert (out[images == 0] == 0).all() and (out[images == 255] == 255).all()


@given(st.data())
def test_labels_to_factors_ranks_the_distinct_values(data):
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple))
    grids = [np.sort(data.draw(st.lists(st.floats(-50, 50), min_size=s, max_size=s,
                                        unique=True))) for s in sizes]
    n = max(sizes) + data.draw(st.integers(0, 5))
    # every value appears at least once, in a shuffled order
    factors = np.stack([np.resize(np.arange(s), n) for s in sizes], axis=1)
    order = data.draw(st.permutations(range(n)))
    factors = factors[list(order)]
    labels = np.stack([grids[j][factors[:, j]] for j in range(len(sizes))], axis=1)
    np.testing.assert_array_equal(labels_to_factors(labels, sizes=sizes), factors)
