"""The β-TCVAE minibatch-weighted-sampling estimator alone: value and gradient per call.

Usage (from the repository root)::

    python benchmarks/bench_tc_estimator.py            # batches 64, 256
    python benchmarks/bench_tc_estimator.py --write    # and update benchmarks/RESULTS.md

Times ``jax.value_and_grad`` of ``mutual_info + 6 · total_correlation + dimwise_kl`` with
respect to ``(z, mean, logvar)`` of shape ``(batch, 10)``, jitted, for:

- ``tc_decomposition`` (the library: JAX autodiff through two log-sum-exps of the
  ``(M, M, latent)`` matrix of log densities);
- three hand-written custom-VJP candidates for the same estimator, kept here as the record of
  what was tried for issue 19's "β-TCVAE within 1.1× of a β-VAE" target (and to rerun on other
  hardware or XLA versions):

  - *saved softmax*: the forward keeps the softmax weights, the backward contracts them with
    the analytic derivatives of ``log N(z_i; m_j, exp(lv_j))``, layout ``(i, j, d)``;
  - *bounded shift*: one pass per log-sum-exp, shifted by ``max(log q(z_i|x_i),
    max_j −½(log 2π + lv_j) − 60)`` instead of the row maximum (exact unless every term of a
    row underflows, which the analytic lower bound rules out for reparameterised samples),
    weights recomputed in the backward, layout ``(i, d, j)``;
  - *matmul backward*: saved weights, layout ``(d, i, j)``, and the backward's sums over
    ``i`` and ``j`` as batched matrix products of the expanded square.

- the analytic Gaussian KL of a β-VAE (its value and gradient), the floor.

Every candidate is checked against the library (values and gradients, ``rtol 1e-4``) before
it is timed. Calls/s are interleaved rounds.
"""

import argparse
import math

import _common as C
import jax
import jax.numpy as jnp
import numpy as np

from vaekit.objectives import TCTerms, gaussian_kl, tc_decomposition

LATENT, DATASET = 10, 60_000
_LOG_2PI = math.log(2.0 * math.pi)


def _density(z, mean, logvar, precision):
    return -0.5 * (_LOG_2PI + logvar + jnp.square(z - mean) * precision)


def _terms(z, mean, logvar, per_dim, joint) -> TCTerms:
    """The three terms from ``log q(z_id)`` (batch, latent) and ``log q(z_i)`` (batch,)."""
    log_nm = math.log(DATASET * z.shape[0])
    log_qz = joint - log_nm
    log_prod = jnp.sum(per_dim - log_nm, axis=-1)
    log_q_x = jnp.sum(_density(z, mean, logvar, jnp.exp(-logvar)), axis=-1)
    log_pz = jnp.sum(_density(z, 0.0, 0.0, 1.0), axis=-1)
    return TCTerms(jnp.mean(log_q_x - log_qz), jnp.mean(log_qz - log_prod),
                   jnp.mean(log_prod - log_pz))


def _lse(a, axis):
    top = jnp.max(a, axis=axis, keepdims=True)
    e = jnp.exp(a - top)
    total = jnp.sum(e, axis=axis, keepdims=True)
    return jnp.squeeze(jnp.log(total) + top, axis), e / total


def _softmax_grads(weights, z, mean, prec, diff):
    """``(dz, dmean, dlogvar)`` of ``Σ weights · log N`` with ``diff = z_i − m_j`` (i, j, d)."""
    u = weights * diff * prec[None]
    return (-jnp.sum(u, axis=1), jnp.sum(u, axis=0),
            -0.5 * jnp.sum(weights, axis=0) + 0.5 * jnp.sum(u * diff, axis=0))


@jax.custom_vjp
def _saved_softmax(z, mean, logvar):
    return _saved_softmax_fwd(z, mean, logvar)[0]


def _saved_softmax_fwd(z, mean, logvar):
    prec = jnp.exp(-logvar)
    a = _density(z[:, None], mean[None], logvar[None], prec[None])  # (i, j, d)
    per_dim, w = _lse(a, 1)
    joint, wj = _lse(jnp.sum(a, axis=-1), 1)
    return (per_dim, joint), (z, mean, prec, w, wj)


