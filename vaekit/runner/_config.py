"""Run configuration: nested frozen dataclasses, loaded from TOML with every key checked."""

import dataclasses
import difflib
import functools
import re
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


class KindNames(Sequence):
    """The names of the registered model kinds, read from :data:`vaekit.runner.KINDS`.

    A live view: a kind registered later (:func:`vaekit.runner.register_kind`) is in it
    at once, so config validation and the CLI's ``--model`` choices accept it.
    ``quantized=True`` keeps only the quantized kinds (those that train a code prior).
    """

    def __init__(self, quantized: bool = False):
        self._quantized = quantized

    def _names(self) -> tuple[str, ...]:
        from vaekit.runner._kinds import KINDS

        return tuple(name for name, kind in KINDS.items()
                     if kind.quantized or not self._quantized)

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


MODEL_KINDS = KindNames()
QUANTIZED_KINDS = KindNames(quantized=True)
ARCHITECTURES = ("mlp", "cnn")
# Downloadable sources of vaekit.data.load_dataset (a test checks this list against it).
SOURCE_DATASETS = ("mnist", "binarized-mnist", "fashion-mnist", "cifar10", "celeba64",
                   "dsprites-file", "shapes3d", "image-folder")
DATASETS = ("dsprites", "digits", "npz", "arrays", *SOURCE_DATASETS)
BINARIZE = ("none", "dynamic")
LIKELIHOODS = ("bernoulli", "gaussian", "sum_of_squares")
ON_NONFINITE = ("stop", "skip")
FUSED = ("auto", "scan", "steps")
TRACKERS = ("tensorboard", "mlflow", "wandb")
# `vaekit sample --sampler`: the model's prior, or a post-hoc sampler fitted to the latents.
SAMPLERS = ("prior", "gmm", "two-stage")


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message names the key."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What is trained: the model kind and its encoder/decoder architecture."""

    kind: str = "beta-tcvae"
    architecture: str = "mlp"
    latent_dim: int = 10
    hidden: tuple[int, ...] = (512, 256)
    channels: tuple[int, ...] = (32, 32, 64, 64)
    activation: str = "relu"
    # Quantized models (vq-vae, fsq-vae): conv encoder/decoder to a spatial grid of codes.
    vq_channels: tuple[int, ...] = (32, 64)
    num_res_blocks: int = 2
    num_codes: int = 64
    code_dim: int = 16
    ema: bool = True
    dead_code_threshold: float = 1e-3
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)
    # factor-vae: the total-correlation discriminator's hidden widths (the paper: 6 x 1000).
    discriminator_hidden: tuple[int, ...] = (1000, 1000, 1000, 1000, 1000, 1000)
    # vamp-vae: learned pseudo-inputs of the VampPrior (Tomczak & Welling 2018 use 500).
    num_pseudo_inputs: int = 100
    # iaf-vae: inverse autoregressive flow steps on the posterior and their MADE widths.
    num_flows: int = 4
    flow_hidden: tuple[int, ...] = (64,)
    # hvae: latent sizes of the stochastic layers, bottom (next to x) to top.
    latent_dims: tuple[int, ...] = (16, 8, 4)


def checked(default: Any, check: Callable[[Any], bool], message: str) -> Any:
    """A config field whose value must pass ``check``; else a ConfigError with ``message``.

    For the fields of objective sections (:attr:`vaekit.runner.Kind.sections`): the
    error names the full key, e.g. ``objective.tcvae.beta must be >= 0 and finite, got -1.0``.
    """
    return dataclasses.field(default=default, metadata={"check": (check, message)})


def nonnegative(default: float) -> Any:
    """A number field that must be ``>= 0`` and finite."""
    return checked(default, lambda v: 0 <= v < float("inf"), "must be >= 0 and finite")


def positive(default: int | float) -> Any:
    """A number field that must be ``> 0`` (and finite)."""
    return checked(default, lambda v: 0 < v < float("inf"), "must be > 0")


