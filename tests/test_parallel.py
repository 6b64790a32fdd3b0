"""Data parallelism: 8 CPU devices in one process, and 2 processes under jax.distributed.

JAX fixes its device count when its backend starts, so each check runs in a fresh
interpreter (tests/parallel_worker.py) and is compared with a single-device run here.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import vaekit
from tests.helpers import binary_batch, tiny_vae
from tests.parallel_worker import reference
from vaekit.training import data_mesh, data_parallel, replicate, shard_batch

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "parallel_worker.py"
TIMEOUT = 240


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def single_device():
    return reference()


def _assert_same_training(got, want) -> None:
    # Equal up to float32 summation order (seen: relative differences of about 1e-6).
    np.testing.assert_allclose(got["step_losses"], want["step_losses"], rtol=1e-5)
    np.testing.assert_allclose(got["step_params"], want["step_params"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got["fit_losses"], want["fit_losses"], rtol=1e-5)
    np.testing.assert_allclose(got["fit_params"], want["fit_params"], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got["fit_val"], want["fit_val"], rtol=1e-5)
    assert bool(got["param_spec_replicated"])
    assert int(got["step_traces"]) == 1  # the same step, traced once for all its steps


def test_eight_devices_match_one_device(tmp_path, single_device):
    out = tmp_path / "devices.npz"
    result = subprocess.run(
        [sys.executable, str(WORKER), "devices", str(out)], capture_output=True, text=True,
        timeout=TIMEOUT, cwd=ROOT, env=_env(),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    got = dict(np.load(out))
    assert int(got["mesh_size"]) == 8
    assert str(got["indivisible_error"]).startswith("`batch` size along axis 0 (12 in all")
    _assert_same_training(got, single_device)
    np.testing.assert_allclose(got["multi_params"], single_device["step_params"], rtol=2e-5,
                               atol=1e-6)
    np.testing.assert_allclose(got["fit_unfused_losses"], single_device["fit_losses"],
                               rtol=1e-5)
    np.testing.assert_allclose(got["replicated_val"], single_device["fit_val"][-1], rtol=1e-5)


def test_two_processes_under_jax_distributed_match_one_process(tmp_path, single_device):
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "process", str(pid), str(port),
             str(tmp_path / f"process{pid}.npz")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(),
        )
        for pid in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-4000:]
    for pid in range(2):
        got = dict(np.load(tmp_path / f"process{pid}.npz"))
        assert int(got["mesh_size"]) == 4  # 2 processes x 2 local devices
        _assert_same_training(got, single_device)


def test_data_parallel_on_this_process_devices_matches_the_plain_step():
    """In-process (with the test run's type checks): the wrapper is the same step."""
    mesh = data_mesh()
    plain = vaekit.make_train_step(vaekit.beta_vae(), optax.adam(1e-2), donate=False)
    wrapped = data_parallel(plain, mesh)
    data = {"x": binary_batch(24)["x"]}
    val = {"x": binary_batch(5, seed=4)["x"]}
    kwargs = dict(num_steps=6, batch_size=8, steps_per_call=3, val_data=val)
    a, hist_a = vaekit.fit(plain, plain.init(tiny_vae(), jax.random.key(0)), data, **kwargs)
    b, hist_b = vaekit.fit(wrapped, wrapped.init(tiny_vae(), jax.random.key(0)),
                           replicate(data, mesh), device_data=True, **kwargs)
    np.testing.assert_allclose(hist_a["train"]["loss"], hist_b["train"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(hist_a["val"]["loss"], hist_b["val"]["loss"], rtol=1e-5)
    c, _ = plain.step(replicate(a, mesh), shard_batch(binary_batch(8), mesh))
    assert int(c.step) == 7
