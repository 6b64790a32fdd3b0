"""Composing objectives from named, weighted terms: ``loss = Σ_i w_i(step) · component_i``."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from vaekit._types import Batch, Metrics, Objective, Step
from vaekit.schedules import as_schedule, evaluate

Scalar: TypeAlias = Float[Array, ""]
Components: TypeAlias = Mapping[str, Scalar]
TermOutput: TypeAlias = Scalar | Components | tuple[Scalar | Components, Metrics]
Term: TypeAlias = Callable[[Any, Batch, Step], TermOutput]
"""A batch-reduced term ``term(out, batch, step)`` returning a scalar, or a mapping of named
scalar components computed together (one pass, e.g. the three parts of the β-TCVAE KL),
optionally paired with extra metrics: ``-> scalar | {name: scalar} | (either, metrics)``."""

Reporter: TypeAlias = Callable[[Any, Batch, Step], Metrics]
"""A metric reporter ``reporter(out, batch, step) -> metrics``: never part of the loss."""

Weight: TypeAlias = float | int | optax.Schedule
Weights: TypeAlias = Weight | Mapping[str, Weight]
"""A number or schedule for a scalar term; ``{component: weight}`` for a components term."""


class _Part(NamedTuple):
    term: Term
    weights: optax.Schedule | dict[str, optax.Schedule]  # a dict: a components term


def _part(spec: Term | tuple[Term, Weights], name: str) -> _Part:
    if isinstance(spec, tuple):
        if len(spec) != 2 or not callable(spec[0]):
            raise ValueError(f"term `{name}` must be a callable or a (callable, weight) pair.")
        term, weight = spec
        if isinstance(weight, Mapping):
            if not weight:
                raise ValueError(f"term `{name}`: its weight mapping names no component.")
            return _Part(term, {c: as_schedule(w, f"{c} weight") for c, w in weight.items()})
        return _Part(term, as_schedule(weight, f"{name} weight"))
    if not callable(spec):
        raise ValueError(f"term `{name}` must be callable, got {type(spec).__name__}.")
    return _Part(spec, as_schedule(1.0, f"{name} weight"))


def _components(name: str, part: _Part, value) -> dict[str, Scalar]:
    """``{component: value}`` of one term's output, checked against its weights."""
    if isinstance(part.weights, dict):
        if not isinstance(value, Mapping):
            raise ValueError(f"term `{name}` has per-component weights {sorted(part.weights)} "
                             "but returned one scalar; return {component: scalar}.")
        if set(value) != set(part.weights):
            raise ValueError(f"term `{name}` returned components {sorted(value)}, but its "
                             f"weights name {sorted(part.weights)}.")
        return dict(value)
    if isinstance(value, Mapping):
        raise ValueError(f"term `{name}` returned components {sorted(value)}; give its weight "
                         "as a mapping {component: weight}.")
    return {name: value}


def _add(metrics: Metrics, new: Mapping[str, Any]) -> None:
    for key, metric in new.items():
        if key in metrics:
            raise ValueError(f"the metric {key!r} is reported twice (by two terms, a term and "
                             "its extra metrics, or a reporter); rename one.")
        metrics[key] = metric


