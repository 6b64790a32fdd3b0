"""Tests for vaekit.data.dsprites_device: the JAX dSprites renderer equals the host one bit for
bit (CPU backend), inside jit, lax.scan and vmap, and the training-batch transform."""

import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vaekit.data import (
    FACTOR_SIZES,
    NUM_COMBINATIONS,
    factors_to_index,
    index_to_factors,
    index_to_factors_device,
    render,
    render_device,
    render_dsprites_batch,
    render_indices_device,
)
from vaekit.data._dsprites import _fence

LAST = np.asarray(FACTOR_SIZES) - 1
BATCH = 2048  # every jitted render below sees this batch (or the scan / vmap shapes): few compiles

# Grid points where a pixel centre lies within a rounding error of the heart's boundary: a
# renderer whose products XLA contracts into fused multiply-adds (or re-associates) gets a
# pixel of each of them wrong (found on the full grid before _fence existed).
FMA_SENSITIVE = [589490, 599378, 621822, 648990, 678454]

render_jit = jax.jit(render_indices_device)


def _host(indices) -> np.ndarray:
    return render(index_to_factors(np.asarray(indices)))


def _device(indices) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int32)
    padded = np.zeros(-len(indices) % BATCH + len(indices), dtype=np.int32)
    padded[: len(indices)] = indices
    out = [np.asarray(render_jit(jnp.asarray(padded[i : i + BATCH])))
           for i in range(0, len(padded), BATCH)]
    return np.concatenate(out)[: len(indices)]


def _adversarial_indices() -> np.ndarray:
    """Every shape x scale x orientation at the grid corners, the centre and edge midpoints,
    the 32 corners of the factor grid, and the FMA-sensitive points."""
    positions = [(0, 0), (31, 31), (0, 31), (31, 0), (15, 16), (16, 15), (0, 15), (31, 16)]
    rows = [
        [shape, scale, orientation, pos_x, pos_y]
        for shape in range(3)
        for scale in range(6)
        for orientation in range(40)
        for pos_x, pos_y in positions
    ]
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in FACTOR_SIZES], indexing="ij"))
    rows = np.concatenate([np.array(rows), corners.reshape(5, -1).T])
    return np.concatenate([factors_to_index(rows), FMA_SENSITIVE])


# ------------------------------------------------------------------------ bit-for-bit images


@pytest.mark.parametrize("seed", [0, 1])
def test_random_indices_match_host_bit_for_bit(seed):
    indices = np.random.default_rng(seed).integers(0, NUM_COMBINATIONS, BATCH)
    device = np.asarray(render_jit(jnp.asarray(indices, dtype=jnp.int32)))
    assert device.dtype == np.float32 and device.shape == (BATCH, 64, 64, 1)
    assert np.array_equal(device, _host(indices))


def test_adversarial_indices_match_host_bit_for_bit():
    indices = _adversarial_indices()
    assert len(indices) > 5000
    device, host = _device(indices), _host(indices)
    mismatched = np.nonzero((device != host).any(axis=(1, 2, 3)))[0]
    assert mismatched.size == 0, f"differing grid points: {indices[mismatched][:10].tolist()}"


def test_fence_keeps_products_rounded_like_numpy():
    # The mechanism behind bit-for-bit equality: XLA:CPU may fuse a*b + c*d into FMAs; fenced
    # products round exactly as numpy's separate multiply and add do.
    rng = np.random.default_rng(0)
    a, b, c, d = (rng.standard_normal(100_000).astype(np.float32) for _ in range(4))

    def fenced(a, b, c, d):
        return _fence(jnp, a * b) + _fence(jnp, c * d), _fence(jnp, a * b) - c

    plus, minus = jax.jit(fenced)(a, b, c, d)
    np.testing.assert_array_equal(np.asarray(plus), a * b + c * d)
    np.testing.assert_array_equal(np.asarray(minus), a * b - c)
    # And it is the identity on every float, NaN and infinities included.
    special = jnp.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5], jnp.float32)
    out = np.asarray(jax.jit(lambda p: _fence(jnp, p))(special))
    np.testing.assert_array_equal(out, np.asarray(special))
    assert np.signbit(out[3]) and not np.signbit(out[4])