def one_of(default: str, choices: Sequence[str]) -> Any:
    """A string field that must be one of ``choices`` (a did-you-mean hint otherwise)."""
    return dataclasses.field(default=default, metadata={"choices": tuple(choices)})


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """The ``[objective]`` section: what every kind shares, and its kind's sub-sections.

    ``likelihood`` is the reconstruction term of every kind. ``sections`` holds one
    ``(name, dataclass)`` pair per ``[objective.<name>]`` table that the model kind declares
    (:attr:`vaekit.runner.Kind.sections`, e.g. ``[objective.tcvae]`` for β-TCVAE's
    ``alpha``/``beta``/``gamma``), in the kind's order; :class:`RunConfig` fills in the ones a
    file leaves out with their defaults and refuses the ones its kind does not use. Read one
    as an attribute: ``config.objective.tcvae.beta``.
    """

    likelihood: str = "bernoulli"
    sections: tuple[tuple[str, Any], ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        sections = self.__dict__.get("sections", ())
        for key, value in sections:
            if key == name:
                return value
        raise AttributeError(f"the objective has no section `{name}` (its sections: "
                             f"{[key for key, _ in sections]})")


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    """The learned prior over a quantized model's codes (``vq-vae``, ``fsq-vae`` only).

    After the autoencoder has trained, a causal transformer (:class:`vaekit.CodePrior`) is fit
    by ``make_train_step`` to the code grids of up to ``num_images`` training images (encoded
    once by the frozen autoencoder) for ``steps`` steps, validated on the validation codes, and
    saved under ``checkpoints/prior``; ``vaekit sample`` then draws codes from it.
    ``steps = 0`` trains no prior (samples decode uniformly random codes). Cost on the 2-core
    CPU: about 0.25 s per step for the 16x16 grid of a 64x64 image at batch 32 (4 minutes for
    the default 1,000 steps); a GPU takes milliseconds.
    """

    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    num_images: int = 10000
    width: int = 64
    num_layers: int = 2
    num_heads: int = 4
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from (see docs/data.md).

    ``name``: ``dsprites`` (procedural, rendered on the device from grid indices), ``digits``
    (scikit-learn), ``npz`` (``path``), ``arrays`` (a ``vaekit.data.write_arrays`` directory
    at ``path``, streamed from disk with grain), or a downloadable source of
    :func:`vaekit.data.load_dataset` (``image-folder`` reads ``path``). ``num_train = 0``
    trains on every image of the source's training split not held out for validation
    (the whole 737,280-image grid less ``num_val`` for dSprites). ``dir`` overrides the data
    cache (else ``$VAEKIT_DATA_DIR``, else the platform cache), ``offline`` uses only the
    cache, ``binarize = "dynamic"`` redraws binary pixels at every step (binarised MNIST).
    Labels (for ``cvae``): the dSprites shape, the digit class, the source's class, or the
    ``.npz`` ``labels``.
    """

    name: str = "dsprites"
    path: str = ""
    num_train: int = 0
    num_val: int = 1000
    dir: str = ""
    offline: bool = False
    binarize: str = "none"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, evaluation and checkpointing.

    ``grad_norm`` logs the global gradient norm (``make_train_step(..., grad_norm=True)``);
    ``device_data`` copies the training set to the device once and gathers each chunk's
    batches inside the compiled scan (``train_chunks(..., device_data=True)``): the same
    batches and results, without a host copy per chunk.
    """

    steps: int = 6000
    batch_size: int = 64
    lr: float = 1e-3
    eval_every: int = 1000
    checkpoint_every: int = 1000
    keep: int = 2
    steps_per_call: int = 50
    seed: int = 0
    on_nonfinite: str = "stop"
    grad_norm: bool = True
    device_data: bool = False
    # How a chunk of steps runs: "scan" (one lax.scan), "steps" (one compiled call per step),
    # "auto": "steps" for convolutional models on a CPU (XLA runs convolutions inside loops
    # 20-50x slower there), else "scan". Same batches and metrics either way.
    fused: str = "auto"
    # Experiment trackers fed with every metric row and the plots: "tensorboard", "mlflow",
    # "wandb" (offline)
    # (vaekit/runner/_tracking.py; the `track` extra).
    track: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A whole run; ``RunConfig.from_toml(path)`` / ``to_toml()`` round-trip exactly."""

    model: ModelConfig = ModelConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    prior: PriorConfig = PriorConfig()

    def __post_init__(self):
        object.__setattr__(self, "objective", _complete_objective(self))
        validate(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "RunConfig":
        """Builds a config from nested mappings; unknown sections/keys and bad types raise."""
        if not isinstance(raw, Mapping):
            raise ConfigError("the configuration must be a table of sections")
        sections = _field_types(cls)
        unknown = set(raw) - set(sections)
        if unknown:
            hints = "".join(did_you_mean(k, sections) for k in sorted(unknown))
            raise ConfigError(
                f"unknown config section(s) {sorted(unknown)}{hints}; known: {sorted(sections)}"
            )
        built = {}
        for name, section_cls in sections.items():
            table = raw.get(name, {})
            if not isinstance(table, Mapping):
                raise ConfigError(f"config section `{name}` must be a table")
            if section_cls is ObjectiveConfig:
                built[name] = _build_objective(table, built["model"].kind)
            else:
                built[name] = _build_section(section_cls, table, name)
        return cls(**built)

    @classmethod
    def from_toml(cls, path: str | Path) -> "RunConfig":
        """Reads a TOML file (see ``examples/configs/``)."""
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as one plain dict per section (tuples as lists).

        The objective's sub-sections are nested dicts: ``{"objective": {"likelihood": ...,
        "tcvae": {"alpha": ..., ...}}}``.
        """
        tables = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if f.name != "objective"}
        objective = {"likelihood": self.objective.likelihood,
                     **{name: _plain(section) for name, section in self.objective.sections}}
        return {"model": tables.pop("model"), "objective": objective, **tables}

    def to_toml(self) -> str:
        """The config as TOML text that :meth:`from_toml` reads back to an equal config."""
        lines = []
        for section, table in self.to_dict().items():
            lines.extend([f"[{section}]", *_toml_lines(table), ""])
            for name, sub in table.items():
                if isinstance(sub, Mapping):
                    lines.extend([f"[{section}.{name}]", *_toml_lines(sub), ""])
        return "\n".join(lines)

    def replace(self, **sections: Mapping[str, Any]) -> "RunConfig":
        """A copy with some keys of some sections changed, checked like a file.

        Objective sub-sections are nested tables (``objective={"tcvae": {"beta": 6.0}}``). A
        changed ``model.kind`` drops the objective sub-sections of the old kind that the new
        one does not use (unless given here, which then must be used by the new kind).
        """
        merged = self.to_dict()
        for section, values in sections.items():
            if section not in merged:
                raise ConfigError(f"unknown config section `{section}`")
            merged[section] = _merge(merged[section], values, section)
        kind = merged["model"].get("kind")
        if kind != self.model.kind:
            given = sections.get("objective", {})
            used = _sections_of(kind)
            merged["objective"] = {key: value for key, value in merged["objective"].items()
                                   if not isinstance(value, Mapping) or key in given
                                   or key in used}
        return RunConfig.from_dict(merged)


