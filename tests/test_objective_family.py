"""Capacity β-VAE, free bits and compose against plain numpy references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import vaekit
from vaekit.models import VAEOutput

RNG = np.random.default_rng(1)
B, L = 6, 3
MEAN = RNG.normal(size=(B, L)).astype(np.float32)
LOGVAR = (0.5 * RNG.normal(size=(B, L))).astype(np.float32)
LOGITS = (3 * RNG.normal(size=(B, 4, 2))).astype(np.float32)
X = (RNG.random((B, 4, 2)) < 0.5).astype(np.float32)
OUT = VAEOutput(recon=LOGITS, mean=MEAN, logvar=LOGVAR, z=MEAN)
BATCH = {"x": X}


def ref_recon():
    l64 = LOGITS.astype(np.float64)
    nll = np.logaddexp(0.0, l64) - l64 * X
    return nll.reshape(B, -1).sum(-1).mean()


def ref_kl_per_dim():
    m, lv = MEAN.astype(np.float64), LOGVAR.astype(np.float64)
    return (0.5 * (m**2 + np.exp(lv) - 1 - lv)).mean(0)


class TestCapacity(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_reference_and_reports_exact_metric_names(self):
        objective = vaekit.capacity_vae(gamma=1000.0, c_max=25.0, capacity_num_iter=100)
        loss, m = self.variant(objective)(OUT, BATCH, jnp.int32(40))
        kl = ref_kl_per_dim().sum()
        c = 25.0 * 40 / 100
        np.testing.assert_allclose(m["current_capacity"], c, rtol=1e-6)
        np.testing.assert_allclose(m["kl_loss"], kl, rtol=1e-5)
        np.testing.assert_allclose(m["capacity_loss"], 1000.0 * abs(kl - c), rtol=1e-4)
        np.testing.assert_allclose(loss, ref_recon() + 1000.0 * abs(kl - c), rtol=1e-4)
        required = {"loss", "reconstruction_loss", "kl_loss", "capacity_loss", "current_capacity"}
        assert required <= set(m)
        assert {"active_dims", "kl_dim_0"} <= set(m)
        assert not any(k.endswith("_weight") for k in m)


class TestFreeBits(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_reference(self):
        objective = vaekit.free_bits_vae(free_bits=0.4, beta=2.0)
        loss, m = self.variant(objective)(OUT, BATCH, jnp.int32(0))
        floored = np.maximum(ref_kl_per_dim(), 0.4).sum()
        np.testing.assert_allclose(m["kl_free_bits"], floored, rtol=1e-5)
        np.testing.assert_allclose(loss, ref_recon() + 2.0 * floored, rtol=1e-5)
        assert float(m["kl_free_bits_weight"]) == 2.0

    def test_floor_removes_the_gradient_below_lambda(self):
        kl = jnp.array([[0.1, 3.0]])
        grad = jax.grad(lambda k: vaekit.objectives.free_bits_kl(k, 0.5))(kl)
        np.testing.assert_array_equal(grad, [[0.0, 1.0]])


class TestCompose(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_weighted_sum_with_every_term_and_weight_reported(self):
        def l1_of_means(out, batch, step):
            return jnp.mean(jnp.sum(jnp.abs(out.mean), axis=-1)), {"extra": jnp.float32(7)}

        objective = vaekit.compose({
            "rec": vaekit.reconstruction_term(vaekit.bernoulli_nll),
            "kl": (vaekit.kl_term(), optax.linear_schedule(0.0, 2.0, 10)),
            "sparsity": (l1_of_means, 0.1),
        })
        loss, m = self.variant(objective)(OUT, BATCH, jnp.int32(5))
        l1 = np.abs(MEAN).sum(-1).mean()
        kl = ref_kl_per_dim().sum()
        np.testing.assert_allclose(loss, ref_recon() + 1.0 * kl + 0.1 * l1, rtol=1e-5)
        np.testing.assert_allclose(m["kl_weight"], 1.0)
        np.testing.assert_allclose(m["sparsity"], l1, rtol=1e-5)
        assert {"rec", "rec_weight", "kl", "sparsity_weight", "extra", "loss"} <= set(m)

    def test_bad_specs_are_rejected(self):
        with pytest.raises(ValueError, match="`terms`"):
            vaekit.compose({})
        with pytest.raises(ValueError, match="`kl weight`"):
            vaekit.compose({"kl": (vaekit.kl_term(), -1.0)})
        with pytest.raises(ValueError, match="`weight_metrics`"):
            vaekit.compose({"kl": vaekit.kl_term()}, weight_metrics={"nope": None})

    @chex.variants(with_jit=True, without_jit=True)
    def test_a_components_term_is_computed_once_and_weighted_by_name(self):
        calls = []

        def moments(out, batch, step):
            calls.append(1)
            return {"m1": jnp.mean(out.mean), "m2": jnp.mean(out.mean**2)}, {"n": jnp.float32(3)}

        objective = vaekit.compose({"moments": (moments, {"m1": 2.0,
                                                          "m2": optax.linear_schedule(0, 1, 10)})})
        loss, m = self.variant(objective)(OUT, BATCH, jnp.int32(5))
        assert len(calls) == 1
        assert objective.terms == ("m1", "m2")
        np.testing.assert_allclose(loss, 2.0 * MEAN.mean() + 0.5 * (MEAN**2).mean(), rtol=1e-5)
        np.testing.assert_allclose([m["m1_weight"], m["m2_weight"], m["n"]], [2.0, 0.5, 3.0])

    def test_components_and_their_weights_must_agree(self):
        def two(out, batch, step):
            return {"a": jnp.float32(1), "b": jnp.float32(2)}

        with pytest.raises(ValueError, match="returned components \\['a', 'b'\\], but its "
                                             "weights name \\['a'\\]"):
            vaekit.compose({"t": (two, {"a": 1.0})})(OUT, BATCH, 0)
        with pytest.raises(ValueError, match="give its weight as a mapping"):
            vaekit.compose({"t": two})(OUT, BATCH, 0)
        with pytest.raises(ValueError, match="returned one scalar"):
            vaekit.compose({"t": (vaekit.kl_term(), {"a": 1.0})})(OUT, BATCH, 0)
        with pytest.raises(ValueError, match="name a component twice"):
            vaekit.compose({"a": vaekit.kl_term(), "t": (two, {"a": 1.0, "b": 1.0})})

    def test_reporters_are_explicit_and_never_enter_the_loss(self):
        terms = {"kl": vaekit.kl_term()}
        plain_loss, plain = vaekit.compose(terms)(OUT, BATCH, 0)
        assert not any(k.startswith("kl_dim_") or k == "active_dims" for k in plain)
        loss, m = vaekit.compose(terms, reporters=[vaekit.kl_monitor(0.01),
                                                   lambda out, b, s: {"big": 1e9}])(OUT, BATCH, 0)
        np.testing.assert_array_equal(loss, plain_loss)
        np.testing.assert_allclose([m[f"kl_dim_{i}"] for i in range(MEAN.shape[1])],
                                   ref_kl_per_dim(), rtol=1e-5)
        assert m["big"] == 1e9
        with pytest.raises((ValueError, TypeError), match="reporters"):  # vaekit's or beartype's
            vaekit.compose(terms, reporters=[3])
        with pytest.raises(ValueError, match="'kl'"):
            vaekit.compose(terms, reporters=[lambda out, b, s: {"kl": 0.0}])(OUT, BATCH, 0)

    def test_metric_name_collisions_are_reported(self):
        def reports_kl(out, batch, step):
            return jnp.float32(0), {"kl": jnp.float32(1)}

        objective = vaekit.compose({"kl": vaekit.kl_term(), "other": reports_kl})
        with pytest.raises(ValueError, match="'kl'"):
            objective(OUT, BATCH, 0)

    def test_a_term_cannot_overwrite_its_own_metrics_or_the_total(self):
        # A term's extra metric named like its own component, or like its weight metric, and a
        # component named `loss`, would each hide a number that is in the loss.
        def shadows_itself(out, batch, step):
            return jnp.float32(5), {"kl_loss": jnp.float32(1)}

        with pytest.raises(ValueError, match="'kl_loss' is reported twice"):
            vaekit.compose({"kl_loss": shadows_itself})(OUT, BATCH, 0)

        def shadows_weight(out, batch, step):
            return jnp.float32(5), {"kl_loss_weight": jnp.float32(123)}

        with pytest.raises(ValueError, match="'kl_loss_weight' is reported twice"):
            vaekit.compose({"kl_loss": (shadows_weight, 2.0)})(OUT, BATCH, 0)
        with pytest.raises(ValueError, match="`loss` is the total"):
            vaekit.compose({"loss": vaekit.kl_term()})
        with pytest.raises(ValueError, match="`loss` is the total"):
            vaekit.compose({"kl": vaekit.kl_term()}, weight_metrics={"kl": "loss"})
        with pytest.raises(ValueError, match="share the name"):
            vaekit.compose({"a": vaekit.kl_term(), "b": vaekit.kl_term()},
                           weight_metrics={"a": "b"})

        def reports_loss(out, batch, step):
            return jnp.float32(0), {"loss": jnp.float32(7)}

        with pytest.raises(ValueError, match="'loss' is reported twice"):
            vaekit.compose({"t": reports_loss})(OUT, BATCH, 0)
