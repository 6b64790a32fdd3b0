"""Inverse autoregressive flow (IAF) posteriors (Kingma et al. 2016).

"Improved Variational Inference with Inverse Autoregressive Flow" (NeurIPS 2016): the
posterior sample ``z0 = μ + σ ⊙ ε`` of a diagonal Gaussian is pushed through ``T`` steps

    [m_t, s_t] = MADE_t(z_{t−1}, h),   σ_t = sigmoid(s_t),
    z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t,

(eqs. 11–14, the numerically stable "LSTM-type" update) where the MADE (Germain et al. 2015)
makes ``m_t,d`` and ``s_t,d`` depend only on ``z_{t−1,<d}``. Each step's Jacobian is then
triangular with diagonal ``σ_t``, so

    log q(z_T | x) = log N(z0; μ, σ²) − Σ_t Σ_d log σ_t,d.

The variable order is reversed between steps (a volume-preserving permutation), so every
dimension can depend on every other one after two steps.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float, PRNGKeyArray

from vaekit._checks import check_int
from vaekit._types import Batch, Likelihood
from vaekit.models._activations import get_activation
from vaekit.models._reparameterize import reparameterize
from vaekit.objectives._sampled_kl import SampledVAEOutput, sampled_log_weight
from vaekit.objectives._tcvae import gaussian_log_density

GATE_BIAS = 2.0
"""Initial bias of ``s_t``: σ_t ≈ sigmoid(2) ≈ 0.88, so each step starts close to the identity
(Kingma et al. 2016, sec. 4: initialise ``s_t`` "sufficiently positive, such as close to +1 or
+2")."""


def _hidden_sizes(hidden: object, name: str = "hidden") -> tuple[int, ...]:
    if isinstance(hidden, bool):
        raise ValueError(f"`{name}` must be an int or a sequence of ints, got {hidden!r}.")
    if isinstance(hidden, int):
        return (check_int(hidden, name),)
    if not isinstance(hidden, Sequence) or isinstance(hidden, str) or not hidden:
        raise ValueError(f"`{name}` must be an int or a non-empty sequence of ints, got "
                         f"{hidden!r}.")
    return tuple(check_int(h, name) for h in hidden)


def _made_degrees(num_inputs: int, hidden_sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Degrees of the input, hidden and output units (Germain et al. 2015, sec. 4)."""
    degrees = [np.arange(1, num_inputs + 1)]
    for size in hidden_sizes:
        degrees.append(np.arange(size) % max(num_inputs - 1, 1) + 1)
    return degrees


class _MaskedLinear(nnx.Module):
    """``y = x @ (W ⊙ M) + b`` with a fixed binary mask ``M`` rebuilt from static degrees."""

    def __init__(self, in_degrees, out_degrees, strict: bool, *, rngs: nnx.Rngs,
                 bias_init: float = 0.0):
        self.in_degrees = tuple(int(d) for d in in_degrees)
        self.out_degrees = tuple(int(d) for d in out_degrees)
        self.strict = strict
        self.linear = nnx.Linear(
            len(self.in_degrees), len(self.out_degrees),
            bias_init=nnx.initializers.constant(bias_init), rngs=rngs,
        )

    def mask(self) -> np.ndarray:
        i, o = np.asarray(self.in_degrees)[:, None], np.asarray(self.out_degrees)[None, :]
        return (o > i if self.strict else o >= i).astype(np.float32)

    def __call__(self, x: Array) -> Array:
        kernel = self.linear.kernel[...] * self.mask()
        return x @ kernel + self.linear.bias[...]


class MADE(nnx.Module):
    """Masked autoencoder for distribution estimation (Germain et al. 2015).

    Maps ``x (batch, D)`` to ``num_outputs`` autoregressive outputs per dimension, shape
    ``(batch, num_outputs, D)``, where output ``[:, k, d]`` depends only on ``x[:, :d]`` (so
    output 0 is a constant of ``x``). An optional context ``h (batch, context_dim)`` enters the
    first hidden layer unmasked (it does not depend on ``x``), as in IAF (Kingma et al. 2016).
    Hidden degrees are assigned cyclically, ``1, …, D−1, 1, …``.

    Args:
      num_inputs: ``D >= 1``.
      hidden_sizes: an int or a sequence of hidden widths (each ``>= 1``).
      num_outputs: outputs per input dimension (``>= 1``).
      context_dim: width of the context (``0``: none).
      activation: name in :data:`vaekit.models.ACTIVATIONS` or a callable.
      output_bias: initial biases of the ``num_outputs`` output groups, one number each.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> made = MADE(3, 8, num_outputs=2, rngs=nnx.Rngs(0))
      >>> made(jnp.zeros((5, 3))).shape
      (5, 2, 3)
    """

    def __init__(
        self,
        num_inputs: int,
        hidden_sizes: int | Sequence[int],
        *,
        num_outputs: int = 2,
        context_dim: int = 0,
        activation: str | Callable = "elu",
        output_bias: Sequence[float] | None = None,
        rngs: nnx.Rngs,
    ):
        self.num_inputs = check_int(num_inputs, "num_inputs")
        sizes = _hidden_sizes(hidden_sizes, "hidden_sizes")
        self.num_outputs = check_int(num_outputs, "num_outputs")
        self.context_dim = check_int(context_dim, "context_dim", minimum=0)
        bias = tuple(output_bias) if output_bias is not None else (0.0,) * self.num_outputs
        if len(bias) != self.num_outputs:
            raise ValueError(f"`output_bias` must have {self.num_outputs} entries, got {bias!r}.")
        self.activation = get_activation(activation)
        degrees = _made_degrees(self.num_inputs, sizes)
        self.hidden = nnx.List([
            _MaskedLinear(a, b, strict=False, rngs=rngs)
            for a, b in zip(degrees[:-1], degrees[1:], strict=True)
        ])
        self.context = (
            nnx.Linear(self.context_dim, sizes[0], use_bias=False, rngs=rngs)
            if self.context_dim else None
        )
        out_degrees = np.arange(1, self.num_inputs + 1)
        self.heads = nnx.List([
            _MaskedLinear(degrees[-1], out_degrees, strict=True, rngs=rngs, bias_init=float(b))
            for b in bias
        ])

    def __call__(
        self, x: Float[Array, "batch dim"], context: Float[Array, "batch ctx"] | None = None
    ) -> Float[Array, "batch outputs dim"]:
        """The outputs ``(batch, num_outputs, D)`` of ``x`` (and ``context``)."""
        if x.ndim != 2 or x.shape[1] != self.num_inputs:
            raise ValueError(f"`x` must have shape (batch, {self.num_inputs}), got {x.shape}.")
        if (context is None) != (self.context is None):
            raise ValueError(
                f"`context` must be {'given' if self.context is not None else 'None'}: this MADE "
                f"has context_dim={self.context_dim}."
            )
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if i == 0 and self.context is not None:
                h = h + self.context(context)
            h = self.activation(h)
        return jnp.stack([head(h) for head in self.heads], axis=1)


class IAFFlow(nnx.Module):
    """``T`` IAF steps with reversed variable order between steps (Kingma et al. 2016).

    ``flow(z0, context) -> (z_T, log_det)`` where ``log_det = Σ_t Σ_d log σ_t,d`` is
    ``log |det ∂z_T/∂z0|`` (per example, ``(batch,)``); ``num_flows = 0`` is the identity
    (``log_det = 0``). :meth:`sample` draws ``z_T`` and ``log q(z_T|x)`` from a base Gaussian.

    Args:
      latent_dim: ``D >= 1``.
      num_flows: ``T >= 0``.
      hidden: an int or a sequence of hidden widths of each step's MADE.
      context_dim: width of the context ``h`` (``0``: none).
      activation: the MADEs' activation.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> flow = IAFFlow(3, 2, 8, rngs=nnx.Rngs(0))
      >>> z, log_det = flow(jnp.zeros((5, 3)))
      >>> z.shape, log_det.shape
      ((5, 3), (5,))
    """

    def __init__(
        self,
        latent_dim: int,
        num_flows: int,
        hidden: int | Sequence[int],
        *,
        context_dim: int = 0,
        activation: str | Callable = "elu",
        rngs: nnx.Rngs,
    ):
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.num_flows = check_int(num_flows, "num_flows", minimum=0)
        sizes = _hidden_sizes(hidden)
        self.context_dim = check_int(context_dim, "context_dim", minimum=0)
        self.steps = nnx.List([
            MADE(self.latent_dim, sizes, num_outputs=2, context_dim=self.context_dim,
                 activation=activation, output_bias=(0.0, GATE_BIAS), rngs=rngs)
            for _ in range(self.num_flows)
        ])

    def __call__(
        self, z0: Float[Array, "batch latent"], context: Float[Array, "batch ctx"] | None = None
    ) -> tuple[Float[Array, "batch latent"], Float[Array, " batch"]]:
        """``(z_T, log_det)`` of ``z0`` through the flow."""
        if z0.ndim != 2 or z0.shape[1] != self.latent_dim:
            raise ValueError(f"`z0` must have shape (batch, {self.latent_dim}), got {z0.shape}.")
        z = z0
        log_det = jnp.zeros(z0.shape[:1], jnp.result_type(z0.dtype, jnp.float32))
        for t, made in enumerate(self.steps):
            # Odd steps see the reversed order; reversing back keeps z in its natural order.
            zin = z[:, ::-1] if t % 2 else z
            m, s = jnp.unstack(made(zin, context), axis=1)
            zin = jax.nn.sigmoid(s) * zin + jax.nn.sigmoid(-s) * m  # 1 − sigmoid(s)
            log_det = log_det + jnp.sum(jax.nn.log_sigmoid(s), axis=-1)
            z = zin[:, ::-1] if t % 2 else zin
        return z, log_det

    def sample(
        self,
        key: PRNGKeyArray,
        mean: Float[Array, "batch latent"],
        logvar: Float[Array, "batch latent"],
        context: Float[Array, "batch ctx"] | None = None,
    ) -> tuple[Float[Array, "batch latent"], Float[Array, " batch"]]:
        """``(z_T, log q(z_T|x))``: a posterior sample through the flow.

        ``z0 = reparameterize(key, mean, logvar)`` through the flow; ``log q = Σ_d log N(z0; mean,
        exp(logvar)) − log_det``.
        """
        z0 = reparameterize(key, mean, logvar)
        z, log_det = self(z0, context)
        return z, jnp.sum(gaussian_log_density(z0, mean, logvar), axis=-1) - log_det


class IAFVAE(nnx.Module):
    """A VAE with an IAF posterior and a standard-normal prior (Kingma et al. 2016).

    ``x -> encoder -> (μ, log σ², [h]) -> z0 = μ + σ ε -> T IAF steps -> z_T -> decoder``. The
    encoder returns ``(mean, logvar)``, or ``(mean, logvar, h)`` with a context
    ``h (batch, context_dim)`` fed to every step's MADE when ``context_dim > 0``. The forward
    returns a :class:`vaekit.objectives.SampledVAEOutput` (``mean``/``logvar`` are the base
    Gaussian's, ``log_q`` includes the flow's log-determinants, ``log_prior = log N(z_T; 0, I)``);
    train it with :func:`vaekit.objectives.sampled_kl_vae`. ``num_flows = 0`` is a plain VAE
    with a sampled KL.

    Args:
      encoder: ``x -> (mean, logvar)`` or ``(mean, logvar, h)``.
      decoder: ``z (batch, latent) -> recon``.
      num_flows: ``T >= 0`` IAF steps.
      hidden: an int or a sequence of hidden widths of each step's MADE.
      rngs: randomness for the flow's parameters.
      latent_dim: defaults to the decoder's (or encoder's) ``latent_dim`` attribute.
      context_dim: width of the encoder's context ``h`` (``0``: none).
      activation: the MADEs' activation (the paper uses ELU).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> from vaekit import MLPDecoder, MLPEncoder
      >>> rngs = nnx.Rngs(0)
      >>> vae = IAFVAE(MLPEncoder((4,), 2, (8,), rngs=rngs), MLPDecoder(2, (4,), (8,), rngs=rngs),
      ...              num_flows=2, hidden=8, rngs=rngs)
      >>> vae(jnp.zeros((5, 4)), key=jax.random.key(1)).log_q.shape
      (5,)
    """

    def __init__(
        self,
        encoder: nnx.Module,
        decoder: nnx.Module,
        num_flows: int,
        hidden: int | Sequence[int],
        *,
        rngs: nnx.Rngs,
        latent_dim: int | None = None,
        context_dim: int = 0,
        activation: str | Callable = "elu",
    ):
        num_flows = check_int(num_flows, "num_flows", minimum=0)
        if latent_dim is None:
            latent_dim = getattr(decoder, "latent_dim", getattr(encoder, "latent_dim", None))
            if latent_dim is None:
                raise ValueError("`latent_dim` is required: neither the decoder nor the encoder "
                                 "has a `latent_dim`.")
        self.latent_dim = check_int(latent_dim, "latent_dim")
        self.encoder = encoder
        self.decoder = decoder
        self.flow = IAFFlow(self.latent_dim, num_flows, hidden, context_dim=context_dim,
                            activation=activation, rngs=rngs)

    def encode(self, x: Array) -> tuple[Array, Array, Array | None]:
        """``(mean, logvar, context)`` of the base posterior.

        ``context`` is ``None`` unless ``context_dim > 0``.
        """
        enc = self.encoder(x)
        if self.flow.context_dim:
            if len(enc) != 3:
                raise ValueError(f"with context_dim={self.flow.context_dim} the encoder must "
                                 "return (mean, logvar, h).")
            return enc[0], enc[1], enc[2]
        if len(enc) != 2:
            raise ValueError("with context_dim=0 the encoder must return (mean, logvar).")
        return enc[0], enc[1], None

    def decode(self, z: Float[Array, "batch latent"]) -> Array:
        """Decoder output (logits for Bernoulli data) for latent codes ``z``."""
        return self.decoder(z)

    def __call__(self, x: Array, *, key: PRNGKeyArray) -> SampledVAEOutput:
        """Encodes ``x``, samples ``z`` through the flow with ``key`` and decodes it."""
        mean, logvar, context = self.encode(x)
        z, log_q = self.flow.sample(key, mean, logvar, context)
        log_prior = jnp.sum(gaussian_log_density(z, jnp.zeros_like(z), jnp.zeros_like(z)), -1)
        return SampledVAEOutput(recon=self.decode(z), mean=mean, logvar=logvar, z=z,
                                log_q=log_q, log_prior=log_prior)

    def generate(self, key: PRNGKeyArray, num_samples: int) -> Array:
        """Decodes ``num_samples`` draws from the prior N(0, I) (decoder outputs, e.g. logits)."""
        num_samples = check_int(num_samples, "num_samples")
        return self.decode(jax.random.normal(key, (num_samples, self.latent_dim)))

    def log_importance_weight(
        self, batch: Batch, key: PRNGKeyArray, likelihood: Likelihood
    ) -> Float[Array, " batch"]:
        """``log p(x|z) + log p(z) − log q(z|x)`` for one draw ``z ~ q(z|x)`` per example.

        The importance-weight protocol of :func:`vaekit.evaluation.log_likelihood`; its mean
        is the ELBO.
        """
        return sampled_log_weight(self, batch, key, likelihood)
