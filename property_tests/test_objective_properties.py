"""Fixed reductions: objectives are invariant to batch order and to splitting into halves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given
from hypothesis import strategies as st

import vaekit
from property_tests.strategies import BATCH, LATENT, arrays
from vaekit.models import VAEOutput

EVENT = (3, 2)
OBJECTIVES = {
    "elbo": vaekit.beta_vae(beta=1.0),
    "beta4_gaussian": vaekit.beta_vae(beta=4.0, likelihood=vaekit.gaussian_nll(0.5)),
    "annealed": vaekit.beta_vae(beta=optax.linear_schedule(0.0, 4.0, 100)),
}
LOSS = {name: jax.jit(lambda o, b, s, f=f: f(o, b, s)[1]) for name, f in OBJECTIVES.items()}


def batches(n=BATCH):
    return st.tuples(
        arrays((n, *EVENT), -8.0, 8.0),
        arrays((n, LATENT), -4.0, 4.0),
        arrays((n, LATENT), -4.0, 4.0),
        arrays((n, *EVENT), 0.0, 1.0),
    )


def _metrics(name, recon, mean, logvar, x, step):
    out = VAEOutput(recon=recon, mean=mean, logvar=logvar, z=mean)
    return LOSS[name](out, {"x": x}, jnp.int32(step))


@given(st.sampled_from(sorted(OBJECTIVES)), batches(), st.permutations(range(BATCH)),
       st.integers(0, 200))
def test_objective_is_invariant_to_batch_order(name, arrays_, perm, step):
    perm = np.asarray(perm)
    whole = _metrics(name, *arrays_, step)
    shuffled = _metrics(name, *(a[perm] for a in arrays_), step)
    for key in ("loss", "reconstruction_loss", "kl_loss"):
        np.testing.assert_allclose(shuffled[key], whole[key], rtol=1e-5, atol=1e-4)


@given(st.sampled_from(sorted(OBJECTIVES)), batches(), st.integers(0, 200))
def test_loss_of_batch_is_mean_of_its_halves(name, arrays_, step):
    whole = _metrics(name, *arrays_, step)
    half = BATCH // 2
    first = _metrics(name, *(a[:half] for a in arrays_), step)
    second = _metrics(name, *(a[half:] for a in arrays_), step)
    for key in ("loss", "reconstruction_loss", "kl_loss"):
        np.testing.assert_allclose(
            0.5 * (first[key] + second[key]), whole[key], rtol=1e-5, atol=1e-4
        )
