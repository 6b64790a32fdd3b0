"""The model-output protocols that type the terms' ``out``.

Every library output satisfies the protocols of the terms it is trained with, and under the
test run's beartype hook (``--jaxtyping-packages=vaekit,beartype.beartype``) a term given an
output that lacks its fields fails at the call, naming the parameter, instead of an
AttributeError deep inside a trace.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import pytest
from flax import nnx
from jaxtyping import TypeCheckError

import vaekit
from vaekit.objectives import (
    GaussianOutput,
    GaussianPosterior,
    QuantizedOutput,
    Reconstruction,
    SampledOutput,
    SampledVAEOutput,
    kl_term,
    quantizer_loss_term,
    reconstruction_term,
    sampled_kl_term,
)


def _vae_out() -> vaekit.VAEOutput:
    rngs = nnx.Rngs(0)
    model = vaekit.VAE(vaekit.MLPEncoder((4,), 2, (8,), rngs=rngs),
                       vaekit.MLPDecoder(2, (4,), (8,), rngs=rngs))
    return model(jnp.zeros((3, 4)), key=jax.random.key(0))


def _vq_out():
    rngs = nnx.Rngs(0)
    quantizer = vaekit.VectorQuantizer(8, 4, rngs=rngs)
    model = vaekit.VQVAE(nnx.Linear(4, 4, rngs=rngs), quantizer, nnx.Linear(4, 4, rngs=rngs))
    return model(jnp.zeros((3, 4)), key=jax.random.key(0))


def test_library_outputs_satisfy_their_protocols():
    out = _vae_out()
    for proto in (Reconstruction, GaussianPosterior, GaussianOutput):
        assert isinstance(out, proto), proto
    assert not isinstance(out, QuantizedOutput)
    assert not isinstance(out, SampledOutput)
    sampled = SampledVAEOutput(*out, log_q=jnp.zeros(3), log_prior=jnp.zeros(3))
    assert isinstance(sampled, SampledOutput) and isinstance(sampled, GaussianOutput)
    vq = _vq_out()
    assert isinstance(vq, QuantizedOutput) and isinstance(vq, Reconstruction)
    assert not isinstance(vq, GaussianPosterior)


class _OnlyRecon(NamedTuple):
    recon: jax.Array


def test_a_user_record_with_the_fields_is_accepted():
    out = _OnlyRecon(jnp.zeros((3, 4)))
    value = reconstruction_term()(out, {"x": jnp.zeros((3, 4))}, jnp.int32(0))
    assert value.shape == ()


@pytest.mark.parametrize(
    ("term", "protocol"),
    [(kl_term(), "GaussianPosterior"), (sampled_kl_term(), "SampledOutput"),
     (quantizer_loss_term("x"), "QuantizedOutput")],
    ids=["kl", "sampled_kl", "quantizer_loss"])
def test_a_term_rejects_an_output_without_its_fields(term, protocol):
    out = _OnlyRecon(jnp.zeros((3, 4)))
    # jaxtyping's check (beartype underneath) names the parameter and the expected protocol;
    # without the protocol annotation this would be an AttributeError, which does not match.
    with pytest.raises(TypeCheckError, match=rf"parameter 'out'[\s\S]*{protocol}"):
        term(out, {"x": jnp.zeros((3, 4))}, jnp.int32(0))