def _plain(section: Any) -> dict[str, Any]:
    """A section dataclass as a dict of TOML values (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(section).items()}


def _merge(base: Mapping[str, Any], values: Any, key: str) -> dict[str, Any]:
    """``base`` updated by ``values``, nested tables merged key by key."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section `{key}` must be a table, got {values!r}")
    merged = dict(base)
    for name, value in values.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = _merge(merged[name], value, f"{key}.{name}")
        else:
            merged[name] = value
    return merged


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"section.key": value}`` (``"objective.tcvae.beta"``) of a :meth:`RunConfig.to_dict`."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _registered_sections() -> dict[str, type]:
    from vaekit.runner._kinds import objective_sections

    return objective_sections()


def _sections_of(kind: str) -> dict[str, type]:
    """The ``[objective.<name>]`` dataclasses of model kind ``kind`` (none if unknown)."""
    from vaekit.runner._kinds import KINDS

    return dict(KINDS[kind].sections) if kind in KINDS else {}


def _unused_section(name: str, kind: str) -> ConfigError:
    used = ", ".join(f"[objective.{s}]" for s in _sections_of(kind)) or "none"
    return ConfigError(f"config section [objective.{name}] is not used by model.kind = "
                       f"{kind!r} (its objective sections: {used}); remove it or change "
                       "model.kind")


