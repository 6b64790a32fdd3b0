"""Fuzzing the public array API of vaekit.

Every public function and class of ``vaekit`` and of the ``__all__`` of ``vaekit.objectives``,
``.quantizers``, ``.conditioning``, ``.schedules``, ``.evaluation``, ``.plots``, ``.data`` and
``.samplers`` (232 distinct objects) is either in ``CASES``, the table of how to call it with
array inputs (157 covered), or in ``SKIPPED`` with a reason (75: records, constructors and
helpers without array inputs, and the sampling/training drivers whose array cores are covered);
``test_every_public_name_is_covered_or_skipped`` keeps the two complete and these counts true.

Each example draws a float dtype (float32, float16, bfloat16; float32 and float16 for the NNX
modules, whose parameters are float32) and an integer dtype (int32, int64, uint8) for labels,
indices and steps, a regime (typical values; extreme finite values: logits and magnitudes of
±1e4, log-variances of ±80; or NaN/±Inf injected), shapes from a small fixed set (so the
jitted and eager code compiles a bounded number of times) and, now and then, a mismatched
shape or an out-of-domain hyperparameter. Examples per function: 3 under the ``ci`` profile,
6 under ``dev``, 166 under ``thorough`` (modules and plots: 2 / 4 / 100). The property: the call
either returns, and then every floating output is finite whenever every input was finite; or
it raises ValueError/TypeError (jaxtyping's TypeCheckError included) whose message names one
of its arguments. A valid call (finite inputs in the documented domain, matching shapes) must
return.

Domains are the documented ones: images and Bernoulli targets in [0, 1], labels and code
indices in range, log-variances within the finite ranges the loss terms document (±80;
±40 for DIP-VAE-II, whose penalty squares ``exp(logvar)``; ±16 when float16 samples are drawn
from them, since ``exp(logvar / 2)`` must fit float16). The library bugs this suite found are
fixed and kept as regression tests at the end of the file.
"""

import functools
import importlib
import inspect
import math
import re
import types
import typing
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

import vaekit
from vaekit import conditioning as cond
from vaekit import evaluation as ev
from vaekit import objectives as obj
from vaekit import plots, samplers
from vaekit import quantizers as qz
from vaekit import schedules as sch
from vaekit.data import factors_to_index, index_to_factors, render
from vaekit.models import FactorVAEOutput

MODULES = ("vaekit", "vaekit.objectives", "vaekit.quantizers", "vaekit.conditioning",
           "vaekit.schedules", "vaekit.evaluation", "vaekit.plots", "vaekit.data",
           "vaekit.samplers")
