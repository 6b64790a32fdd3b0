"""Subprocess side of tests/test_parallel.py (JAX's device count is fixed when it starts).

``python tests/parallel_worker.py devices OUT.npz``: 8 CPU devices in one process.
``python tests/parallel_worker.py process PID PORT OUT.npz``: process PID of 2, each with
2 CPU devices, under ``jax.distributed`` with its coordinator on 127.0.0.1:PORT.

Both train the tiny VAE data-parallel and save what they got; the test compares it with a
single-device run.
"""

import sys

import jax
import numpy as np
import optax

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.training import (
    data_mesh,
    data_parallel,
    prefetch_to_device,
    replicate,
    shard_batch,
)

NUM_STEPS, GLOBAL_BATCH = 4, 16


def global_batches():
    return [binary_batch(GLOBAL_BATCH, seed=s) for s in range(NUM_STEPS)]


def fit_data():
    return {"x": binary_batch(64, seed=7)["x"]}, {"x": binary_batch(10, seed=8)["x"]}


def make_train():
    return vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-2))


def flat(tree) -> np.ndarray:
    return np.concatenate([np.asarray(leaf).ravel() for leaf in jax.tree.leaves(tree)])


def configure(mode: str) -> None:
    """Before JAX starts its backend: the device count, and the distributed runtime."""
    if mode == "devices":
        jax.config.update("jax_num_cpu_devices", 8)
        return
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{sys.argv[3]}", num_processes=2,
        process_id=int(sys.argv[2]), initialization_timeout=60,
    )


def main(mode: str) -> None:
    out = sys.argv[-1]
    mesh = data_mesh()
    traces = []
    base_objective = vaekit.beta_vae(beta=2.0)

    def counted(o, batch, step):
        traces.append(1)
        return base_objective(o, batch, step)

    train = data_parallel(vaekit.make_train_step(counted, optax.adam(1e-2)), mesh)
    state = train.init(tiny_vae(), jax.random.key(0))
    pid = jax.process_index()
    local = GLOBAL_BATCH // jax.process_count()
    # Each process reads only its slice of every global batch, through the prefetcher.
    slices = ({"x": b["x"][pid * local : (pid + 1) * local]} for b in global_batches())
    losses = []
    with prefetch_to_device(slices, put=lambda b: shard_batch(b, mesh)) as stream:
        for batch in stream:
            assert batch["x"].shape[0] == GLOBAL_BATCH
            state, metrics = train.step(state, batch)
            losses.append(float(metrics["loss"]))
    results = {"step_losses": np.array(losses), "step_params": flat(state.params),
               "step_traces": np.array(len(traces)), "mesh_size": np.array(mesh.size),
               "param_spec_replicated": np.array(all(
                   leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(state.params)))}

    data, val = fit_data()
    fitted, hist = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(1)), data,
                              num_steps=10, batch_size=GLOBAL_BATCH, steps_per_call=5,
                              val_data=val, device_data=True)
    results.update(fit_losses=np.array(hist["train"]["loss"]), fit_params=flat(fitted.params),
                   fit_val=np.array(hist["val"]["loss"]))
    if mode == "devices":
        stacked, _ = train.multi_step(train.init(tiny_vae(), jax.random.key(0)),
                                      jax.tree.map(lambda *a: np.stack(a), *global_batches()))
        results["multi_params"] = flat(stacked.params)
        # Batches gathered on the host side of the mesh from the replicated data set (one
        # call per step), and validation data already replicated: moved to the step's
        # sharding, not refused by jax.jit.
        _, unfused = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(1)), data,
                                num_steps=10, batch_size=GLOBAL_BATCH, steps_per_call=5,
                                device_data=True, fused=False)
        results["fit_unfused_losses"] = np.array(unfused["train"]["loss"])
        results["replicated_val"] = np.array(vaekit.evaluate_dataset(
            train, fitted, replicate(val, mesh), GLOBAL_BATCH)["loss"])
        try:
            shard_batch({"x": np.zeros((12, 2))}, mesh)
            results["indivisible_error"] = np.array("no error")
        except ValueError as error:
            results["indivisible_error"] = np.array(str(error))
    np.savez(out, **results)
    if mode != "devices":
        jax.distributed.shutdown()


def reference() -> dict[str, np.ndarray]:
    """The same runs on one device, in the calling process (the test's)."""
    train = vaekit.make_train_step(vaekit.beta_vae(beta=2.0), optax.adam(1e-2))
    state = train.init(tiny_vae(), jax.random.key(0))
    losses = []
    for batch in global_batches():
        state, metrics = train.step(state, batch)
        losses.append(float(metrics["loss"]))
    data, val = fit_data()
    fitted, hist = vaekit.fit(train, train.init(tiny_vae(), jax.random.key(1)), data,
                              num_steps=10, batch_size=GLOBAL_BATCH, steps_per_call=5,
                              val_data=val)
    return {"step_losses": np.array(losses), "step_params": flat(state.params),
            "fit_losses": np.array(hist["train"]["loss"]), "fit_params": flat(fitted.params),
            "fit_val": np.array(hist["val"]["loss"])}


if __name__ == "__main__":
    configure(sys.argv[1])
    main(sys.argv[1])
