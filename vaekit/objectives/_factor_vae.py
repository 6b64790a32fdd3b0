"""FactorVAE: a VAE whose total correlation is penalised through a density-ratio discriminator.

Kim & Mnih (2018), "Disentangling by Factorising" (ICML). The VAE minimises

    vae_loss  = E[−log p(x|z)] + KL(q(z|x) || N(0, I)) + γ · TC_est,
    TC_est    = mean_i (D(z_i)[0] − D(z_i)[1])                 (density-ratio trick)

and the discriminator ``D`` minimises the cross-entropy of telling ``q(z)`` samples (label 0)
from ``permute_dims`` samples of ``Π_j q(z_j)`` (label 1):

    disc_loss = ½ mean_i CE(D(sg z_i), 0) + ½ mean_i CE(D(permute_dims(sg z)_i), 1).

There is no special trainer. :class:`vaekit.models.FactorVAEModel` computes the
three discriminator passes with stop-gradients (``TC_est`` with the discriminator's parameters
stopped, the discriminator's own passes on ``sg(z)``), so the *sum* ``vae_loss + disc_loss``
returned by :func:`factor_vae` sends the gradient of ``vae_loss`` to the VAE's parameters and
the gradient of ``disc_loss`` to the discriminator's, exactly. The two networks keep their own
Adam settings through one ``optax.multi_transform`` (:func:`factor_vae_optimizer`), and the
ordinary :func:`vaekit.make_train_step` updates both in one step. This is disentanglement_lib's
simultaneous update of both networks from the same batch (the paper draws the permuted samples
from a second batch; here they come from the same one, as in disentanglement_lib).
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._checks import check_number
from vaekit._types import AnyArray, Batch, Likelihood, Metrics, Objective, Step
from vaekit.objectives._compose import ComposedObjective, compose
from vaekit.objectives._likelihoods import bernoulli_nll
from vaekit.objectives._monitoring import kl_monitor
from vaekit.objectives._terms import kl_term, reconstruction_term
from vaekit.schedules import as_schedule

VAE_ADAM = {"learning_rate": 1e-4, "b1": 0.9, "b2": 0.999}
"""Adam of the VAE in Kim & Mnih (2018) and disentanglement_lib's ``factor_vae.gin``."""

DISCRIMINATOR_ADAM = {"learning_rate": 1e-4, "b1": 0.5, "b2": 0.9}
"""Adam of the discriminator in Kim & Mnih (2018) and disentanglement_lib."""


def _check_logits(logits, name: str) -> None:
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"`{name}` must have shape (batch, 2), got {tuple(logits.shape)}.")


def density_ratio_tc(tc_logits: Float[AnyArray, "batch 2"]) -> Float[Array, ""]:
    """``TC_est = mean_i (logits_i[0] − logits_i[1])``, the density-ratio estimate of TC.

    With ``D(z)[0] = P(z ~ q(z))`` the log-odds ``logit_0 − logit_1`` estimate
    ``log q(z) / Π_j q(z_j)``; its mean over ``q(z)`` samples is the total correlation (Kim &
    Mnih 2018, eq. (3); Sugiyama et al. 2012). Reduction: mean over the batch.

    Example:
      >>> import jax.numpy as jnp
      >>> float(density_ratio_tc(jnp.array([[2.0, 0.0], [1.0, 1.0]])))
      1.0
    """
    tc_logits = jnp.asarray(tc_logits)
    _check_logits(tc_logits, "tc_logits")
    return jnp.mean(tc_logits[:, 0] - tc_logits[:, 1])