# Keys of the flat [objective] table of vaekit before per-objective sections, and where each
# went. A config written then (every run directory of those versions: its config.toml and
# config.started.json list all 19 keys, whatever the kind) is migrated when read
# (:func:`migrate_flat_objective`).
MOVED_KEYS = {
    "beta": "objective.beta_vae.beta", "beta_schedule": "objective.annealing.schedule",
    "beta_start": "objective.annealing.start", "beta_steps": "objective.annealing.steps",
    "gamma": "objective.capacity.gamma", "c_max": "objective.capacity.c_max",
    "capacity_steps": "objective.capacity.steps", "free_bits": "objective.free_bits.nats",
    "tc_alpha": "objective.tcvae.alpha", "tc_beta": "objective.tcvae.beta",
    "tc_gamma": "objective.tcvae.gamma", "mmd_alpha": "objective.info_vae.alpha",
    "mmd_lambda": "objective.info_vae.lambda_", "dip_kind": "objective.dip.variant",
    "dip_lambda_od": "objective.dip.lambda_od", "commitment_cost": "objective.vq.commitment_cost",
    "factor_gamma": "objective.factor_vae.gamma", "num_samples": "objective.iwae.num_samples",
    "dreg": "objective.iwae.dreg",
}


def _hint(key: str, names) -> str:
    """Where an old flat ``objective.<key>`` moved, else a did-you-mean over ``names``."""
    if key in MOVED_KEYS:
        return f" (`objective.{key}` is now `{MOVED_KEYS[key]}`)"
    return did_you_mean(key, names)


