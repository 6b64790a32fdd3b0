"""Protocols for what a model's forward returns: the ``out`` an objective term reads.

Terms are typed by the fields they read, not by a model class, so any record with those
fields (a library ``NamedTuple`` such as :class:`vaekit.VAEOutput`, or a user's own) is a valid
``out``. The protocols are ``runtime_checkable``: ``isinstance(out, GaussianOutput)`` checks
that the fields exist (their shapes are stated here and checked by the terms' functions), and
the test run's beartype hook checks every term's ``out`` against its protocol.

Example:
  >>> import jax.numpy as jnp
  >>> from vaekit import VAEOutput
  >>> from vaekit.objectives import GaussianOutput, QuantizedOutput
  >>> out = VAEOutput(*(jnp.zeros((2, 3)) for _ in range(4)))
  >>> isinstance(out, GaussianOutput), isinstance(out, QuantizedOutput)
  (True, False)
"""

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from jaxtyping import Array


@runtime_checkable
class Reconstruction(Protocol):
    """An output with a reconstruction: ``recon``, ``(batch, *event)`` (logits for Bernoulli)."""

    @property
    def recon(self) -> Array: ...


@runtime_checkable
class GaussianPosterior(Protocol):
    """A diagonal Gaussian posterior ``q(z|x)``: ``mean`` and ``logvar``, ``(batch, latent)``."""

    @property
    def mean(self) -> Array: ...

    @property
    def logvar(self) -> Array: ...


@runtime_checkable
class GaussianOutput(Reconstruction, GaussianPosterior, Protocol):
    """A Gaussian VAE's output: ``recon``, ``mean``, ``logvar`` and the sample ``z``.

    ``z`` is the reparameterised sample, ``(batch, latent)`` (:class:`vaekit.VAEOutput`,
    :class:`vaekit.models.FactorVAEOutput`, :class:`vaekit.objectives.SampledVAEOutput`).
    """

    @property
    def z(self) -> Array: ...


@runtime_checkable
class SampledOutput(Reconstruction, Protocol):
    """An output whose KL has no closed form: ``log_q`` and ``log_prior`` at ``z``, ``(batch,)``.

    (:class:`vaekit.objectives.SampledVAEOutput`: VampPrior and IAF models.)
    """

    @property
    def log_q(self) -> Array: ...

    @property
    def log_prior(self) -> Array: ...


@runtime_checkable
class QuantizedOutput(Reconstruction, Protocol):
    """A quantized autoencoder's output (:class:`vaekit.VQVAEOutput`).

    ``losses``: the quantizer's unweighted scalar losses by name (``codebook_loss``,
    ``commitment_loss``, …); ``metrics``: its scalar metrics (``perplexity``, …).
    """

    @property
    def losses(self) -> Mapping[str, Array]: ...

    @property
    def metrics(self) -> Mapping[str, Array]: ...
