"""Model, training and search settings as data: ``jobs/models.toml`` -> typed dataclasses.

Validated on load like the campaign specs (:mod:`glasskit.campaign.spec`): an unknown key, a wrong type or
a value outside its rule is one :class:`~glasskit.util.errors.GlasskitError` naming file and key.
:func:`resolve` applies a preset and ``--hp key=value`` overrides and returns a
:class:`RunConfig`, the complete, JSON-serialisable description of one training run.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from glasskit.util.errors import GlasskitError
from glasskit.campaign.spec import NAME_RE, build_table

MODELS = ("cnn", "dmpnn")


def _rule(check, text):
    return {"rule": (check, text)}


_pos = _rule(lambda v: v > 0, "must be > 0")
_nonneg = _rule(lambda v: v >= 0, "must be >= 0")
_prob = _rule(lambda v: 0 <= v < 1, "must be in [0, 1)")
_small = _rule(lambda v: 1 <= v <= 64, "must be in 1..64")


def _oneof(*options):
    return _rule(lambda v: v in options, f"must be one of {', '.join(options)}")


@dataclass(frozen=True)
class TrainSpec:
    """Adam with linear warm-up lr_init -> lr_max over ``warmup_epochs``, then exponential decay
    to ``lr_final`` at the last step; ``epochs`` passes over the training split."""

    epochs: int = field(default=10, metadata=_rule(lambda v: 1 <= v <= 10_000, "must be in 1..10000"))
    lr_init: float = field(default=1e-4, metadata=_pos)
    lr_max: float = field(default=1e-3, metadata=_pos)
    lr_final: float = field(default=1e-4, metadata=_pos)
    warmup_epochs: float = field(default=2.0, metadata=_nonneg)
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    group_by: str = field(default="simulation", metadata=_oneof("simulation", "none"))
    seed: int = field(default=0, metadata=_rule(lambda v: 0 <= v < 2**63, "must be in 0..2**63-1"))
    workers: int = field(default=2, metadata=_rule(lambda v: 0 <= v <= 64, "must be in 0..64"))


@dataclass(frozen=True)
class CNNSpec:
    """The authors' CNN (SI section II); ``image_px`` square RGB inputs."""

    image_px: int = field(default=250, metadata=_rule(lambda v: 32 <= v <= 1024, "must be in 32..1024"))
    conv1: tuple[int, int] = (10, 6)
    conv2: tuple[int, int] = (5, 16)
    dense: int = field(default=80, metadata=_rule(lambda v: 1 <= v <= 4096, "must be in 1..4096"))
    dropout: float = field(default=0.5, metadata=_prob)
    l2: float = field(default=0.01, metadata=_nonneg)
    batch: int = field(default=20, metadata=_rule(lambda v: 1 <= v <= 4096, "must be in 1..4096"))
    init: str = field(default="xavier", metadata=_oneof("xavier", "authors"))
    pixels: str = field(default="unit", metadata=_oneof("unit", "raw"))
    views: int = field(default=1, metadata=_rule(lambda v: 1 <= v <= 1000, "must be in 1..1000"))  # images of each training frame per epoch
    augment: str = field(default="none", metadata=_oneof("none", "symmetry"))  # "symmetry": each a random symmetry of the periodic box


