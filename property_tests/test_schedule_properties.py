"""Schedule properties: endpoints, monotonicity, periodicity, bounds (hypothesis)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import floats

STEPS = jnp.arange(0, 2001, dtype=jnp.int32)


def _values(schedule):
    return np.asarray(jax.vmap(schedule)(STEPS), np.float64)


@given(floats(0.0, 100.0), floats(0.0, 100.0), st.integers(1, 1500))
def test_linear_warmup_hits_endpoints_exactly_and_is_monotone(start, end, n):
    v = _values(vaekit.linear_warmup(start, end, n))
    assert v[0] == np.float32(start) and np.all(v[n:] == np.float32(end))
    d = np.diff(v[: n + 1])
    assert np.all(d >= -1e-5) if end >= start else np.all(d <= 1e-5)


@given(floats(0.0, 100.0), st.integers(1, 1000))
def test_capacity_is_cmax_from_num_iter_on_and_monotone_before(c_max, n):
    v = _values(vaekit.capacity_schedule(c_max, n))
    assert v[0] == 0.0
    assert np.all(v[n:] == np.float32(c_max))
    assert np.all(np.diff(v[: n + 1]) >= 0.0)


@given(floats(0.0, 10.0), st.integers(1, 8), st.integers(1, 40), st.integers(1, 10))
def test_cyclical_is_periodic_with_period_n_over_m(max_value, m, period, r_tenths):
    n = m * period  # whole periods, so step and step + N/M are both exact integers
    v = _values(vaekit.cyclical_schedule(max_value, n, num_cycles=m, ratio=r_tenths / 10))
    np.testing.assert_allclose(v[period:n], v[: n - period], atol=1e-5 * max(1.0, max_value))
    assert np.all(v >= 0.0) and np.all(v <= max_value * (1 + 1e-6))
    assert v[0] == 0.0 and np.all(v[n:] == np.float32(max_value))


@given(floats(0.5, 10.0), floats(0.0009765625, 0.125), floats(0.0, 2000.0))
def test_logistic_is_bounded_and_monotone(max_value, k, x0):
    v = _values(vaekit.logistic_schedule(max_value, k, x0))
    assert np.all(v >= 0.0) and np.all(v <= np.float32(max_value))
    assert np.all(np.diff(v) >= 0.0)
    # Strictly inside (0, max) wherever float32 can tell the sigmoid from 0 and 1.
    unsaturated = np.abs(k * (np.arange(2001) - x0)) < 8.0
    assert np.all(v[unsaturated] > 0.0) and np.all(v[unsaturated] < np.float32(max_value))