class ComposedObjective:
    """An immutable objective ``(out, batch, step) -> (loss, metrics)`` built by :func:`compose`.

    Attributes:
      fn: the pure objective.
      terms: the names of the weighted components of the loss, in order.

    Its hyperparameters are fixed when it is built (numbers) or are schedules of the step, so
    that the compiled step and the objective can never disagree: setting any attribute raises
    ``AttributeError`` instead of being silently ignored by an already compiled step. (A record
    with ``__slots__`` rather than a ``NamedTuple``: ``jax.jit(objective)`` needs a weak
    reference to it, which a tuple cannot give.)
    """

    __slots__ = ("__weakref__", "fn", "terms")

    def __init__(self, fn: Objective, terms: tuple[str, ...]):
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "terms", tuple(terms))

    def __call__(self, out: Any, batch: Batch, step: Step) -> tuple[Scalar, Metrics]:
        """The ``(loss, metrics)`` of the composed terms."""
        return self.fn(out, batch, step)

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
    terms: Mapping[str, Term | tuple[Term, Weights]],
    *,
    reporters: Sequence[Reporter] = (),
    weight_metrics: Mapping[str, str | None] | None = None,
) -> ComposedObjective:
    """Builds ``objective(out, batch, step)`` with ``loss = Σ_c weight_c(step) · component_c``.

    Each term is a pure function ``term(out, batch, step)`` returning a batch-reduced scalar
    (sum over event dims, mean over the batch), or a mapping of such scalars, its named
    *components*, computed together in one pass, each weighted by name:
    ``(term, {"mutual_info": 1.0, "total_correlation": 6.0})``. Either may come paired with
    extra metrics. Each weight is a number ``>= 0`` or any ``optax.Schedule`` evaluated on the
    traced step (no recompiles). ``reporters`` are explicit ``(out, batch, step) -> metrics``
    functions (e.g. :func:`vaekit.objectives.kl_monitor`) whose metrics are reported and never
    enter the loss.

    Metrics: ``loss``; every component's unweighted value under its name (a scalar term's
    component is the term's name) and its weight under ``name + "_weight"``; the terms' extra
    metrics; the reporters' metrics. ``weight_metrics`` renames a component's weight metric
    (``{"kl_loss": "beta"}``) or, mapped to ``None``, leaves out a weight that is a fixed 1 by
    construction. Two metrics of the same name raise ``ValueError``.

    The result is an immutable :class:`ComposedObjective`: its weights are fixed when it is
    built (numbers) or follow a schedule; setting an attribute raises ``AttributeError``.

    Example:
      >>> import optax, vaekit
      >>> from vaekit.objectives import compose, kl_monitor, kl_term, reconstruction_term
      >>> objective = compose({
      ...     "reconstruction_loss": reconstruction_term(vaekit.bernoulli_nll),
      ...     "kl_loss": (kl_term(), optax.linear_schedule(0.0, 4.0, 1000)),
      ... }, reporters=[kl_monitor()])
      >>> objective.terms
      ('reconstruction_loss', 'kl_loss')
    """
    if not terms:
        raise ValueError("`terms` must name at least one term.")
    parts = {name: _part(spec, name) for name, spec in terms.items()}
    reporters = tuple(reporters)
    for i, reporter in enumerate(reporters):
        if not callable(reporter):
            raise ValueError(f"`reporters[{i}]` must be callable, got {type(reporter).__name__}.")
    component_names = [
        component
        for name, part in parts.items()
        for component in (part.weights if isinstance(part.weights, dict) else (name,))
    ]
    if len(set(component_names)) != len(component_names):
        raise ValueError(f"`terms` name a component twice: {component_names}.")
    weight_names = {name: f"{name}_weight" for name in component_names}
    for name, metric in (weight_metrics or {}).items():
        if name not in weight_names:
            raise ValueError(f"`weight_metrics` names {name!r}, which is not a term.")
        weight_names[name] = metric
    static = component_names + [m for m in weight_names.values() if m is not None]
    if "loss" in static:
        raise ValueError("`loss` is the total the objective reports; name no component or "
                         "weight metric `loss`.")
    if len(set(static)) != len(static):
        clash = sorted({m for m in static if static.count(m) > 1})
        raise ValueError(f"a component and a weight metric share the name(s) {clash}; rename "
                         "one (e.g. with `weight_metrics`).")

    def objective(out, batch: Batch, step: Step) -> tuple[Scalar, Metrics]:
        loss = jnp.zeros((), jnp.float32)
        metrics: Metrics = {}
        for name, part in parts.items():
            result = part.term(out, batch, step)
            value, extra = result if isinstance(result, tuple) else (result, {})
            for component, component_value in _components(name, part, value).items():
                weight_fn = part.weights[component] if isinstance(part.weights, dict) else (
                    part.weights)
                weight = evaluate(weight_fn, step)
                loss = loss + weight * component_value
                _add(metrics, {component: component_value})
                if weight_names[component] is not None:
                    _add(metrics, {weight_names[component]: weight})
            _add(metrics, extra)
        _add(metrics, {"loss": loss})
        for reporter in reporters:
            _add(metrics, reporter(out, batch, step))
        return loss, metrics

    return ComposedObjective(objective, tuple(component_names))