def test_constant_factors_folded_at_compile_time_match_host():
    # Factors closed over by a jitted function are constants XLA may fold at compile time.
    factors = index_to_factors(_adversarial_indices()[-64:])
    images = jax.jit(lambda: render_device(jnp.asarray(factors)))()
    assert np.array_equal(np.asarray(images), render(factors))


def test_inside_a_jitted_scan_drawing_indices_on_the_device():
    steps, batch = 6, 64

    def body(key, _):
        key, draw = jax.random.split(key)
        indices = jax.random.randint(draw, (batch,), 0, NUM_COMBINATIONS)
        return key, (indices, render_indices_device(indices))

    @jax.jit
    def run(key):
        return jax.lax.scan(body, key, None, length=steps)[1]

    indices, images = run(jax.random.key(3))
    assert images.shape == (steps, batch, 64, 64, 1)
    indices = np.asarray(indices).reshape(-1)
    assert np.array_equal(np.asarray(images).reshape(-1, 64, 64, 1), _host(indices))


def test_under_vmap():
    indices = np.random.default_rng(4).integers(0, NUM_COMBINATIONS, (4, 64))
    images = jax.jit(jax.vmap(render_indices_device))(jnp.asarray(indices, jnp.int32))
    assert images.shape == (4, 64, 64, 64, 1)
    assert np.array_equal(np.asarray(images).reshape(-1, 64, 64, 1), _host(indices.reshape(-1)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.uint8, jnp.bool_])
def test_render_device_dtype_and_values(dtype):
    factors = index_to_factors(np.random.default_rng(5).integers(0, NUM_COMBINATIONS, 16))
    images = render_device(factors, dtype=dtype)  # eager, numpy factors
    assert images.dtype == jnp.dtype(dtype) and images.shape == (16, 64, 64, 1)
    host = render(factors, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(images).astype(np.float32), host)


def test_eager_call_matches_jit():
    indices = jnp.asarray(_adversarial_indices()[:32], jnp.int32)
    eager, jitted = render_indices_device(indices), jax.jit(render_indices_device)(indices)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))


def test_empty_batch():
    assert render_indices_device(jnp.zeros((0,), jnp.int32)).shape == (0, 64, 64, 1)
    assert index_to_factors_device(np.zeros(0, dtype=np.int64)).shape == (0, 5)


# ------------------------------------------------------------------------ index -> factors


def test_index_to_factors_device_matches_host():
    rng = np.random.default_rng(6)
    indices = np.concatenate([[0, NUM_COMBINATIONS - 1, 245760, 40960, 1024, 32, 1],
                              rng.integers(0, NUM_COMBINATIONS, 1000)])
    factors = jax.jit(index_to_factors_device)(jnp.asarray(indices, jnp.int32))
    assert factors.dtype == jnp.int32 and factors.shape == (len(indices), 5)
    np.testing.assert_array_equal(np.asarray(factors), index_to_factors(indices))
    # Eager, from int64 numpy.
    np.testing.assert_array_equal(np.asarray(index_to_factors_device(indices)),
                                  index_to_factors(indices))


# ------------------------------------------------------------------------ validation / clipping


@pytest.mark.parametrize("bad", [[-1], [NUM_COMBINATIONS], [0, NUM_COMBINATIONS + 7]])
def test_concrete_out_of_range_indices_raise(bad):
    for fn in (index_to_factors_device, render_indices_device):
        with pytest.raises(ValueError, match="indices") as info:
            fn(np.asarray(bad))
        assert str(NUM_COMBINATIONS) in str(info.value)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2), np.int32), np.zeros(3, np.float32), np.zeros(3, bool)], ids=str
)
def test_bad_index_arrays_raise(bad):
    # Caught by the test session's jaxtyping/beartype hook (TypeError naming the parameter) or,
    # without it, by the function itself (ValueError naming it).
    with pytest.raises((ValueError, TypeError), match="indices"):
        index_to_factors_device(bad)


@pytest.mark.parametrize(
    "bad", [[[0, 0, 40, 0, 0]], [[3, 0, 0, 0, 0]], [[0, 0, 0, 0, -1]]], ids=str
)
def test_concrete_out_of_range_factors_raise(bad):
    with pytest.raises(ValueError, match="factors") as info:
        render_device(np.asarray(bad))
    assert "[0, 40)" in str(info.value)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 4), np.int32), np.zeros(5, np.int32), np.zeros((2, 5), np.float32)],
    ids=str,
)
def test_bad_factor_arrays_raise(bad):
    with pytest.raises((ValueError, TypeError), match="factors"):
        render_device(bad)


