"""Regression tests for failure modes seen in comparable VAE libraries.

Each test fails on the buggy behaviour it names: a trainer that drops the model's own losses,
a β warm-up that never sees the step, a capacity schedule that divides by zero, configuration
values that never reach the objective, conditioning that only works for one encoder type,
VQ-VAE sampling in the wrong space, a wrong argument that fails deep inside, a random key
reused for every draw, traversals that mutate their input, and a NaN batch that corrupts the
optimiser state. Compiled train steps are few and shared (a fixture), to keep the file fast.
"""

import dataclasses
import math
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import vaekit
from tests.helpers import binary_batch, tiny_vae
from vaekit.evaluation import discrete_mutual_info, mig
from vaekit.objectives import tc_decomposition
from vaekit.plots import traverse_latents
from vaekit.quantizers import VectorQuantizer
from vaekit.runner import MODEL_KINDS, ConfigError, RunConfig
from vaekit.runner._kinds import (
    KINDS,
    build_forward,
    build_model,
    build_objective,
    objective_sections,
)
from vaekit.runner._report import write_samples

# ---------------------------------------------------------------------------------------------
# Helpers


def grad_recorder() -> optax.GradientTransformation:
    """An optimiser that applies no update and keeps the last gradients as its state."""

    def init(params):
        return jax.tree.map(jnp.zeros_like, params)

    def update(grads, state, params=None):
        return jax.tree.map(jnp.zeros_like, grads), grads

    return optax.GradientTransformation(init, update)


def leaf(tree, *names: str) -> np.ndarray:
    """The one leaf of ``tree`` whose key path contains all of ``names``."""
    found = []
    for path, value in jax.tree_util.tree_leaves_with_path(tree):
        keys = {str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path}
        if set(names) <= keys:
            found.append(np.asarray(value))
    assert len(found) == 1, (names, len(found))
    return found[0]


def snapshot(tree) -> list[np.ndarray]:
    """Host copies of every leaf (taken before a step that donates its input buffers)."""
    return [np.array(x, copy=True) for x in jax.tree.leaves(tree)]


def tiny_vqvae(ema: bool, seed: int = 0) -> vaekit.VQVAE:
    rngs = nnx.Rngs(seed)
    return vaekit.VQVAE(
        nnx.Linear(6, 4, rngs=rngs),
        VectorQuantizer(8, 4, ema=ema, init="uniform", rngs=rngs),
        nnx.Linear(4, 6, rngs=rngs),
    )


