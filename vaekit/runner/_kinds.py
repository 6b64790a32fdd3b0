"""One registry of model kinds: every ``model.kind`` is one :class:`Kind` record in :data:`KINDS`.

A record says everything the runner, the config and the CLI need about a kind: how to build
its model, objective, optimizer and forward, whether it trains on labels or codes, and the
``[objective.<name>]`` config sections of its hyperparameters. Nothing else dispatches on the
kind's name: ``vaekit train --model`` choices, config validation and the reproductions read
these records, so a new kind is one :func:`register_kind` call::

    @dataclasses.dataclass(frozen=True)
    class L2Config:
        weight: float = nonnegative(0.01)

    register_kind(Kind("l2-ae", build_model=zoo.build_vae, sections={"l2": L2Config},
                       build_objective=lambda config, n: my_objective(config.objective.l2)))
"""

import dataclasses
import importlib.metadata
import types
from collections.abc import Callable, Iterable, Mapping

import optax
from flax import nnx

from vaekit._types import Objective
from vaekit.models import conditional_forward
from vaekit.objectives import (
    LIKELIHOODS,
    beta_tcvae,
    beta_vae,
    capacity_vae,
    dip_vae,
    factor_vae,
    factor_vae_optimizer,
    free_bits_vae,
    hierarchical_vae,
    info_vae,
    iwae,
    quantized_autoencoder,
    sampled_kl_vae,
    vq_vae,
)
from vaekit.runner import _zoo as zoo
from vaekit.runner._config import (
    MODEL_KINDS,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    bare_key,
    check_section_class,
    did_you_mean,
    nonnegative,
    one_of,
    positive,
)
from vaekit.schedules import SCHEDULE_NAMES, named_schedule
from vaekit.training._train_step import Forward, default_forward

ModelBuilder = Callable[[ModelConfig, tuple[int, ...], nnx.Rngs, int], nnx.Module]
ObjectiveBuilder = Callable[[RunConfig, int], Objective]

# --- objective sections: one frozen dataclass per [objective.<name>] table ---------------------


@dataclasses.dataclass(frozen=True)
class BetaVAEConfig:
    """``[objective.beta_vae]``: the KL weight β (Higgins et al. 2017).

    Used by ``beta-vae``, ``cvae`` and ``free-bits-vae``; the final β of ``beta-vae-annealed``.
    """

    beta: float = nonnegative(4.0)


@dataclasses.dataclass(frozen=True)
class AnnealingConfig:
    """``[objective.annealing]``: β from ``start`` to ``objective.beta_vae.beta``.

    β follows ``schedule`` (:func:`vaekit.named_schedule`) over ``steps`` steps (KL annealing,
    Bowman et al. 2016).
    """

    schedule: str = one_of("linear", SCHEDULE_NAMES)
    start: float = nonnegative(0.0)
    steps: int = positive(1000)


@dataclasses.dataclass(frozen=True)
class CapacityConfig:
    """``[objective.capacity]``: recon + γ·|KL − C|, C from 0 to ``c_max`` over ``steps``.

    Burgess et al. 2018.
    """

    gamma: float = nonnegative(1000.0)
    c_max: float = nonnegative(25.0)
    steps: int = positive(5000)


@dataclasses.dataclass(frozen=True)
class FreeBitsConfig:
    """``[objective.free_bits]``: each latent dimension's KL floored at ``nats``.

    Kingma et al. 2016; per layer for ``hvae``.
    """

    nats: float = nonnegative(0.5)


@dataclasses.dataclass(frozen=True)
class TCVAEConfig:
    """``[objective.tcvae]``: β-TCVAE's weights of MI, total correlation, dimension-wise KL.

    Chen et al. 2018 (minibatch-weighted sampling).
    """

    alpha: float = nonnegative(1.0)
    beta: float = nonnegative(15.0)
    gamma: float = nonnegative(1.0)