def test_traced_out_of_range_values_are_clipped():
    indices = jnp.array([-5, NUM_COMBINATIONS + 10, 2**31 - 1], jnp.int32)
    factors = np.asarray(jax.jit(index_to_factors_device)(indices))
    np.testing.assert_array_equal(factors, [[0] * 5, LAST, LAST])
    bad = jnp.array([[7, -1, 99, 40, -3]], jnp.int32)
    clipped = np.clip(np.asarray(bad), 0, LAST)
    np.testing.assert_array_equal(np.asarray(jax.jit(render_device)(bad)), render(clipped))


# ------------------------------------------------------------------------ batch transform


def test_batch_transform_keys_dtypes_shapes():
    indices = np.random.default_rng(7).integers(0, NUM_COMBINATIONS, 32).astype(np.int32)
    weight = jnp.linspace(0, 1, 32)
    out = jax.jit(render_dsprites_batch)(
        {"index": jnp.asarray(indices), "weight": weight}, jax.random.key(0)
    )
    assert sorted(out) == ["factors", "weight", "x", "y"]
    assert out["x"].shape == (32, 64, 64, 1) and out["x"].dtype == jnp.float32
    assert out["y"].shape == (32,) and out["y"].dtype == jnp.int32
    assert out["factors"].shape == (32, 5) and out["factors"].dtype == jnp.int32
    factors = index_to_factors(indices)
    np.testing.assert_array_equal(np.asarray(out["factors"]), factors)
    np.testing.assert_array_equal(np.asarray(out["y"]), factors[:, 0])
    assert np.array_equal(np.asarray(out["x"]), render(factors))
    np.testing.assert_array_equal(np.asarray(out["weight"]), np.asarray(weight))


def test_batch_transform_eager_without_key_and_input_untouched():
    batch = {"index": np.array([0, NUM_COMBINATIONS - 1])}
    out = render_dsprites_batch(batch)
    assert list(batch) == ["index"]  # the input mapping is not modified
    np.testing.assert_array_equal(np.asarray(out["y"]), [0, 2])


def test_batch_transform_errors():
    with pytest.raises(KeyError, match="index"):
        render_dsprites_batch({"x": jnp.zeros((2, 64, 64, 1))}, jax.random.key(0))
    with pytest.raises(ValueError, match="already holds"):
        render_dsprites_batch({"index": jnp.zeros(2, jnp.int32), "y": jnp.zeros(2, jnp.int32)})
    with pytest.raises(ValueError, match=r"`batch\[\"index\"\]` must lie in"):
        render_dsprites_batch({"index": np.array([NUM_COMBINATIONS])})


# ------------------------------------------------------------------------ no host images


def test_scanned_rendering_moves_no_image_sized_buffers_and_no_numpy_images():
    """A compiled scan of 20 steps x batch 64 that draws indices on the device and renders:
    nothing image-sized crosses the program boundary (XLA's argument + output bytes), and
    running it allocates no NumPy image array (tracemalloc; it sees NumPy's allocations,
    checked on the host path). On the CPU backend XLA's own buffers are host memory too."""
    steps, batch = 20, 64
    batch_bytes = batch * 64 * 64 * 4

    def body(carry, key):
        indices = jax.random.randint(key, (batch,), 0, NUM_COMBINATIONS)
        images = render_indices_device(indices)
        return carry + images.mean(), None

    @jax.jit
    def run(key):
        return jax.lax.scan(body, jnp.zeros(()), jax.random.split(key, steps))[0]

    compiled = run.lower(jax.random.key(0)).compile()
    memory = compiled.memory_analysis()
    if memory is not None:
        assert memory.argument_size_in_bytes + memory.output_size_in_bytes < 1024
    run(jax.random.key(0)).block_until_ready()  # warm

    tracemalloc.start()
    try:
        total = run(jax.random.key(1)).block_until_ready()
        _, device_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        host = render(index_to_factors(np.arange(batch)))
        _, host_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert float(total) > 0
    assert host.nbytes == batch_bytes and host_peak >= batch_bytes  # tracemalloc sees NumPy
    assert device_peak < batch_bytes / 16