def _migrate_objective(table: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The ``[objective]`` table with its earlier flat keys moved into their sections.

    A flat key (a :data:`MOVED_KEYS` name with a value that is not a table) goes to its new
    section if model kind ``kind`` uses that section, and is dropped otherwise: earlier
    versions wrote every flat key for every kind and read only their kind's. A flat key
    given together with its new key at another value is a ConfigError naming both.
    """
    flat = {k: v for k, v in table.items() if k in MOVED_KEYS and not isinstance(v, Mapping)}
    migrated = {k: dict(v) if isinstance(v, Mapping) else v
                for k, v in table.items() if k not in flat}
    used = _sections_of(kind)
    for old, value in flat.items():
        _, section, key = MOVED_KEYS[old].split(".")
        given = table.get(section)
        if isinstance(given, Mapping) and key in given and given[key] != value:
            raise ConfigError(
                f"`objective.{old}` = {value!r} (a key of the earlier flat [objective] table) "
                f"and `{MOVED_KEYS[old]}` = {given[key]!r} disagree; keep only "
                f"`{MOVED_KEYS[old]}`")
        target = migrated.setdefault(section, {}) if section in used else None
        if isinstance(target, dict):  # (a section given as a non-table is reported later)
            target.setdefault(key, value)
    return migrated


def migrate_flat_objective(raw: Any) -> Any:
    """A config dict with the flat ``[objective]`` keys of earlier vaekit in their sections.

    What :meth:`RunConfig.from_dict` does to every config it reads, for a raw dict that is
    compared rather than built (a run's ``config.started.json``). ``raw`` is returned as is
    when it has no ``[objective]`` table or its ``model.kind`` is not registered.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("objective"), Mapping):
        return raw
    model = raw.get("model", {})
    kind = model.get("kind", ModelConfig.kind) if isinstance(model, Mapping) else None
    if kind not in MODEL_KINDS:
        return raw
    return {**raw, "objective": _migrate_objective(raw["objective"], kind)}


def _build_objective(table: Mapping[str, Any], kind: str) -> ObjectiveConfig:
    """The ``[objective]`` table: shared keys, and the sub-sections ``kind`` uses."""
    _choice(kind, MODEL_KINDS, "model.kind")  # before its sections are looked up
    table = _migrate_objective(table, kind)
    known = _registered_sections()
    shared = {k: v for k, v in _field_types(ObjectiveConfig).items() if k != "sections"}
    unknown = sorted(k for k in table if k not in shared and k not in known)
    if unknown:
        names = [*shared, *known]
        hints = "".join(_hint(k, names) for k in unknown)
        raise ConfigError(
            f"unknown key(s) or section(s) {[f'objective.{k}' for k in unknown]}{hints}; "
            f"known keys of [objective]: {sorted(shared)}, its sections: "
            f"{sorted(f'objective.{k}' for k in known)}")
    sections = []
    for name, value in table.items():
        if name in shared:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"config section `objective.{name}` must be a table, got "
                              f"{value!r}")
        if name not in _sections_of(kind):
            raise _unused_section(name, kind)
        sections.append((name, _build_section(known[name], value, f"objective.{name}")))
    return ObjectiveConfig(
        **{k: _coerce(v, shared[k], f"objective.{k}") for k, v in table.items() if k in shared},
        sections=tuple(sections))


def _complete_objective(config: "RunConfig") -> ObjectiveConfig:
    """``config.objective`` with every section of its kind, in the kind's order.

    Sections the kind declares but ``config`` lacks get their defaults; a section the kind
    does not use, or of another type than the kind declares, is a ConfigError.
    """
    objective, kind = config.objective, config.model.kind
    _choice(kind, MODEL_KINDS, "model.kind")  # the one check of a config built directly
    declared = _sections_of(kind)
    given = dict(objective.sections)
    for name, section in given.items():
        if name not in declared:
            raise _unused_section(name, kind)
        if type(section) is not declared[name]:
            raise ConfigError(f"config section [objective.{name}] must be a "
                              f"{declared[name].__name__}, got {section!r}")
    sections = tuple((name, given[name] if name in given else cls())
                     for name, cls in declared.items())
    return dataclasses.replace(objective, sections=sections)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_lines(table: Mapping[str, Any]) -> list[str]:
    """``key = value`` lines of a table's values (its sub-tables left out)."""
    return [f"{key} = {_toml_value(value)}" for key, value in table.items()
            if not isinstance(value, Mapping)]


# The value types a config file holds, and how an error describes a list of each.
_SCALARS = {bool: "true or false values", int: "integers", float: "numbers", str: "names"}


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """``{field: type}`` of a config dataclass, string annotations resolved."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _scalar(hint: Any) -> bool:
    return any(hint is t for t in _SCALARS)


def _loadable(hint: Any) -> bool:
    """Whether :func:`_coerce` reads a ``hint``: a scalar, or ``tuple[scalar, ...]``."""
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        return len(args) == 2 and args[1] is Ellipsis and _scalar(args[0])
    return _scalar(hint)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"`{key}` must be a list of {_SCALARS[item]}, got {value!r}")
        return tuple(_coerce(v, item, key) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{key}` must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`{key}` must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"`{key}` must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"`{key}` must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint}")


def _build_section(section_cls, table: Mapping[str, Any], section: str):
    fields = _field_types(section_cls)
    unknown = set(table) - set(fields)
    if unknown:
        hints = "".join(did_you_mean(k, fields) for k in sorted(unknown))
        raise ConfigError(
            f"unknown key(s) {sorted(f'{section}.{k}' for k in unknown)}{hints}; "
            f"known keys of [{section}]: {sorted(fields)}"
        )
    return section_cls(
        **{k: _coerce(v, fields[k], f"{section}.{k}") for k, v in table.items()}
    )


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def bare_key(name: Any) -> bool:
    """Whether ``name`` is a TOML bare key (``[A-Za-z0-9_-]+``), written without quotes."""
    return isinstance(name, str) and _BARE_KEY.fullmatch(name) is not None


def _field_problem(field: dataclasses.Field, hint: Any) -> str:
    """Why a config file cannot hold a section's ``field`` ("" if it can)."""
    if not bare_key(field.name):
        return "is not a TOML bare key (letters, digits, _ and - only)"
    if not field.init:
        return "is not an __init__ field (init=False)"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        return "has no default (a config file may leave any key out)"
    if not _loadable(hint):
        return (f"has type {hint!r}, which a config file cannot hold (bool, int, float, str, "
                "or tuple[one of these, ...])")
    return ""