@dataclasses.dataclass(frozen=True)
class InfoVAEConfig:
    """``[objective.info_vae]``: recon + (1 − α) KL + (α + λ − 1) MMD (Zhao et al. 2017)."""

    alpha: float = dataclasses.field(default=0.0, metadata={
        "check": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")})
    lambda_: float = nonnegative(1000.0)


@dataclasses.dataclass(frozen=True)
class DIPConfig:
    """``[objective.dip]``: DIP-VAE ``variant`` ``"i"`` or ``"ii"``, off-diagonal weight.

    Kumar et al. 2018.
    """

    variant: str = one_of("ii", ("i", "ii"))
    lambda_od: float = nonnegative(10.0)


@dataclasses.dataclass(frozen=True)
class FactorVAEConfig:
    """``[objective.factor_vae]``: γ on the discriminator's total correlation (Kim & Mnih)."""

    gamma: float = nonnegative(35.0)


@dataclasses.dataclass(frozen=True)
class VQConfig:
    """``[objective.vq]``: the VQ-VAE commitment cost β (van den Oord et al. 2017)."""

    commitment_cost: float = nonnegative(0.25)


@dataclasses.dataclass(frozen=True)
class IWAEConfig:
    """``[objective.iwae]``: importance samples k; DReG gradients (Tucker et al. 2019)."""

    num_samples: int = positive(5)
    dreg: bool = False


# --- the record --------------------------------------------------------------------------------


def adam(config: RunConfig) -> optax.GradientTransformation:
    """Adam at ``train.lr``: the optimizer of every kind that does not bring its own."""
    return optax.adam(config.train.lr)


def plain_forward(objective: Objective) -> Forward:
    """``model(batch["x"], key=key)``: the forward of every kind that does not bring its own."""
    return default_forward


@dataclasses.dataclass(frozen=True, eq=False)
class Kind:
    """One ``model.kind``: how the runner builds, trains and reports it.

    Attributes:
      name: The ``model.kind`` string (``vaekit train --model NAME``).
      build_model: ``(model_config, image_shape, rngs, num_classes) -> nnx.Module``
        (``vaekit/runner/_zoo.py`` has one per model family).
      build_objective: ``(config, dataset_size) -> objective``; reads
        ``config.objective.likelihood`` and its sections (``config.objective.<name>``).
      sections: ``{name: dataclass}``: the ``[objective.<name>]`` tables of its
        hyperparameters, frozen dataclasses whose fields have defaults (the field helpers
        :func:`~vaekit.runner._config.nonnegative`, ``positive``, ``one_of``, ``checked``
        give range checks whose errors name the key). Kinds may share a section.
      build_optimizer: ``config -> optax.GradientTransformation`` (default: Adam at
        ``train.lr``).
      build_forward: ``objective -> forward`` of ``make_train_step`` (default:
        ``model(batch["x"], key=key)``; the IWAE: its objective's ``forward``).
      labelled: Trains on the labels ``batch["y"]`` (needs labelled data).
      quantized: A model of discrete codes: after training a code prior is fit to them
        (``[prior]``).
      summary: One line for ``vaekit train --help``.
    """

    name: str
    build_model: ModelBuilder
    build_objective: ObjectiveBuilder
    sections: Mapping[str, type] = dataclasses.field(default_factory=dict)
    build_optimizer: Callable[[RunConfig], optax.GradientTransformation] = adam
    build_forward: Callable[[Objective], Forward] = plain_forward
    labelled: bool = False
    quantized: bool = False
    summary: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"`name` must be a non-empty string, got {self.name!r}")
        for field in ("build_model", "build_objective", "build_optimizer", "build_forward"):
            if not callable(getattr(self, field)):
                raise TypeError(f"`{field}` of kind {self.name!r} must be callable, got "
                                f"{getattr(self, field)!r}")
        if not isinstance(self.sections, Mapping):
            raise TypeError(f"`sections` of kind {self.name!r} must be a mapping name -> "
                            f"dataclass, got {self.sections!r}")
        for name, cls in self.sections.items():
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"`sections[{name!r}]` of kind {self.name!r} must be a "
                                f"dataclass type, got {cls!r}")
        object.__setattr__(self, "sections", types.MappingProxyType(dict(self.sections)))


_KINDS: dict[str, Kind] = {}
KINDS: Mapping[str, Kind] = types.MappingProxyType(_KINDS)
"""Every registered model kind, name -> :class:`Kind`, in registration order (read-only)."""

_SHARED_KEYS = frozenset(f.name for f in dataclasses.fields(ObjectiveConfig))