@dataclass(frozen=True)
class DMPNNSpec:
    """The D-MPNN (SI section II) and the graphs it reads."""

    # the architecture of the paper's Model I (measured best on the six datasets: jobs/models.toml)
    k: int = field(default=1, metadata=_rule(lambda v: 1 <= v <= 32, "must be in 1..32"))
    l_win: float = field(default=0.3, metadata=_rule(lambda v: 0 < v <= 1, "must be in (0, 1]"))
    hidden: int = field(default=300, metadata=_rule(lambda v: 1 <= v <= 8192, "must be in 1..8192"))
    depth: int = field(default=2, metadata=_rule(lambda v: 1 <= v <= 32, "must be in 1..32"))
    ffn_layers: int = field(default=1, metadata=_small)
    dropout: float = field(default=0.0, metadata=_prob)  # measured: 0.5 underfits (jobs/models.toml)
    batch: int = field(default=5, metadata=_rule(lambda v: 1 <= v <= 4096, "must be in 1..4096"))
    attention: str = field(default="graph", metadata=_oneof("graph", "batch", "none"))
    attention_norm: str = field(default="mean", metadata=_oneof("sum", "mean"))
    input_dropout: bool = True
    features: str = field(default="relative", metadata=_oneof("authors", "relative"))
    distance: str = field(default="sigma", metadata=_oneof("sigma", "scaled"))
    window: str = field(default="independent", metadata=_oneof("independent", "diagonal"))
    windows: int = field(default=1, metadata=_rule(lambda v: 1 <= v <= 1000, "must be in 1..1000"))  # random windows of each training frame per epoch
    eval_windows: int = field(default=8, metadata=_rule(lambda v: 1 <= v <= 1000, "must be in 1..1000"))  # a frame scores the mean over this many windows


@dataclass(frozen=True)
class Dimension:
    """One search dimension: quniform(low, high, step), cast to int when ``int``."""

    low: float
    high: float
    step: float = field(metadata=_pos)
    int: bool = False


_SPECS = {"cnn": CNNSpec, "dmpnn": DMPNNSpec}


@dataclass(frozen=True)
class Models:
    """Everything in ``jobs/models.toml``."""

    train: TrainSpec
    cnn: CNNSpec
    dmpnn: DMPNNSpec
    presets: dict[str, dict]
    search: dict[str, dict[str, Dimension]]
    path: str = ""
    text: str = ""


@dataclass(frozen=True)
class RunConfig:
    """One training run: which model on which dataset, with every setting resolved."""

    model: str
    dataset: int
    net: CNNSpec | DMPNNSpec
    train: TrainSpec
    preset: str | None = None

    @property
    def batch(self) -> int:
        return self.net.batch

    def as_dict(self) -> dict:
        return {"model": self.model, "dataset": self.dataset, "preset": self.preset,
                "net": dataclasses.asdict(self.net), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d["net"].items()}
        if d["model"] == "dmpnn":
            fields.setdefault("input_dropout", False)  # runs written before it existed had none
        net = _SPECS[d["model"]](**fields)
        train = TrainSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["train"].items()})
        return cls(d["model"], int(d["dataset"]), net, train, d.get("preset"))


def load_models(path: str | Path = "jobs/models.toml") -> Models:
    """Load and validate ``jobs/models.toml``."""
    path = Path(path)
    from glasskit.util.tomlfile import read_toml
    text, data = read_toml(path, "model settings file", "see jobs/models.toml")
    src = str(path)
    unknown = set(data) - {"train", "cnn", "dmpnn", "preset", "search"}
    if unknown:
        raise GlasskitError(f"{src}: unknown table [{sorted(unknown)[0]}]",
                            "allowed: [train], [cnn], [dmpnn], [preset.NAME], [search.MODEL]")
    train = build_table(TrainSpec, data.get("train", {}), src, "train")
    _check_train(train, src)
    nets = {m: build_table(_SPECS[m], data.get(m, {}), src, m) for m in MODELS}
    presets = data.get("preset", {})
    for name, table in presets.items():  # a preset must itself resolve
        if not NAME_RE.fullmatch(name):  # it names run directories: no "../", no newline
            raise GlasskitError(f"{src}: preset name {name!r} must match [A-Za-z][A-Za-z0-9_.-]*",
                                "rename the [preset.NAME] table: its name becomes part of run directory names")
        _apply(nets["dmpnn"], table, src, f"preset.{name}")
    search = {}
    for model, space in data.get("search", {}).items():
        if model not in MODELS or not isinstance(space, dict):
            raise GlasskitError(f"{src}: [search.{model}] names no model", f"use one of {', '.join(MODELS)}")
        search[model] = {k: _dimension(v, nets[model], src, f"search.{model}.{k}") for k, v in space.items()}
    return Models(train, nets["cnn"], nets["dmpnn"], presets, search, src, text)


