"""Example-based tests for vaekit.data.dsprites (procedural dSprites)."""

import numpy as np
import pytest

from vaekit.data import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    IMAGE_SHAPE,
    NUM_COMBINATIONS,
    SHAPE_NAMES,
    DSpritesSplit,
    factor_values,
    factors_to_index,
    index_to_factors,
    make_dsprites,
    render,
    sample_factors,
)

LAST = np.asarray(FACTOR_SIZES) - 1


def _rows(shape: int, scale: int, orientation: int, pos_x, pos_y) -> np.ndarray:
    """Factor rows for one (shape, scale, orientation) over broadcast positions."""
    pos_x, pos_y = np.broadcast_arrays(np.atleast_1d(pos_x), np.atleast_1d(pos_y))
    n = len(pos_x)
    return np.stack(
        [np.full(n, shape), np.full(n, scale), np.full(n, orientation), pos_x, pos_y], axis=1
    )


def _centre_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) centre of mass of (n, 64, 64, 1) images, in pixel-centre coordinates."""
    masks = images[..., 0].astype(np.float64)
    coords = np.arange(masks.shape[1]) + 0.5
    mass = masks.sum(axis=(1, 2))
    rows = (masks.sum(axis=2) * coords).sum(axis=1) / mass
    cols = (masks.sum(axis=1) * coords).sum(axis=1) / mass
    return rows, cols


def _border_pixels(images: np.ndarray) -> np.ndarray:
    masks = images[..., 0]
    return (
        masks[:, 0, :].sum(1)
        + masks[:, -1, :].sum(1)
        + masks[:, :, 0].sum(1)
        + masks[:, :, -1].sum(1)
    )


# --------------------------------------------------------------------------- constants / grid


def test_constants_are_consistent():
    assert len(FACTOR_NAMES) == len(FACTOR_SIZES) == 5
    assert FACTOR_NAMES == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert int(np.prod(FACTOR_SIZES)) == NUM_COMBINATIONS == 737280
    assert IMAGE_SHAPE == (64, 64, 1)
    assert SHAPE_NAMES == ("square", "ellipse", "heart")


def test_factor_values():
    values = factor_values()
    assert tuple(len(v) for v in values) == FACTOR_SIZES
    shape, scale, orientation, pos_x, pos_y = values
    np.testing.assert_array_equal(shape, [0, 1, 2])
    np.testing.assert_allclose(scale, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(np.diff(orientation), 2 * np.pi / 40)
    assert orientation[0] == 0.0 and orientation[-1] < 2 * np.pi
    for pos in (pos_x, pos_y):
        assert pos[0] == 0.0 and pos[-1] == 1.0
        np.testing.assert_allclose(np.diff(pos), 1 / 31)


def test_index_to_factors_known_values():
    strides = [245760, 40960, 1024, 32, 1]  # mixed radix, pos_y fastest
    indices = [0, NUM_COMBINATIONS - 1, *strides]
    factors = index_to_factors(indices)
    assert factors.shape == (7, 5) and factors.dtype == np.int64
    np.testing.assert_array_equal(factors[0], 0)
    np.testing.assert_array_equal(factors[1], LAST)
    np.testing.assert_array_equal(factors[2:], np.eye(5, dtype=np.int64))


def test_factors_to_index_boundary_cases_are_inverse():
    boundary = np.array([np.zeros(5, dtype=np.int64), LAST])
    np.testing.assert_array_equal(factors_to_index(boundary), [0, NUM_COMBINATIONS - 1])
    np.testing.assert_array_equal(index_to_factors(factors_to_index(boundary)), boundary)
    np.testing.assert_array_equal(
        factors_to_index(np.eye(5, dtype=int)), [245760, 40960, 1024, 32, 1]
    )


def test_factors_to_index_is_bijection_on_a_sub_grid():
    # All combinations of the first/last value of every factor: 32 distinct rows.
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in FACTOR_SIZES], indexing="ij"))
    rows = corners.reshape(5, -1).T
    indices = factors_to_index(rows)
    assert len(np.unique(indices)) == len(rows)
    assert indices.min() == 0 and indices.max() == NUM_COMBINATIONS - 1
    np.testing.assert_array_equal(index_to_factors(indices), rows)


def test_empty_inputs():
    assert index_to_factors(np.zeros(0, dtype=int)).shape == (0, 5)
    assert factors_to_index(np.zeros((0, 5), dtype=int)).shape == (0,)
    assert render(np.zeros((0, 5), dtype=int)).shape == (0, 64, 64, 1)


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad", [[-1], [NUM_COMBINATIONS], [[0, 1]], [0.5], np.array([True])], ids=str
)
def test_index_to_factors_rejects_bad_indices(bad):
    with pytest.raises(ValueError, match="indices") as info:
        index_to_factors(bad)
    assert str(NUM_COMBINATIONS) in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [
        [[3, 0, 0, 0, 0]],
        [[0, 6, 0, 0, 0]],
        [[0, 0, 40, 0, 0]],
        [[0, 0, 0, 32, 0]],
        [[0, 0, 0, 0, 32]],
        [[0, 0, 0, 0, -1]],
        [[0, 0, 0, 0]],
        [0, 0, 0, 0, 0],
        [[0.0, 0.0, 0.0, 0.0, 0.0]],
    ],
    ids=str,
)
@pytest.mark.parametrize("fn", [factors_to_index, render])
def test_bad_factors_raise_and_name_the_argument(fn, bad):
    with pytest.raises(ValueError, match="factors") as info:
        fn(bad)
    # The message states the valid range of every factor.
    assert "[0, 40)" in str(info.value) and "pos_y" in str(info.value)


def test_out_of_range_message_names_the_offending_factor():
    with pytest.raises(ValueError, match=r"orientation\) must lie in \[0, 40\)"):
        factors_to_index([[0, 0, 40, 0, 0]])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_train": 0}, "num_train"),
        ({"num_train": -3}, "num_train"),
        ({"num_train": 2.0}, "num_train"),
        ({"num_train": 1, "num_val": -1}, "num_val"),
        ({"num_train": NUM_COMBINATIONS, "num_val": 1}, "num_train \\+ num_val"),
    ],
)
def test_make_dsprites_validates_arguments(kwargs, name):
    # A non-int count is caught by the test session's jaxtyping/beartype hook (TypeError naming
    # the parameter) or, without it, by make_dsprites itself (ValueError naming it).
    with pytest.raises((ValueError, TypeError), match=name):
        make_dsprites(**kwargs)


def test_sample_factors_rejects_negative_n():
    with pytest.raises(ValueError, match="n must be"):
        sample_factors(np.random.default_rng(0), -1)


# ------------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.bool_])
def test_render_shape_dtype_and_binary_values(dtype):
    factors = sample_factors(np.random.default_rng(1), 50)
    images = render(factors, dtype=dtype)
    assert images.shape == (50, *IMAGE_SHAPE)
    assert images.dtype == np.dtype(dtype)
    assert set(np.unique(images.astype(np.float64)).tolist()) == {0.0, 1.0}


def test_render_default_dtype_is_float32():
    assert render([[0, 0, 0, 0, 0]]).dtype == np.float32


def test_render_is_deterministic_and_row_independent():
    factors = sample_factors(np.random.default_rng(2), 40)
    images = render(factors)
    np.testing.assert_array_equal(images, render(factors))
    # Rendering a row alone or in a batch gives the same image.
    np.testing.assert_array_equal(images[7:8], render(factors[7:8]))
    np.testing.assert_array_equal(images[::-1], render(factors[::-1]))


def test_render_matches_across_chunks(monkeypatch):
    import vaekit.data._dsprites as dsprites

    factors = sample_factors(np.random.default_rng(3), 37)
    expected = render(factors)
    monkeypatch.setattr(dsprites, "CHUNK_SIZE", 8)
    np.testing.assert_array_equal(render(factors), expected)


def test_every_image_is_non_empty_including_smallest_scale():
    rng = np.random.default_rng(4)
    factors = sample_factors(rng, 200)
    factors[:100, 1] = 0  # smallest scale
    assert (render(factors, dtype=np.uint8).sum(axis=(1, 2, 3)) > 0).all()


def test_no_sprite_touches_the_border():
    rows = []
    for shape in range(3):
        for pos_x, pos_y in [(0, 0), (31, 31)]:
            # Largest scale, every orientation, at the extreme positions.
            for orientation in range(40):
                rows.append([shape, 5, orientation, pos_x, pos_y])
        for pos_x, pos_y in [(0, 31), (31, 0), (0, 15), (15, 31)]:
            rows.extend([shape, 5, orientation, pos_x, pos_y] for orientation in (0, 5, 13, 27))
    rows = np.array(rows)
    random_rows = sample_factors(np.random.default_rng(5), 200)
    factors = np.concatenate([rows, random_rows])
    assert len(factors) > 400
    images = render(factors, dtype=np.uint8)
    assert (_border_pixels(images) == 0).all()
    assert (images.sum(axis=(1, 2, 3)) > 0).all()


@pytest.mark.parametrize("shape", range(3))
@pytest.mark.parametrize(
    ("scale", "orientation", "other_pos"), [(0, 0, 0), (5, 7, 31), (2, 23, 12)]
)
def test_sprite_moves_right_with_pos_x(shape, scale, orientation, other_pos):
    positions = np.arange(32)
    images = render(_rows(shape, scale, orientation, positions, other_pos))
    rows, cols = _centre_of_mass(images)
    assert (np.diff(cols) > 0).all()
    assert np.ptp(rows) < 1.0  # the vertical position barely changes


@pytest.mark.parametrize("shape", range(3))
@pytest.mark.parametrize(
    ("scale", "orientation", "other_pos"), [(0, 0, 0), (5, 7, 31), (2, 23, 12)]
)
def test_sprite_moves_down_with_pos_y(shape, scale, orientation, other_pos):
    # Image convention: row 0 is the top, so a larger pos_y means a larger row index ("down").
    positions = np.arange(32)
    images = render(_rows(shape, scale, orientation, other_pos, positions))
    rows, cols = _centre_of_mass(images)
    assert (np.diff(rows) > 0).all()
    assert np.ptp(cols) < 1.0


@pytest.mark.parametrize("shape", range(3))
@pytest.mark.parametrize(("orientation", "pos_x", "pos_y"), [(0, 0, 0), (10, 31, 31), (3, 17, 4)])
def test_area_increases_with_scale(shape, orientation, pos_x, pos_y):
    # Orientation 0 / 10 gives an axis-aligned square: the hardest case for pixelisation.
    factors = np.array([[shape, scale, orientation, pos_x, pos_y] for scale in range(6)])
    areas = render(factors, dtype=np.uint8).sum(axis=(1, 2, 3))
    assert (np.diff(areas.astype(np.int64)) > 0).all()


def test_shapes_differ_at_the_same_other_factors():
    others = sample_factors(np.random.default_rng(6), 30)[:, 1:]
    for row in others:
        images = render([[shape, *row] for shape in range(3)], dtype=np.uint8)
        flat = images.reshape(3, -1)
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            assert (flat[a] != flat[b]).sum() > 0


def test_orientation_rotates_counter_clockwise():
    # Ellipse major axis at 45 deg (index 5) runs bottom-left -> top-right: row falls as col grows.
    images = render([[1, 5, 5, 15, 15], [1, 5, 15, 15, 15]], dtype=np.float64)[..., 0]
    coords = np.arange(64) + 0.5
    rr, cc = np.meshgrid(coords, coords, indexing="ij")
    covariances = []
    for mask in images:
        r0, c0 = (mask * rr).sum() / mask.sum(), (mask * cc).sum() / mask.sum()
        covariances.append((mask * (rr - r0) * (cc - c0)).sum() / mask.sum())
    assert covariances[0] < -5.0  # 45 deg
    assert covariances[1] > 5.0  # 135 deg


def test_ellipse_and_heart_change_with_orientation():
    for shape in (1, 2):
        images = render([[shape, 4, o, 16, 16] for o in (0, 10, 20)], dtype=np.uint8)
        assert not np.array_equal(images[0], images[1])
    heart = render([[2, 4, o, 16, 16] for o in (0, 20)], dtype=np.uint8)
    assert not np.array_equal(heart[0], heart[1])


@pytest.mark.parametrize("scale", range(6))
def test_upright_heart_has_two_lobes_at_the_top(scale):
    mask = render([[2, scale, 0, 0, 0]], dtype=np.uint8)[0, ..., 0].astype(np.int64)
    rows = np.nonzero(mask.any(axis=1))[0]
    # Top sprite row: two separate runs (the lobes), i.e. exactly two 0 -> 1 transitions.
    assert (np.diff(mask[rows[0]]) == 1).sum() == 2
    # Pointed tip at the bottom: the last row is much narrower than the widest row.
    assert mask[rows[-1]].sum() * 4 < mask.sum(axis=1).max()
    # More mass in the upper half of the bounding box than in the lower half.
    middle = (rows[0] + rows[-1] + 1) / 2
    row_mass = mask.sum(axis=1)
    assert row_mass[: int(middle)].sum() > row_mass[int(np.ceil(middle)) :].sum()


def test_orientation_zero_sprites_are_mirror_symmetric():
    # pos_x = 0 puts the centre on a pixel boundary, so mirroring is exact on the pixel grid.
    images = render([[shape, 3, 0, 0, 9] for shape in range(3)], dtype=np.uint8)[..., 0]
    for mask in images:
        cols = np.nonzero(mask.any(axis=0))[0]
        lo, hi = cols.min(), cols.max()
        np.testing.assert_array_equal(mask[:, lo : hi + 1], mask[:, lo : hi + 1][:, ::-1])


# ---------------------------------------------------------------------------- sampling / split


def test_sample_factors_in_range_and_seeded():
    factors = sample_factors(np.random.default_rng(7), 500)
    assert factors.shape == (500, 5) and factors.dtype == np.int64
    assert (factors >= 0).all() and (factors <= LAST).all()
    # 500 uniform draws hit every shape and most of the position grid.
    assert set(factors[:, 0].tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(factors, sample_factors(np.random.default_rng(7), 500))
    assert sample_factors(np.random.default_rng(7), 0).shape == (0, 5)


def test_make_dsprites_shapes_and_consistency():
    split = make_dsprites(num_train=40, num_val=10, seed=3)
    assert isinstance(split, DSpritesSplit)
    assert split.train_images.shape == (40, 64, 64, 1)
    assert split.val_images.shape == (10, 64, 64, 1)
    assert split.train_factors.shape == (40, 5) and split.val_factors.shape == (10, 5)
    assert split.train_images.dtype == np.float32
    np.testing.assert_array_equal(split.train_images, render(split.train_factors))
    np.testing.assert_array_equal(split.val_images, render(split.val_factors))


def test_make_dsprites_uses_documented_sampling():
    split = make_dsprites(num_train=5, num_val=3, seed=11)
    expected = np.random.default_rng(11).choice(NUM_COMBINATIONS, 8, replace=False)
    np.testing.assert_array_equal(factors_to_index(split.train_factors), expected[:5])
    np.testing.assert_array_equal(factors_to_index(split.val_factors), expected[5:])


def test_make_dsprites_train_and_val_are_disjoint_and_distinct():
    split = make_dsprites(num_train=300, num_val=100, seed=0)
    train = factors_to_index(split.train_factors)
    val = factors_to_index(split.val_factors)
    assert len(np.unique(train)) == 300 and len(np.unique(val)) == 100
    assert np.intersect1d(train, val).size == 0


def test_make_dsprites_default_has_empty_val():
    split = make_dsprites(num_train=3, dtype=np.uint8)
    assert split.val_images.shape == (0, 64, 64, 1) and split.val_factors.shape == (0, 5)
    assert split.train_images.dtype == np.uint8


def test_make_dsprites_determinism():
    a = make_dsprites(num_train=20, num_val=5, seed=42)
    b = make_dsprites(num_train=20, num_val=5, seed=42)
    c = make_dsprites(num_train=20, num_val=5, seed=43)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.train_factors, c.train_factors)
    assert not np.array_equal(a.train_images, c.train_images)