def objective_sections() -> dict[str, type]:
    """Every ``[objective.<name>]`` section of the registered kinds, name -> dataclass."""
    return {name: cls for kind in _KINDS.values() for name, cls in kind.sections.items()}


def register_kind(kind: Kind) -> Kind:
    """Adds ``kind`` to :data:`KINDS` (config validation and the CLI accept it at once).

    Each section must be one a config file can hold: a TOML bare key as its name
    (``[A-Za-z0-9_-]+``), and fields that all have defaults and a type the loader reads
    (``bool``, ``int``, ``float``, ``str``, ``tuple[<one of these>, ...]``; string annotations
    of ``from __future__ import annotations`` are resolved). Its defaults are written to TOML
    and read back as a trial.

    Raises:
      TypeError: ``kind`` is not a :class:`Kind`.
      ValueError: a kind of that name is registered, one of its section names is taken by
        another dataclass (or by a key of ``[objective]``), or a section is one a config
        file cannot hold (the message names the kind, the section and the field).
    """
    if not isinstance(kind, Kind):
        raise TypeError(f"`kind` must be a vaekit.runner.Kind, got {kind!r}")
    if kind.name in _KINDS:
        raise ValueError(f"`kind`: a model kind named {kind.name!r} is already registered")
    known = objective_sections()
    where = f"`kind.sections` of kind {kind.name!r}"
    for name, cls in kind.sections.items():
        if not bare_key(name):
            raise ValueError(f"{where}: section name {name!r} is not a TOML bare key "
                             "(letters, digits, _ and - only), so [objective.<name>] would "
                             "not read back")
        if name in _SHARED_KEYS:
            raise ValueError(f"{where}: {name!r} is a key of [objective], not a section name")
        if name in known and known[name] is not cls:
            raise ValueError(f"{where}: [objective.{name}] is already declared as "
                             f"{known[name].__name__}; choose another name")
        check_section_class(cls, name, where)
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> Kind:
    """Removes the kind ``name`` from :data:`KINDS` and returns it (e.g. a test's own kind)."""
    if name not in _KINDS:
        raise ValueError(f"`name` {name!r} is not a registered model kind"
                         f"{did_you_mean(name, _KINDS)}")
    return _KINDS.pop(name)


ENTRY_POINT_GROUP = "vaekit.kinds"
"""The entry-point group of the kinds of other packages, which the ``vaekit`` command loads."""

# "name = value" of each entry point loaded in this process -> the names of its kinds.
_LOADED: dict[str, tuple[str, ...]] = {}


class EntryPointError(ValueError):
    """An entry point of :data:`ENTRY_POINT_GROUP` that does not load to kinds."""


def _kinds_of(loaded: object) -> tuple[Kind, ...]:
    """The kinds an entry point's object stands for: a Kind, or a callable returning some."""
    if not isinstance(loaded, Kind) and callable(loaded):
        loaded = loaded()
    kinds = (loaded,) if isinstance(loaded, Kind) else loaded
    if not isinstance(kinds, Iterable) or isinstance(kinds, str | bytes):
        kinds = (kinds,)
    kinds = tuple(kinds)
    bad = [k for k in kinds if not isinstance(k, Kind)]
    if bad or not kinds:
        raise TypeError("must load to a vaekit.runner.Kind, or a callable with no arguments "
                        f"that returns one or an iterable of them; got {bad[0] if bad else ()!r}")
    return kinds


def _register_entry_point(entry_point) -> None:
    key = f"{entry_point.name} = {entry_point.value}"
    previous = _LOADED.get(key, ())
    if previous and all(name in _KINDS for name in previous):
        return  # loaded by an earlier call in this process
    try:
        kinds = _kinds_of(entry_point.load())
        for kind in kinds:
            if _KINDS.get(kind.name) is kind or (kind.name in previous and kind.name in _KINDS):
                continue
            register_kind(kind)
    except Exception as err:  # an import error, a bad object, a refused kind: one line
        raise EntryPointError(f"entry point `{key}` of group {ENTRY_POINT_GROUP!r}: "
                              f"{type(err).__name__}: {err}") from None
    _LOADED[key] = tuple(kind.name for kind in kinds)


