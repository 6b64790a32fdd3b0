"""FSQ and LFQ quantizers against float64 numpy references, index round trips, modules."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from vaekit.quantizers import (
    FSQ,
    LFQ,
    code_usage_metrics,
    fsq_bound,
    fsq_codes_to_indices,
    fsq_implicit_codebook,
    fsq_indices_to_codes,
    fsq_quantize,
    lfq_codes_to_indices,
    lfq_commitment_loss,
    lfq_entropy,
    lfq_entropy_loss,
    lfq_implicit_codebook,
    lfq_indices_to_codes,
    lfq_quantize,
    round_ste,
)
from vaekit.quantizers._output import QuantizerOutput

RNG = np.random.default_rng(0)
LEVELS = (8, 5, 5, 5)
Z4 = (3.0 * RNG.normal(size=(2, 3, 3, 4))).astype(np.float32)  # (B, H, W, d)
Z3 = RNG.normal(size=(2, 2, 2, 3)).astype(np.float32)


# ---- float64 numpy references -----------------------------------------------------------


def np_bound(z, levels, eps=1e-3):
    levels = np.asarray(levels, np.float64)
    half_l = (levels - 1) * (1 + eps) / 2
    offset = np.where(levels % 2 == 0, 0.5, 0.0)
    shift = np.arctanh(offset / half_l)
    return np.tanh(z.astype(np.float64) + shift) * half_l - offset


def np_entropies(z, temperature):
    """Explicit enumeration of the 2**d codes, logits −||z − c||² / T (distance form)."""
    z = z.reshape(-1, z.shape[-1]).astype(np.float64)
    codes = np.array(list(itertools.product([-1.0, 1.0], repeat=z.shape[1])))
    probs = []
    for zn in z:
        logits = -np.sum((zn - codes) ** 2, axis=1) / temperature
        p = np.exp(logits - logits.max())
        probs.append(p / p.sum())
    probs = np.array(probs)
    h = lambda p: -np.sum(p * np.log(p))  # noqa: E731
    return np.mean([h(p) for p in probs]), h(probs.mean(0))


# ---- FSQ ----------------------------------------------------------------------------------


class TestFSQFunctions(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_bound_and_quantize_match_reference(self):
        bound = self.variant(lambda z: fsq_bound(z, LEVELS))
        quantize = self.variant(lambda z: fsq_quantize(z, LEVELS))
        ref = np_bound(Z4, LEVELS)
        np.testing.assert_allclose(bound(Z4), ref, rtol=1e-5, atol=1e-5)
        half_width = np.array(LEVELS) // 2
        np.testing.assert_array_equal(quantize(Z4), np.round(ref) / half_width)
        chex.assert_shape(quantize(Z4), Z4.shape)

    def test_bound_is_zero_at_zero_and_reaches_every_level(self):
        levels = (2, 3, 4, 7)
        z = np.repeat(np.linspace(-12, 12, 4001, dtype=np.float32)[:, None], 4, axis=1)
        z[0] = 0.0
        bounded, z_q = jax.jit(lambda z: (fsq_bound(z, levels), fsq_quantize(z, levels)))(z)
        np.testing.assert_allclose(bounded[0], 0.0, atol=1e-6)
        np.testing.assert_array_equal(z_q[0], 0.0)
        grid = np.asarray(z_q) * (np.array(levels) // 2)
        np.testing.assert_allclose(grid, np.round(grid), atol=1e-5)
        grid = np.round(grid)
        for i, level in enumerate(levels):
            expected = np.arange(-(level // 2), (level + 1) // 2)  # even L: not symmetric
            np.testing.assert_array_equal(np.unique(grid[:, i]), expected)

    def test_paper_example(self):
        levels = (3, 5, 4)
        z_q, index = jax.jit(lambda z: (
            fsq_quantize(z, levels), fsq_codes_to_indices(fsq_quantize(z, levels), levels)
        ))(np.array([0.25, 0.6, -7.0], np.float32))
        np.testing.assert_array_equal(z_q, [0.0, 0.5, -1.0])
        assert int(index) == 1 + 3 * 3 + 0 * 15

    def test_index_round_trip_on_whole_codebook(self):
        for levels in [(8, 5, 5, 5), (3, 4)]:
            self._round_trip(levels)

    def _round_trip(self, levels):
        size = math.prod(levels)
        codebook = jax.jit(fsq_implicit_codebook, static_argnums=0)(levels)
        chex.assert_shape(codebook, (size, len(levels)))
        assert len(np.unique(np.asarray(codebook), axis=0)) == size
        from_codes = jax.jit(fsq_codes_to_indices, static_argnums=1)(codebook, levels)
        np.testing.assert_array_equal(from_codes, np.arange(size))
        # Mixed radix, dimension 0 fastest: the reversed itertools.product order.
        half = np.array(levels) // 2
        digits = [d[::-1] for d in itertools.product(*(range(n) for n in levels[::-1]))]
        np.testing.assert_array_equal(codebook, (np.array(digits) - half) / half)
        indices = RNG.integers(0, size, size=(2, 3, 5)).astype(np.int32)
        codes, back = jax.jit(lambda i: (
            fsq_indices_to_codes(i, levels),
            fsq_codes_to_indices(fsq_indices_to_codes(i, levels), levels)))(indices)
        chex.assert_shape(codes, (2, 3, 5, len(levels)))
        np.testing.assert_array_equal(back, indices)

    def test_codebook_3_4_matches_notebook(self):
        expected = [[a, b] for b in (-1.0, -0.5, 0.0, 0.5) for a in (-1.0, 0.0, 1.0)]
        codebook = jax.jit(fsq_implicit_codebook, static_argnums=0)((3, 4))
        np.testing.assert_array_equal(codebook, expected)

    def test_straight_through_gradients(self):
        w = RNG.normal(size=Z4.shape).astype(np.float32)
        half_width = jnp.array(LEVELS, jnp.float32) // 2
        grad, grad_q, grad_b = jax.jit(lambda z: (
            jax.grad(lambda x: jnp.sum(w * round_ste(x)))(z),
            jax.grad(lambda x: jnp.sum(w * fsq_quantize(x, LEVELS)))(z),
            jax.grad(lambda x: jnp.sum(w * fsq_bound(x, LEVELS) / half_width))(z),
        ))(Z4)
        np.testing.assert_array_equal(grad, w)
        np.testing.assert_allclose(grad_q, grad_b, rtol=1e-6)


class TestFSQModule:
    def test_shapes_metrics_and_lookup(self):
        fsq = FSQ(LEVELS)
        out, looked_up = nnx.jit(lambda m, z: (m(z), m.lookup(m(z).indices)))(fsq, Z4)
        assert isinstance(out, QuantizerOutput)
        chex.assert_shape(out.z_q, Z4.shape)
        chex.assert_shape(out.indices, Z4.shape[:-1])
        assert out.indices.dtype == jnp.int32 and out.losses == {}
        assert set(out.metrics) == {"perplexity", "codebook_usage"}
        chex.assert_shape(list(out.metrics.values()), ())
        np.testing.assert_array_equal(out.z_q, fsq_quantize(Z4, LEVELS))
        np.testing.assert_array_equal(looked_up, out.z_q)
        np.testing.assert_array_equal(out.z_q_raw, out.z_q)
        assert fsq.codebook_size == 1000 and not nnx.state(fsq, nnx.Param)

    def test_projection(self):
        z = jnp.asarray(RNG.normal(size=(2, 3, 3, 6)).astype(np.float32))

        @nnx.jit  # one compile instead of many eager dispatches
        def run(z):
            fsq = FSQ((3, 4), dim=6, rngs=nnx.Rngs(0))
            out = fsq(z)
            grads = nnx.grad(lambda m: jnp.sum(m(z).z_q ** 2))(fsq)
            raw_grad = jax.grad(lambda x: jnp.sum(fsq(x).z_q_raw))(z)
            return out, fsq.lookup(out.indices), grads, raw_grad

        out, looked_up, grads, raw_grad = run(z)
        chex.assert_shape(out.z_q, (2, 3, 3, 6))
        chex.assert_shape(out.indices, (2, 3, 3))
        np.testing.assert_allclose(looked_up, out.z_q, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(looked_up, out.z_q_raw, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(raw_grad, 0.0)  # no estimator on z_q_raw
        leaves = jax.tree.leaves(grads)
        assert len(leaves) == 4 and all(np.all(np.isfinite(g)) for g in leaves)


# ---- LFQ ----------------------------------------------------------------------------------


class TestLFQFunctions(chex.TestCase):
    def test_bit_order_is_least_significant_first(self):
        codes = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]], np.float32)
        indices, codes_back, book, book_indices = jax.jit(lambda c, i: (
            lfq_codes_to_indices(c), lfq_indices_to_codes(i, 3), lfq_implicit_codebook(5),
            lfq_codes_to_indices(lfq_implicit_codebook(5))))(codes, np.array([1, 2, 5]))
        np.testing.assert_array_equal(indices, [1, 2, 5])
        np.testing.assert_array_equal(codes_back, codes)
        expected = [[1.0 if (k >> i) & 1 else -1.0 for i in range(5)] for k in range(32)]
        np.testing.assert_array_equal(book, expected)
        np.testing.assert_array_equal(book_indices, np.arange(32))

    @chex.variants(with_jit=True, without_jit=True)
    def test_quantize_and_indices(self):
        z = Z3.copy()
        z[0, 0, 0] = 0.0  # zero maps to −1
        z_q = self.variant(lfq_quantize)(z)
        np.testing.assert_array_equal(z_q, np.where(z > 0, 1.0, -1.0))
        indices = self.variant(lfq_codes_to_indices)(Z3)
        chex.assert_shape(indices, Z3.shape[:-1])
        np.testing.assert_array_equal(indices, ((Z3 > 0) * [1, 2, 4]).sum(-1))

    @chex.variants(with_jit=True)
    def test_entropy_matches_reference(self):
        for temperature in (1.0, 0.5):
            self._entropy_matches_reference(temperature)

    def _entropy_matches_reference(self, temperature):
        entropy = self.variant(lambda z: lfq_entropy(z, temperature))(Z3)
        ref = np_entropies(Z3, temperature)
        np.testing.assert_allclose(entropy, ref, rtol=1e-5, atol=1e-6)
        loss = self.variant(lambda z: lfq_entropy_loss(z, temperature, 0.5, 2.0))(Z3)
        np.testing.assert_allclose(loss, 0.5 * ref[0] - 2.0 * ref[1], rtol=1e-5, atol=1e-6)

    def test_commitment_loss_and_straight_through(self):
        w = RNG.normal(size=Z3.shape).astype(np.float32)
        loss, grad_st, grad = jax.jit(lambda z: (
            lfq_commitment_loss(z, lfq_quantize(z)),
            jax.grad(lambda x: jnp.sum(w * lfq_quantize(x)))(z),
            jax.grad(lambda x: lfq_commitment_loss(x, lfq_quantize(x)))(z),
        ))(Z3)
        # Sum over positions and d, mean over the batch axis.
        ref = np.sum((Z3 - np.where(Z3 > 0, 1.0, -1.0)) ** 2) / Z3.shape[0]
        np.testing.assert_allclose(loss, ref, rtol=1e-6)
        np.testing.assert_array_equal(grad_st, w)
        expected = 2 * (Z3 - np.where(Z3 > 0, 1.0, -1.0)) / Z3.shape[0]
        np.testing.assert_allclose(grad, expected, rtol=1e-5)


class TestLFQModule:
    def test_shapes_losses_metrics(self):
        lfq = LFQ(3)
        out, looked_up = nnx.jit(lambda m, z: (m(z), m.lookup(m(z).indices)))(lfq, Z3)
        chex.assert_shape(out.z_q, Z3.shape)
        chex.assert_shape(out.indices, Z3.shape[:-1])
        assert set(out.losses) == {"entropy_loss", "commitment_loss"}  # unweighted
        assert set(out.metrics) == {
            "perplexity", "codebook_usage", "sample_entropy", "codebook_entropy"}
        sample_h, codebook_h = np_entropies(Z3, 1.0)
        np.testing.assert_allclose(out.metrics["sample_entropy"], sample_h, rtol=1e-5)
        np.testing.assert_allclose(out.losses["entropy_loss"], sample_h - codebook_h, rtol=1e-5)
        commitment = np.sum((Z3 - np.asarray(out.z_q)) ** 2) / Z3.shape[0]
        np.testing.assert_allclose(out.losses["commitment_loss"], commitment, rtol=1e-6)
        np.testing.assert_array_equal(looked_up, out.z_q)
        np.testing.assert_array_equal(out.z_q_raw, out.z_q)

    def test_eval_skips_the_entropy(self):
        out = nnx.jit(lambda m, z: m(z, train=False))(LFQ(3), Z3)
        assert float(out.losses["entropy_loss"]) == 0.0
        assert set(out.metrics) == {"perplexity", "codebook_usage"}

    def test_projection_and_gradients(self):
        z = jnp.asarray(RNG.normal(size=(2, 3, 3, 6)).astype(np.float32))

        @nnx.jit
        def run(z):
            lfq = LFQ(6, codebook_dim=4, rngs=nnx.Rngs(0))

            def loss(m):
                out = m(z)
                return sum(out.losses.values()) + jnp.sum(out.z_q**2)

            return lfq(z), nnx.grad(loss)(lfq)

        out, grads = run(z)
        chex.assert_shape(out.z_q, (2, 3, 3, 6))
        chex.assert_shape(out.indices, (2, 3, 3))
        assert int(out.indices.max()) < 16
        leaves = jax.tree.leaves(grads)
        assert len(leaves) == 4 and all(np.all(np.isfinite(g)) for g in leaves)
        assert float(jnp.abs(grads["projection"]["project_in"]["kernel"][...]).sum()) > 0

    def test_large_codebook_without_entropy(self):
        out = nnx.jit(lambda m, z: m(z))(LFQ(20, entropy=False), jnp.ones((2, 20)))
        np.testing.assert_array_equal(out.indices, [2**20 - 1] * 2)


# ---- usage metrics ------------------------------------------------------------------------


def test_code_usage_metrics():
    m = jax.jit(code_usage_metrics, static_argnums=1)(jnp.array([[0, 0], [1, 3]]), 8)
    np.testing.assert_allclose(m["perplexity"], math.exp(1.5 * math.log(2)), rtol=1e-6)
    np.testing.assert_allclose(m["codebook_usage"], 3 / 8)
    m = code_usage_metrics(np.arange(6) % 3, 2**31)
    np.testing.assert_allclose(m["perplexity"], 3.0, rtol=1e-6)
    np.testing.assert_allclose(m["codebook_usage"], 3 / 2**31)


# ---- bad arguments fail early, naming the argument ----------------------------------------


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: FSQ(()), "levels"),
        (lambda: FSQ((8, 1)), "levels"),
        (lambda: FSQ((8, 2.5)), "levels"),
        (lambda: FSQ(5), "levels"),
        (lambda: FSQ((2**16, 2**16)), "levels"),
        (lambda: FSQ((5, 5), dim=0), "dim"),
        (lambda: FSQ((5, 5), dim=3), "rngs"),
        (lambda: FSQ((5, 5), eps=0.5), "eps"),
        (lambda: FSQ((2, 5), eps=0), "eps"),
        (lambda: fsq_bound(Z4, LEVELS, eps=0.2), "eps"),
        (lambda: fsq_quantize(np.zeros((2, 3), np.float32), (5, 5)), "z"),
        (lambda: fsq_codes_to_indices(np.zeros((2, 3), np.float32), (5, 5)), "z_q"),
        (lambda: FSQ((5, 5))(jnp.zeros((2, 3))), "z"),
        (lambda: LFQ(0), "dim"),
        (lambda: LFQ(4, entropy=0.1), "entropy"),
        (lambda: LFQ(4, sample_entropy_weight=-1), "sample_entropy_weight"),
        (lambda: LFQ(4, codebook_entropy_weight=-1), "codebook_entropy_weight"),
        (lambda: LFQ(4, temperature=0.0), "temperature"),
        (lambda: LFQ(17), "dim"),
        (lambda: LFQ(8, codebook_dim=17, rngs=nnx.Rngs(0)), "codebook_dim"),
        (lambda: LFQ(32, entropy=False), "dim"),
        (lambda: LFQ(6, codebook_dim=4), "rngs"),
        (lambda: LFQ(4)(jnp.zeros((2, 3))), "z"),
        (lambda: LFQ(4)(jnp.zeros((4,))), "z"),
        (lambda: lfq_entropy(np.zeros((2, 17), np.float32)), "z"),
        (lambda: lfq_entropy_loss(Z3, 1.0, -1.0), "sample_entropy_weight"),
        (lambda: lfq_entropy_loss(Z3, 1.0, 1.0, -1.0), "codebook_entropy_weight"),
        (lambda: lfq_commitment_loss(Z3, Z3[0]), "z_q"),
        (lambda: lfq_indices_to_codes(np.arange(3), 0), "dim"),
        (lambda: code_usage_metrics(np.arange(3), 0), "num_codes"),
    ],
)
def test_bad_arguments_name_the_argument(make, name):
    # ValueError from the library; the test run's beartype hook may see a wrong type first
    # (TypeCheckError, a TypeError), which also names the argument.
    with pytest.raises((ValueError, TypeError), match=f"[`']{name}[`']"):
        make()
