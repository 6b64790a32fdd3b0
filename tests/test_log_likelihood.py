"""vaekit.evaluation.log_likelihood: importance-sampled log p(x) (Burda et al. 2016)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jaxtyping import TypeCheckError

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.evaluation import LogLikelihood, importance_log_weights, log_likelihood
from vaekit.evaluation._log_likelihood import _batch_log_px_jit

X = binary_batch(8)["x"]  # the shapes and sizes of the property tests: shared compiles
KEY = jax.random.key(0)


def test_result_fields_and_the_shared_definition():
    model = tiny_vae(0)
    # 8 images in batches of 3 (the last one padded), 12 samples in chunks of 5.
    result = log_likelihood(model, X, num_samples=12, key=KEY, batch_size=3, sample_chunk=5)
    assert isinstance(result, LogLikelihood) and result.num_samples == 12
    log_w = jax.jit(importance_log_weights, static_argnums=(3, 4))(
        model, {"x": X}, KEY, 12, vaekit.bernoulli_nll)
    expected = jax.nn.logsumexp(log_w, axis=0) - math.log(12)
    np.testing.assert_allclose(result.log_px, expected, rtol=1e-5)
    values = np.asarray(result.log_px, np.float64)
    assert result.nll == pytest.approx(-values.mean(), rel=1e-6)
    assert result.stderr == pytest.approx(values.std(ddof=1) / math.sqrt(8), rel=1e-6)
    assert result.bits_per_dim == pytest.approx(result.nll / (36 * math.log(2)), rel=1e-6)


def test_large_k_runs_in_memory_independent_of_k():
    # The compiled batch function log_likelihood calls, at k = 50 000: its scratch memory holds
    # chunks of 500 samples, a small fraction of the k · batch · pixels floats of all k.
    graphdef, state = nnx.split(tiny_vae(0))
    args = (state, {"x": jnp.asarray(X[:2])}, jnp.arange(2), KEY)
    k = 50_000
    compiled = _batch_log_px_jit.lower(graphdef, *args, likelihood=vaekit.bernoulli_nll,
                                       num_samples=k, chunk=500).compile()
    assert np.all(np.isfinite(compiled(*args)))
    assert compiled.memory_analysis().temp_size_in_bytes < k * 2 * 36 * 4 / 10


def test_conditional_vae_takes_labels():
    cvae = vaekit.conditional_mlp_vae((6, 6, 1), 3, 2, (8,), rngs=nnx.Rngs(0))
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    a = log_likelihood(cvae, X, labels=labels, num_samples=4, key=KEY)
    b = log_likelihood(cvae, X, labels=(labels + 1) % 3, num_samples=4, key=KEY)
    assert a.log_px.shape == (8,) and not np.allclose(a.log_px, b.log_px)
    with pytest.raises(ValueError, match="labels"):
        log_likelihood(cvae, X, num_samples=4, key=KEY)
    with pytest.raises((ValueError, TypeCheckError), match="labels"):
        log_likelihood(cvae, X, labels=labels[:3], num_samples=4, key=KEY)
    with pytest.raises(ValueError, match="labels"):
        log_likelihood(cvae, X, labels=labels + 3, num_samples=4, key=KEY)


class _ProtocolModel(nnx.Module):
    """log w = −Σx + shift · ε: the protocol method, with p(x) = exp(−Σx) at shift 0."""

    def __init__(self, shift: float):
        self.shift = nnx.Param(jnp.asarray(shift))

    def log_importance_weight(self, batch, key, likelihood):
        eps = jax.random.normal(key, (batch["x"].shape[0],))
        return -jnp.sum(batch["x"].reshape(batch["x"].shape[0], -1), -1) + self.shift * eps


def test_model_protocol_is_used():
    result = log_likelihood(_ProtocolModel(0.0), X, num_samples=3, key=KEY)
    np.testing.assert_allclose(result.log_px, -X.reshape(8, -1).sum(-1), rtol=1e-6)
    # With noise the estimate is log mean exp(shift · ε) above it: Jensen puts it below
    # log E[exp(shift ε)] = shift² / 2.
    noisy = log_likelihood(_ProtocolModel(1.0), X, num_samples=3, key=KEY)
    gap = np.asarray(noisy.log_px) + X.reshape(8, -1).sum(-1)
    assert np.all(np.abs(gap) > 1e-4)
    one = log_likelihood(_ProtocolModel(0.0), X[:1], num_samples=3, key=KEY)
    assert math.isnan(one.stderr)  # undefined for one image


def test_bad_arguments_raise_naming_them():
    model = tiny_vae(0)
    for kwargs, name in [({"num_samples": 0}, "num_samples"), ({"batch_size": 0}, "batch_size"),
                         ({"sample_chunk": 0}, "sample_chunk")]:
        with pytest.raises((ValueError, TypeCheckError), match=name):
            log_likelihood(model, X, key=KEY, **kwargs)
    bad = X.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        log_likelihood(model, bad, key=KEY)
    with pytest.raises((ValueError, TypeCheckError), match="images"):
        log_likelihood(model, X[:0], key=KEY)
    with pytest.raises((ValueError, TypeCheckError), match="images"):
        log_likelihood(model, X.astype(np.int32), key=KEY)
    with pytest.raises(ValueError, match="labels"):
        log_likelihood(model, X, labels=np.zeros(8, np.int32), key=KEY)
    with pytest.raises(ValueError, match="model"):
        log_likelihood(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), X, key=KEY)
    with pytest.raises((ValueError, TypeCheckError), match="num_samples"):
        importance_log_weights(model, {"x": X}, KEY, 0)
    with pytest.raises(ValueError, match="not finite"):
        log_likelihood(_ProtocolModel(jnp.inf), X, num_samples=3, key=KEY)
