"""MMD is a (squared) distance between samples; MMD / DIP objectives ignore the batch order."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from property_tests.strategies import BATCH, LATENT, arrays, floats
from vaekit.models import VAEOutput
from vaekit.objectives import dip_covariance, dip_regularizer, dip_vae, info_vae, mmd, mmd_vae

KERNELS = ("rbf", "imq")
SHAPE = (BATCH, LATENT)
EVENT = (3, 2)

# One jitted function per kernel / estimator / objective: fixed shapes, so each compiles once.
MMD = {
    (kernel, unbiased): jax.jit(lambda x, y, k=kernel, u=unbiased: mmd(x, y, k, unbiased=u))
    for kernel in KERNELS
    for unbiased in (False, True)
}
OBJECTIVES = {
    "info_vae": info_vae(alpha=0.0, lambda_=100.0, kernel="imq", prior_key=1),
    "mmd_vae": mmd_vae(lambda_=100.0, kernel="rbf", prior_key=2),
    "dip_vae_i": dip_vae("i"),
    "dip_vae_ii": dip_vae("ii"),
}
METRICS = {name: jax.jit(lambda o, b, s, f=f: f(o, b, s)[1]) for name, f in OBJECTIVES.items()}
COV = {kind: jax.jit(lambda m, lv, k=kind: dip_covariance(m, lv, kind=k)) for kind in ("i", "ii")}


def samples():
    return arrays(SHAPE, -4.0, 4.0)


def np_biased_mmd(x, y, kernel):
    x, y = x.astype(np.float64), y.astype(np.float64)
    c = 2.0 * x.shape[1]

    def gram(a, b):
        sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-sq / c) if kernel == "rbf" else c / (c + sq)

    return gram(x, x).mean() + gram(y, y).mean() - 2 * gram(x, y).mean()


@given(st.sampled_from(KERNELS), samples())
def test_mmd_of_a_sample_with_itself_is_zero(kernel, x):
    assert abs(float(MMD[kernel, False](x, x))) <= 1e-6


@given(st.sampled_from(KERNELS), samples(), samples())
def test_biased_mmd_is_non_negative(kernel, x, y):
    value = float(MMD[kernel, False](x, y))
    reference = np_biased_mmd(x, y, kernel)
    assert value >= -1e-6
    # The float64 estimate is a squared RKHS norm too (no clamping there), and agrees.
    assert reference >= -1e-12
    np.testing.assert_allclose(value, reference, rtol=1e-4, atol=1e-5)


@given(st.sampled_from(KERNELS), st.booleans(), samples(), samples())
def test_mmd_is_symmetric(kernel, unbiased, x, y):
    fn = MMD[kernel, unbiased]
    np.testing.assert_allclose(fn(x, y), fn(y, x), rtol=1e-5, atol=1e-6)


def batches(n=BATCH):
    return st.tuples(
        arrays((n, *EVENT), -8.0, 8.0),  # recon logits
        arrays((n, LATENT), -3.0, 3.0),  # mean
        arrays((n, LATENT), -3.0, 3.0),  # logvar
        arrays((n, LATENT), -4.0, 4.0),  # z
        arrays((n, *EVENT), 0.0, 1.0),  # x
    )


def _metrics(name, recon, mean, logvar, z, x, step):
    out = VAEOutput(recon=recon, mean=mean, logvar=logvar, z=z)
    return METRICS[name](out, {"x": x}, jnp.int32(step))


@given(st.sampled_from(sorted(OBJECTIVES)), batches(), st.permutations(range(BATCH)),
       st.integers(0, 1000))
def test_objective_is_invariant_to_batch_order(name, arrays_, perm, step):
    perm = np.asarray(perm)
    whole = _metrics(name, *arrays_, step)
    shuffled = _metrics(name, *(a[perm] for a in arrays_), step)
    for key in whole:
        np.testing.assert_allclose(shuffled[key], whole[key], rtol=1e-4, atol=1e-4, err_msg=key)


@given(st.sampled_from(("i", "ii")), samples(), arrays(SHAPE, -3.0, 3.0),
       st.permutations(range(BATCH)))
def test_dip_covariance_is_invariant_to_batch_order(kind, mean, logvar, perm):
    perm = np.asarray(perm)
    np.testing.assert_allclose(
        COV[kind](mean[perm], logvar[perm]), COV[kind](mean, logvar), rtol=1e-5, atol=1e-5
    )


@given(floats(0.0, 100.0), floats(0.0, 100.0))
def test_dip_regularizer_is_zero_at_identity(lambda_od, lambda_d):
    assert float(dip_regularizer(jnp.eye(LATENT), lambda_od, lambda_d)) == 0.0