def _saved_softmax_bwd(res, g):
    z, mean, prec, w, wj = res
    weights = g[0][:, None, :] * w + (g[1][:, None] * wj)[:, :, None]
    return _softmax_grads(weights, z, mean, prec, z[:, None] - mean[None])


_saved_softmax.defvjp(_saved_softmax_fwd, _saved_softmax_bwd)


def _shifts(z, mean, logvar, prec, margin=60.0):
    own = _density(z, mean, logvar, prec)  # log q(z_id | x_i): a lower bound of each row's max
    top = jnp.max(-0.5 * (_LOG_2PI + logvar), axis=0)  # an upper bound of every entry
    return jnp.maximum(own, top - margin), jnp.maximum(own.sum(-1), top.sum() - margin)


def _idj(z, mean, logvar, prec):  # (i, d, j)
    return _density(z[:, :, None], mean.T[None], logvar.T[None], prec.T[None])


@jax.custom_vjp
def _bounded_shift(z, mean, logvar):
    return _bounded_shift_fwd(z, mean, logvar)[0]


def _bounded_shift_fwd(z, mean, logvar):
    prec = jnp.exp(-logvar)
    shift, shift_joint = _shifts(z, mean, logvar, prec)
    total = jnp.sum(jnp.exp(_idj(z, mean, logvar, prec) - shift[:, :, None]), axis=-1)
    r = jnp.exp(-0.5 * logvar)  # the joint from a second, separately fused pass
    joint_matrix = -0.5 * (jnp.sum(_LOG_2PI + logvar, -1)[None] + jnp.sum(
        jnp.square(z[:, :, None] * r.T[None] - (mean * r).T[None]), axis=1))
    ej = jnp.exp(joint_matrix - shift_joint[:, None])
    total_joint = jnp.sum(ej, axis=-1)
    out = (jnp.log(total) + shift, jnp.log(total_joint) + shift_joint)
    return out, (z, mean, logvar, prec, shift, total, ej / total_joint[:, None])


def _bounded_shift_bwd(res, g):
    z, mean, logvar, prec, shift, total, wj = res
    weights = ((g[0] / total)[:, :, None] * jnp.exp(_idj(z, mean, logvar, prec)
                                                     - shift[:, :, None])
               + (g[1][:, None] * wj)[:, None, :])  # (i, d, j)
    diff = z[:, :, None] - mean.T[None]
    u = weights * diff * prec.T[None]
    return (-jnp.sum(u, -1), jnp.sum(u, 0).T,
            (-0.5 * jnp.sum(weights, 0) + 0.5 * jnp.sum(u * diff, 0)).T)


_bounded_shift.defvjp(_bounded_shift_fwd, _bounded_shift_bwd)


@jax.custom_vjp
def _matmul_backward(z, mean, logvar):
    return _matmul_backward_fwd(z, mean, logvar)[0]


def _matmul_backward_fwd(z, mean, logvar):
    zt, mt, lvt = z.T, mean.T, logvar.T  # (d, M)
    pt = jnp.exp(-lvt)
    a = _density(zt[:, :, None], mt[:, None], lvt[:, None], pt[:, None])  # (d, i, j)
    per_dim, w = _lse(a, -1)
    joint, wj = _lse(jnp.sum(a, axis=0), -1)
    return (per_dim.T, joint), (zt, mt, pt, w, wj)


def _matmul_backward_bwd(res, g):
    zt, mt, pt, w, wj = res
    weights = g[0].T[:, :, None] * w + (g[1][:, None] * wj)[None]  # (d, i, j)
    hi = jax.lax.Precision.HIGHEST
    right = jnp.einsum("dij,djk->dik", weights, jnp.stack([pt, mt * pt], -1), precision=hi)
    left = jnp.einsum("dij,dik->djk", weights,
                      jnp.stack([jnp.ones_like(zt), zt, zt * zt], -1), precision=hi)
    s0, s1, s2 = left[..., 0], left[..., 1], left[..., 2]
    dz = -(zt * right[..., 0] - right[..., 1])
    dm = pt * (s1 - mt * s0)
    dlv = -0.5 * s0 + 0.5 * pt * (s2 - 2 * mt * s1 + mt * mt * s0)
    return dz.T, dm.T, dlv.T


