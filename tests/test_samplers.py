"""Post-hoc samplers: the GMM and two-stage samplers beat the prior on a non-Gaussian latent set.

Sizes are tiny and shared (the EM configuration matches property_tests/test_gmm_properties.py:
N=30, D=2, K=3, 15 iterations) so that few programs compile.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.objectives import mmd
from vaekit.samplers import (
    GaussianMixture,
    TwoStageSampler,
    fit_gmm,
    fit_latent_gmm,
    fit_two_stage,
    gmm_log_prob,
    sample_gmm,
    sample_two_stage,
    sample_with_gmm,
    two_stage_latents,
)
from vaekit.samplers._two_stage import _stage1_codes

KEY = jax.random.key(0)
POINTS = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)


class IdentityCoder(nnx.Module):
    """A stage-1 'model' whose codes are its inputs: encode(x) = (x, 0), decode(z) = z."""

    def __init__(self):
        self.unused = nnx.Param(jnp.zeros(()))

    def encode(self, x):
        return x, jnp.zeros_like(x)

    def decode(self, z):
        return z


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_components": 0}, "num_components"),
        ({"num_components": 31}, "num_components"),
        ({"num_iters": -1}, "num_iters"),
        ({"covariance": "spherical"}, "covariance"),
        ({"reg": 0.0}, "reg"),
        ({"tol": -1.0}, "tol"),
        ({"points": POINTS[0]}, "points"),
        ({"points": POINTS[None]}, "points"),
        ({"points": np.where(np.eye(30, 2, dtype=bool), np.nan, POINTS)}, "finite"),
    ],
)
def test_fit_gmm_rejects_bad_arguments(kwargs, match):
    args = {"points": POINTS, "num_components": 3, **kwargs}
    # Under pytest the jaxtyping/beartype hook may reject a wrong rank first (TypeCheckError, a
    # TypeError), which also names the argument.
    with pytest.raises((ValueError, TypeError), match=match):
        fit_gmm(args.pop("points"), args.pop("num_components"), key=KEY, **args)


def test_gmm_functions_reject_mismatched_shapes():
    gmm = GaussianMixture(jnp.ones(1), jnp.zeros((1, 2)), jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="columns"):
        gmm_log_prob(gmm, jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="covariances"):
        gmm_log_prob(gmm._replace(covariances=jnp.ones((1, 3))), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="`n`"):
        sample_gmm(gmm, KEY, 0)


def test_history_records_convergence():
    fit = fit_gmm(POINTS, 3, key=KEY, num_iters=15, tol=1e3, return_history=True)
    assert fit.converged and fit.num_iters == 1  # the first change is below tol=1000
    assert fit.log_likelihood_history.shape == fit.objective_history.shape == (2,)
    np.testing.assert_allclose(
        fit.log_likelihood_history[-1], float(jnp.mean(gmm_log_prob(fit.gmm, POINTS))),
        rtol=1e-5,
    )


def test_samplers_reject_models_without_encode_and_decode():
    with pytest.raises(ValueError, match="`model` must be an NNX module with `encode"):
        fit_latent_gmm(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), POINTS, 3, key=KEY)
    with pytest.raises((ValueError, TypeError), match="model"):  # the hook may reject first
        fit_two_stage(object(), POINTS, key=KEY)
    with pytest.raises((ValueError, TypeError), match="sampler"):
        two_stage_latents("not a sampler", KEY, 4)
    rngs = nnx.Rngs(0)  # a VQ-VAE's encode returns z_e alone, not a Gaussian posterior
    vqvae = vaekit.VQVAE(nnx.Linear(2, 4, rngs=rngs), vaekit.VectorQuantizer(8, 4, rngs=rngs),
                         nnx.Linear(4, 2, rngs=rngs))
    with pytest.raises(ValueError, match=r"must return \(mean, logvar\)"):
        fit_latent_gmm(vqvae, POINTS, 3, key=KEY)


def test_stage1_codes_are_means_or_posterior_draws():
    means = np.random.default_rng(2).normal(size=(4000, 2)).astype(np.float32)
    logvars = np.full_like(means, np.log(0.25))
    np.testing.assert_array_equal(_stage1_codes(means, logvars, "mean", KEY), means)
    draws = _stage1_codes(means, logvars, "sample", KEY)
    eps = (draws - means) / 0.5
    assert abs(eps.mean()) < 0.05 and abs(eps.std() - 1.0) < 0.05
    with pytest.raises(ValueError, match="codes"):
        fit_two_stage(IdentityCoder(), POINTS, key=KEY, codes="median")


def test_conditional_model_needs_and_gets_labels():
    cvae = vaekit.conditional_mlp_vae((2, 2, 1), 3, 2, (8,), rngs=nnx.Rngs(0))
    images = np.random.default_rng(1).random((30, 2, 2, 1)).astype(np.float32)
    labels = np.arange(30) % 3
    with pytest.raises(ValueError, match="labels"):
        fit_latent_gmm(cvae, images, 3, key=KEY, num_iters=15)
    with pytest.raises((ValueError, TypeError), match="labels"):  # the hook may reject first
        fit_latent_gmm(cvae, images, 3, key=KEY, labels=labels[:5], num_iters=15)
    gmm = fit_latent_gmm(cvae, images, 3, key=KEY, labels=labels, batch_size=16, num_iters=15)
    assert gmm.means.shape == (3, 2)
    out = sample_with_gmm(cvae, gmm, KEY, 6, labels=np.arange(6) % 3)
    assert out.shape == (6, 2, 2, 1) and np.all(np.isfinite(out))


def _bimodal_codes(n: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    side = np.where(rng.random(n) < 0.5, -2.5, 2.5)
    return (np.stack([side, np.zeros(n)], 1) + 0.3 * rng.normal(size=(n, 2))).astype(np.float32)


def test_two_stage_matches_a_bimodal_latent_set_better_than_the_prior():
    codes = _bimodal_codes()
    sampler = fit_two_stage(IdentityCoder(), codes, key=KEY, hidden=(32, 32), steps=300,
                            batch_size=64, lr=3e-3)
    assert isinstance(sampler, TwoStageSampler)
    train = sampler.history["train"]
    assert len(train["loss"]) == 300
    assert np.mean(train["loss"][-20:]) < np.mean(train["loss"][:20]) - 1.0  # training helps
    assert train["gamma"][-1] < 1.0  # the learned decoder variance shrinks from its start, 1
    z = two_stage_latents(sampler, jax.random.key(1), 256)
    prior = jax.random.normal(jax.random.key(2), (256, 2))
    assert float(mmd(z, codes)) < 0.25 * float(mmd(prior, codes))
    # With the identity stage 1, the decoded samples are the stage-2 latents themselves.
    np.testing.assert_allclose(
        sample_two_stage(IdentityCoder(), sampler, jax.random.key(1), 256), z, rtol=1e-6
    )


PROTOTYPES = (np.random.default_rng(0).random((4, 4, 4, 1)) < 0.5).astype(np.float32)


def _prototype_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flips = rng.random((n, 4, 4, 1)) < 0.05
    return np.abs(PROTOTYPES[rng.integers(0, 4, n)] - flips).astype(np.float32)


def _distance_to_data(logits) -> float:
    """Mean over samples of the L1 distance (per pixel) of sigmoid(logits) to the nearest
    prototype image."""
    p = np.asarray(jax.nn.sigmoid(logits))
    return float(np.mean(np.min(np.abs(p[:, None] - PROTOTYPES[None]).mean(axis=(2, 3, 4)), 1)))


def test_gmm_sampler_beats_the_prior_on_a_clustered_aggregate_posterior():
    """The point of ex-post density estimation (Ghosh et al. 2020): data from 4 prototypes
    gives a VAE an aggregate posterior of 4 clumps, far from N(0, I). A 4-component GMM on
    the training codes gives held-out codes a much higher likelihood than the prior does, and
    its decoded samples land on the data while prior samples fall between the clumps."""
    train_x, test_x = _prototype_data(256, 1), _prototype_data(128, 2)
    rngs = nnx.Rngs(0)
    model = vaekit.VAE(vaekit.MLPEncoder((4, 4, 1), 2, (16,), rngs=rngs),
                       vaekit.MLPDecoder(2, (4, 4, 1), (16,), rngs=rngs))
    train = vaekit.make_train_step(vaekit.beta_vae(beta=1.0), optax.adam(1e-2))
    state, _ = vaekit.fit(train, train.init(model, KEY), {"x": train_x}, num_steps=300,
                          batch_size=64, steps_per_call=300)
    model = nnx.merge(state.graphdef, state.params, state.rest)

    gmm = fit_latent_gmm(model, train_x, 4, key=jax.random.key(1), num_iters=30)
    held_out, _ = vaekit.evaluation.encode_dataset(model, test_x)
    ll_gmm = float(jnp.mean(gmm_log_prob(gmm, held_out)))
    ll_prior = float(np.mean(-0.5 * np.sum(held_out**2, axis=1) - np.log(2 * np.pi)))
    assert ll_gmm > ll_prior + 1.0  # nats per held-out code (measured: -0.9 vs -2.8)

    gmm_images = sample_with_gmm(model, gmm, jax.random.key(4), 256)
    prior_images = model.generate(jax.random.key(4), 256)
    assert gmm_images.shape == prior_images.shape == (256, 4, 4, 1)
    # Measured: 0.04 (GMM) vs 0.14 (prior).
    assert _distance_to_data(gmm_images) < 0.5 * _distance_to_data(prior_images)
