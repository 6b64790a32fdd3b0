"""VQ-VAE codebook state under data parallelism: 8 CPU devices equal one device.

The EMA statistics (cluster counts and sums), the dead-code reset (which codes are dead, which
batch rows replace them: one replicated key, drawn over the global batch) and the k-means
initialisation are computed over the whole global batch. JAX fixes its device count when its
backend starts, so the 8-device run is a fresh interpreter (tests/quantizer_parallel_worker.py)
compared with the same run on this process's single device.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.quantizer_parallel_worker import run

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "quantizer_parallel_worker.py"
TIMEOUT = 240


def test_vqvae_codebook_state_on_eight_devices_matches_one_device(tmp_path):
    out = tmp_path / "quantizer_devices.npz"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(WORKER), str(out)], capture_output=True,
                            text=True, timeout=TIMEOUT, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    got = dict(np.load(out))
    want = run()
    assert int(got["mesh_size"]) == 8
    assert bool(got["rest_replicated"])  # EMA state replicated, like the parameters
    # The reset fired (else this test could not see a per-device reset) and hit the same codes.
    assert int(want["resets"].sum()) > 0, want["resets"]
    np.testing.assert_array_equal(got["resets"], want["resets"])
    np.testing.assert_array_equal(got["stat_ema_step"], want["stat_ema_step"])
    assert list(got["rest_dtypes"]) == list(want["rest_dtypes"])
    assert set(got) == set(want) | {"mesh_size"}
    # Equal up to float32 summation order (seen: absolute differences <= 1e-5 on losses ~25).
    for name in sorted(want):
        if want[name].dtype.kind == "f":
            np.testing.assert_allclose(got[name], want[name], rtol=2e-5, atol=2e-6,
                                       err_msg=name)