_matmul_backward.defvjp(_matmul_backward_fwd, _matmul_backward_bwd)


def _candidate(mws):
    def decomposition(z, mean, logvar):
        return _terms(z, mean, logvar, *mws(z, mean, logvar))
    return decomposition


VARIANTS = {
    "tc_decomposition (library)": lambda z, m, lv: tc_decomposition(z, m, lv, DATASET),
    "custom VJP, saved softmax": _candidate(_saved_softmax),
    "custom VJP, bounded shift": _candidate(_bounded_shift),
    "custom VJP, matmul backward": _candidate(_matmul_backward),
}


def _objective(decomposition):
    def loss(z, mean, logvar):
        t = decomposition(z, mean, logvar)
        return t.mutual_info + 6.0 * t.total_correlation + t.dimwise_kl
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))


def _kl(z, mean, logvar):
    return jnp.mean(gaussian_kl(mean, logvar))


def _inputs(batch: int):
    k = jax.random.split(jax.random.key(0), 3)
    mean = jax.random.normal(k[0], (batch, LATENT))
    logvar = jax.random.uniform(k[1], (batch, LATENT), minval=-6.0, maxval=0.5)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(k[2], (batch, LATENT))
    return z, mean, logvar


def _runner(fn, args):
    def run(n: int) -> int:
        for _ in range(n):
            out = fn(*args)
        C.block(out)
        return n
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    C.add_common_args(parser)
    parser.set_defaults(batch=[64, 256])
    args = parser.parse_args()
    load_before = C.load()
    rows, raw = [], {}
    for batch in args.batch:
        inputs = _inputs(batch)
        fns = {name: _objective(d) for name, d in VARIANTS.items()}
        reference = fns["tc_decomposition (library)"](*inputs)
        for name, fn in fns.items():  # every candidate computes the library's value and grads
            for got, want in zip(jax.tree.leaves(fn(*inputs)), jax.tree.leaves(reference),
                                 strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
        fns["analytic KL (β-VAE)"] = jax.jit(jax.value_and_grad(_kl, argnums=(1, 2)))
        runs = {name: _runner(fn, inputs) for name, fn in fns.items()}
        for run in runs.values():
            run(5)
        rates = C.interleaved(runs, rounds=args.rounds, seconds=args.round_seconds)
        raw[batch] = {"rates": rates, "ratios": {}}
        for name, values in rates.items():
            ratio = C.paired_ratio(values, rates["tc_decomposition (library)"])
            raw[batch]["ratios"][name] = ratio
            ms = 1e3 / C.summary(values)["median"]
            rows.append(f"| {batch} | {name} | {ms:.3f} | {C.fmt_ratio(ratio)} |")
            print(rows[-1], flush=True)
    text = (
        C.header("β-TCVAE estimator alone: value and gradient", "bench_tc_estimator.py",
                 rounds=args.rounds, seconds=args.round_seconds, load_before=load_before)
        + "\n`jax.value_and_grad` of `mutual_info + 6·total_correlation + dimwise_kl` with "
        "respect to `(z, mean, logvar)`, latent 10, jitted. Candidates: hand-written custom "
        "VJPs of the same estimator (docstring of the script), each checked against the "
        "library's values and gradients first; the analytic KL is the β-VAE's term. ms per "
        "call from the median calls/s; speed is the median (min–max) of per-round ratios to "
        "the library (higher is faster).\n\n"
        "| batch | variant | ms per call | speed vs library |\n"
        "| ---: | --- | ---: | ---: |\n" + "\n".join(rows)
    )
    print(text)
    C.save_json("bench_tc_estimator", {"load_before": load_before, "results": raw})
    if args.write:
        C.write_section("bench_tc_estimator", text)


if __name__ == "__main__":
    main()