def _check_train(t: TrainSpec, src: str) -> None:
    if not (all(0 <= f < 1 for f in t.split) and math.isclose(sum(t.split), 1.0) and t.split[0] > 0):
        raise GlasskitError(f"{src}: 'train.split' = {list(t.split)} must be three fractions in [0, 1) summing to 1")
    if not t.lr_init <= t.lr_max or not t.lr_final <= t.lr_max:
        raise GlasskitError(f"{src}: learning rates need lr_init <= lr_max and lr_final <= lr_max")
    if t.warmup_epochs > t.epochs:
        raise GlasskitError(f"{src}: 'train.warmup_epochs' = {t.warmup_epochs} exceeds 'train.epochs' = {t.epochs}")


def _dimension(table, net, src: str, key: str) -> Dimension:
    dim = build_table(Dimension, table, src, key)
    name = key.rsplit(".", 1)[1]
    if name not in {f.name for f in dataclasses.fields(net)}:
        raise GlasskitError(f"{src}: '{key}' is not a setting of this model")
    if not dim.low <= dim.high:
        raise GlasskitError(f"{src}: '{key}' needs low <= high")
    for v in (dim.low, dim.high):  # both ends must be valid settings
        _apply(net, {name: int(v) if dim.int else v}, src, key)
    return dim


def _apply(net, overrides: dict, src: str, where: str):
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(net).items()}
    merged = {**plain, **overrides}
    return build_table(type(net), merged, src, where)


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["hidden=600", "attention=batch"]`` -> {"hidden": 600, "attention": "batch"}: each value
    is read as a TOML value (numbers, booleans, lists), falling back to a string."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise GlasskitError(f"--hp {pair!r} is not key=value", "e.g. --hp hidden=600 --hp dropout=0.2")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def resolve(models: Models, model: str, dataset: int, preset: str | None = None,
            overrides: dict | None = None) -> RunConfig:
    """The :class:`RunConfig` of ``model`` with ``preset`` and then ``overrides`` applied;
    an override may name a [train] key too (``epochs``, ``seed``, ...)."""
    if model not in MODELS:
        raise GlasskitError(f"unknown model {model!r}", f"choose one of {', '.join(MODELS)}")
    if not 1 <= int(dataset) <= 999:
        raise GlasskitError(f"dataset {dataset} is out of range", "datasets are numbered 1-6 (jobs/datasets.toml)")
    net = getattr(models, model)
    if preset is not None:
        if preset not in models.presets:
            raise GlasskitError(f"no preset {preset!r} in {models.path}",
                                f"defined: {', '.join(sorted(models.presets)) or 'none'}")
        if model != "dmpnn":
            raise GlasskitError(f"preset {preset!r} is a D-MPNN preset", "use --model dmpnn")
        net = _apply(net, models.presets[preset], models.path, f"preset.{preset}")
    overrides = dict(overrides or {})
    net_keys = {f.name for f in dataclasses.fields(net)}
    train_keys = {f.name for f in dataclasses.fields(TrainSpec)}
    bad = set(overrides) - net_keys - train_keys
    if bad:
        raise GlasskitError(f"--hp {sorted(bad)[0]} is not a setting of the {model} model or of [train]",
                            f"settings: {', '.join(sorted(net_keys | train_keys))}")
    net = _apply(net, {k: v for k, v in overrides.items() if k in net_keys}, "--hp", model)
    train = _apply(models.train, {k: v for k, v in overrides.items() if k in train_keys}, "--hp", "train")
    _check_train(train, "--hp")
    return RunConfig(model, int(dataset), net, train, preset)


def config_json(cfg: RunConfig) -> str:
    return json.dumps(cfg.as_dict(), indent=1, sort_keys=True)


def with_values(cfg: RunConfig, values: dict, src: str = "search") -> RunConfig:
    """``cfg`` with ``values`` (keys of its model or of [train]) applied and validated."""
    net_keys = {f.name for f in dataclasses.fields(cfg.net)}
    net = _apply(cfg.net, {k: v for k, v in values.items() if k in net_keys}, src, cfg.model)
    train = _apply(cfg.train, {k: v for k, v in values.items() if k not in net_keys}, src, "train")
    return dataclasses.replace(cfg, net=net, train=train)
