"""Bernoulli-with-logits NLL: finite for huge logits, textbook value where that is stable."""

import jax
import numpy as np
from hypothesis import given

import vaekit
from property_tests.strategies import arrays

SHAPE = (4, 6)
nll = jax.jit(vaekit.bernoulli_nll)
grad = jax.jit(jax.grad(lambda logits, x: vaekit.bernoulli_nll(logits, x).sum()))


def binary(shape=SHAPE):
    return arrays(shape, 0.0, 1.0).map(lambda a: (a > 0.5).astype(np.float32))


@given(arrays(SHAPE, -1e4, 1e4), binary())
def test_nll_and_gradient_are_finite_for_huge_logits(logits, x):
    value = np.asarray(nll(logits, x))
    g = np.asarray(grad(logits, x))
    assert np.all(np.isfinite(value)) and np.all(value >= 0.0)
    assert np.all(np.isfinite(g)) and np.all(np.abs(g) <= 1.0)
    # The gradient is sigma(l) - x: it has the sign that moves the logit towards the target.
    assert np.all(g[x == 1.0] <= 0.0) and np.all(g[x == 0.0] >= 0.0)


@given(arrays(SHAPE, -30.0, 30.0), arrays(SHAPE, 0.0, 1.0))
def test_nll_equals_textbook_formula_where_stable(logits, x):
    l64, x64 = logits.astype(np.float64), x.astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-l64))
    textbook = -(x64 * np.log(p) + (1.0 - x64) * np.log1p(-p)).sum(-1)
    np.testing.assert_allclose(np.asarray(nll(logits, x)), textbook, rtol=1e-4, atol=1e-3)
