"""make_train_step: learns, trains user objectives, compiles once, carries non-Param state."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, LATENT, binary_batch, tiny_vae


def _stack(batch, k):
    return jax.tree.map(lambda a: np.stack([a] * k), batch)


def test_train_step_lowers_the_loss_on_a_fixed_batch():
    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-2), grad_norm=True)
    state = train.init(tiny_vae(), jax.random.key(0))
    batch = binary_batch()
    before = float(train.evaluate(state, batch)["loss"])
    state, metrics = train.multi_step(state, _stack(batch, 100))
    after = float(train.evaluate(state, batch)["loss"])
    chex.assert_shape(metrics["loss"], (100,))
    assert int(state.step) == 100
    assert after < 0.8 * before, (before, after)
    assert np.all(np.isfinite(metrics["grad_norm"]))


def test_state_crosses_the_jit_boundary_as_plain_containers_and_merges_back():
    """params/rest/opt_state hold only dicts, tuples and arrays (flattened by JAX in C++), and
    the model rebuilt from them has the variable types of the original (EMA stats included)."""
    from flax import nnx

    model = vaekit.VectorQuantizer(8, 2, ema=True, rngs=nnx.Rngs(0))  # EMAStats in `rest`
    train = vaekit.make_train_step(vaekit.vq_vae(), optax.adam(1e-3))
    state = train.init(model, jax.random.key(0))
    builtin = (dict, tuple, list, type(None))

    def containers(tree):
        kinds = set()

        def visit(node):
            if isinstance(node, dict):
                kinds.add(dict)
                for v in node.values():
                    visit(v)
            elif isinstance(node, tuple | list):
                kinds.add(tuple)
                for v in node:
                    visit(v)
            elif node is not None and not isinstance(node, jax.Array):
                kinds.add(type(node))

        visit(tree)
        return kinds

    for field in (state.params, state.rest, state.opt_state):
        assert all(k in builtin or issubclass(k, tuple) for k in containers(field))
    assert jax.tree.leaves(state.rest)  # the EMA statistics are there
    rebuilt = state.model()
    original = nnx.state(model, nnx.Not(nnx.Param))
    assert ({type(v) for v in jax.tree.leaves(original, is_leaf=_is_variable)}
            == {type(v) for v in jax.tree.leaves(nnx.state(rebuilt, nnx.Not(nnx.Param)),
                                                  is_leaf=_is_variable)})


def _is_variable(x):
    from flax import nnx

    return isinstance(x, nnx.Variable)


def test_user_objective_from_test_file_trains():
    """A β-VAE with a KL floor ("free bits"), written here as a plain function."""

    def kl_floor_objective(out, batch, step):
        recon = vaekit.batch_mean(vaekit.bernoulli_nll(out.recon, batch["x"]))
        kl_dims = jnp.mean(vaekit.gaussian_kl_per_dim(out.mean, out.logvar), axis=0)
        kl = jnp.sum(jnp.maximum(kl_dims, 0.25))
        return recon + kl, {"recon": recon, "kl_floored": kl}

    train = vaekit.make_train_step(kl_floor_objective, optax.adam(1e-2))
    state = train.init(tiny_vae(), jax.random.key(1))
    batch = binary_batch(seed=3)
    before = train.evaluate(state, batch)
    state, metrics = train.multi_step(state, _stack(batch, 60))
    after = train.evaluate(state, batch)
    assert set(metrics) == {"loss", "recon", "kl_floored"}
    assert float(after["loss"]) < float(before["loss"])
    assert float(after["kl_floored"]) >= 0.25 * LATENT - 1e-6


def test_scheduled_beta_over_100_steps_compiles_once():
    traces = []
    base = vaekit.beta_vae(beta=optax.linear_schedule(0.0, 4.0, 50))

    def counted(out, batch, step):
        traces.append(1)  # Python side effect: runs once per trace, not per call
        return base(out, batch, step)

    train = vaekit.make_train_step(counted, optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    batch = binary_batch()
    betas = []
    for _ in range(100):
        state, metrics = train.step(state, batch)
        betas.append(float(metrics["beta"]))
    assert len(traces) == 1
    assert train.step._cache_size() == 1
    assert betas[0] == 0.0 and betas[-1] == 4.0 and betas[25] == pytest.approx(2.0)


class Counter(nnx.Variable):
    """Non-parameter state of its own type."""


class CountingVAE(nnx.Module):
    def __init__(self):
        self.vae = tiny_vae()
        self.calls = Counter(jnp.zeros((), jnp.int32))

    def __call__(self, x, *, key):
        self.calls[...] = self.calls[...] + 1
        return self.vae(x, key=key)


def test_only_params_get_gradients_and_other_state_is_carried():
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.sgd(1e-2))
    state = train.init(CountingVAE(), jax.random.key(0))
    assert "calls" not in state.params and "calls" in state.rest
    batch = binary_batch()
    for _ in range(3):
        state, _ = train.step(state, batch)
    assert int(state.rest["calls"][...]) == 3
    assert int(state.model().calls[...]) == 3
    train.evaluate(state, batch)  # evaluation does not update the carried state
    assert int(state.rest["calls"][...]) == 3


def test_multi_step_equals_repeated_steps():
    train = vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-2), donate=False)
    state0 = train.init(tiny_vae(), jax.random.key(2))
    batches = [binary_batch(seed=s) for s in range(4)]
    state = state0
    for b in batches:
        state, _ = train.step(state, b)
    fused, _ = train.multi_step(state0, jax.tree.map(lambda *a: np.stack(a), *batches))
    chex.assert_trees_all_close(state.params, fused.params, rtol=1e-5, atol=1e-6)
    assert int(fused.step) == 4


def test_runs_are_reproducible_from_the_key():
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2))
    batch = _stack(binary_batch(), 5)
    a, _ = train.multi_step(train.init(tiny_vae(), jax.random.key(7)), batch)
    b, _ = train.multi_step(train.init(tiny_vae(), jax.random.key(7)), batch)
    c, _ = train.multi_step(train.init(tiny_vae(), jax.random.key(8)), batch)
    chex.assert_trees_all_equal(a.params, b.params)
    leaves_a, leaves_c = jax.tree.leaves(a.params), jax.tree.leaves(c.params)
    assert any(not np.array_equal(x, y) for x, y in zip(leaves_a, leaves_c, strict=True))


def test_non_scalar_loss_is_rejected():
    def per_sample(out, batch, step):
        return vaekit.bernoulli_nll(out.recon, batch["x"]), {}

    train = vaekit.make_train_step(per_sample, optax.adam(1e-3))
    state = train.init(tiny_vae(), jax.random.key(0))
    with pytest.raises(ValueError, match="scalar loss"):
        train.step(state, binary_batch())


def test_fit_resumes_bit_for_bit_and_records_history():
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False)
    data = {"x": binary_batch(40)["x"]}
    val = {"x": binary_batch(10, seed=9)["x"]}
    whole, hist = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)), data,
                             num_steps=30, batch_size=8, steps_per_call=10,
                             val_data=val, eval_every=20)
    part, _ = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(0)), data,
                         num_steps=10, batch_size=8, steps_per_call=10)
    part, _ = vaekit.fit(train, part, data, num_steps=20, batch_size=8, steps_per_call=10)
    chex.assert_trees_all_equal(whole.params, part.params)
    assert hist["train_steps"].tolist() == list(range(1, 31))
    assert len(hist["train"]["loss"]) == 30
    assert hist["val_steps"].tolist() == [20, 30]
    assert len(hist["val"]["loss"]) == 2


def test_evaluate_dataset_counts_every_example_once():
    train = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2))
    state = train.init(tiny_vae(), jax.random.key(0))
    data = {"x": binary_batch(10)["x"]}
    whole = vaekit.evaluate_dataset(train, state, data, batch_size=10)
    split = vaekit.evaluate_dataset(train, state, data, batch_size=4)  # 4 + 4 + 2
    # The eval key is per state, so noise differs per batch size only through batch order;
    # the reconstruction term of the posterior sample is compared loosely, KL exactly.
    np.testing.assert_allclose(split["kl_loss"], whole["kl_loss"], rtol=1e-5)


def test_batch_indices_are_epoch_permutations_and_resumable():
    idx = vaekit.batch_indices(10, 3, 6, seed=1)
    assert idx.shape == (6, 3)
    for epoch in range(2):
        seen = idx[3 * epoch : 3 * epoch + 3].ravel()
        assert len(set(seen.tolist())) == 9 and seen.max() < 10
    np.testing.assert_array_equal(vaekit.batch_indices(10, 3, 2, seed=1, start_batch=4), idx[4:])
    with pytest.raises(ValueError, match="`batch_size`"):
        vaekit.batch_indices(4, 5, 1, seed=0)


def test_input_shape_is_checked_by_name():
    with pytest.raises(ValueError, match="`x` must have shape"):
        tiny_vae()(jnp.zeros((2, *INPUT_SHAPE[:-1], 2)), key=jax.random.key(0))


def test_skip_nonfinite_keeps_the_previous_state_for_a_bad_step():
    def poisoned(out, batch, step):
        loss, metrics = vaekit.beta_vae()(out, batch, step)
        return jnp.where(step == 1, jnp.nan, loss), metrics

    train = vaekit.make_train_step(poisoned, optax.adam(1e-2), donate=False,
                                   skip_nonfinite=True)
    state = train.init(tiny_vae(), jax.random.key(0))
    batch = binary_batch()
    state1, m0 = train.step(state, batch)
    state2, m1 = train.step(state1, batch)
    state3, m2 = train.step(state2, batch)
    assert float(m0["skipped"]) == 0.0 and float(m1["skipped"]) == 1.0
    chex.assert_trees_all_equal(state2.params, state1.params)
    chex.assert_trees_all_equal(state2.opt_state, state1.opt_state)
    assert int(state2.step) == 2 and float(m2["skipped"]) == 0.0
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state3.params))
