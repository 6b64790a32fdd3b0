"""The step trains in train mode; ``evaluate`` runs an ``eval()`` copy (dropout off, BatchNorm
on running averages, VQ codebooks not updated), and the state it is given stays as it was."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import vaekit
from vaekit.quantizers import VectorQuantizer

DIM = 6


class Net(nnx.Module):
    """``mean((layer(x) - x)²)``-style toy model with dropout or BatchNorm after a Linear."""

    def __init__(self, norm: str, rngs: nnx.Rngs):
        self.linear = nnx.Linear(DIM, DIM, rngs=rngs)
        self.norm = (nnx.Dropout(0.5, rngs=rngs) if norm == "dropout"
                     else nnx.BatchNorm(DIM, momentum=0.5, rngs=rngs))

    def __call__(self, x):
        return self.norm(self.linear(x))


def mse(out, batch, step):
    loss = jnp.mean(jnp.sum((out - batch["x"]) ** 2, axis=-1))
    return loss, {"mse": loss}


def forward(model, batch, key):
    return model(batch["x"])


X = {"x": jnp.asarray(np.random.default_rng(0).normal(size=(16, DIM)).astype(np.float32))}


def build(norm: str):
    train = vaekit.make_train_step(mse, optax.sgd(1e-2), forward=forward, donate=False)
    return train, train.init(Net(norm, nnx.Rngs(0)), jax.random.key(0))


def reference(state, train: bool):
    model = nnx.merge(state.graphdef, state.params, state.rest, copy=True)
    model.train() if train else model.eval()
    return mse(model(X["x"]), X, 0)[0]


def test_dropout_is_off_in_evaluate_and_on_in_the_step():
    train, state = build("dropout")
    evals = [float(train.evaluate(state, X)["loss"]) for _ in range(2)]
    np.testing.assert_allclose(evals, float(reference(state, train=False)), rtol=1e-6)
    _, metrics = train.step(state, X)  # the training forward drops units: a different loss
    assert abs(float(metrics["loss"]) - evals[0]) > 1e-3


def test_batchnorm_uses_running_averages_in_evaluate_and_batch_stats_in_the_step():
    train, state = build("batchnorm")
    stepped, metrics = train.step(state, X)
    np.testing.assert_allclose(metrics["loss"], reference(state, train=True), rtol=1e-5)
    # the step moved the running statistics (non-parameter state) ...
    before = jax.tree.leaves(state.rest)
    after = jax.tree.leaves(stepped.rest)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    # ... evaluation normalises with them, not with this batch's statistics
    ev = train.evaluate(stepped, X)["loss"]
    np.testing.assert_allclose(ev, reference(stepped, train=False), rtol=1e-5)
    assert abs(float(ev) - float(reference(stepped, train=True))) > 1e-3


def test_vq_vae_evaluate_never_updates_the_codebook_and_matches_an_eval_forward():
    rngs = nnx.Rngs(0)
    model = vaekit.VQVAE(nnx.Linear(DIM, 4, rngs=rngs),
                         VectorQuantizer(8, 4, dead_code_threshold=1.0, rngs=rngs),
                         nnx.Linear(4, DIM, rngs=rngs))
    objective = vaekit.vq_vae(likelihood=vaekit.sum_of_squares)
    train = vaekit.make_train_step(objective, optax.adam(1e-3), donate=False)
    state = train.init(model, jax.random.key(0))
    metrics = train.evaluate(state, X)
    copy = nnx.merge(state.graphdef, state.params, state.rest, copy=True)
    codebook = np.asarray(copy.quantizer.codebook[...])
    out = copy(X["x"], key=jax.random.key(1), train=False)
    _, expected = objective(out, X, state.step)
    for name in ("loss", "reconstruction_loss", "perplexity"):
        np.testing.assert_allclose(metrics[name], expected[name], rtol=1e-5)
    # an eval()'d model takes train=None as evaluation: no EMA update, no dead-code reset
    copy.eval()
    copy(X["x"], key=jax.random.key(1))
    np.testing.assert_array_equal(copy.quantizer.codebook[...], codebook)
    copy.train()
    copy(X["x"], key=jax.random.key(1))
    assert not np.allclose(copy.quantizer.codebook[...], codebook)