FLOATS = (np.float32, np.float16, jnp.bfloat16)
INTS = (np.int32, np.int64, np.uint8)
REGIMES = ("typical", "extreme", "nonfinite")
# Value ranges: (typical low, typical high, extreme magnitude or (low, high)).
KINDS = {
    "real": (-3.0, 3.0, (-1e4, 1e4)),
    "logvar": (-3.0, 3.0, (-80.0, 80.0)),
    "unit": (0.0, 1.0, (0.0, 1.0)),
    "nonneg": (0.0, 3.0, (0.0, 1e4)),
    "small": (-3.0, 3.0, (-100.0, 100.0)),  # products/extrapolations that must fit float16
}
# Examples per function (profiles ci / dev / thorough): 3 / 6 / 166 (every new dtype or shape
# compiles: the ci run stays fast); the NNX modules and the plots: 2 / 4 / 100.
EXAMPLES = max(3, settings().max_examples // 6)
FEW_EXAMPLES = max(2, settings().max_examples // 10)


@functools.cache
def public_objects() -> dict[str, Any]:
    """``"module.name" -> object`` for every public function and class (first listing wins)."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for attr in module.__all__:
            value = getattr(module, attr)
            if (not callable(value) or typing.get_origin(value) is not None
                    or isinstance(value, types.ModuleType) or id(value) in seen):
                continue  # constants, type aliases, modules, re-exports
            seen.add(id(value))
            found[f"{module_name}.{attr}"] = value
    return found


# ---------------------------------------------------------------------------------------------
# Drawing inputs


class Draw:
    """One example's choices: dtypes, regime, a seeded numpy generator, and bookkeeping."""

    def __init__(self, data, float_dtype, int_dtype, regime: str):
        self.data, self.dtype, self.int_dtype, self.regime = data, float_dtype, int_dtype, regime
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        self.valid = True
        self.inputs: list[np.ndarray] = []

    def pick(self, options, label: str | None = None):
        return self.data.draw(st.sampled_from(options), label=label)

    def chance(self, one_in: int) -> bool:
        return self.data.draw(st.integers(0, one_in - 1)) == 0

    @property
    def half(self) -> bool:
        return np.dtype(self.dtype) == np.float16

    def mismatch(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``shape``, or (one time in eight) a different one that makes the call invalid."""
        if self.chance(8):
            self.valid = False
            return (*shape[:-1], shape[-1] + 1)
        return shape

    def number(self, valid, invalid=()):
        """A hyperparameter: one of ``valid``, or (one time in eight) one of ``invalid``."""
        if invalid and self.chance(8):
            self.valid = False
            value = self.pick(invalid)
            if isinstance(value, float) and not math.isfinite(value):
                self.inputs.append(np.array(value))
            return value
        return self.pick(valid)

    def floats(self, shape, kind: str = "real", extreme=None, dtype=None) -> np.ndarray:
        low, high, (ext_low, ext_high) = KINDS[kind]
        if extreme is not None:
            ext_low, ext_high = (0.0, extreme) if ext_low == 0.0 else (-extreme, extreme)
        values = self.rng.uniform(low, high, size=shape)
        if self.regime == "extreme":
            choice = self.rng.integers(0, 5, size=shape)
            pool = [np.full(shape, ext_low), np.full(shape, ext_high), np.zeros(shape),
                    values, self.rng.uniform(ext_low, ext_high, size=shape)]
            values = np.choose(choice, pool)
        elif self.regime == "nonfinite" and values.size and self.chance(2):
            flat = values.reshape(-1)
            where = self.rng.integers(0, flat.size, size=max(1, flat.size // 3))
            flat[where] = self.rng.choice([np.nan, np.inf, -np.inf], size=where.size)
            values = flat.reshape(shape)
        array = values.astype(dtype or self.dtype)
        self.inputs.append(array)
        return array

    def jfloats(self, shape, kind: str = "real", extreme=None) -> jax.Array:
        return jnp.asarray(self.floats(shape, kind, extreme))

    def ints(self, shape, high: int, low: int = 0, dtype=None) -> np.ndarray:
        dtype = dtype or self.int_dtype
        values = self.rng.integers(low, high, size=shape)
        if self.regime == "extreme" and values.size:
            values = np.where(self.rng.integers(0, 2, size=shape) == 0, low, high - 1)
        elif self.regime == "nonfinite" and values.size and self.chance(2):
            values = values.copy()
            bad = high if np.dtype(dtype).kind == "u" else self.pick((low - 1, high))
            values.reshape(-1)[0] = bad  # out of range
            self.valid = False
        return values.astype(dtype)

    def key(self) -> jax.Array:
        return jax.random.key(int(self.rng.integers(0, 2**31 - 1)))

    def step(self) -> jax.Array:
        return jnp.int32(self.pick((0, 1, 7, 1000, 2**31 - 1)))

    def inputs_finite(self) -> bool:
        return all(np.all(np.isfinite(np.asarray(a, np.float64))) for a in self.inputs
                   if np.issubdtype(np.asarray(a).dtype, np.inexact)
                   or np.asarray(a).dtype == jnp.bfloat16)


class Case(NamedTuple):
    build: Callable[[Draw], Callable[[], Any]]
    names: tuple[str, ...] = ()  # argument names an error may name, besides the signature's
    plot: bool = False
    host: bool = False  # numpy-side: bfloat16 arrays are refused (reported), not in the domain
    signed: bool = False  # labels annotated ``Int`` (signed only, reported): uint8 not in it
    floats: tuple = FLOATS


CASES: dict[str, Case] = {}
# NNX modules hold float32 parameters: float16 inputs test the promotion, bfloat16 adds only
# compile time. They get FEW_EXAMPLES, like the plots.
MODULE_FLOATS = (np.float32, np.float16)


def case(name: str, *names: str, plot: bool = False, host: bool = False, signed: bool = False,
         floats: tuple = FLOATS):
    def register(build):
        assert name not in CASES, name
        CASES[name] = Case(build, names, plot, host or plot, signed, floats)
        return build

    return register


# ---------------------------------------------------------------------------------------------
# Shared builders

OUT_NAMES = ("out", "batch", "step", "recon", "x", "logits", "mean", "logvar", "z")


def vae_output(d: Draw, *, latent=None, logvar_extreme=80.0):
    """A VAEOutput with consistent z (reparameterised in float64) and its batch."""
    b, e = 3, d.pick(((4,), (2, 3)))
    latent = latent or 2
    extreme = 16.0 if d.half else logvar_extreme
    recon = d.floats((b, *e), "real")
    x = d.floats(d.mismatch((b, *e)), "unit")
    mean = d.floats((b, latent), "real")
    logvar = d.floats((b, latent), "logvar", extreme=extreme)
    eps = d.rng.standard_normal((b, latent))
    with np.errstate(all="ignore"):
        z = (mean.astype(np.float64) + np.exp(logvar.astype(np.float64) / 2) * eps).astype(d.dtype)
    d.inputs.append(z)
    out = vaekit.VAEOutput(*(jnp.asarray(a) for a in (recon, mean, logvar, z)))
    return out, {"x": jnp.asarray(x)}


def vq_output(d: Draw, names=("codebook_loss", "commitment_loss")):
    b, e = 3, d.pick(((4,), (2, 3)))
    recon = d.jfloats((b, *e), "real")
    x = d.jfloats(d.mismatch((b, *e)), "unit")
    losses = {n: jnp.asarray(d.floats((), "nonneg")) for n in names}
    metrics = {"perplexity": jnp.asarray(d.floats((), "nonneg"))}
    z = d.jfloats((b, 3, 2), "real")
    out = vaekit.VQVAEOutput(recon=recon, z_e=z, z_q=z, indices=jnp.zeros((b, 3), jnp.int32),
                             losses=losses, metrics=metrics)
    return out, {"x": x}


def weight(d: Draw):
    """A term weight: a number (sometimes invalid) or an optax schedule."""
    return d.number((0.0, 1.0, 4.0, optax.linear_schedule(0.0, 4.0, 100)), (-1.0, math.nan))


def objective_case(name: str, make: Callable[[Draw], Callable], output=vae_output, *names):
    @case(name, *OUT_NAMES, *names)
    def build(d: Draw):
        out, batch = output(d)
        step = d.step()
        return lambda: make(d)(out, batch, step)

    return build


LIKELIHOODS = (vaekit.bernoulli_nll, vaekit.sum_of_squares, vaekit.gaussian_nll(0.5))

objective_case("vaekit.beta_vae", lambda d: vaekit.beta_vae(weight(d), d.pick(LIKELIHOODS)),
               vae_output, "beta")
objective_case("vaekit.capacity_vae", lambda d: vaekit.capacity_vae(
    d.number((0.0, 1.0, 1000.0), (-1.0,)), d.number((0.0, 25.0), (math.inf,)),
    d.number((1, 100), (0,)), likelihood=d.pick(LIKELIHOODS)),
    vae_output, "gamma", "c_max", "capacity_num_iter")
objective_case("vaekit.free_bits_vae", lambda d: vaekit.free_bits_vae(
    d.number((0.0, 0.5), (-0.5,)), weight(d), d.pick(LIKELIHOODS)), vae_output, "free_bits")
objective_case("vaekit.beta_tcvae", lambda d: vaekit.beta_tcvae(
    weight(d), weight(d), weight(d), dataset_size=d.number((5, 60_000), (1, 0)),
    likelihood=d.pick(LIKELIHOODS)), vae_output, "alpha", "beta", "gamma", "dataset_size")
objective_case("vaekit.info_vae", lambda d: vaekit.info_vae(
    d.number((0.0, 0.5, 1.0), (2.0,)), d.number((1.0, 1000.0), (-5.0,)),
    d.pick(("imq", "rbf")), d.pick(LIKELIHOODS), unbiased=d.pick((False, True))),
    vae_output, "alpha", "lambda_", "y")
objective_case("vaekit.mmd_vae", lambda d: vaekit.mmd_vae(
    weight(d), d.pick(("imq", "rbf")), d.pick(LIKELIHOODS), unbiased=d.pick((False, True))),
    vae_output, "lambda_", "y")
objective_case("vaekit.dip_vae", lambda d: vaekit.dip_vae(
    d.pick(("i", "ii")), weight(d), None, d.pick(LIKELIHOODS)),
    lambda d: vae_output(d, logvar_extreme=40.0), "lambda_od", "lambda_d")
objective_case("vaekit.vq_vae", lambda d: vaekit.vq_vae(weight(d), d.pick(LIKELIHOODS)),
               vq_output, "commitment_cost")
def lfq_like_output(d: Draw):
    """An output with ``entropy_loss``, or (one time in eight) without: an invalid pairing."""
    if d.chance(8):
        d.valid = False
        return vq_output(d, ("commitment_loss",))
    return vq_output(d, ("entropy_loss", "commitment_loss"))


objective_case("vaekit.quantized_autoencoder", lambda d: vaekit.quantized_autoencoder(
    {"entropy_loss": weight(d)}, d.pick(LIKELIHOODS)), lfq_like_output, "entropy_loss", "name")
objective_case("vaekit.compose", lambda d: vaekit.compose({
    "reconstruction_loss": vaekit.reconstruction_term(d.pick(LIKELIHOODS)),
    "kl_loss": (vaekit.kl_term(), weight(d)),
}), vae_output, "terms", "weight")
objective_case("vaekit.kl_term", lambda d: vaekit.kl_term())
objective_case("vaekit.kl_monitor", lambda d: vaekit.kl_monitor(
    d.number((0.0, 0.01, 1.0), (-1.0,))), vae_output, "active_threshold")
objective_case("vaekit.reconstruction_term",
               lambda d: vaekit.reconstruction_term(d.pick(LIKELIHOODS)))
objective_case("vaekit.objectives.capacity_term", lambda d: obj.capacity_term(
    d.pick((3.0, vaekit.capacity_schedule(25.0, 100))), d.number((0.0, 1000.0), (-1.0,))),
    vae_output, "gamma", "capacity")
objective_case("vaekit.objectives.free_bits_term",
               lambda d: obj.free_bits_term(d.number((0.0, 0.5), (-1.0,))), vae_output,
               "free_bits")
objective_case("vaekit.objectives.mmd_term", lambda d: obj.mmd_term(
    d.pick(("imq", "rbf")), scale=d.number((0.5, 1.0), (0.0,)),
    unbiased=d.pick((False, True))), vae_output, "scale", "y")
objective_case("vaekit.objectives.quantizer_loss_term",
               lambda d: obj.quantizer_loss_term(d.number(("commitment_loss",), ("commitment",))),
               vq_output, "name")


@case("vaekit.gaussian_nll", "recon", "x")
def _gaussian_nll(d):
    b, e = d.pick((1, 4)), d.pick(((3,), (2, 2)))
    recon, x = d.jfloats((b, *e)), d.jfloats(d.mismatch((b, *e)))
    sigma = d.number((0.5, 1.0, 10.0), (0.0, -1.0, math.inf))
    return lambda: vaekit.gaussian_nll(sigma)(recon, x)


def pair_case(name: str, fn, first="real", second="real", shapes=((1, 3), (4, 2, 3))):
    @case(name)
    def build(d):
        shape = d.pick(shapes)
        a = d.jfloats(shape, first)
        b = d.jfloats(d.mismatch(shape), second)
        return lambda: fn(a, b)

    return build


pair_case("vaekit.bernoulli_nll", vaekit.bernoulli_nll, "real", "unit")
pair_case("vaekit.sum_of_squares", vaekit.sum_of_squares)
pair_case("vaekit.gaussian_kl", vaekit.gaussian_kl, "real", "logvar", ((1, 3), (4, 2)))
pair_case("vaekit.gaussian_kl_per_dim", vaekit.gaussian_kl_per_dim, "real", "logvar",
          ((1, 3), (4, 2)))


@case("vaekit.batch_mean")
def _batch_mean(d):
    x = d.jfloats(d.pick(((1,), (5,), (2, 3))))
    if x.ndim != 1:
        d.valid = False
    return lambda: vaekit.batch_mean(x)


@case("vaekit.sum_event")
def _sum_event(d):
    x = d.jfloats(d.pick(((1,), (4, 3), (2, 2, 3))), "small" if d.half else "real")
    return lambda: vaekit.sum_event(x)


@case("vaekit.kl_monitoring_metrics", "kl_per_dim", "threshold")
def _kl_monitoring(d):
    kl = d.jfloats(d.pick(((1, 1), (4, 3))), "nonneg")
    threshold = d.number((0.0, 0.01), (-1.0,))
    return lambda: vaekit.kl_monitoring_metrics(kl, threshold)


@case("vaekit.reparameterize")
def _reparameterize(d):
    shape = d.pick(((1, 3), (4, 2)))
    mean = d.jfloats(shape)
    logvar = d.jfloats(d.mismatch(shape), "logvar", extreme=16.0 if d.half else 80.0)
    key = d.key()
    return lambda: vaekit.reparameterize(key, mean, logvar)


@case("vaekit.objectives.capacity_penalty")
def _capacity_penalty(d):
    kl, capacity = d.jfloats((), "nonneg"), d.jfloats((), "nonneg")
    gamma = d.number((0.0, 1.0, 1000.0))
    return lambda: obj.capacity_penalty(kl, capacity, gamma)


@case("vaekit.objectives.dip_covariance", "kind")
def _dip_covariance(d):
    shape = d.pick(((1, 2), (5, 3)))
    mean = d.jfloats(shape)
    logvar = d.jfloats(d.mismatch(shape), "logvar")
    kind = d.number(("i", "ii"), ("iii",))
    return lambda: obj.dip_covariance(mean, logvar, kind=kind)


@case("vaekit.objectives.dip_regularizer")
def _dip_regularizer(d):
    cov = d.jfloats(d.pick(((1, 1), (3, 3))), "real")
    lambdas = d.number((0.0, 10.0), (-1.0,)), d.number((0.0, 100.0), (math.nan,))
    return lambda: obj.dip_regularizer(cov, *lambdas)


@case("vaekit.objectives.free_bits_kl")
def _free_bits_kl(d):
    kl = d.jfloats(d.pick(((1, 1), (4, 3))), "nonneg")
    return lambda: obj.free_bits_kl(kl, d.pick((0.0, 0.5)))


@case("vaekit.objectives.gaussian_log_density")
def _gaussian_log_density(d):
    shape = d.pick(((1, 3), (4, 2)))  # documented finite range: |z - mean| <= 20, |logvar| <= 80
    z, mean = d.jfloats(shape, "small", extreme=10.0), d.jfloats(shape, "small", extreme=10.0)
    logvar = d.jfloats(d.mismatch(shape), "logvar")
    return lambda: obj.gaussian_log_density(z, mean, logvar)


@case("vaekit.objectives.tc_decomposition")
def _tc_decomposition(d):
    out, _ = vae_output(d)
    dataset_size = d.number((5, 1000), (1, 0, 2.5))
    return lambda: obj.tc_decomposition(out.z, out.mean, out.logvar, dataset_size)


def kernel_case(name: str, fn):
    @case(name)
    def build(d):
        n, m, dim = d.pick((1, 3)), 3, 2
        x, y = d.jfloats((n, dim)), d.jfloats(d.mismatch((m, dim)))
        scale = d.number((0.5, 1.0), (0.0, -1.0))
        return lambda: fn(x, y, scale)

    return build


kernel_case("vaekit.objectives.rbf_kernel", obj.rbf_kernel)
kernel_case("vaekit.objectives.inverse_multiquadric_kernel", obj.inverse_multiquadric_kernel)


@case("vaekit.objectives.mmd")
def _mmd(d):
    n, m, dim = d.pick((1, 3)), 3, 2
    x, y = d.jfloats((n, dim)), d.jfloats(d.mismatch((m, dim)))
    unbiased = d.pick((False, True))
    if unbiased and min(n, m) < 2:
        d.valid = False
    kernel = d.number(("rbf", "imq"), ("gaussian",))
    return lambda: obj.mmd(x, y, kernel, unbiased=unbiased)


def factor_vae_output(d: Draw):
    """A FactorVAEOutput: a VAEOutput plus (batch, 2) discriminator logits."""
    out, batch = vae_output(d)
    b = out.mean.shape[0]
    logits = [d.jfloats((b, 2)) for _ in range(3)]
    return FactorVAEOutput(*out, *logits, out.z), batch


objective_case("vaekit.factor_vae", lambda d: vaekit.factor_vae(weight(d), d.pick(LIKELIHOODS)),
               factor_vae_output, "gamma", "tc_logits", "logits_joint", "logits_permuted")


@case("vaekit.objectives.permute_dims")
def _permute_dims(d):
    z = d.jfloats(d.pick(((1, 2), (4, 3))))
    return lambda: obj.permute_dims(z, d.key())


@case("vaekit.objectives.density_ratio_tc")
def _density_ratio_tc(d):
    logits = d.jfloats(d.mismatch((d.pick((1, 4)), 2)))
    return lambda: obj.density_ratio_tc(logits)


@case("vaekit.objectives.discriminator_loss")
def _discriminator_loss(d):
    joint = d.jfloats((d.pick((1, 4)), 2))
    permuted = d.jfloats(d.mismatch((d.pick((1, 3)), 2)))
    return lambda: obj.discriminator_loss(joint, permuted)


# ---------------------------------------------------------------------------------------------
# Quantizers


@case("vaekit.quantizers.code_usage")
def _code_usage(d):
    k = d.pick((1, 4))
    indices = jnp.asarray(d.ints((d.pick((1, 6)),), k))
    return lambda: qz.code_usage(indices, k)


@case("vaekit.quantizers.code_usage_metrics")
def _code_usage_metrics(d):
    k = d.pick((1, 4))
    indices = jnp.asarray(d.ints(d.pick(((1,), (2, 3))), k))
    return lambda: qz.code_usage_metrics(indices, d.number((k,), (0,)))


def codebook_and_z(d: Draw):
    k, dim, n = d.pick((1, 3)), d.pick((1, 2)), d.pick((1, 5))
    return d.jfloats((k, dim)), d.jfloats(d.mismatch((n, dim)))


@case("vaekit.quantizers.init_ema_state")
def _init_ema_state(d):
    codebook = d.jfloats(d.pick(((1, 1), (3, 2))))
    return lambda: qz.init_ema_state(codebook)


@case("vaekit.quantizers.ema_update")
def _ema_update(d):
    codebook, z = codebook_and_z(d)
    indices = jnp.asarray(d.ints((z.shape[0],), codebook.shape[0]))
    state = qz.init_ema_state(codebook)
    decay, epsilon = d.number((0.5, 0.99), (1.0, 0.0)), d.number((1e-5,), (0.0,))

    def call():
        once = qz.ema_update(state, z, indices, decay, epsilon)
        return qz.ema_update(once, z, indices, decay, epsilon)

    return call


@case("vaekit.quantizers.reset_dead_codes")
def _reset_dead_codes(d):
    codebook, z = codebook_and_z(d)
    counts = d.jfloats((codebook.shape[0],), "nonneg")
    key, threshold = d.key(), d.number((0.0, 1.0), (-1.0,))
    return lambda: qz.reset_dead_codes(codebook, counts, z, key, threshold)


@case("vaekit.quantizers.kmeans_init")
def _kmeans_init(d):
    _, z = codebook_and_z(d)
    num_codes, key = d.number((1, 3), (0,)), d.key()
    return lambda: qz.kmeans_init(z, num_codes, key, num_iters=d.pick((0, 2)))


@case("vaekit.quantizers.nearest_code")
def _nearest_code(d):
    codebook, z = codebook_and_z(d)
    chunk = d.number((None, 1, 2), (0,))
    return lambda: qz.nearest_code(z, codebook, chunk_size=chunk)


@case("vaekit.quantizers.quantize")
def _quantize(d):
    codebook, _ = codebook_and_z(d)
    z = d.jfloats(d.mismatch((d.pick((1, 3)), 2, codebook.shape[1])))
    # (estimator, cosine, chunk_size): three of the eight combinations, to bound compiles.
    estimator, cosine, chunk = d.number((("straight_through", False, None),
                                         ("rotation", True, None),
                                         ("straight_through", True, 2)),
                                        (("gumbel", False, None),))
    return lambda: qz.quantize(z, codebook, estimator=estimator, cosine=cosine, chunk_size=chunk)


@case("vaekit.quantizers.perplexity")
def _perplexity(d):
    weights = d.floats((d.pick((1, 4)),), "nonneg").astype(np.float64) + 1e-3
    with np.errstate(all="ignore"):
        probs = jnp.asarray(weights / weights.sum(), d.dtype)  # a probability vector
    return lambda: qz.perplexity(probs)


def estimator_case(name: str, fn):
    @case(name)
    def build(d):
        shape = d.pick(((1, 2), (3, 2, 3)))
        z_e = d.jfloats(shape)
        z_q = d.jfloats(d.mismatch(shape))
        return lambda: fn(z_e, z_q)

    return build


estimator_case("vaekit.quantizers.straight_through", qz.straight_through)
estimator_case("vaekit.quantizers.rotation_trick", qz.rotation_trick)


@case("vaekit.quantizers.round_ste")
def _round_ste(d):
    x = d.jfloats(d.pick(((3,), (2, 2))))
    return lambda: qz.round_ste(x)


LEVELS = ((3,), (2, 4), (8, 5, 5, 5))


@case("vaekit.quantizers.fsq_bound", "levels", "eps")
def _fsq_bound(d):
    levels = d.pick(LEVELS)
    z = d.jfloats(d.mismatch((d.pick((1, 3)), len(levels))))
    return lambda: qz.fsq_bound(z, levels, d.number((1e-3,), (0.0, 0.9)))


@case("vaekit.quantizers.fsq_quantize", "levels", "eps")
def _fsq_quantize(d):
    levels = d.pick(LEVELS)
    z = d.jfloats(d.mismatch((d.pick((1, 3)), 2, len(levels))))
    return lambda: qz.fsq_quantize(z, levels)


@case("vaekit.quantizers.fsq_codes_to_indices")
def _fsq_codes_to_indices(d):
    levels = d.pick(LEVELS)
    z = d.jfloats(d.mismatch((d.pick((1, 3)), len(levels))), "unit")
    return lambda: qz.fsq_codes_to_indices(z, levels)


@case("vaekit.quantizers.fsq_indices_to_codes")
def _fsq_indices_to_codes(d):
    levels = d.pick(LEVELS)
    indices = jnp.asarray(d.ints(d.pick(((1,), (2, 3))), math.prod(levels)))
    return lambda: qz.fsq_indices_to_codes(indices, levels)


@case("vaekit.quantizers.lfq_quantize")
def _lfq_quantize(d):
    z = d.jfloats(d.pick(((3,), (2, 4))))
    return lambda: qz.lfq_quantize(z)


@case("vaekit.quantizers.lfq_codes_to_indices")
def _lfq_codes_to_indices(d):
    z = d.jfloats(d.pick(((3,), (2, 4), (1, 32))))
    if z.shape[-1] > 31:
        d.valid = False
    return lambda: qz.lfq_codes_to_indices(z)


@case("vaekit.quantizers.lfq_indices_to_codes")
def _lfq_indices_to_codes(d):
    dim = d.number((1, 3), (0, 40))
    indices = jnp.asarray(d.ints(d.pick(((1,), (2, 3))), 2 ** min(max(dim, 1), 3)))
    return lambda: qz.lfq_indices_to_codes(indices, dim)


@case("vaekit.quantizers.lfq_commitment_loss")
def _lfq_commitment_loss(d):
    shape = d.pick(((1, 2), (3, 2, 2)))
    z = d.jfloats(shape)
    return lambda: qz.lfq_commitment_loss(z, d.jfloats(d.mismatch(shape), "small"))


def entropy_args(d: Draw):
    z = d.jfloats(d.pick(((1, 2), (3, 2, 3))))
    return z, d.number((0.01, 1.0), (0.0, -1.0))


@case("vaekit.quantizers.lfq_entropy")
def _lfq_entropy(d):
    z, temperature = entropy_args(d)
    return lambda: qz.lfq_entropy(z, temperature)


@case("vaekit.quantizers.lfq_entropy_loss")
def _lfq_entropy_loss(d):
    z, temperature = entropy_args(d)
    weights = d.number((0.0, 1.0), (-1.0,)), d.number((1.0, 0.1))
    return lambda: qz.lfq_entropy_loss(z, temperature, *weights)


def quantizer_input(d: Draw, dim: int) -> jax.Array:
    return d.jfloats(d.mismatch((2, 2, dim)))


@case("vaekit.VectorQuantizer", "z_e", "key", floats=MODULE_FLOATS)
def _vector_quantizer(d):
    ema, train = d.pick((False, True)), d.pick((False, True))
    z, key = quantizer_input(d, 2), d.key()

    def call():
        vq = vaekit.VectorQuantizer(3, 2, ema=ema, rngs=nnx.Rngs(0))
        return vq(z, key=key, train=train), vq.codes()

    return call


@case("vaekit.ResidualVQ", "z_e", "key", floats=MODULE_FLOATS)
def _residual_vq(d):
    z, key = quantizer_input(d, 2), d.key()
    return lambda: vaekit.ResidualVQ(2, functools.partial(vaekit.VectorQuantizer, 3, 2),
                                     rngs=nnx.Rngs(0))(z, key=key)


@case("vaekit.FSQ", "z", floats=MODULE_FLOATS)
def _fsq(d):
    dim = d.pick((2, 3))
    z = jnp.asarray(quantizer_input(d, dim))
    return lambda: vaekit.FSQ((3, 4), dim=dim, rngs=nnx.Rngs(0))(z)


@case("vaekit.LFQ", "z", floats=MODULE_FLOATS)
def _lfq(d):
    dim = d.pick((2, 3))
    z = quantizer_input(d, dim)
    return lambda: vaekit.LFQ(dim, codebook_dim=2, rngs=nnx.Rngs(0))(z, train=d.pick((0, 1)) == 1)


# ---------------------------------------------------------------------------------------------
# Conditioning

NUM_CLASSES = 3


@case("vaekit.conditioning.one_hot")
def _one_hot(d):
    labels = jnp.asarray(d.ints((d.pick((1, 4)),), NUM_CLASSES))
    return lambda: cond.one_hot(labels, d.number((NUM_CLASSES,), (0,)))


@case("vaekit.conditioning.check_labels")
def _check_labels(d):
    labels = d.ints((d.pick((1, 4)),), NUM_CLASSES)
    if d.chance(8):
        labels, d.valid = labels.astype(np.float32), False
    return lambda: cond.check_labels(jnp.asarray(labels), NUM_CLASSES)


@case("vaekit.conditioning.drop_labels")
def _drop_labels(d):
    labels = jnp.asarray(d.ints((d.pick((1, 4)),), NUM_CLASSES))
    p, null = d.number((0.0, 0.5, 1.0), (1.5, -0.1)), d.number((NUM_CLASSES,), (-1,))
    return lambda: cond.drop_labels(labels, d.key(), p, null)


@case("vaekit.conditioning.concat_label")
def _concat_label(d):
    b = d.pick((1, 3))
    x, code = d.jfloats((b, 4)), d.jfloats(d.mismatch((b, NUM_CLASSES)) if not d.chance(8)
                                          else (b + 1, NUM_CLASSES))
    if code.shape[0] != b:
        d.valid = False
    return lambda: cond.concat_label(x, code)


@case("vaekit.conditioning.broadcast_label_channels")
def _broadcast_label_channels(d):
    b = d.pick((1, 3))
    images = d.jfloats(d.pick(((b, 4, 4, 1), (b, 4, 4))), "unit")
    if images.ndim != 4:
        d.valid = False
    code = d.jfloats((b, NUM_CLASSES), "unit")
    return lambda: cond.broadcast_label_channels(images, code)


@case("vaekit.conditioning.film")
def _film(d):
    shape = d.pick(((2, 3), (2, 4, 4, 3)))
    h = d.jfloats(shape, "small" if d.half else "real")
    scale = d.jfloats(d.mismatch((2, 3)), "small")
    shift = d.jfloats((2, 3), "small" if d.half else "real")
    return lambda: cond.film(h, scale, shift)


@case("vaekit.conditioning.guided_logits")
def _guided_logits(d):
    shape = d.pick(((1, 3), (2, 2, 2)))
    kind = "small" if d.half else "real"
    c, u = d.jfloats(shape, kind), d.jfloats(d.mismatch(shape), kind)
    return lambda: cond.guided_logits(c, u, d.pick((0.0, 1.0, 4.0)))


@case("vaekit.conditioning.LabelEmbedding", "labels")
def _label_embedding(d):
    labels = jnp.asarray(d.ints((d.pick((1, 4)),), NUM_CLASSES + 1))
    return lambda: cond.LabelEmbedding(NUM_CLASSES, 2, null_class=True, rngs=nnx.Rngs(0))(labels)


@case("vaekit.conditioning.FiLMGenerator", "code", floats=MODULE_FLOATS)
def _film_generator(d):
    code = d.jfloats(d.mismatch((d.pick((1, 3)), NUM_CLASSES)))
    return lambda: cond.FiLMGenerator(NUM_CLASSES, 4, rngs=nnx.Rngs(0))(code)


# ---------------------------------------------------------------------------------------------
# Schedules: built from (sometimes invalid) numbers, evaluated on fuzzed step arrays


def steps(d: Draw):
    shape = d.pick(((), (3,)))
    if d.chance(3):  # float steps, e.g. from a user's own counter
        return jnp.asarray(d.floats(shape, "nonneg"))
    high = 256 if np.dtype(d.int_dtype) == np.uint8 else 2**31 - 1
    if d.regime == "extreme":
        values = d.rng.choice(np.array([0, 1, high - 1, high // 2], np.int64), size=shape)
    else:
        values = d.rng.integers(0, min(high, 5000), size=shape)
    return jnp.asarray(values.astype(d.int_dtype))


def schedule_case(name: str, make, *names):
    @case(name, "step", *names)
    def build(d):
        step = steps(d)
        return lambda: make(d)(step)

    return build


schedule_case("vaekit.as_schedule", lambda d: vaekit.as_schedule(
    d.number((0.0, 2.5, optax.cosine_decay_schedule(1.0, 100)), (-1.0, math.inf)), "beta"),
    "beta")
schedule_case("vaekit.capacity_schedule", lambda d: vaekit.capacity_schedule(
    d.number((0.0, 25.0), (-1.0,)), d.number((1, 100), (0, -3))))
schedule_case("vaekit.cyclical_schedule", lambda d: vaekit.cyclical_schedule(
    d.number((1.0, 4.0), (-1.0,)), d.number((1, 400), (0,)), d.number((1, 4), (0,)),
    d.number((0.5, 1.0), (0.0, 2.0))))
schedule_case("vaekit.linear_warmup", lambda d: vaekit.linear_warmup(
    d.number((0.0, 1.0), (math.nan,)), d.number((4.0, 0.5)), d.number((1, 1000), (0,))))
schedule_case("vaekit.logistic_schedule", lambda d: vaekit.logistic_schedule(
    d.number((1.0, 4.0), (-1.0,)), d.number((0.0025, 10.0), (0.0,)), d.number((0.0, 2500.0))))
schedule_case("vaekit.named_schedule", lambda d: vaekit.named_schedule(
    d.number(sch.SCHEDULE_NAMES, ("zigzag",)), d.number((0.0, 1.0)), d.number((4.0, 0.5)),
    d.number((1, 1000), (0,))), "name")
schedule_case("vaekit.schedules.evaluate", lambda d: (
    lambda step: sch.evaluate(d.pick((vaekit.linear_warmup(0.0, 1.0, 10),
                                      optax.constant_schedule(2.0))), step)))


# ---------------------------------------------------------------------------------------------
# Models: a few tiny modules (fresh where the forward updates state)

IMAGE = (4, 4, 1)


class Models:
    """Tiny modules, built on first use and shared by the examples (their forwards are pure)."""

    _cache: dict[str, Any] = {}

    @classmethod
    def get(cls, name: str):
        if name not in cls._cache:
            rngs = nnx.Rngs(0)
            cls._cache[name] = {
                "mlp_encoder": lambda: vaekit.MLPEncoder(IMAGE, 2, (4,), rngs=rngs),
                "mlp_decoder": lambda: vaekit.MLPDecoder(2, IMAGE, (4,), rngs=rngs),
                "cnn_encoder": lambda: vaekit.CNNEncoder(IMAGE, 2, (2,), 4, rngs=rngs),
                "cnn_decoder": lambda: vaekit.CNNDecoder(2, IMAGE, (2,), 4, rngs=rngs),
                "conv_encoder": lambda: vaekit.ConvEncoder(1, 2, (2,), 1, rngs=rngs),
                "conv_decoder": lambda: vaekit.ConvDecoder(2, 1, (2,), 1, rngs=rngs),
                "vae": lambda: vaekit.VAE(Models.get("mlp_encoder"), Models.get("mlp_decoder")),
                "cvae": lambda: vaekit.conditional_mlp_vae(IMAGE, NUM_CLASSES, 2, (4,),
                                                           rngs=rngs),
                "vampprior": lambda: vaekit.VampPriorVAE(
                    vaekit.MLPEncoder(IMAGE, 2, (4,), rngs=rngs),
                    vaekit.MLPDecoder(2, IMAGE, (4,), rngs=rngs), 3, IMAGE, rngs=rngs),
                "iaf": lambda: vaekit.IAFVAE(vaekit.MLPEncoder(IMAGE, 2, (4,), rngs=rngs),
                                             vaekit.MLPDecoder(2, IMAGE, (4,), rngs=rngs),
                                             num_flows=2, hidden=4, rngs=rngs),
                "hvae_mlp": lambda: vaekit.mlp_hierarchical_vae(IMAGE, (2, 2), 4, rngs=rngs),
                "hvae_cnn": lambda: vaekit.cnn_hierarchical_vae(IMAGE, (2, 2), (2,), 4,
                                                                rngs=rngs),
                "code_prior": lambda: vaekit.CodePrior(4, (2, 2), width=4, num_layers=1,
                                                       num_heads=2, mlp_ratio=1, dropout=0.1,
                                                       rngs=rngs),
                "code_prior_cond": lambda: vaekit.CodePrior(4, (2, 2), width=4, num_layers=1,
                                                            num_heads=2, mlp_ratio=1,
                                                            num_classes=NUM_CLASSES, rngs=rngs),
                "vqvae": lambda: vaekit.VQVAE(vaekit.ConvEncoder(1, 2, (2,), 1, rngs=rngs),
                                              vaekit.VectorQuantizer(4, 2, rngs=rngs),
                                              vaekit.ConvDecoder(2, 1, (2,), 1, rngs=rngs)),
                "gamma": lambda: samplers.LearnedGammaVAE(2, 2, (4,), rngs=rngs),
            }[name]()
        return cls._cache[name]


def images(d: Draw, kind: str = "unit") -> jax.Array:
    b = 2
    shape = (b, *IMAGE) if not d.chance(8) else (b, 4, 4, 2)
    if shape[-1] != IMAGE[-1]:
        d.valid = False
    return d.jfloats(shape, kind)


def module_case(name: str, model: str, inputs: Callable[[Draw], jax.Array], *names):
    @case(name, "x", "z", *names, floats=MODULE_FLOATS)
    def build(d):
        x = inputs(d)
        return lambda: Models.get(model)(x)

    return build


def latents(d: Draw) -> jax.Array:
    return d.jfloats(d.mismatch((2, 2)))


def feature_map(d: Draw) -> jax.Array:
    return d.jfloats(d.mismatch((2, 2, 2, 2)))


module_case("vaekit.MLPEncoder", "mlp_encoder", lambda d: images(d, "real"))
module_case("vaekit.MLPDecoder", "mlp_decoder", latents)
module_case("vaekit.CNNEncoder", "cnn_encoder", lambda d: images(d, "real"))
module_case("vaekit.CNNDecoder", "cnn_decoder", latents)
module_case("vaekit.ConvEncoder", "conv_encoder", lambda d: images(d, "real"))
module_case("vaekit.ConvDecoder", "conv_decoder", feature_map)


@case("vaekit.VAE", "x", "key", "num_samples", floats=MODULE_FLOATS)
def _vae(d):
    x, key = images(d), d.key()  # images in [0, 1]: the encoder's log-variance is unbounded
    return lambda: (Models.get("vae")(x, key=key), Models.get("vae").generate(key, 2))


@case("vaekit.default_forward", "x", "z_e", "key", floats=MODULE_FLOATS)
def _default_forward(d):
    x, key = images(d), d.key()

    def call():  # a fresh EMA quantizer: the training forward updates it
        model = vaekit.VQVAE(Models.get("conv_encoder"),
                             vaekit.VectorQuantizer(4, 2, ema=True, rngs=nnx.Rngs(0)),
                             Models.get("conv_decoder"))
        out = vaekit.default_forward(model, {"x": x}, key)
        return out, model.decode_indices(out.indices)

    return call


@case("vaekit.conditional_forward", "x", "y", "key", signed=True, floats=MODULE_FLOATS)
def _conditional_forward(d):
    x, key = images(d), d.key()
    y = jnp.asarray(d.ints((x.shape[0],), NUM_CLASSES))
    return lambda: vaekit.conditional_forward(Models.get("cvae"), {"x": x, "y": y}, key)


@case("vaekit.ConditionalVAE", "labels", "guidance_scale", signed=True)
def _conditional_vae(d):
    labels = jnp.asarray(d.ints((2,), NUM_CLASSES))
    return lambda: Models.get("cvae").generate(d.key(), labels)


@case("vaekit.VQVAE", "indices", signed=True)
def _vqvae(d):
    indices = jnp.asarray(d.ints((2, 2, 2), 4))
    model = vaekit.VQVAE(Models.get("conv_encoder"), vaekit.VectorQuantizer(4, 2, rngs=nnx.Rngs(0)),
                         Models.get("conv_decoder"))
    return lambda: model.decode_indices(indices)


# ---------------------------------------------------------------------------------------------
# Evaluation (numpy, scikit-learn)


def factor_matrix(d: Draw, n: int, k: int) -> np.ndarray:
    """``(n, k)`` factor labels; every column takes two values (else the call is invalid)."""
    factors = d.ints((n, k), 3, dtype=d.int_dtype)
    constant = np.any(np.all(factors == factors[:1], axis=0))
    if constant or np.any(factors.astype(np.int64) < 0):
        d.valid = False
    return factors


def codes_factors(d: Draw, min_codes: int = 1):
    n, latent, k = d.pick((6, 10)), d.pick((min_codes, 3)), d.pick((1, 2))
    codes = d.floats(d.mismatch((n, latent)) if not d.chance(8) else (n + 1, latent))
    if codes.shape[0] != n:
        d.valid = False
    return codes, factor_matrix(d, n, k)


@case("vaekit.evaluation.mig", host=True)
def _mig(d):
    codes, factors = codes_factors(d, 2)
    return lambda: ev.mig(codes, factors, num_bins=d.number((2, 20), (1,)))


@case("vaekit.evaluation.sap", host=True)
def _sap(d):
    codes, factors = codes_factors(d, 2)
    continuous = d.pick((False, True))
    return lambda: ev.sap(codes, factors, codes, factors, continuous_factors=continuous)


@case("vaekit.evaluation.sap_score_matrix", host=True)
def _sap_score_matrix(d):
    codes, factors = codes_factors(d)
    continuous = d.pick((False, True))
    return lambda: ev.sap_score_matrix(codes, factors, codes, factors, continuous)


# dci names `importance_matrix` (an internal) for < 2 codes or factors: reported, pinned below.
@case("vaekit.evaluation.dci", "importance_matrix", host=True)
def _dci(d):
    codes, factors = codes_factors(d)
    if min(codes.shape[1], factors.shape[1]) < 2:
        d.valid = False
    predictor = d.number(("lasso", "gbt"), ("svm",))
    return lambda: ev.dci(codes, factors, codes, factors, predictor, n_estimators=2)


@case("vaekit.evaluation.dci_importance_matrix", host=True)
def _dci_importance_matrix(d):
    codes, factors = codes_factors(d)
    return lambda: ev.dci_importance_matrix(codes, factors, codes, factors,
                                            d.pick(("lasso", "gbt")), n_estimators=2)


def importance_case(name: str, fn):
    @case(name, host=True)
    def build(d):
        shape = d.pick(((1, 2), (2, 2), (3, 2)))
        if min(shape) < 2:
            d.valid = False
        matrix = d.floats(shape, "nonneg")
        return lambda: fn(matrix)

    return build


importance_case("vaekit.evaluation.disentanglement", ev.disentanglement)
importance_case("vaekit.evaluation.completeness", ev.completeness)


@case("vaekit.evaluation.discrete_entropy", host=True)
def _discrete_entropy(d):
    ys = d.ints((d.pick((1, 2)), d.pick((1, 6))), 3)
    return lambda: ev.discrete_entropy(ys)


@case("vaekit.evaluation.discrete_mutual_info", host=True)
def _discrete_mutual_info(d):
    n = d.pick((1, 6))
    mus = d.ints((d.pick((1, 2)), n), 3)
    ys = d.ints(d.mismatch((d.pick((1, 2)), n)), 3)
    return lambda: ev.discrete_mutual_info(mus, ys)


@case("vaekit.evaluation.histogram_discretize", host=True)
def _histogram_discretize(d):
    target = d.floats((d.pick((1, 2)), d.pick((1, 6))))
    return lambda: ev.histogram_discretize(target, d.number((2, 20), (1,)))


@case("vaekit.evaluation.latent_statistics", host=True)
def _latent_statistics(d):
    shape = d.pick(((1, 2), (5, 3)))
    means, logvars = d.floats(shape), d.floats(d.mismatch(shape), "logvar")
    return lambda: ev.latent_statistics(means, logvars, d.number((0.01,), (-1.0,)))


@case("vaekit.evaluation.majority_vote_accuracy", host=True)
def _majority_vote_accuracy(d):
    # Domain: equal shapes, non-negative counts, at least one vote each (see the xfail tests).
    shape = d.pick(((2, 2), (3, 2)))
    train = d.ints(shape, 5, dtype=np.int64) + np.eye(*shape, dtype=np.int64)
    evaluation = d.ints(shape, 5, dtype=np.int64) + np.eye(*shape, dtype=np.int64)
    d.valid = True  # out-of-range counts are still counts
    return lambda: ev.majority_vote_accuracy(np.abs(train), np.abs(evaluation))


@case("vaekit.evaluation.sample_codes_and_factors", host=True)
def _sample_codes_and_factors(d):
    latent = d.pick((1, 2))
    rows = 0 if d.chance(8) else None  # a function returning the wrong number of rows
    if rows is not None:
        d.valid = False

    def representation(observations):  # same width for every batch (see the known bug)
        return d.floats((len(observations) if rows is None else rows, latent))

    num_points = d.number((1, 5), (0,))
    data = ev.IdentityObservationData((2, 3))
    return lambda: ev.sample_codes_and_factors(representation, data, num_points,
                                               np.random.default_rng(0), batch_size=2)


@case("vaekit.evaluation.encode_dataset", "x", host=True)
def _encode_dataset(d):
    x = images(d, "real")
    return lambda: ev.encode_dataset(Models.get("vae"), x, batch_size=d.number((2,), (0,)))


@case("vaekit.evaluation.mean_representation", "images", "x", host=True)
def _mean_representation(d):
    x = np.asarray(images(d, "real"))
    return lambda: ev.mean_representation(Models.get("vae"), batch_size=2)(x)


def mixture(d: Draw, n: int, latent: int, mismatch: bool = True):
    """Means and log-variances of ``n`` components and (for the entropy) samples drawn from
    their mixture (samples far outside every component have a log density below float32)."""
    means = d.floats(d.mismatch((n, latent)) if mismatch else (n, latent))
    logvars = d.floats((n, latent), "logvar")
    which = d.rng.integers(0, n, size=8)
    with np.errstate(all="ignore"):
        samples = (means[which % means.shape[0], :latent].astype(np.float64)
                   + np.exp(logvars[which].astype(np.float64) / 2)
                   * d.rng.standard_normal((8, latent)))
    return means, logvars, samples


@case("vaekit.evaluation.estimate_entropies", host=True)
def _estimate_entropies(d):
    # Matching widths only: a mismatch is a bare broadcasting TypeError (pinned below).
    means, logvars, samples = mixture(d, d.pick((1, 4)), 2, mismatch=False)
    return lambda: ev.estimate_entropies(samples, means, logvars)


@case("vaekit.evaluation.chen_mig", host=True)
def _chen_mig(d):
    grid = d.pick(((2, 3), (2, 2)))
    if d.chance(8):
        grid, d.valid = (1, 6), False
    means, logvars, _ = mixture(d, 6 if grid != (2, 2) else 4, d.pick((2, 3)))
    return lambda: ev.chen_mig(means, logvars, grid, num_samples=d.number((4, 100), (0,)))


# ---------------------------------------------------------------------------------------------
# Data (numpy)


def factor_rows(d: Draw) -> np.ndarray:
    sizes = np.array(vaekit.data.FACTOR_SIZES)
    n = d.pick((1, 3))
    rows = np.stack([d.rng.integers(0, s, size=n) for s in sizes], axis=1)
    if d.regime == "nonfinite" and d.chance(2):
        rows[0, d.rng.integers(0, 5)] = d.pick((-1, 99))
        d.valid = False
    if d.chance(8):
        rows, d.valid = rows[:, :4], False
    return rows.astype(np.int64 if np.dtype(d.int_dtype) == np.uint8 else d.int_dtype)


@case("vaekit.data.factors_to_index")
def _factors_to_index(d):
    rows = factor_rows(d)
    return lambda: factors_to_index(rows)


@case("vaekit.data.index_to_factors")
def _index_to_factors(d):
    indices = d.ints((d.pick((1, 3)),), vaekit.data.NUM_COMBINATIONS, dtype=np.int64)
    return lambda: index_to_factors(indices)


@case("vaekit.data.render")
def _render(d):
    rows = factor_rows(d)
    return lambda: render(rows, dtype=d.pick((np.float32, np.uint8)))


@case("vaekit.data.render_device")
def _render_device(d):
    rows = factor_rows(d)
    return lambda: vaekit.data.render_device(jnp.asarray(rows))


@case("vaekit.data.index_to_factors_device")
def _index_to_factors_device(d):
    indices = d.ints((d.pick((1, 3)),), vaekit.data.NUM_COMBINATIONS, dtype=np.int32)
    return lambda: vaekit.data.index_to_factors_device(jnp.asarray(indices))


@case("vaekit.data.render_indices_device")
def _render_indices_device(d):
    indices = d.ints((d.pick((1, 3)),), vaekit.data.NUM_COMBINATIONS, dtype=np.int32)
    return lambda: vaekit.data.render_indices_device(jnp.asarray(indices))


@case("vaekit.data.render_dsprites_batch")
def _render_dsprites_batch(d):
    indices = d.ints((d.pick((1, 3)),), vaekit.data.NUM_COMBINATIONS, dtype=np.int32)
    return lambda: vaekit.data.render_dsprites_batch({"index": jnp.asarray(indices)}, None)


@case("vaekit.data.uint8_to_float")
def _uint8_to_float(d):
    shape = (d.pick((1, 3)), 4)
    x = d.ints(shape, 256, dtype=np.uint8) if d.chance(2) else d.floats(shape, "unit")
    return lambda: vaekit.data.uint8_to_float({"x": x})


@case("vaekit.data.dynamic_binarize")
def _dynamic_binarize(d):
    shape = (d.pick((1, 3)), 4)
    x = d.ints(shape, 256, dtype=np.uint8) if d.chance(2) else d.floats(shape, "unit")
    return lambda: vaekit.data.dynamic_binarize({"x": x}, jax.random.key(0))


# ---------------------------------------------------------------------------------------------
# Likelihood evaluation, IWAE, sampled KL (VampPrior, IAF), hierarchical VAE, code prior

LOG_WEIGHT_MODELS = ("vae", "vampprior", "iaf", "hvae_mlp")


def sampled_output(d: Draw):
    """A SampledVAEOutput (the VAEOutput fields plus per-example ``log_q`` and ``log_prior``)."""
    out, batch = vae_output(d)
    b = out.mean.shape[0]
    log_q, log_prior = d.jfloats((b,)), d.jfloats((b,))
    return obj.SampledVAEOutput(*out, log_q=log_q, log_prior=log_prior), batch


objective_case("vaekit.sampled_kl_vae", lambda d: vaekit.sampled_kl_vae(
    weight(d), d.pick(LIKELIHOODS)), sampled_output, "beta", "log_q", "log_prior")
objective_case("vaekit.objectives.sampled_kl_term", lambda d: obj.sampled_kl_term(),
               sampled_output, "log_q", "log_prior")
pair_case("vaekit.objectives.sampled_kl", obj.sampled_kl, shapes=((1,), (4,)))


def hierarchical_output(d: Draw):
    """A HierarchicalVAEOutput of 1 or 2 layers (log-variances within ±40: the layer KLs are
    finite while ``logvar_q − logvar_p <= 88``); one time in eight the layer tuples disagree."""
    b, e = 3, d.pick(((4,), (2, 3)))
    layers, latent = d.pick((1, 2)), 2
    extreme = 16.0 if d.half else 40.0
    recon = d.jfloats((b, *e))
    x = d.jfloats(d.mismatch((b, *e)), "unit")

    def per_layer(kind: str) -> tuple[jax.Array, ...]:
        return tuple(d.jfloats((b, latent), kind, extreme=extreme if kind == "logvar" else None)
                     for _ in range(layers))

    z, q_mean, q_logvar = per_layer("real"), per_layer("real"), per_layer("logvar")
    p_mean, p_logvar = per_layer("real"), per_layer("logvar")
    if d.chance(8):
        d.valid, p_logvar = False, p_logvar[:-1]
    out = vaekit.models.HierarchicalVAEOutput(recon, z, q_mean, q_logvar, p_mean, p_logvar)
    return out, {"x": x}


objective_case("vaekit.hierarchical_vae", lambda d: vaekit.hierarchical_vae(
    weight(d), d.number((0.0, 0.5), (-0.5,)), d.pick(LIKELIHOODS),
    active_threshold=d.number((0.01,), (-1.0,))), hierarchical_output, "beta", "free_bits",
    "active_threshold")
objective_case("vaekit.objectives.hierarchical_kl_term", lambda d: obj.hierarchical_kl_term(
    d.number((0.0, 0.5), (-0.5,)), active_threshold=d.number((0.01,), (math.inf,))),
    hierarchical_output, "free_bits", "active_threshold")


@case("vaekit.objectives.gaussian_kl_between")
def _gaussian_kl_between(d):
    # Documented finite range: logvar_q − logvar_p <= 88; log-variances within ±40 keep it.
    shape = d.pick(((1, 3), (4, 2)))
    mean_q, mean_p = d.jfloats(shape), d.jfloats(shape)
    logvar_q = d.jfloats(shape, "logvar", extreme=40.0)
    logvar_p = d.jfloats(d.mismatch(shape), "logvar", extreme=40.0)
    return lambda: obj.gaussian_kl_between(mean_q, logvar_q, mean_p, logvar_p)


def log_w(d: Draw, k: int) -> jax.Array:
    """``(k, batch)`` log importance weights, or (one time in eight) a ``(batch,)`` vector."""
    if d.chance(8):
        d.valid = False
        return d.jfloats((3,))
    return d.jfloats((k, d.pick((1, 3))))


@case("vaekit.objectives.iwae_bound")
def _iwae_bound(d):
    weights = log_w(d, d.pick((1, 4)))
    return lambda: obj.iwae_bound(weights)


@case("vaekit.objectives.effective_sample_size")
def _effective_sample_size(d):
    weights = log_w(d, d.pick((1, 4)))
    return lambda: obj.effective_sample_size(weights)


@case("vaekit.iwae", *OUT_NAMES, "log_w", "num_samples", "dreg")
def _iwae(d):
    k = d.pick((1, 3))
    weights = log_w(d, k if not d.chance(8) else k + 1)
    if weights.ndim != 2 or weights.shape[0] != k:
        d.valid = False
    parts = [d.jfloats(weights.shape) for _ in range(3)] if d.chance(2) else [None] * 3
    out, step = obj.IWAEOutput(weights, *parts), d.step()
    return lambda: vaekit.iwae(d.number((k,), (0, 2.0)), d.pick(LIKELIHOODS),
                               d.number((False, True), (1,)))(out, {}, step)


def model_batch(d: Draw, model: str) -> dict:
    """``{"x": images}`` (and in-range labels for the conditional VAE)."""
    batch = {"x": images(d)}
    if model == "cvae":
        batch["y"] = jnp.asarray(d.ints((2,), NUM_CLASSES))
    return batch


@case("vaekit.objectives.iwae_forward", "x", "key", floats=MODULE_FLOATS)
def _iwae_forward(d):
    model = d.pick(LOG_WEIGHT_MODELS)
    batch, key = model_batch(d, model), d.key()
    dreg = d.pick((False, True)) if model == "vae" else d.chance(8)
    if dreg and model != "vae":
        d.valid = False  # DReG needs the default (VAE) weights
    num_samples = d.number((1, 2), (0,))
    return lambda: obj.iwae_forward(num_samples, d.pick(LIKELIHOODS), dreg=dreg)(
        Models.get(model), batch, key)


@case("vaekit.evaluation.importance_log_weights", "x", "y", floats=MODULE_FLOATS)
def _importance_log_weights(d):
    model = d.pick((*LOG_WEIGHT_MODELS, "cvae"))
    batch, key = model_batch(d, model), d.key()
    num_samples = d.number((1, 2), (0,))
    return lambda: ev.importance_log_weights(Models.get(model), batch, key, num_samples,
                                             d.pick(LIKELIHOODS))


@case("vaekit.log_likelihood", "x", "y", floats=MODULE_FLOATS)
def _log_likelihood(d):
    model = d.pick((*LOG_WEIGHT_MODELS, "cvae"))
    batch, key = model_batch(d, model), d.key()
    labels = batch.get("y")
    if labels is not None and d.chance(8):
        labels, d.valid = labels[:1], False
    num_samples = d.number((1, 3), (0,))
    return lambda: vaekit.log_likelihood(
        Models.get(model), batch["x"], key=key, num_samples=num_samples,
        likelihood=d.pick((vaekit.bernoulli_nll, vaekit.gaussian_nll(0.5))), labels=labels,
        batch_size=d.number((1, 2), (0,)), sample_chunk=d.number((2,), (0,)))


def sampled_kl_model_case(name: str, model: str):
    @case(name, "x", "key", "num_samples", floats=MODULE_FLOATS)
    def build(d):
        x, key = images(d), d.key()  # images in [0, 1]: the encoder's log-variance is unbounded
        return lambda: (Models.get(model)(x, key=key), Models.get(model).generate(key, 2))

    return build


sampled_kl_model_case("vaekit.VampPriorVAE", "vampprior")
sampled_kl_model_case("vaekit.IAFVAE", "iaf")


@case("vaekit.HierarchicalVAE", "x", "key", "num_samples", floats=MODULE_FLOATS)
def _hierarchical_vae_model(d):
    model, x, key = d.pick(("hvae_mlp", "hvae_cnn")), images(d), d.key()
    return lambda: (Models.get(model)(x, key=key), Models.get(model).generate(key, 2))


def code_grid(d: Draw, batch: int = 2) -> jax.Array:
    """``(batch, 2, 2)`` or flat ``(batch, 4)`` codes in [0, 4), out of range now and then
    (as ``Draw.ints``); one time in eight ``(batch, 3)``."""
    shape = d.pick(((batch, 2, 2), (batch, 4)))
    if d.chance(8):
        shape, d.valid = (batch, 3), False
    return jnp.asarray(d.ints(shape, 4))


@case("vaekit.CodePrior", "codes", "labels", "key", floats=MODULE_FLOATS)
def _code_prior(d):
    codes = code_grid(d)
    if d.chance(2):
        key = d.key() if d.chance(2) else None
        return lambda: Models.get("code_prior")(codes, key=key)
    labels = jnp.asarray(d.ints((2,), NUM_CLASSES))
    return lambda: Models.get("code_prior_cond")(codes, labels)


@case("vaekit.code_prior_nll", "out", "batch", "codes", "logits")
def _code_prior_nll(d):
    b, k = d.pick((1, 3)), 4
    logits = d.jfloats((b, 4, k))
    codes = code_grid(d, b)
    return lambda: vaekit.code_prior_nll()(logits, {"codes": codes}, d.step())


@case("vaekit.sample_codes", floats=MODULE_FLOATS)
def _sample_codes(d):
    num_samples = d.number((1, 2), (0,))
    temperature = d.number((0.0, 1.0), (-1.0, math.nan))
    grid_shape = d.number((None, (4,)), ((3,),))
    if d.chance(2):
        return lambda: vaekit.sample_codes(Models.get("code_prior"), d.key(), num_samples,
                                           grid_shape, temperature)
    labels = jnp.asarray(d.ints((num_samples if num_samples > 0 else 1,), NUM_CLASSES))
    return lambda: vaekit.sample_codes(Models.get("code_prior_cond"), d.key(), num_samples,
                                       grid_shape, temperature, labels)


@case("vaekit.encode_codes", "x", "z_e", floats=MODULE_FLOATS)
def _encode_codes(d):
    x = images(d, "real")
    return lambda: vaekit.encode_codes(Models.get("vqvae"), x, d.number((1, 256), (0,)))


@case("vaekit.decode_codes", "indices", floats=MODULE_FLOATS)
def _decode_codes(d):
    codes = d.ints(d.pick(((2, 2, 2), (1, 2, 2))), 4)
    return lambda: vaekit.decode_codes(Models.get("vqvae"), codes, d.number((1, 256), (0,)))


# ---------------------------------------------------------------------------------------------
# Post-hoc samplers


def mixture_model(d: Draw, dim: int) -> samplers.GaussianMixture:
    """A valid GaussianMixture: positive weights summing to 1, means from the regime and
    variances in [1e-3, 1e4] (diagonal, or full with correlation of at most 1/2)."""
    k = d.pick((1, 2))
    raw = d.floats((k,), "nonneg").astype(np.float64) + 1e-3
    with np.errstate(all="ignore"):
        weights = jnp.asarray(raw / raw.sum(), d.dtype)
    means = d.jfloats((k, dim))
    variances = d.floats((k, dim), "nonneg").astype(np.float64) + 1e-3
    if d.chance(2):
        covariances = jnp.asarray(variances, d.dtype)
    else:
        with np.errstate(all="ignore"):
            std = np.sqrt(variances)
        rho = d.rng.uniform(-0.5, 0.5, size=k)
        full = np.einsum("kd,ke->kde", std, std) * rho[:, None, None]
        full[:, np.arange(dim), np.arange(dim)] = variances
        covariances = jnp.asarray(full, d.dtype)
    return samplers.GaussianMixture(weights, means, covariances)


def gmm_points_case(name: str, fn):
    @case(name, "points", "gmm")
    def build(d):
        dim = d.pick((1, 2))
        gmm = mixture_model(d, dim)
        points = d.jfloats(d.mismatch((d.pick((1, 3)), dim)))
        return lambda: fn(gmm, points)

    return build


gmm_points_case("vaekit.samplers.gmm_log_prob", samplers.gmm_log_prob)
gmm_points_case("vaekit.samplers.gmm_responsibilities", samplers.gmm_responsibilities)


@case("vaekit.samplers.sample_gmm")
def _sample_gmm(d):
    gmm = mixture_model(d, d.pick((1, 2)))
    return lambda: samplers.sample_gmm(gmm, d.key(), d.number((1, 3), (0,)))


@case("vaekit.samplers.fit_gmm", host=True)
def _fit_gmm(d):
    # Documented domain: reg at least ~1e-7 of the data's variance (full covariances, float32).
    points = d.floats((6, d.pick((1, 2))))
    scale = float(np.nanmax(np.abs(points.astype(np.float64)), initial=1.0)) ** 2
    reg = d.number((1e-6 * max(scale, 1.0), 1e-3 * max(scale, 1.0)), (0.0, -1.0, math.nan))
    return lambda: samplers.fit_gmm(
        points, d.number((1, 2), (0, 7)), key=d.key(), num_iters=3,
        covariance=d.number(("full", "diag"), ("spherical",)), reg=reg,
        tol=d.number((0.0, 1e-5), (-1.0,)), kmeans_iters=2,
        return_history=d.pick((False, True)))


@case("vaekit.samplers.fit_latent_gmm", "x", floats=MODULE_FLOATS)
def _fit_latent_gmm(d):
    x = images(d)
    return lambda: samplers.fit_latent_gmm(
        Models.get("vae"), x, d.number((1, 2), (0, 3)), key=d.key(), num_iters=3,
        covariance=d.pick(("full", "diag")), reg=1e-3)


# A mixture of the wrong dimension is reported by the decoder, naming its input `z`.
@case("vaekit.samplers.sample_with_gmm", "z", floats=MODULE_FLOATS)
def _sample_with_gmm(d):
    dim = 2 if not d.chance(8) else 3
    if dim != 2:
        d.valid = False
    gmm = mixture_model(d, dim)
    return lambda: samplers.sample_with_gmm(Models.get("vae"), gmm, d.key(),
                                            d.number((1, 3), (0,)))


def two_stage_sampler() -> samplers.TwoStageSampler:
    """An untrained second stage on the 2-d latents of ``Models.get("vae")`` (no training: the
    sampling functions only decode)."""
    return samplers.TwoStageSampler(vae=Models.get("gamma"), history={})


@case("vaekit.samplers.two_stage_latents")
def _two_stage_latents(d):
    return lambda: samplers.two_stage_latents(two_stage_sampler(), d.key(),
                                              d.number((1, 3), (0,)))


@case("vaekit.samplers.sample_two_stage")
def _sample_two_stage(d):
    return lambda: samplers.sample_two_stage(Models.get("vae"), two_stage_sampler(), d.key(),
                                             d.number((1, 3), (0,)))


@case("vaekit.samplers.LearnedGammaVAE", "x", "u", "key", floats=MODULE_FLOATS)
def _learned_gamma_vae(d):
    # Inputs in [0, 1]: the encoder's log-variance is unbounded (as for vaekit.VAE).
    x, key = d.jfloats(d.mismatch((2, 2)), "unit"), d.key()
    model = Models.get("gamma")
    return lambda: (model(x, key=key), model.decode(model.encode(x)[0]))


def learned_gamma_output(d: Draw):
    """A LearnedGammaOutput: the VAEOutput fields plus a scalar ``log_gamma`` within ±40 (the
    NLL is finite while ``(x − μ)² · exp(−log γ) < 3.4e38``); now and then an ``x`` whose
    shape does not match ``recon``."""
    b, e, latent = 3, d.pick(((4,), (2, 3))), 2
    recon, x = d.jfloats((b, *e)), d.jfloats(d.mismatch((b, *e)), "unit")
    mean = d.jfloats((b, latent))
    logvar = d.jfloats((b, latent), "logvar", extreme=16.0 if d.half else 80.0)
    z = d.jfloats((b, latent))
    log_gamma = jnp.asarray(d.floats((), "logvar", extreme=40.0))
    return samplers.LearnedGammaOutput(recon, mean, logvar, z, log_gamma), {"x": x}


objective_case("vaekit.samplers.learned_gamma_nll_term",
               lambda d: samplers.learned_gamma_nll_term(), learned_gamma_output, "log_gamma")
objective_case("vaekit.samplers.learned_gamma_vae_objective",
               lambda d: samplers.learned_gamma_vae_objective(), learned_gamma_output,
               "log_gamma")


# ---------------------------------------------------------------------------------------------
# Plots (rendered with matplotlib: fewer examples)


@case("vaekit.plots.traverse_latents", "dims")
def _traverse_latents(d):
    z = d.jfloats((d.pick((1, 3)),))
    values = d.jfloats((d.pick((1, 4)),))
    dims = [d.pick((0, 1, 2, 5)) for _ in range(d.pick((1, 2)))]
    if max(dims) >= z.shape[0]:
        d.valid = False
    return lambda: plots.traverse_latents(z, dims, values)


@case("vaekit.plots.bar_chart_figure", "values", plot=True)
def _bar_chart(d):
    values = d.floats((d.pick((1, 5)),), dtype=np.float64)
    return lambda: plots.bar_chart_figure(values, threshold=0.01, log_scale=d.pick((False, True)))


@case("vaekit.plots.heatmap_figure", "matrix", plot=True)
def _heatmap(d):
    matrix = d.floats(d.pick(((1, 1), (3, 2))), dtype=np.float64)
    return lambda: plots.heatmap_figure(matrix)


@case("vaekit.plots.image_grid_figure", "images", plot=True)
def _image_grid(d):
    imgs = d.floats(d.pick(((2, 4, 4), (3, 4, 4, 1), (1, 4, 4, 2))), "unit")
    if imgs.shape[-1] == 2:
        d.valid = False
    return lambda: plots.image_grid_figure(imgs, ncols=2)


@case("vaekit.plots.reconstruction_figure", "inputs", "recons", plot=True)
def _reconstruction(d):
    shape = d.pick(((2, 4, 4), (1, 4, 4, 1)))
    return lambda: plots.reconstruction_figure(d.floats(shape, "unit"),
                                               d.floats(d.mismatch(shape), "unit"), n=2)


@case("vaekit.plots.latent_traversal_figure", "images", "values", plot=True)
def _traversal_figure(d):
    imgs = d.floats((2, d.pick((1, 3)), 4, 4), "unit")
    values = d.floats((d.mismatch((imgs.shape[1],))[0],), dtype=np.float64)
    return lambda: plots.latent_traversal_figure(imgs, values=values)


@case("vaekit.plots.loss_curves_figure", "history", "steps", "val_history", "val_steps",
      plot=True)
def _loss_curves(d):
    n = d.pick((1, 4))
    history = {"loss": list(d.floats((n,), dtype=np.float64)),
               "kl": list(d.floats(d.mismatch((n,)), "nonneg", dtype=np.float64))}
    return lambda: plots.loss_curves_figure(history, list(range(n)), val_history={
        "loss": list(d.floats((1,), dtype=np.float64))}, val_steps=[n - 1],
        log_scale=d.pick((False, True)))


@case("vaekit.plots.overlay_figure", "series", "steps", plot=True)
def _overlay(d):
    n = d.pick((1, 4))
    series = {"kl": list(d.floats((n,), dtype=np.float64)),
              "C": list(d.floats(d.mismatch((n,)), dtype=np.float64))}
    return lambda: plots.overlay_figure(series, list(range(n)))


# ---------------------------------------------------------------------------------------------
# Not fuzzed

_RECORD = "a record type (NamedTuple/dataclass) that only holds its fields"
_NO_ARRAYS = "takes sizes, names, seeds or a numpy Generator: no array inputs"
_DRIVER = ("samples thousands of observations through a representation function and fits "
           "classifiers (seconds per call); its array-level cores (mig, sap, dci, "
           "sample_codes_and_factors, encode_dataset, ...) are fuzzed here")
_TRAINING = ("compiles a whole training step (seconds per call); tests/test_regressions.py "
             "(NaN batch, schedules, keys) and tests/test_train_step.py cover it")
_PROTOCOL = "a typing.Protocol of model outputs (the fields a term reads); no array computation"
SKIPPED: dict[str, str] = {
    "vaekit.TrainState": _RECORD,
    "vaekit.TrainStep": _RECORD,
    "vaekit.StepFunctions": _RECORD,
    "vaekit.History": _RECORD,
    "vaekit.VAEOutput": _RECORD,
    "vaekit.VQVAEOutput": _RECORD,
    "vaekit.objectives.TCTerms": _RECORD,
    "vaekit.objectives.GaussianOutput": _PROTOCOL,
    "vaekit.objectives.GaussianPosterior": _PROTOCOL,
    "vaekit.objectives.QuantizedOutput": _PROTOCOL,
    "vaekit.objectives.Reconstruction": _PROTOCOL,
    "vaekit.objectives.SampledOutput": _PROTOCOL,
    "vaekit.quantizers.EMAState": _RECORD,
    "vaekit.quantizers.LFQEntropy": _RECORD,
    "vaekit.quantizers.QuantizerOutput": _RECORD,
    "vaekit.quantizers.VQResult": _RECORD,
    "vaekit.data.DigitsSplit": _RECORD,
    "vaekit.data.DSpritesSplit": _RECORD,
    "vaekit.quantizers.EMAStats": "an nnx.Variable marker type for EMA codebook state",
    "vaekit.make_train_step": _TRAINING,
    "vaekit.step_functions": _TRAINING,
    "vaekit.compile_step": _TRAINING,
    "vaekit.fit": _TRAINING,
    "vaekit.evaluate_dataset": _TRAINING,
    "vaekit.objectives.ComposedObjective": "the immutable callable that compose and every "
                                           "library objective return; called in their cases",
    "vaekit.data_parallel": "wraps a whole TrainStep for a device mesh (seconds per call); "
                            "tests/test_parallel.py compares it with one device",
    "vaekit.data_mesh": _NO_ARRAYS + " (devices and an axis name; tests/test_parallel.py)",
    "vaekit.mixed_precision": "takes a forward and dtypes and returns a forward; "
                              "tests/test_scaling.py trains through it",
    "vaekit.prefetch_to_device": "takes an iterable of batches and a queue size; "
                                 "tests/test_scaling.py checks order, bounds and errors",
    "vaekit.batch_indices": _NO_ARRAYS + " (integers; tests/test_train_step.py)",
    "vaekit.epochs_to_steps": _NO_ARRAYS + " (numbers; tests/test_schedules.py)",
    "vaekit.get_activation": _NO_ARRAYS,
    "vaekit.conditional_mlp_vae": _NO_ARRAYS + "; the model it builds is fuzzed "
                                               "(vaekit.ConditionalVAE, conditional_forward)",
    "vaekit.conditional_cnn_vae": _NO_ARRAYS + "; tests/test_regressions.py trains one",
    "vaekit.quantizers.fsq_implicit_codebook": _NO_ARRAYS + " (levels)",
    "vaekit.quantizers.lfq_implicit_codebook": _NO_ARRAYS + " (dim)",
    "vaekit.data.load_digits_dataset": _NO_ARRAYS,
    "vaekit.data.make_dsprites": _NO_ARRAYS,
    "vaekit.data.factor_values": _NO_ARRAYS,
    "vaekit.data.sample_factors": _NO_ARRAYS,
    "vaekit.data.split_indices": _NO_ARRAYS + " (sizes and a seed; tests/test_runner_data.py)",
    "vaekit.data.cache_dir": _NO_ARRAYS + " (a path; tests/test_data_sources.py)",
    "vaekit.data.load_dataset": "reads files (fetched from a server): tests/test_data_sources.py "
                                "serves every real format over loopback, corrupt ones too",
    "vaekit.data.write_arrays": "writes files: tests/test_stream.py round-trips and damages them",
    "vaekit.data.open_arrays": "reads files: tests/test_stream.py round-trips and damages them",
    "vaekit.data.chain": "composes functions (no arrays); tests/test_preprocess.py",
    "vaekit.data.ImageDataset": _RECORD,
    "vaekit.data.DatasetError": "an exception type",
    "vaekit.data.ArrayStoreError": "an exception type",
    "vaekit.evaluation.DSpritesData": "a ground-truth data source built from no arrays; its "
                                      "renderer is fuzzed as vaekit.data.render",
    "vaekit.evaluation.GroundTruthData": "a Protocol (interface), nothing to call",
    "vaekit.evaluation.IdentityObservationData": "a ground-truth data source built from sizes; "
                                                 "fuzzed inside sample_codes_and_factors",
    "vaekit.evaluation.compute_beta_vae": _DRIVER,
    "vaekit.evaluation.compute_dci": _DRIVER,
    "vaekit.evaluation.compute_factor_vae": _DRIVER,
    "vaekit.evaluation.compute_mig": _DRIVER,
    "vaekit.evaluation.compute_sap": _DRIVER,
    "vaekit.evaluation.evaluate_model": _DRIVER,
    "vaekit.evaluation.evaluate_representation": _DRIVER,
    "vaekit.evaluation.compute_chen_mig": _DRIVER,
    "vaekit.evaluation.ChenMIG": _RECORD,
    "vaekit.evaluation.grid_values": _NO_ARRAYS + " (factor sizes)",
    "vaekit.objectives.factor_vae_optimizer": "combines optax transformations: no arrays",
    "vaekit.objectives.submodule_labels": "reads the structure of a parameter tree, not its "
                                          "values",
    "vaekit.objectives.SampledVAEOutput": _RECORD,
    "vaekit.objectives.IWAEOutput": _RECORD,
    "vaekit.objectives.IWAEObjective": "the immutable callable that iwae returns; called in "
                                       "the vaekit.iwae case",
    "vaekit.evaluation.LogLikelihood": _RECORD,
    "vaekit.samplers.GaussianMixture": _RECORD + "; built from fuzzed arrays in the gmm cases",
    "vaekit.samplers.GaussianMixtureFit": _RECORD,
    "vaekit.samplers.LearnedGammaOutput": _RECORD,
    "vaekit.samplers.TwoStageSampler": _RECORD,
    "vaekit.mlp_hierarchical_vae": _NO_ARRAYS + "; the model it builds is fuzzed "
                                                "(vaekit.HierarchicalVAE)",
    "vaekit.cnn_hierarchical_vae": _NO_ARRAYS + "; the model it builds is fuzzed "
                                                "(vaekit.HierarchicalVAE)",
    "vaekit.samplers.fit_two_stage": "trains a second-stage VAE through make_train_step and fit "
                                     "(seconds per call); its array cores are fuzzed here "
                                     "(samplers.LearnedGammaVAE, learned_gamma_vae_objective, "
                                     "two_stage_latents, sample_two_stage) and "
                                     "tests/test_samplers.py trains it",
}


# ---------------------------------------------------------------------------------------------
# The property


def _names(name: str, extra: tuple[str, ...]) -> tuple[str, ...]:
    target = public_objects()[name]
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return extra
    return (*signature.parameters, *extra)


def _names_an_argument(err: BaseException, names: tuple[str, ...]) -> bool:
    message = str(err)
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in names)


def _floating_leaves(out) -> list[np.ndarray]:
    leaves = []
    for leaf in jax.tree.leaves(out):
        if isinstance(leaf, float | np.floating) or (
            hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.floating)
        ):
            leaves.append(np.asarray(leaf, np.float64))
    return leaves


def check(name: str, d: Draw) -> None:
    spec = CASES[name]
    if (spec.host and d.dtype == jnp.bfloat16) or (spec.signed and d.int_dtype == np.uint8):
        d.valid = False  # outside the documented dtypes (see the known-bug tests)
    call = spec.build(d)
    names = _names(name, spec.names)
    where = f"{name} [{np.dtype(d.dtype).name}/{np.dtype(d.int_dtype).name}, {d.regime}]"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            leaves = _floating_leaves(call())
    except (ValueError, TypeError) as err:
        assert not (d.valid and d.inputs_finite()), f"{where}: a valid call raised {err!r}"
        assert _names_an_argument(err, names), (
            f"{where}: the error names none of {names}: {type(err).__name__}: {err}")
        return
    if d.inputs_finite():
        bad = [leaf for leaf in leaves if not np.all(np.isfinite(leaf))]
        assert not bad, f"{where}: non-finite output for finite inputs: {bad}"


def _draw(data, name: str) -> Draw:
    return Draw(data, data.draw(st.sampled_from(CASES[name].floats), label="float dtype"),
                data.draw(st.sampled_from(INTS), label="int dtype"),
                data.draw(st.sampled_from(REGIMES), label="regime"))


FEW = {n for n, c in CASES.items() if c.plot or c.floats == MODULE_FLOATS}
ARRAY_CASES = sorted(set(CASES) - FEW)
MODULE_AND_PLOT_CASES = sorted(FEW)


@pytest.mark.parametrize("name", ARRAY_CASES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_public_function_returns_finite_values_or_names_the_bad_argument(name, data):
    check(name, _draw(data, name))


@pytest.mark.parametrize("name", MODULE_AND_PLOT_CASES)
@settings(max_examples=FEW_EXAMPLES)
@given(data=st.data())
def test_module_or_plot_returns_finite_values_or_names_the_bad_argument(name, data):
    check(name, _draw(data, name))


def test_every_public_name_is_covered_or_skipped():
    public = set(public_objects())
    assert not set(CASES) & set(SKIPPED)
    assert set(CASES) | set(SKIPPED) == public, {
        "neither fuzzed nor skipped": sorted(public - set(CASES) - set(SKIPPED)),
        "not public": sorted((set(CASES) | set(SKIPPED)) - public),
    }
    assert all(reason.strip() for reason in SKIPPED.values())
    counts = re.search(r"\((\d+) distinct objects\).*?\((\d+) covered\).*?\((\d+):", __doc__,
                       re.S)
    assert counts and tuple(map(int, counts.groups())) == (
        len(public), len(CASES), len(SKIPPED)), "update the counts in the module docstring"


# ---------------------------------------------------------------------------------------------
# Bugs found by this suite (each fixed; kept as regression tests)


def test_majority_vote_accuracy_of_no_votes_is_an_error_not_nan():
    with pytest.raises(ValueError, match="train_votes"):
        ev.majority_vote_accuracy(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64))


def test_majority_vote_accuracy_rejects_mismatched_votes():
    with pytest.raises(ValueError, match="eval_votes"):
        ev.majority_vote_accuracy(np.ones((2, 2), np.int64), np.ones((3, 3), np.int64))


def test_bfloat16_codes_are_accepted_by_the_metrics_and_plots():
    codes = np.asarray(jnp.arange(12.0).reshape(6, 2), jnp.bfloat16)
    factors = np.array([[0], [1], [0], [1], [0], [1]])
    assert ev.mig(codes, factors) == ev.mig(codes.astype(np.float32), factors)
    images = np.asarray(jnp.full((2, 4, 4, 1), 0.5), jnp.bfloat16)
    assert plots.reconstruction_figure(images, images) is not None


def test_uint8_labels_pass_the_models_type_check():
    model = Models.get("cvae")
    a = model.generate(jax.random.key(0), jnp.array([0, 1], jnp.uint8))
    b = model.generate(jax.random.key(0), jnp.array([0, 1], jnp.int32))
    np.testing.assert_array_equal(a, b)


def test_dci_of_a_single_code_names_codes():
    codes, factors = np.arange(6.0)[:, None], np.array([[0, 1], [1, 0]] * 3)
    with pytest.raises(ValueError, match="`codes`"):
        ev.dci(codes, factors, codes, factors, "lasso")


def test_representation_of_varying_width_names_representation_fn():
    widths = iter([2, 1])

    def representation(observations):
        return np.zeros((len(observations), next(widths)))

    with pytest.raises(ValueError, match="representation_fn"):
        ev.sample_codes_and_factors(representation, ev.IdentityObservationData((2, 3)), 4,
                                    np.random.default_rng(0), batch_size=2)


def test_estimate_entropies_of_mismatched_widths_names_samples():
    with pytest.raises(ValueError, match="samples"):
        ev.estimate_entropies(np.zeros((8, 2)), np.zeros((4, 3)), np.zeros((4, 3)))


def test_code_prior_of_out_of_range_codes_names_codes():
    with pytest.raises(ValueError, match="`codes`"):
        Models.get("code_prior")(jnp.array([[0, 1, 2, 4]]))


def test_code_prior_nll_of_out_of_range_codes_names_codes():
    with pytest.raises(ValueError, match="codes"):
        vaekit.code_prior_nll()(jnp.zeros((1, 4, 4)), {"codes": jnp.array([[0, 1, 2, 4]])}, 0)


def test_fit_latent_gmm_of_nan_images_names_images():
    x = np.full((4, *IMAGE), 0.5, np.float32)
    x[0] = np.nan
    with pytest.raises(ValueError, match="`images`|`model`"):
        samplers.fit_latent_gmm(Models.get("vae"), x, 2, key=jax.random.key(0))


def test_learned_gamma_nll_of_mismatched_x_names_x():
    out = samplers.LearnedGammaOutput(jnp.zeros((3, 4)), *(jnp.zeros((3, 2)),) * 3,
                                      jnp.zeros(()))
    with pytest.raises(ValueError, match="`x`|`recon`"):
        samplers.learned_gamma_nll_term()(out, {"x": jnp.zeros((3, 5))}, 0)


def test_render_dsprites_batch_of_out_of_range_index_names_batch():
    with pytest.raises(ValueError, match=r"(?<!\w)batch(?!\w)"):
        vaekit.data.render_dsprites_batch({"index": np.array([vaekit.data.NUM_COMBINATIONS])})