def check_section_class(section_cls: type, name: str, where: str) -> None:
    """Refuses a section dataclass that the config files cannot hold.

    Every field must have a default and a type :func:`_coerce` reads, and the defaults must
    pass their checks and come back equal from the TOML that :meth:`RunConfig.to_toml` writes.

    Raises:
      ValueError: naming ``where`` (e.g. the kind), the section ``[objective.<name>]`` and the
        field.
    """
    where = f"{where}: [objective.{name}] ({section_cls.__name__})"
    try:
        types = _field_types(section_cls)
    except Exception as err:  # NameError of an unresolvable annotation, and the like
        raise ValueError(f"{where}: cannot resolve its field types: {err}") from None
    for field in dataclasses.fields(section_cls):
        problem = _field_problem(field, types[field.name])
        if problem:
            raise ValueError(f"{where}: field `{field.name}` {problem}")
    try:
        default = section_cls()
        _check_section(default, f"objective.{name}")
        back = _build_section(section_cls, tomllib.loads("\n".join(_toml_lines(_plain(default)))),
                              f"objective.{name}")
    except (TypeError, ValueError) as err:  # ConfigError and TOMLDecodeError included
        raise ValueError(f"{where}: its defaults do not round-trip through config.toml: "
                         f"{err}") from None
    if back != default:
        raise ValueError(f"{where}: its defaults {default!r} read back from config.toml as "
                         f"{back!r}")


def _check(ok: bool, key: str, message: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"`{key}` {message}, got {value!r}")


def did_you_mean(value: str, choices) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _choice(value: str, choices: Sequence[str], key: str) -> None:
    _check(value in choices, key, f"must be one of {list(choices)}{did_you_mean(value, choices)}",
           value)


def _check_section(section: Any, prefix: str) -> None:
    """The ``checked``/``one_of`` constraints of a section dataclass's fields."""
    for field in dataclasses.fields(section):
        value, key = getattr(section, field.name), f"{prefix}.{field.name}"
        if "choices" in field.metadata:
            _choice(value, field.metadata["choices"], key)
        if "check" in field.metadata:
            check, message = field.metadata["check"]
            _check(check(value), key, message, value)