def load_entry_point_kinds(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Registers the kinds of the installed packages' entry points of ``group``.

    Each entry point loads to a :class:`Kind`, or to a callable with no arguments returning
    a Kind or an iterable of them. Idempotent: an entry point loaded before in this process is
    not registered again. The ``vaekit`` command calls it when it starts.

    Returns:
      The names of the kinds of those entry points.

    Raises:
      EntryPointError: an entry point fails to import, to load to kinds, or to register;
        the message names it.
    """
    names: list[str] = []
    for entry_point in importlib.metadata.entry_points(group=group):
        _register_entry_point(entry_point)
        names.extend(_LOADED[f"{entry_point.name} = {entry_point.value}"])
    return names


def kind_of(name: str) -> Kind:
    """The record of ``model.kind`` = ``name``; a ConfigError naming the key if unknown."""
    if name not in _KINDS:
        raise ConfigError(f"`model.kind` must be one of {list(MODEL_KINDS)}"
                          f"{did_you_mean(name, _KINDS)}, got {name!r}")
    return _KINDS[name]


# --- what the runner builds from a config ------------------------------------------------------


def build_model(config: ModelConfig, image_shape: tuple[int, ...], seed: int,
                num_classes: int = 0) -> nnx.Module:
    """The model of ``config.kind`` (its record's ``build_model``, ``nnx.Rngs(seed)``).

    Raises:
      ConfigError: a labelled kind without labels (``num_classes < 1``).
    """
    kind = kind_of(config.kind)
    if kind.labelled and num_classes < 1:
        raise ConfigError(f"`model.kind` = \"{kind.name}\" needs labelled data (dsprites, "
                          "digits, or an .npz with `labels`)")
    return kind.build_model(config, image_shape, nnx.Rngs(seed), num_classes)


def build_objective(config: RunConfig, dataset_size: int) -> Objective:
    """The objective of ``config.model.kind`` with its ``[objective]`` sections."""
    return kind_of(config.model.kind).build_objective(config, dataset_size)


def build_forward(kind: str, objective: Objective) -> Forward:
    """The forward of ``make_train_step`` for model kind ``kind``."""
    return kind_of(kind).build_forward(objective)


def build_optimizer(config: RunConfig) -> optax.GradientTransformation:
    """The optimizer of a run (the kind's, by default Adam at ``train.lr``)."""
    return kind_of(config.model.kind).build_optimizer(config)


# --- the seed kinds ----------------------------------------------------------------------------


def _likelihood(config: RunConfig):
    return LIKELIHOODS[config.objective.likelihood]


def _elbo(config: RunConfig, dataset_size: int) -> Objective:
    return beta_vae(1.0, _likelihood(config))


def _beta_vae(config: RunConfig, dataset_size: int) -> Objective:
    return beta_vae(config.objective.beta_vae.beta, _likelihood(config))


def _annealed(config: RunConfig, dataset_size: int) -> Objective:
    o = config.objective
    return beta_vae(named_schedule(o.annealing.schedule, o.annealing.start, o.beta_vae.beta,
                                   o.annealing.steps), _likelihood(config))


def _capacity(config: RunConfig, dataset_size: int) -> Objective:
    c = config.objective.capacity
    return capacity_vae(c.gamma, c.c_max, c.steps, likelihood=_likelihood(config))


def _free_bits(config: RunConfig, dataset_size: int) -> Objective:
    o = config.objective
    return free_bits_vae(o.free_bits.nats, o.beta_vae.beta, _likelihood(config))


def _tcvae(config: RunConfig, dataset_size: int) -> Objective:
    t = config.objective.tcvae
    return beta_tcvae(t.alpha, t.beta, t.gamma, dataset_size=dataset_size,
                      likelihood=_likelihood(config))


def _info_vae(config: RunConfig, dataset_size: int) -> Objective:
    i = config.objective.info_vae
    return info_vae(alpha=i.alpha, lambda_=i.lambda_, likelihood=_likelihood(config))


def _dip_vae(config: RunConfig, dataset_size: int) -> Objective:
    d = config.objective.dip
    return dip_vae(d.variant, lambda_od=d.lambda_od, likelihood=_likelihood(config))


def _factor_vae(config: RunConfig, dataset_size: int) -> Objective:
    return factor_vae(config.objective.factor_vae.gamma, _likelihood(config))


def _factor_vae_optimizer(config: RunConfig) -> optax.GradientTransformation:
    """Adam at ``train.lr`` for the VAE, the paper's Adam for the discriminator."""
    return factor_vae_optimizer(vae=optax.adam(config.train.lr))


def _iwae(config: RunConfig, dataset_size: int) -> Objective:
    i = config.objective.iwae
    return iwae(i.num_samples, _likelihood(config), dreg=i.dreg)


def _sampled_elbo(config: RunConfig, dataset_size: int) -> Objective:
    return sampled_kl_vae(1.0, _likelihood(config))  # β = 1, as the likelihood papers train


def _hierarchical(config: RunConfig, dataset_size: int) -> Objective:
    return hierarchical_vae(1.0, config.objective.free_bits.nats, _likelihood(config))


def _vq_vae(config: RunConfig, dataset_size: int) -> Objective:
    return vq_vae(config.objective.vq.commitment_cost, _likelihood(config))


def _fsq(config: RunConfig, dataset_size: int) -> Objective:
    return quantized_autoencoder({}, _likelihood(config))


def _own_forward(objective: Objective) -> Forward:
    return objective.forward


def _labelled_forward(objective: Objective) -> Forward:
    return conditional_forward


_BETA = {"beta_vae": BetaVAEConfig}
SEED_KINDS = (
    Kind("vae", zoo.build_vae, _elbo, summary="the ELBO, β = 1 (Kingma & Welling 2014)"),
    Kind("beta-vae", zoo.build_vae, _beta_vae, _BETA, summary="constant β (Higgins et al.)"),
    Kind("beta-vae-annealed", zoo.build_vae, _annealed,
         {**_BETA, "annealing": AnnealingConfig}, summary="β annealed from a start value"),
    Kind("beta-vae-capacity", zoo.build_vae, _capacity, {"capacity": CapacityConfig},
         summary="γ·|KL − C| (Burgess et al. 2018)"),
    Kind("free-bits-vae", zoo.build_vae, _free_bits,
         {**_BETA, "free_bits": FreeBitsConfig}, summary="per-dimension KL floor"),
    Kind("beta-tcvae", zoo.build_vae, _tcvae, {"tcvae": TCVAEConfig},
         summary="total correlation weighted up (Chen et al. 2018)"),
    Kind("info-vae", zoo.build_vae, _info_vae, {"info_vae": InfoVAEConfig},
         summary="MMD to the prior (Zhao et al. 2017)"),
    Kind("dip-vae", zoo.build_vae, _dip_vae, {"dip": DIPConfig},
         summary="decorrelated posterior means (Kumar et al. 2018)"),
    Kind("factor-vae", zoo.build_factor_vae, _factor_vae, {"factor_vae": FactorVAEConfig},
         build_optimizer=_factor_vae_optimizer,
         summary="discriminator total correlation, two Adams (Kim & Mnih 2018)"),
    Kind("vq-vae", zoo.build_vq_vae, _vq_vae, {"vq": VQConfig}, quantized=True,
         summary="EMA codebook, then a code prior"),
    Kind("fsq-vae", zoo.build_fsq_vae, _fsq, quantized=True,
         summary="finite scalar quantization, then a code prior"),
    Kind("cvae", zoo.build_conditional_vae, _beta_vae, _BETA,
         build_forward=_labelled_forward, labelled=True,
         summary="conditioned on labels (Sohn et al. 2015)"),
    Kind("iwae", zoo.build_vae, _iwae, {"iwae": IWAEConfig}, build_forward=_own_forward,
         summary="k-sample bound (Burda et al. 2016)"),
    Kind("vamp-vae", zoo.build_vamp_prior_vae, _sampled_elbo, summary="VampPrior"),
    Kind("iaf-vae", zoo.build_iaf_vae, _sampled_elbo, summary="IAF posterior"),
    Kind("hvae", zoo.build_hierarchical_vae, _hierarchical, {"free_bits": FreeBitsConfig},
         summary="hierarchical (Ladder) VAE"),
)
"""The kinds vaekit ships, registered when this module is imported."""

for _kind in SEED_KINDS:
    register_kind(_kind)
del _kind