def vq_batch(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": (rng.random((4, 3, 6)) < 0.4).astype(np.float32)}


WARMUP = vaekit.linear_warmup(0.0, 4.0, 8)


@pytest.fixture(scope="module")
def probe() -> vaekit.TrainStep:
    """β-VAE with a β warm-up that also reports the step and a latent sample; no updates."""
    objective = vaekit.beta_vae(beta=WARMUP)

    def probing(out, batch, step):
        loss, metrics = objective(out, batch, step)
        return loss, {**metrics, "step": step, "z": out.z[0, 0]}

    return vaekit.make_train_step(probing, grad_recorder())


# ---------------------------------------------------------------------------------------------
# A trainer that ignores the model's own loss


def test_trainable_vq_codebook_gets_gradients_through_make_train_step():
    # The commitment cost is 0 at step 0 and 1 from step 1 on; the recorder never changes
    # the parameters, so the two steps differ only in that weight.
    def commitment(step):
        return jnp.where(step >= 1, 1.0, 0.0)

    train = vaekit.make_train_step(vaekit.vq_vae(commitment_cost=commitment), grad_recorder())
    state = train.init(tiny_vqvae(ema=False), jax.random.key(0))
    model = state.model()
    indices = model.quantize(model.encode(jnp.asarray(vq_batch()["x"])), train=False).indices
    state, metrics = train.step(state, vq_batch())
    grads = state.opt_state  # the recorder's state: the gradients of this step
    codebook_grad = leaf(grads, "quantizer", "codebook")
    used = np.zeros(8, bool)
    used[np.unique(np.asarray(indices))] = True
    assert np.all(np.isfinite(codebook_grad))
    assert np.all(np.abs(codebook_grad[used]).sum(axis=-1) > 0)  # the codebook loss reaches it
    assert np.all(codebook_grad[~used] == 0)  # through the selected codes only
    # The model's losses are in the loss: recon + codebook + β · commitment.
    assert float(metrics["commitment_loss"]) > 0 and float(metrics["codebook_loss"]) > 0
    np.testing.assert_allclose(
        metrics["loss"], metrics["reconstruction_loss"] + metrics["codebook_loss"], rtol=1e-6
    )
    encoder_grad = leaf(grads, "encoder", "kernel")
    state, metrics = train.step(state, vq_batch())
    assert float(metrics["commitment_loss_weight"]) == 1.0
    np.testing.assert_allclose(
        metrics["loss"], metrics["reconstruction_loss"] + metrics["codebook_loss"]
        + metrics["commitment_loss"], rtol=1e-6,
    )
    # The commitment term moves the encoder's gradient, not the codebook's.
    np.testing.assert_allclose(leaf(state.opt_state, "quantizer", "codebook"), codebook_grad,
                               rtol=1e-6)
    assert not np.allclose(leaf(state.opt_state, "encoder", "kernel"), encoder_grad)


def test_capacity_term_moves_the_loss_and_the_encoder_gradient(probe):
    # Baseline: the probe at step 0, where β = 0: reconstruction only (same model, same key).
    state, recon_only = probe.step(probe.init(tiny_vae(), jax.random.key(0)), binary_batch())
    assert float(recon_only["beta"]) == 0.0
    recon_grads = state.opt_state
    capacity = vaekit.capacity_vae(gamma=10.0, c_max=5.0, capacity_num_iter=10)
    train = vaekit.make_train_step(capacity, grad_recorder())
    state, metrics = train.step(train.init(tiny_vae(), jax.random.key(0)), binary_batch())
    np.testing.assert_allclose(metrics["reconstruction_loss"], recon_only["reconstruction_loss"])
    np.testing.assert_allclose(recon_only["loss"], recon_only["reconstruction_loss"])
    assert float(metrics["current_capacity"]) == 0.0 and float(metrics["kl_loss"]) > 0
    np.testing.assert_allclose(metrics["capacity_loss"], 10.0 * metrics["kl_loss"], rtol=1e-6)
    np.testing.assert_allclose(
        metrics["loss"], recon_only["loss"] + metrics["capacity_loss"], rtol=1e-6
    )
    # The capacity term is a function of the encoder only: its gradient changes, the
    # decoder's does not.
    assert not np.allclose(leaf(state.opt_state, "encoder", "head", "kernel"),
                           leaf(recon_grads, "encoder", "head", "kernel"))
    np.testing.assert_allclose(leaf(state.opt_state, "decoder", "head", "kernel"),
                               leaf(recon_grads, "decoder", "head", "kernel"), rtol=1e-5,
                               atol=1e-7)


# ---------------------------------------------------------------------------------------------
# β warm-up stuck at 0 because the step is not passed


def test_the_train_step_passes_its_step_to_the_schedule(probe):
    state = probe.init(tiny_vae(), jax.random.key(0))
    betas, steps = [], []
    for _ in range(3):
        state, metrics = probe.step(state, binary_batch())
        betas.append(float(metrics["beta"]))
        steps.append(int(metrics["step"]))
    # The n-th call (n = 1, 2, 3) trains with the state's step before the update: n - 1.
    assert steps == [0, 1, 2] and betas == [0.0, 0.5, 1.0]
    assert int(state.step) == 3 and float(WARMUP(3)) == 1.5
    batches = {"x": np.stack([binary_batch(seed=s)["x"] for s in range(4)])}
    state, metrics = probe.multi_step(state, batches)
    assert np.asarray(metrics["beta"]).tolist() == [1.5, 2.0, 2.5, 3.0]
    assert np.asarray(metrics["step"]).tolist() == [3, 4, 5, 6]


def test_schedules_return_their_defined_values_at_step_n():
    assert float(vaekit.linear_warmup(0.0, 4.0, 8)(8)) == 4.0
    assert float(vaekit.linear_warmup(0.0, 4.0, 8)(4)) == 2.0
    assert float(vaekit.linear_warmup(1.0, 4.0, 8)(0)) == 1.0
    assert float(vaekit.capacity_schedule(25.0, 100)(100)) == 25.0
    assert float(vaekit.capacity_schedule(25.0, 100)(50)) == 12.5
    assert float(vaekit.named_schedule("linear", 0.0, 4.0, 10)(10)) == 4.0
    assert float(vaekit.named_schedule("constant", 0.0, 4.0, 10)(0)) == 4.0
    assert float(vaekit.cyclical_schedule(1.0, 400, num_cycles=4, ratio=0.5)(400)) == 1.0
    assert float(vaekit.logistic_schedule(2.0, k=0.1, x0=50)(50)) == 1.0
    for name in vaekit.schedules.SCHEDULE_NAMES:
        value = float(vaekit.named_schedule(name, 0.0, 4.0, 10)(10_000))
        assert math.isclose(value, 4.0, rel_tol=1e-3), name  # every schedule ends at `end`


# ---------------------------------------------------------------------------------------------
# Capacity schedule with 0 annealing steps


def test_zero_capacity_annealing_steps_are_rejected_at_construction():
    with pytest.raises(ValueError, match="`num_steps`"):
        vaekit.capacity_schedule(25.0, 0)
    with pytest.raises(ValueError, match="`capacity_num_iter`"):
        vaekit.capacity_vae(capacity_num_iter=0)
    with pytest.raises(ValueError, match="`num_steps`"):
        vaekit.linear_warmup(0.0, 1.0, 0)
    with pytest.raises(ConfigError, match=r"objective\.capacity\.steps"):
        RunConfig.from_dict({"model": {"kind": "beta-vae-capacity"},
                             "objective": {"capacity": {"steps": 0}}})


def test_one_step_capacity_schedule_has_no_nan():
    schedule = vaekit.capacity_schedule(25.0, 1)
    values = [float(schedule(s)) for s in (0, 1, 2, 10**6)]
    assert values == [0.0, 25.0, 25.0, 25.0]
    assert float(schedule(jnp.int32(2**31 - 1))) == 25.0


# ---------------------------------------------------------------------------------------------
# Config -> model -> objective preserves every hyperparameter

NON_DEFAULT = {
    "model": {
        "latent_dim": 3, "hidden": [12], "channels": [4], "activation": "tanh",
        "vq_channels": [6], "num_res_blocks": 0, "num_codes": 5, "code_dim": 3, "ema": False,
        "dead_code_threshold": 0.5, "fsq_levels": [3, 4, 5], "discriminator_hidden": [7],
        "num_pseudo_inputs": 7, "num_flows": 2, "flow_hidden": [5], "latent_dims": [4, 3, 2],
    },
    "objective": {
        "likelihood": "sum_of_squares", "beta_vae": {"beta": 2.5},
        "annealing": {"schedule": "cosine", "start": 0.5, "steps": 20},
        "capacity": {"gamma": 7.0, "c_max": 3.0, "steps": 30}, "free_bits": {"nats": 0.25},
        "tcvae": {"alpha": 0.5, "beta": 3.0, "gamma": 2.0},
        "info_vae": {"alpha": 0.25, "lambda_": 50.0}, "dip": {"variant": "i", "lambda_od": 3.0},
        "vq": {"commitment_cost": 0.4}, "factor_vae": {"gamma": 12.0},
        "iwae": {"num_samples": 3, "dreg": True},
    },
}
IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 3
DATASET_SIZE = 100
STEP = 10


def _config(kind: str) -> RunConfig:
    """The non-default config of ``kind``, through its TOML text and back.

    ``cvae`` uses the CNN architecture (non-default, so ``channels`` is exercised); the other
    Gaussian kinds the MLP one (``hidden``). The objective gets the sections ``kind`` uses.
    """
    model = {**NON_DEFAULT["model"], "kind": kind,
             "architecture": "cnn" if kind == "cvae" else "mlp"}
    objective = {key: value for key, value in NON_DEFAULT["objective"].items()
                 if not isinstance(value, dict) or key in KINDS[kind].sections}
    config = RunConfig.from_dict({**NON_DEFAULT, "model": model, "objective": objective})
    defaults = RunConfig().to_dict()
    for key, value in NON_DEFAULT["model"].items():  # every key under test is non-default
        assert defaults["model"][key] != value, ("model", key)
    assert defaults["objective"]["likelihood"] != NON_DEFAULT["objective"]["likelihood"]
    sections = objective_sections()
    for name, table in NON_DEFAULT["objective"].items():
        if isinstance(table, dict):  # every key of every section, each non-default
            default = dataclasses.asdict(sections[name]())
            assert set(table) == set(default), name
            assert all(default[key] != value for key, value in table.items()), name
    assert {n for n, v in NON_DEFAULT["objective"].items() if isinstance(v, dict)} == set(
        sections)
    assert [name for name, _ in config.objective.sections] == list(KINDS[kind].sections)
    again = RunConfig.from_dict(tomllib.loads(config.to_toml()))
    assert again == config
    return again


def _expected_weights(kind: str, metrics, out) -> dict[str, float]:
    cosine = 2.5 + (0.5 - 2.5) * 0.5 * (1.0 + math.cos(math.pi * STEP / 20))
    if kind in ("vae", "vamp-vae", "iaf-vae"):  # the likelihood models train the ELBO
        return {"beta": 1.0}
    if kind == "hvae":  # free_bits 0.25 floors each of the 4 + 3 + 2 dims' batch-mean KL
        assert float(metrics["kl_free_bits"]) >= max(9 * 0.25, float(metrics["kl_loss"])) - 1e-5
        return {"beta": 1.0}
    if kind in ("beta-vae", "cvae"):
        return {"beta": 2.5}
    if kind == "beta-vae-annealed":
        return {"beta": cosine}
    if kind == "beta-vae-capacity":
        c = 3.0 * STEP / 30
        return {"current_capacity": c,
                "capacity_loss": 7.0 * abs(float(metrics["kl_loss"]) - c)}
    if kind == "free-bits-vae":
        floored = sum(max(0.25, float(metrics[f"kl_dim_{i}"])) for i in range(3))
        return {"kl_free_bits_weight": 2.5, "kl_free_bits": floored}
    if kind == "beta-tcvae":
        terms = tc_decomposition(out.z, out.mean, out.logvar, DATASET_SIZE)
        return {"mutual_info_weight": 0.5, "total_correlation_weight": 3.0,
                "dimwise_kl_weight": 2.0, "total_correlation": float(terms.total_correlation)}
    if kind == "info-vae":
        return {"kl_loss_weight": 0.75, "mmd_weight": 0.25 + 50.0 - 1.0}
    if kind == "dip-vae":
        mean = np.asarray(out.mean, np.float64)
        cov = np.cov(mean.T, bias=True)  # kind "i": covariance of the means only
        return {"dip_off_diagonal_weight": 3.0, "dip_diagonal_weight": 30.0,
                "dip_diagonal": float(np.sum((np.diag(cov) - 1.0) ** 2))}
    if kind == "vq-vae":
        return {"commitment_loss_weight": 0.4, "codebook_loss_weight": 1.0}
    if kind == "factor-vae":
        return {"gamma": 12.0}
    return {}


def _random_like(spec, rng: np.random.Generator):
    if jnp.issubdtype(spec.dtype, jnp.integer):
        return jnp.zeros(spec.shape, spec.dtype)
    return jnp.asarray(rng.uniform(0.0, 1.0, spec.shape), spec.dtype)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_config_values_reach_the_model_and_the_objective(kind):
    config = _config(kind)
    num_classes = NUM_CLASSES if kind == "cvae" else 0
    # The model abstractly (nnx.eval_shape: nothing initialised or compiled), its forward's
    # output shapes (jax.eval_shape), and the objective on random arrays of those shapes.
    model = nnx.eval_shape(lambda: build_model(config.model, IMAGE_SHAPE, 0, num_classes))
    graphdef, params = nnx.split(model)
    objective = build_objective(config, DATASET_SIZE)
    forward = build_forward(kind, objective)
    batch = {"x": jnp.asarray(np.random.default_rng(0).random((6, *IMAGE_SHAPE)), jnp.float32),
             "y": jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)}
    out_shapes = jax.eval_shape(
        lambda p, b: forward(nnx.merge(graphdef, p), b, jax.random.key(1)), params, batch
    )
    rng = np.random.default_rng(1)
    out = jax.tree.map(lambda spec: _random_like(spec, rng), out_shapes)
    loss, metrics = objective(out, batch, jnp.int32(STEP))
    if kind == "iwae":  # k = num_samples draws; DReG leaves the values alone
        assert out.log_w.shape == (3, 6) and objective.dreg
        np.testing.assert_allclose(metrics["reconstruction_loss"],
                                   -np.mean(out.log_px_given_z), rtol=1e-5)
        assert model.encoder.activation is jax.nn.tanh
        assert model.encoder.hidden[0].out_features == 12
        return

    # objective.likelihood: sum_of_squares, for every kind.
    recon = np.mean(np.sum((np.asarray(batch["x"]) - np.asarray(out.recon)) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(metrics["reconstruction_loss"], recon, rtol=1e-5)
    for name, value in _expected_weights(kind, metrics, out).items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert np.isfinite(float(loss))

    assert out.recon.shape == (6, *IMAGE_SHAPE)
    if kind == "hvae":  # latent_dims, and hidden[0] as the width of every hidden layer
        assert [z.shape[1] for z in out.z] == [4, 3, 2] and model.hidden_size == 12
        assert model.activation is jax.nn.tanh
        return
    if kind == "vamp-vae":
        assert model.pseudo_inputs.shape == (7, *IMAGE_SHAPE)
    if kind == "iaf-vae":
        assert model.flow.num_flows == 2
        assert model.flow.steps[0].hidden[0].linear.out_features == 5  # flow_hidden
    if kind == "factor-vae":  # the VAE inside, and its discriminator on the latent codes
        assert out.tc_logits.shape == out.disc_logits_permuted.shape == (6, 2)
        assert [(h.in_features, h.out_features) for h in model.discriminator.hidden] == [(3, 7)]
        model = model.vae
    assert model.encoder.activation is jax.nn.tanh
    if kind in ("vq-vae", "fsq-vae"):
        assert out.z_e.shape == (6, 4, 4, 3)  # one vq_channels stage: 8x8 -> 4x4, code_dim 3
        assert model.encoder.channels == (6,) and len(model.encoder.res_blocks) == 0
        if kind == "vq-vae":
            assert model.quantizer.num_codes == 5 and model.quantizer.dim == 3
            assert isinstance(model.quantizer.codebook, nnx.Param)  # ema = false
            assert model.quantizer.dead_code_threshold == 0.5
            assert "perplexity" in metrics
        else:
            assert model.quantizer.levels == (3, 4, 5) and model.quantizer.codebook_size == 60
        return
    assert out.mean.shape == (6, 3)  # latent_dim
    if kind == "cvae":  # cnn: channels, and the label channels on the encoder's input
        assert model.encoder.channels == (4,)
        assert model.encoder.input_shape == (*IMAGE_SHAPE[:2], IMAGE_SHAPE[2] + NUM_CLASSES)
    else:
        assert model.encoder.hidden[0].out_features == 12  # hidden


# ---------------------------------------------------------------------------------------------
# Conditioning works for every encoder type


@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
def test_conditional_vae_conditions_the_encoder_for_every_encoder_type(architecture):
    rngs = nnx.Rngs(0)
    if architecture == "mlp":
        model = vaekit.conditional_mlp_vae(IMAGE_SHAPE, NUM_CLASSES, 2, (8,), rngs=rngs)
    else:
        model = vaekit.conditional_cnn_vae(IMAGE_SHAPE, NUM_CLASSES, 2, (4,), rngs=rngs,
                                           hidden_size=8)
    x = (np.random.default_rng(0).random((3, *IMAGE_SHAPE)) < 0.5).astype(np.float32)
    y = np.array([0, 1, 2], np.int32)
    mean_a, _ = model.encode(x, y)
    mean_b, _ = model.encode(x, (y + 1) % NUM_CLASSES)
    assert not np.allclose(mean_a, mean_b)  # the encoder sees the label

    train = vaekit.make_train_step(vaekit.beta_vae(), grad_recorder(),
                                   forward=vaekit.conditional_forward, grad_norm=True)
    state, metrics = train.step(train.init(model, jax.random.key(0)), {"x": x, "y": y})
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
    first = "hidden" if architecture == "mlp" else "convs"
    kernel = [np.asarray(v) for p, v in jax.tree_util.tree_leaves_with_path(state.opt_state)
              if "encoder" in str(p) and first in str(p) and "kernel" in str(p)][0]
    # The label part of the encoder's first layer gets gradient: flat inputs are
    # (pixels + K,), image inputs (H, W, C + K).
    label_rows = kernel[-NUM_CLASSES:] if architecture == "mlp" else kernel[:, :, -NUM_CLASSES:]
    assert np.all(np.isfinite(kernel)) and np.abs(label_rows).sum() > 0


# ---------------------------------------------------------------------------------------------
# Sampling a VQ-VAE returns decoder-space images


@pytest.mark.parametrize("kind", ["vq-vae", "fsq-vae"])
def test_sampling_a_quantized_model_returns_images(kind, tmp_path):
    model = build_model(_config(kind).model, IMAGE_SHAPE, seed=0)
    grid = model.encode(jnp.zeros((1, *IMAGE_SHAPE))).shape[1:-1]
    size = getattr(model.quantizer, "codebook_size", getattr(model.quantizer, "num_codes", 0))
    indices = jax.random.randint(jax.random.key(0), (4, *grid), 0, size)
    images = np.asarray(jax.nn.sigmoid(model.decode_indices(indices)))
    assert images.shape == (4, *IMAGE_SHAPE) and np.all(np.isfinite(images))
    assert np.all((images >= 0) & (images <= 1))
    path = tmp_path / "samples.png"
    write_samples(model, 0, jax.random.key(0), path, n=4, image=np.zeros(IMAGE_SHAPE, np.float32))
    assert path.stat().st_size > 0


def test_decoding_out_of_range_codes_is_an_error():
    model = build_model(_config("vq-vae").model, IMAGE_SHAPE, seed=0)
    with pytest.raises(ValueError, match="`indices`"):
        model.decode_indices(jnp.full((1, 4, 4), 5))  # num_codes = 5


# ---------------------------------------------------------------------------------------------
# Wrong arguments, reused keys, mutated inputs


def test_mutual_information_with_a_label_count_is_a_clear_error():
    codes = np.array([[1, 2, 1, 2], [1, 1, 2, 2]])
    # A count instead of labels: the type check (TypeError) or the library (ValueError).
    with pytest.raises((TypeError, ValueError), match="ys"):
        discrete_mutual_info(codes, 4)
    with pytest.raises(ValueError, match="`ys`"):
        discrete_mutual_info(codes, np.int64(4))
    with pytest.raises(ValueError, match="`ys`"):
        discrete_mutual_info(codes, [0, 1, 0, 1])  # one factor, but not (num_factors, n)
    with pytest.raises(ValueError, match="`mus_discrete` and `ys`"):
        discrete_mutual_info(codes, [[0, 1, 0]])
    with pytest.raises((TypeError, ValueError), match="factors"):
        mig(np.zeros((10, 3)), 4)


def test_generation_uses_the_key_it_is_given():
    vae = tiny_vae()
    a, b = vae.generate(jax.random.key(0), 4), vae.generate(jax.random.key(1), 4)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, vae.generate(jax.random.key(0), 4))
    cvae = vaekit.conditional_mlp_vae(IMAGE_SHAPE, NUM_CLASSES, 2, (8,), rngs=nnx.Rngs(0))
    labels = np.array([0, 1, 2], np.int32)
    c, d = cvae.generate(jax.random.key(0), labels), cvae.generate(jax.random.key(1), labels)
    assert not np.allclose(c, d)
    np.testing.assert_array_equal(c, cvae.generate(jax.random.key(0), labels))
    with pytest.raises(TypeError):
        vae.generate(num_samples=4)  # no default key
    with pytest.raises(TypeError):
        cvae.generate(labels=labels)


def test_every_training_step_draws_a_fresh_key(probe):
    state = probe.init(tiny_vae(), jax.random.key(0))  # the recorder never changes params
    zs = []
    for _ in range(3):
        zs.append(float(probe.evaluate(state, binary_batch())["z"]))
        state, metrics = probe.step(state, binary_batch())
        zs.append(float(metrics["z"]))
    assert len(set(zs)) == len(zs)  # train and eval streams, every step: all different
    _, metrics = probe.step(probe.init(tiny_vae(), jax.random.key(0)), binary_batch())
    assert float(metrics["z"]) == zs[1]  # and reproducible from the seed
    _, metrics = probe.step(probe.init(tiny_vae(), jax.random.key(1)), binary_batch())
    assert float(metrics["z"]) != zs[1]


def test_traverse_latents_is_functional_and_jittable():
    z = jnp.arange(5.0)
    values = jnp.linspace(-2.0, 2.0, 3)
    before = np.array(z, copy=True)
    grid = traverse_latents(z, [0, 3], values)
    np.testing.assert_array_equal(np.asarray(z), before)  # the input is unchanged
    assert grid.shape == (2, 3, 5)
    np.testing.assert_array_equal(grid[0, :, 0], values)
    np.testing.assert_array_equal(grid[1, :, 3], values)
    np.testing.assert_array_equal(grid[0, :, 1:], np.broadcast_to(before[1:], (3, 4)))
    traced = jax.jit(lambda base, v: traverse_latents(base, [0, 3], v))(z, values)
    np.testing.assert_array_equal(traced, grid)
    np.testing.assert_array_equal(np.asarray(z), before)


# ---------------------------------------------------------------------------------------------
# A NaN batch does not corrupt the state


@pytest.mark.parametrize("model_kind", ["vae", "vqvae-ema"])
def test_a_nan_batch_is_skipped_without_touching_the_state(model_kind):
    if model_kind == "vae":
        model, objective, batch = tiny_vae(), vaekit.beta_vae(), binary_batch()
    else:
        model, objective, batch = tiny_vqvae(ema=True), vaekit.vq_vae(), vq_batch()
    train = vaekit.make_train_step(objective, optax.adam(1e-2), skip_nonfinite=True)
    state = train.init(model, jax.random.key(0))
    if model_kind == "vqvae-ema":
        initial = leaf(state.rest, "quantizer", "codebook").copy()
        assert leaf(state.rest, "quantizer", "ema_step") == 0
    state, metrics = train.step(state, batch)
    assert float(metrics["skipped"]) == 0.0
    if model_kind == "vqvae-ema":  # the forward's EMA update is returned, not dropped
        assert leaf(state.rest, "quantizer", "ema_step") == 1
        assert not np.array_equal(leaf(state.rest, "quantizer", "codebook"), initial)
    before = snapshot((state.params, state.opt_state, state.rest))
    bad = {"x": np.array(batch["x"], copy=True)}
    bad["x"][0, 0] = np.nan
    state, metrics = train.step(state, bad)
    assert float(metrics["skipped"]) == 1.0 and not np.isfinite(float(metrics["loss"]))
    after = snapshot((state.params, state.opt_state, state.rest))
    for x, y in zip(before, after, strict=True):  # parameters, Adam moments, EMA codebook
        np.testing.assert_array_equal(x, y)
    assert int(state.step) == 2
    state, metrics = train.step(state, batch)  # and training goes on from the same place
    assert float(metrics["skipped"]) == 0.0 and np.isfinite(float(metrics["loss"]))
