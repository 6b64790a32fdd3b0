"""Chunks run as one call per step (``fused=False``: the CPU route around slow convolutions
inside XLA loops) train exactly like the fused scan: same batches, boundaries and metrics."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from vaekit.runner import RunConfig
from vaekit.runner._kinds import build_model
from vaekit.runner._zoo import has_convolutions, scan_chunks
from vaekit.training import train_chunks


@pytest.mark.parametrize("device_data", [False, True])
def test_unfused_chunks_match_the_fused_scan(device_data):
    data = {"x": (np.random.default_rng(0).random((40, 8, 8, 1)) < 0.5).astype(np.float32)}
    runs = []
    for fused in (True, False):
        rngs = nnx.Rngs(0)  # a fresh model each time: the step donates the state's buffers
        model = vaekit.VAE(vaekit.CNNEncoder((8, 8, 1), 2, (4,), rngs=rngs),
                           vaekit.CNNDecoder(2, (8, 8, 1), (4,), rngs=rngs))
        train = vaekit.make_train_step(vaekit.beta_vae(2.0), optax.adam(1e-3))
        state = train.init(model, jax.random.key(1))
        chunks = list(train_chunks(train, state, data, num_steps=12, batch_size=8, seed=3,
                                   steps_per_call=5, periods=(4,), fused=fused,
                                   device_data=device_data))
        runs.append(chunks)
    assert [c[1] for c in runs[0]] == [c[1] for c in runs[1]] == [4, 5, 8, 10, 12]
    for (_, _, a), (_, _, b) in zip(runs[0], runs[1], strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name].shape == b[name].shape
            np.testing.assert_allclose(a[name], b[name], rtol=2e-4, atol=1e-4, err_msg=name)
    for x, y in zip(jax.tree.leaves(runs[0][-1][0].params),
                    jax.tree.leaves(runs[1][-1][0].params), strict=True):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=1e-5)


def test_the_runner_steps_convolutional_models_one_call_at_a_time_on_a_cpu():
    cnn = RunConfig.from_dict({"model": {"kind": "vae", "architecture": "cnn"}})
    mlp = RunConfig.from_dict({"model": {"kind": "vae"}})
    cnn_model = build_model(cnn.model, (64, 64, 1), 0)
    mlp_model = build_model(mlp.model, (64, 64, 1), 0)
    assert has_convolutions(cnn_model) and not has_convolutions(mlp_model)
    on_cpu = jax.default_backend() == "cpu"
    assert scan_chunks(cnn, cnn_model) is (not on_cpu)
    assert scan_chunks(mlp, mlp_model)
    forced = cnn.replace(train={"fused": "scan"})
    assert scan_chunks(forced, cnn_model) and not scan_chunks(
        mlp.replace(train={"fused": "steps"}), mlp_model)
