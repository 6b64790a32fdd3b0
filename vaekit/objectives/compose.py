"""Composing objectives from named, weighted terms: ``loss = Σ_i w_i(step) · term_i``."""

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._types import Batch, Metrics, Objective
from vaekit.objectives.kl import gaussian_kl_per_dim
from vaekit.objectives.monitoring import kl_monitoring_metrics
from vaekit.schedules import as_schedule, evaluate

TermOutput: TypeAlias = Float[Array, ""] | tuple[Float[Array, ""], Metrics]
Term: TypeAlias = Callable[[Any, Batch, Any], TermOutput]
"""A batch-reduced term ``term(out, batch, step) -> scalar`` or ``-> (scalar, extra_metrics)``."""

Weight: TypeAlias = float | int | optax.Schedule


def _split(spec: Term | tuple[Term, Weight], name: str) -> tuple[Term, optax.Schedule]:
    if isinstance(spec, tuple):
        if len(spec) != 2 or not callable(spec[0]):
            raise ValueError(f"term `{name}` must be a callable or a (callable, weight) pair.")
        return spec[0], as_schedule(spec[1], f"{name} weight")
    if not callable(spec):
        raise ValueError(f"term `{name}` must be callable, got {type(spec).__name__}.")
    return spec, as_schedule(1.0, f"{name} weight")


class ComposedObjective:
    """An immutable objective ``(out, batch, step) -> (loss, metrics)`` built by :func:`compose`.

    Its hyperparameters are fixed when it is built (numbers) or are schedules of the step, so
    that the compiled step and the objective can never disagree: setting any attribute raises
    ``AttributeError`` instead of being silently ignored by an already compiled step.
    """

    __slots__ = ("__weakref__", "_fn", "terms")

    def __init__(self, fn: Objective, terms: tuple[str, ...]):
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "terms", terms)

    def __call__(self, out: Any, batch: Batch, step: Any) -> tuple[Float[Array, ""], Metrics]:
        return self._fn(out, batch, step)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"vaekit objectives are immutable: cannot set `{name}`. A compiled step would keep "
            "the old value. Pass a schedule of the step for a weight that changes during "
            "training (e.g. beta_vae(beta=optax.linear_schedule(0.0, 4.0, 10_000))), or build "
            "a new objective and a new make_train_step (the TrainState carries over)."
        )

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def __repr__(self) -> str:
        return f"ComposedObjective(terms={self.terms})"


def compose(
    terms: Mapping[str, Term | tuple[Term, Weight]],
    *,
    monitor_kl: bool = True,
    active_threshold: float | int = 0.01,
    weight_metrics: Mapping[str, str | None] | None = None,
) -> ComposedObjective:
    """Builds ``objective(out, batch, step)`` with ``loss = Σ_name weight_name(step) · term_name``.

    Each term is a pure function ``term(out, batch, step)`` returning a batch-reduced scalar
    (sum over event dims, mean over the batch), optionally with extra metrics. Each weight is a
    number ``>= 0`` or any ``optax.Schedule`` evaluated on the traced step (no recompiles).

    Metrics: ``loss``; for every term, its unweighted value under ``name`` and its weight under
    ``name + "_weight"``; the terms' extra metrics; and, when ``monitor_kl`` and ``out`` has
    ``mean``/``logvar``, KL-collapse monitoring (``kl_dim_{i}``, ``active_dims``).
    ``weight_metrics`` renames a term's weight metric (``{"kl_loss": "beta"}``) or, mapped to
    ``None``, leaves out a weight that is a fixed 1 by construction.

    The result is an immutable :class:`ComposedObjective`: its weights are fixed when it is
    built (numbers) or follow a schedule; setting an attribute raises ``AttributeError``.

    Example:
      >>> import optax, vaekit
      >>> from vaekit.objectives import compose, kl_term, reconstruction_term
      >>> objective = compose({
      ...     "reconstruction_loss": reconstruction_term(vaekit.bernoulli_nll),
      ...     "kl_loss": (kl_term(), optax.linear_schedule(0.0, 4.0, 1000)),
      ... })
    """
    if not terms:
        raise ValueError("`terms` must name at least one term.")
    parts = {name: _split(spec, name) for name, spec in terms.items()}
    weight_names = {name: f"{name}_weight" for name in parts}
    for name, metric in (weight_metrics or {}).items():
        if name not in parts:
            raise ValueError(f"`weight_metrics` names {name!r}, which is not a term.")
        weight_names[name] = metric

    def objective(out, batch: Batch, step) -> tuple[Float[Array, ""], Metrics]:
        loss = jnp.zeros((), jnp.float32)
        metrics: Metrics = {}
        for name, (term, weight_fn) in parts.items():
            result = term(out, batch, step)
            value, extra = result if isinstance(result, tuple) else (result, {})
            weight = evaluate(weight_fn, step)
            loss = loss + weight * value
            reported = {name: value, **extra}
            if weight_names[name] is not None:
                reported[weight_names[name]] = weight
            for key, metric in reported.items():
                if key in metrics:
                    raise ValueError(f"two terms report the metric {key!r}; rename one term.")
                metrics[key] = metric
        metrics["loss"] = loss
        if monitor_kl and hasattr(out, "mean") and hasattr(out, "logvar"):
            kl_per_dim = gaussian_kl_per_dim(out.mean, out.logvar)
            metrics.update(kl_monitoring_metrics(kl_per_dim, active_threshold))
        return loss, metrics

    return ComposedObjective(objective, tuple(parts))
