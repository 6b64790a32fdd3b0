"""Subprocess side of tests/test_quantizer_parallel.py (JAX fixes its device count at start).

``python tests/quantizer_parallel_worker.py OUT.npz``: 8 CPU devices in one process. It trains
a small MLP VQ-VAE (EMA codebook, dead-code reset that fires, k-means initialisation from a
sharded batch) through :func:`vaekit.data_parallel` and saves what it got; the test compares
it with :func:`run` on one device in the test's own process.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import vaekit
from tests.helpers import INPUT_SHAPE, binary_batch
from vaekit.models import VQVAE
from vaekit.objectives import vq_vae
from vaekit.quantizers import VectorQuantizer
from vaekit.training import data_mesh, data_parallel, shard_batch

GLOBAL_BATCH, POSITIONS, DIM, CODES = 16, 4, 3, 16
THRESHOLD = 2.0  # EMA count below which a code is reset: some of 16 codes get < 2 of 64 rows
NUM_STEPS, MULTI_STEPS = 3, 3
PIXELS = int(np.prod(INPUT_SHAPE))


class Encoder(nnx.Module):
    """``x (B, 6, 6, 1) -> z_e (B, POSITIONS, DIM)``: a two-layer MLP."""

    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(PIXELS, 32, rngs=rngs)
        self.out = nnx.Linear(32, POSITIONS * DIM, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.hidden(x.reshape(x.shape[0], -1)))
        return self.out(h).reshape(x.shape[0], POSITIONS, DIM)


class Decoder(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(POSITIONS * DIM, 32, rngs=rngs)
        self.out = nnx.Linear(32, PIXELS, rngs=rngs)

    def __call__(self, z):
        h = jax.nn.relu(self.hidden(z.reshape(z.shape[0], -1)))
        return self.out(h).reshape(z.shape[0], *INPUT_SHAPE)


def build_model() -> VQVAE:
    rngs = nnx.Rngs(0)
    quantizer = VectorQuantizer(CODES, DIM, decay=0.8, dead_code_threshold=THRESHOLD,
                                rngs=rngs)
    return VQVAE(Encoder(rngs), quantizer, Decoder(rngs))


def _rest(state) -> dict[str, np.ndarray]:
    q = state.rest["quantizer"]
    return {name: np.asarray(q[name][...]) for name in
            ("codebook", "cluster_size", "embed_sum", "ema_step")}


def _resets(before_z: np.ndarray, after: dict[str, np.ndarray]) -> int:
    """Codes reset in the step: count set to the threshold and the row one of the batch's z_e."""
    z = before_z.reshape(-1, DIM)
    reset = after["cluster_size"] == np.float32(THRESHOLD)
    rows = after["codebook"][reset]
    near = np.abs(rows[:, None, :] - z[None, :, :]).max(-1).min(-1) if rows.size else rows
    return int(np.sum(near < 1e-5))


def run(mesh=None) -> dict[str, np.ndarray]:
    """k-means init, ``NUM_STEPS`` steps and one ``multi_step``, on ``mesh`` or one device."""
    place = (lambda b: b) if mesh is None else (lambda b: shard_batch(b, mesh))
    model = build_model()
    x0 = place(binary_batch(GLOBAL_BATCH, seed=100))["x"]
    model.quantizer.init_kmeans(model.encode(x0), jax.random.key(3))
    out = {"kmeans_codebook": np.asarray(model.quantizer.codebook[...])}

    train = vaekit.make_train_step(vq_vae(), optax.adam(1e-2))
    if mesh is not None:
        train = data_parallel(train, mesh)
    state = train.init(model, jax.random.key(0))
    encode = jax.jit(lambda params, rest, x: nnx.merge(state.graphdef, params, rest).encode(x))
    metrics, stats, resets = [], [], []
    for s in range(NUM_STEPS):
        batch = place(binary_batch(GLOBAL_BATCH, seed=s))
        z_before = np.asarray(encode(state.params, state.rest, batch["x"]))
        state, m = train.step(state, batch)
        stats.append(_rest(state))
        resets.append(_resets(z_before, stats[-1]))
        metrics.append({k: float(v) for k, v in m.items()})
    stacked = jax.tree.map(lambda *a: np.stack(a), *[
        binary_batch(GLOBAL_BATCH, seed=10 + s) for s in range(MULTI_STEPS)])
    if mesh is not None:
        stacked = shard_batch(stacked, mesh, batch_axis=1)
    state, multi = train.multi_step(state, stacked)
    stats.append(_rest(state))

    for name in metrics[0]:
        out[f"metric_{name}"] = np.array([m[name] for m in metrics])
    for name in multi:
        out[f"multi_{name}"] = np.asarray(multi[name])
    for name in stats[0]:
        out[f"stat_{name}"] = np.stack([s[name] for s in stats])
    out["params"] = np.concatenate([np.asarray(p).ravel() for p in jax.tree.leaves(state.params)])
    out["resets"] = np.array(resets)
    out["rest_dtypes"] = np.array([str(jnp.asarray(v).dtype) for v in
                                   jax.tree.leaves(state.rest["quantizer"])])
    out["rest_replicated"] = np.array(all(
        leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(state.rest)))
    return out


def main(path: str) -> None:
    mesh = data_mesh()
    results = run(mesh)
    results["mesh_size"] = np.array(mesh.size)
    np.savez(path, **results)


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 8)
    main(sys.argv[1])