def validate(config: RunConfig) -> None:
    """Checks every value's range; the error names the key (``section.key``)."""
    m, o, d, t = config.model, config.objective, config.data, config.train
    _choice(m.architecture, ARCHITECTURES, "model.architecture")
    _check(m.latent_dim > 0, "model.latent_dim", "must be > 0", m.latent_dim)
    _check(len(m.hidden) > 0 and min(m.hidden) > 0, "model.hidden", "must be sizes > 0", m.hidden)
    _check(len(m.channels) > 0 and min(m.channels) > 0, "model.channels", "must be sizes > 0",
           m.channels)
    _check(len(m.vq_channels) > 0 and min(m.vq_channels) > 0, "model.vq_channels",
           "must be sizes > 0", m.vq_channels)
    _check(m.num_res_blocks >= 0, "model.num_res_blocks", "must be >= 0", m.num_res_blocks)
    _check(m.num_codes >= 1, "model.num_codes", "must be >= 1", m.num_codes)
    _check(m.code_dim >= 1, "model.code_dim", "must be >= 1", m.code_dim)
    _check(m.dead_code_threshold >= 0, "model.dead_code_threshold", "must be >= 0",
           m.dead_code_threshold)
    _check(all(h > 0 for h in m.discriminator_hidden), "model.discriminator_hidden",
           "must be positive widths", m.discriminator_hidden)
    _check(len(m.fsq_levels) > 0 and min(m.fsq_levels) >= 2, "model.fsq_levels",
           "must be levels >= 2", m.fsq_levels)
    _check(m.num_pseudo_inputs >= 1, "model.num_pseudo_inputs", "must be >= 1",
           m.num_pseudo_inputs)
    _check(m.num_flows >= 1, "model.num_flows", "must be >= 1", m.num_flows)
    _check(len(m.flow_hidden) > 0 and min(m.flow_hidden) > 0, "model.flow_hidden",
           "must be sizes > 0", m.flow_hidden)
    _check(len(m.latent_dims) > 0 and min(m.latent_dims) > 0, "model.latent_dims",
           "must be sizes > 0", m.latent_dims)
    _choice(o.likelihood, LIKELIHOODS, "objective.likelihood")
    for name, section in o.sections:
        _check_section(section, f"objective.{name}")
    _choice(d.name, DATASETS, "data.name")
    _check(d.name != "npz" or bool(d.path), "data.path", "must name a .npz file for data.name "
           "= \"npz\"", d.path)
    _check(d.name != "arrays" or bool(d.path), "data.path", "must name a directory written by "
           "vaekit.data.write_arrays for data.name = \"arrays\"", d.path)
    _check(d.name != "image-folder" or bool(d.path), "data.path", "must name a folder of "
           "images for data.name = \"image-folder\"", d.path)
    _choice(d.binarize, BINARIZE, "data.binarize")
    _check(d.num_train >= 0, "data.num_train", "must be >= 0 (0: all)", d.num_train)
    _check(d.num_val > 0, "data.num_val", "must be > 0", d.num_val)
    _check(t.steps > 0, "train.steps", "must be > 0", t.steps)
    _check(t.batch_size > 0, "train.batch_size", "must be > 0", t.batch_size)
    _check(0 < t.lr < float("inf"), "train.lr", "must be > 0", t.lr)
    _check(t.eval_every >= 0, "train.eval_every", "must be >= 0", t.eval_every)
    _check(t.checkpoint_every >= 0, "train.checkpoint_every", "must be >= 0", t.checkpoint_every)
    _check(t.keep > 0, "train.keep", "must be > 0", t.keep)
    _check(t.steps_per_call > 0, "train.steps_per_call", "must be > 0", t.steps_per_call)
    _check(t.seed >= 0, "train.seed", "must be >= 0", t.seed)
    _choice(t.on_nonfinite, ON_NONFINITE, "train.on_nonfinite")
    _choice(t.fused, FUSED, "train.fused")
    for name in t.track:
        _choice(name, TRACKERS, "train.track")
    p = config.prior
    _check(p.steps >= 0, "prior.steps", "must be >= 0 (0: no prior)", p.steps)
    for key in ("batch_size", "num_images", "width", "num_layers", "num_heads"):
        _check(getattr(p, key) > 0, f"prior.{key}", "must be > 0", getattr(p, key))
    _check(p.width % p.num_heads == 0, "prior.width", f"must be divisible by prior.num_heads "
           f"({p.num_heads})", p.width)
    _check(0 < p.lr < float("inf"), "prior.lr", "must be > 0", p.lr)
    _check(0.0 <= p.dropout < 1.0, "prior.dropout", "must be in [0, 1)", p.dropout)
