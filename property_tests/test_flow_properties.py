"""Properties of the MADE/IAF posterior, the VampPrior and the sample-based KL."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from hypothesis import assume, given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import arrays, floats
from vaekit.models import MADE, IAFFlow, VampPriorVAE, mixture_log_density
from vaekit.objectives import (
    SampledVAEOutput,
    batch_mean,
    gaussian_kl,
    gaussian_log_density,
    sampled_kl_term,
)

D = 4  # latent dims of the flow tests
CTX = 3
IMAGE = (4,)  # VampPrior tests: a flat 4-pixel "image"
ZDIM = 3
BATCH = 5
SAMPLES = 4096
seeds = st.integers(0, 2**31 - 1)


def _randomize(state, key, scale, keep=0.0):
    """Every parameter ``p`` replaced by ``keep · p + scale · N(0, 1)`` noise (the structural
    properties below hold for any parameters)."""
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(key, len(leaves))
    new = [keep * x + scale * jax.random.normal(k, jnp.shape(x), jnp.float32)
           for k, x in zip(keys, leaves, strict=True)]
    return jax.tree.unflatten(treedef, new)


@functools.cache
def _made():
    return nnx.split(MADE(D, (16, 16), num_outputs=2, context_dim=CTX, rngs=nnx.Rngs(0)))


@jax.jit
def _made_jacobian(seed, scale, x, ctx):
    graphdef, state = _made()
    made = nnx.merge(graphdef, _randomize(state, jax.random.key(seed), scale))
    return jax.jacfwd(lambda v: made(v[None], ctx[None])[0])(x)  # (outputs, D, D)


@given(seeds, floats(0.125, 2.0), arrays((D,), -3.0, 3.0), arrays((CTX,), -3.0, 3.0))
def test_made_output_d_depends_only_on_inputs_before_d(seed, scale, x, ctx):
    jac = np.asarray(_made_jacobian(seed, scale, x, ctx))
    assert jac.shape == (2, D, D) and np.isfinite(jac).all()
    upper = np.triu(np.ones((D, D), bool))  # j >= d
    np.testing.assert_array_equal(jac[:, upper], 0.0)


@functools.cache
def _flow():
    return nnx.split(IAFFlow(D, 2, (16,), context_dim=CTX, rngs=nnx.Rngs(1)))


@jax.jit
def _flow_checks(seed, scale, key_seed, mean, logvar, ctx):
    graphdef, state = _flow()
    flow = nnx.merge(graphdef, _randomize(state, jax.random.key(seed), scale, keep=1.0))
    key = jax.random.key(key_seed)
    z0 = vaekit.reparameterize(key, mean[None], logvar[None])[0]
    _, log_det = flow(z0[None], ctx[None])
    jac = jax.jacfwd(lambda v: flow(v[None], ctx[None])[0][0])(z0)
    sign, logabsdet = jnp.linalg.slogdet(jac)
    _, log_q = flow.sample(key, mean[None], logvar[None], ctx[None])
    base = jnp.sum(gaussian_log_density(z0[None], mean[None], logvar[None]))
    return log_det[0], sign, logabsdet, log_q[0], base, jnp.linalg.cond(jac)


# slogdet of a float32 Jacobian is a reference only while the Jacobian is well conditioned
# (with σ_t -> 0 the composed map's condition number reaches 1e9 and slogdet is off by ~0.5
# nats while the flow's own log-det is exact, checked in float64).
MAX_COND = 1e4


flow_inputs = (seeds, floats(0.0, 1.0), seeds, arrays((D,), -2.0, 2.0), arrays((D,), -2.0, 2.0),
               arrays((CTX,), -2.0, 2.0))


@given(*flow_inputs)
def test_iaf_log_det_is_log_abs_det_of_the_jacobian(seed, scale, key_seed, mean, logvar, ctx):
    log_det, sign, logabsdet, _, _, cond = map(float, _flow_checks(seed, scale, key_seed, mean,
                                                                   logvar, ctx))
    assume(cond < MAX_COND)
    assert sign == 1.0  # σ_t > 0 and the two reversals cancel
    assert log_det <= 0.0  # every σ_t < 1: the flow contracts volume
    assert math.isclose(log_det, logabsdet, rel_tol=1e-3, abs_tol=1e-3)


@given(*flow_inputs)
def test_iaf_log_q_is_change_of_variables(seed, scale, key_seed, mean, logvar, ctx):
    # log q(z_T) = log N(z0; μ, σ²) − log |det ∂z_T/∂z0|, the Jacobian taken numerically
    _, _, logabsdet, log_q, base, cond = map(float, _flow_checks(seed, scale, key_seed, mean,
                                                                 logvar, ctx))
    assume(cond < MAX_COND)
    assert math.isclose(log_q, base - logabsdet, rel_tol=1e-3, abs_tol=1e-3)


@functools.cache
def _identity_flow():
    return nnx.split(IAFFlow(D, 0, 8, rngs=nnx.Rngs(0)))


@jax.jit
def _sampled_kl_draws(key_seed, mean, logvar):
    graphdef, state = _identity_flow()
    flow = nnx.merge(graphdef, state)
    term = sampled_kl_term()

    def one(key):
        z, log_q = flow.sample(key, mean, logvar)
        log_prior = jnp.sum(gaussian_log_density(z, jnp.zeros_like(z), jnp.zeros_like(z)), -1)
        out = SampledVAEOutput(None, mean, logvar, z, log_q, log_prior)
        return term(out, {}, 0)

    draws = jax.vmap(one)(jax.random.split(jax.random.key(key_seed), SAMPLES))
    return draws.mean(), draws.std() / math.sqrt(SAMPLES), batch_mean(gaussian_kl(mean, logvar))


@given(seeds, arrays((2, D), -2.0, 2.0), arrays((2, D), -2.0, 2.0))
def test_sampled_kl_is_unbiased_for_the_identity_flow(key_seed, mean, logvar):
    estimate, stderr, exact = map(float, _sampled_kl_draws(key_seed, mean, logvar))
    assert abs(estimate - exact) <= 5.0 * stderr + 1e-3


@functools.cache
def _vamp(num: int):
    rngs = nnx.Rngs(2)
    model = VampPriorVAE(vaekit.MLPEncoder(IMAGE, ZDIM, (8,), rngs=rngs),
                         vaekit.MLPDecoder(ZDIM, IMAGE, (8,), rngs=rngs), num, IMAGE, rngs=rngs)
    return nnx.split(model)


@functools.partial(jax.jit, static_argnums=0)
def _vamp_prior(num, u, z):
    graphdef, state = _vamp(num)
    model = nnx.merge(graphdef, state)
    model.pseudo_inputs[...] = u
    means, logvars = model.encoder(u)
    components = jnp.stack([jnp.sum(gaussian_log_density(z, jnp.broadcast_to(m, z.shape),
                                                         jnp.broadcast_to(v, z.shape)), -1)
                            for m, v in zip(means, logvars, strict=True)], axis=1)
    return model.log_prior(z), components


@given(arrays((1, *IMAGE), -2.0, 2.0), arrays((BATCH, ZDIM), -4.0, 4.0))
def test_vampprior_with_one_pseudo_input_is_its_posterior(u, z):
    log_prior, components = _vamp_prior(1, u, z)
    np.testing.assert_allclose(log_prior, components[:, 0], rtol=1e-5, atol=1e-5)


@given(arrays((3, *IMAGE), -2.0, 2.0), arrays((BATCH, ZDIM), -4.0, 4.0))
def test_vampprior_is_a_mixture_logsumexp_bound(u, z):
    log_prior, components = map(np.asarray, _vamp_prior(3, u, z))
    top = components.max(axis=1)
    tol = 1e-5 * (1.0 + np.abs(top))
    assert (log_prior <= top + tol).all()
    assert (log_prior >= top - math.log(3) - tol).all()


@jax.jit
def _mixture_variants(z, means, logvars, order):
    return (mixture_log_density(z, means, logvars),
            mixture_log_density(z, means[order], logvars[order]),
            mixture_log_density(z, jnp.concatenate([means, means]),
                                jnp.concatenate([logvars, logvars])))


@given(arrays((3, ZDIM), -3.0, 3.0), arrays((3, ZDIM), -3.0, 3.0),
       arrays((BATCH, ZDIM), -4.0, 4.0), st.permutations(range(3)))
def test_mixture_density_is_invariant_to_order_and_duplication(means, logvars, z, order):
    # 1/K Σ_k: reordering the components or listing each twice (K -> 2K) changes nothing
    base, permuted, twice = _mixture_variants(z, means, logvars, np.asarray(order))
    np.testing.assert_allclose(permuted, base, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(twice, base, rtol=1e-5, atol=1e-5)