def discriminator_loss(
    logits_joint: Float[AnyArray, "batch 2"], logits_permuted: Float[AnyArray, "batch2 2"]
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """Cross-entropy of the TC discriminator and its accuracy: ``q(z)`` is class 0, permuted 1.

    ``½ mean CE(logits_joint, 0) + ½ mean CE(logits_permuted, 1)`` (disentanglement_lib's
    ``discr_vae_loss``, negated). Returns ``(loss, accuracy)``; accuracy is the mean of the two
    classes' accuracies (0.5 is chance).

    Example:
      >>> import jax.numpy as jnp
      >>> loss, acc = discriminator_loss(jnp.zeros((4, 2)), jnp.zeros((4, 2)))
      >>> round(float(loss), 4), float(acc)  # uninformative: log 2, argmax ties pick class 0
      (0.6931, 0.5)
    """
    logits_joint, logits_permuted = jnp.asarray(logits_joint), jnp.asarray(logits_permuted)
    _check_logits(logits_joint, "logits_joint")
    _check_logits(logits_permuted, "logits_permuted")
    ce = optax.softmax_cross_entropy_with_integer_labels
    zeros = jnp.zeros(logits_joint.shape[0], jnp.int32)
    ones = jnp.ones(logits_permuted.shape[0], jnp.int32)
    loss = 0.5 * jnp.mean(ce(logits_joint, zeros)) + 0.5 * jnp.mean(ce(logits_permuted, ones))
    accuracy = 0.5 * (jnp.mean(jnp.argmax(logits_joint, -1) == 0)
                      + jnp.mean(jnp.argmax(logits_permuted, -1) == 1))
    return loss, accuracy


def factor_vae(
    gamma: float | int | optax.Schedule = 35.0,
    likelihood: Likelihood = bernoulli_nll,
    *,
    active_threshold: float | int = 0.01,
) -> Objective:
    """FactorVAE objective ``vae_loss + disc_loss`` (Kim & Mnih 2018), for one train step.

    ``vae_loss = recon + KL + γ · TC_est`` and ``disc_loss`` as in the module docstring. The
    model must be a :class:`vaekit.models.FactorVAEModel` (or produce its
    :class:`~vaekit.models.FactorVAEOutput`): its stop-gradients make the gradient
    of the returned total equal the gradient of ``vae_loss`` for the VAE's parameters and that
    of ``disc_loss`` for the discriminator's. Train with :func:`vaekit.make_train_step` and
    :func:`factor_vae_optimizer` (two Adams); there is no special trainer.

    Reduction: every term is summed over event/latent dims and averaged over the batch. The
    permutation pools the batch, so the loss is not the mean of its halves' losses.

    Args:
      gamma: TC weight ``γ >= 0``, a number or an optax schedule (the paper: 35 on dSprites,
        disentanglement_lib's study: 10 to 100).
      likelihood: ``(recon, x) -> (batch,)`` NLL; default Bernoulli on decoder logits.
      active_threshold: nats above which a latent dimension counts as active.

    Returns:
      ``objective(out, batch, step) -> (loss, metrics)``. Metrics: ``loss`` (= ``vae_loss +
      disc_loss``), ``vae_loss``, ``reconstruction_loss``, ``kl_loss``, ``total_correlation``
      (``TC_est``), ``gamma``, ``disc_loss``, ``disc_accuracy``, ``kl_dim_{i}``, ``active_dims``.

    Example:
      >>> import jax, optax, vaekit
      >>> from flax import nnx
      >>> from vaekit.models import factor_vae_mlp
      >>> model = factor_vae_mlp((4,), 2, (8,), (8,), rngs=nnx.Rngs(0))
      >>> train = vaekit.make_train_step(factor_vae(gamma=35.0), factor_vae_optimizer())
      >>> state = train.init(model, jax.random.key(0))
      >>> state, metrics = train.step(state, {"x": jax.numpy.zeros((4, 4))})
      >>> sorted(k for k in metrics if "loss" in k)
      ['disc_loss', 'kl_loss', 'loss', 'reconstruction_loss', 'vae_loss']
    """
    gamma_fn = as_schedule(gamma, "gamma")
    if not callable(likelihood):
        raise ValueError(f"`likelihood` must be callable, got {type(likelihood).__name__}.")
    active_threshold = check_number(active_threshold, "active_threshold", minimum=0.0)

    def tc_term(out, batch: Batch, step: Step) -> Float[Array, ""]:
        return density_ratio_tc(out.tc_logits)

    def disc_term(out, batch: Batch, step: Step):
        loss, accuracy = discriminator_loss(out.disc_logits, out.disc_logits_permuted)
        return loss, {"disc_accuracy": accuracy}

    base = compose(
        {
            "reconstruction_loss": reconstruction_term(likelihood),
            "kl_loss": kl_term(),
            "total_correlation": (tc_term, gamma_fn),
            "disc_loss": disc_term,
        },
        reporters=[kl_monitor(active_threshold)],
        weight_metrics={"reconstruction_loss": None, "kl_loss": None,
                        "total_correlation": "gamma", "disc_loss": None},
    )

    def objective(out, batch: Batch, step: Step) -> tuple[Float[Array, ""], Metrics]:
        loss, metrics = base(out, batch, step)
        metrics["vae_loss"] = loss - metrics["disc_loss"]
        return loss, metrics

    return ComposedObjective(objective, base.terms)


def submodule_labels(params, labels: Mapping[str, str] | None = None) -> object:
    """Labels every leaf of an NNX state by the top-level submodule that holds it.

    The label of a leaf at path ``(name, ...)`` is ``labels[name]`` when given, else ``name``
    itself; the result has the structure of ``params``, so it is ``param_labels`` for
    ``optax.multi_transform`` (as a tree, or wrap this function in a lambda).

    Args:
      params (nnx.State | pytree): an ``nnx.State`` (e.g. ``TrainState.params``) or any
        pytree whose first path entry names a submodule.
      labels: optional map from submodule name to label; a leaf whose submodule is not in a
        given map raises ``ValueError`` naming its path.

    Example:
      >>> from flax import nnx
      >>> from vaekit.models import factor_vae_mlp
      >>> model = factor_vae_mlp((4,), 2, (8,), (8,), rngs=nnx.Rngs(0))
      >>> tree = submodule_labels(nnx.state(model, nnx.Param))
      >>> sorted(set(jax.tree.leaves(tree)))
      ['discriminator', 'vae']
    """

    def label(path, _leaf) -> str:
        if not path:
            raise ValueError("`params` must be a tree of submodules, got a single leaf.")
        first = path[0]
        name = str(getattr(first, "key", getattr(first, "name", getattr(first, "idx", first))))
        if labels is None:
            return name
        if name not in labels:
            raise ValueError(
                f"`labels` has no label for the submodule {name!r} (leaf "
                f"{jax.tree_util.keystr(path)}); known: {sorted(labels)}."
            )
        return labels[name]

    return jax.tree_util.tree_map_with_path(label, params)


def factor_vae_optimizer(
    vae: optax.GradientTransformation | None = None,
    discriminator: optax.GradientTransformation | None = None,
) -> optax.GradientTransformation:
    """One optax optimizer that updates the VAE and the discriminator with their own Adams.

    ``optax.multi_transform({"vae": vae, "discriminator": discriminator}, submodule_labels)``
    over the parameters of a :class:`~vaekit.models.FactorVAEModel` (top-level
    submodules ``vae`` and ``discriminator``). Defaults are the paper's / disentanglement_lib's:
    VAE ``adam(1e-4, b1=0.9, b2=0.999)``, discriminator ``adam(1e-4, b1=0.5, b2=0.9)``.
    Pass it as the single optimizer of :func:`vaekit.make_train_step`.

    Example:
      >>> import optax
      >>> opt = factor_vae_optimizer(vae=optax.adam(1e-3))
    """
    transforms = {
        "vae": optax.adam(**VAE_ADAM) if vae is None else vae,
        "discriminator": (optax.adam(**DISCRIMINATOR_ADAM) if discriminator is None
                          else discriminator),
    }
    return optax.multi_transform(transforms, submodule_labels)
