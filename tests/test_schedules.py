"""Schedules: values against closed forms, validation at construction, jit-safety."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import vaekit


def test_epochs_to_steps():
    assert vaekit.epochs_to_steps(10, dataset_size=60_000, batch_size=128) == 4680
    assert vaekit.epochs_to_steps(1, 10, 3, drop_remainder=False) == 4
    assert vaekit.epochs_to_steps(0.5, 100, 10) == 5


def test_linear_warmup_one_to_four_over_ten_epochs_is_a_one_liner():
    beta = vaekit.linear_warmup(1.0, 4.0, vaekit.epochs_to_steps(10, 60_000, 128))
    assert [float(beta(s)) for s in (0, 2340, 4680, 10_000)] == [1.0, 2.5, 4.0, 4.0]


def test_cyclical_matches_fu_et_al():
    t, m, r = 400, 4, 0.5
    beta = jax.jit(vaekit.cyclical_schedule(2.0, num_steps=t, num_cycles=m, ratio=r))
    for step in range(0, 500, 7):
        period = t / m
        tau = (step % period) / period
        expected = 2.0 if step >= t else 2.0 * min(tau / r, 1.0)
        assert float(beta(jnp.int32(step))) == pytest.approx(expected, abs=1e-6), step


def test_logistic_matches_bowman_et_al():
    beta = vaekit.logistic_schedule(3.0, k=0.01, x0=500)
    for step in (0, 250, 500, 900):
        expected = 3.0 / (1.0 + math.exp(-0.01 * (step - 500)))
        assert float(beta(step)) == pytest.approx(expected, rel=1e-6)


def test_capacity_schedule():
    c = vaekit.capacity_schedule(25.0, 1000)
    assert [float(c(s)) for s in (0, 400, 1000, 5000)] == pytest.approx([0.0, 10.0, 25.0, 25.0])


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: vaekit.linear_warmup(-1.0, 4.0, 10), "start"),
        (lambda: vaekit.linear_warmup(1.0, 4.0, 0), "num_steps"),
        (lambda: vaekit.cyclical_schedule(1.0, 100, num_cycles=0), "num_cycles"),
        (lambda: vaekit.cyclical_schedule(1.0, 100, ratio=0.0), "ratio"),
        (lambda: vaekit.cyclical_schedule(1.0, 100, ratio=1.5), "ratio"),
        (lambda: vaekit.cyclical_schedule(1.0, 0), "num_steps"),
        (lambda: vaekit.cyclical_schedule(-1.0, 100), "max_value"),
        (lambda: vaekit.cyclical_schedule(1.0, 100, min_value=2.0), "min_value"),
        (lambda: vaekit.logistic_schedule(1.0, k=0.0, x0=10), "k"),
        (lambda: vaekit.logistic_schedule(-1.0, k=1.0, x0=10), "max_value"),
        (lambda: vaekit.capacity_schedule(-1.0, 100), "c_max"),
        (lambda: vaekit.capacity_schedule(25.0, 0), "num_steps"),
        (lambda: vaekit.epochs_to_steps(0, 100, 10), "num_epochs"),
        (lambda: vaekit.epochs_to_steps(1, 10, 100), "batch_size"),
        (lambda: vaekit.capacity_vae(gamma=-1.0), "gamma"),
        (lambda: vaekit.capacity_vae(capacity_num_iter=0), "capacity_num_iter"),
        (lambda: vaekit.free_bits_vae(free_bits=-0.1), "free_bits"),
    ],
)
def test_invalid_arguments_fail_at_construction_naming_the_argument(build, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        build()


@pytest.mark.parametrize("name", ["constant", "linear", "cosine", "cyclical", "logistic"])
def test_named_schedules_end_at_end(name):
    schedule = vaekit.named_schedule(name, 0.0, 4.0, 100)
    assert float(schedule(100 if name != "logistic" else 10_000)) == pytest.approx(4.0, abs=1e-4)
    values = np.array([float(schedule(s)) for s in range(0, 101, 5)])
    assert np.all(values >= 0.0) and np.all(values <= 4.0 + 1e-6)


def test_any_optax_schedule_is_a_weight():
    joined = optax.join_schedules(
        [optax.constant_schedule(0.0), optax.linear_schedule(0.0, 1.0, 10)], boundaries=[5]
    )
    objective = vaekit.beta_vae(beta=joined)
    assert objective is not None
    assert float(vaekit.as_schedule(joined, "beta")(10)) == pytest.approx(0.5)
