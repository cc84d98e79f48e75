"""One frozen configuration object per run, built from a named preset, a TOML
file and command-line flags, in that order of precedence (later wins).

Every field has its unit in a comment. Presets are plain ``SuiteConfig``
values in ``PRESETS``; a TOML file overrides any field by section and key:

    [train]
    epochs = 40
    [attack]
    eps = [0, "2/255", 0.05]
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from robustness.errors import SuiteError


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # key of robustness.data.DATASETS
    test_fraction: float = 0.3  # share of the data held out for testing (stratified)
    split_seed: int = 0  # fixes the train/test split, independent of model seeds


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "digits_cnn"  # key of robustness.models.MODELS
    epochs: int = 30  # passes over the training set
    batch_size: int = 64  # examples per SGD step
    lr: float = 0.05  # SGD learning rate at the start
    momentum: float = 0.9  # SGD momentum (the paper's value)
    weight_decay: float = 5e-4  # L2 penalty on all weights
    milestones: tuple[float, ...] = (0.5, 0.75)  # lr ÷ 10 at these fractions of `epochs`


@dataclass(frozen=True)
class CleanConfig:
    methods: tuple[str, ...] = ("erm", "mixup:1")  # training methods, "name" or "name:param"
    seeds: tuple[int, ...] = (0, 1)  # one separately trained model per method and seed


@dataclass(frozen=True)
class AttackConfig:
    attacks: tuple[str, ...] = ("fgsm", "ifgsm", "pgd")  # keys of attacks.ATTACKS
    eps: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)  # L∞ radius, pixels in [0, 1]
    ifgsm_steps: int = 10  # I-FGSM iterations (the paper's recipe: 10)
    ifgsm_step_factor: float = 1.0  # I-FGSM step size = factor · ε / steps (the paper's recipe: 1)
    pgd_steps: int = 10  # PGD iterations
    pgd_step_factor: float = 2.5  # PGD step size = factor · ε / steps (Madry et al.: 2.5)
    pgd_random_start: bool = True  # PGD starts at a uniform random point of the ε-ball
    pgd_restarts: int = 1  # PGD runs per example; an example counts as fooled if any run fools it
    seed: int = 0  # seeds PGD's random starts (per source, ε and batch, so numbers do not depend on order)
    batch_size: int = 256  # test images crafted at once per source model
    fuse_epsilons: bool = True  # craft every ε of an attack in one pass (same numbers, less time)
    heatmap_eps: float = 0.1  # the ε at which the transfer matrix is drawn and tabulated
    between_pairs: int = 200  # random test pairs (different labels) for the paper's Figure 2 analysis
    between_points: int = 21  # λ values on [0, 1] along each pair's segment


@dataclass(frozen=True)
class NoiseConfig:
    enabled: bool = True  # run the corrupted-label benchmark at all
    noise_model: str = "uniform"  # key of noise.NOISE_MODELS; "uniform" is the paper's convention
    levels: tuple[float, ...] = (0.2, 0.5, 0.8)  # probability that a training label is replaced
    methods: tuple[str, ...] = ("erm", "mixup:1", "mixup:8")
    seeds: tuple[int, ...] = (0,)
    epochs: int = 60  # longer than clean training: memorizing noise takes time


@dataclass(frozen=True)
class SuiteConfig:
    preset: str = "quick"
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"
    out: str = "reports"  # runs are written to <out>/<run-id>/
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


PRESETS: dict[str, SuiteConfig] = {
    # The default: digits on the CPU, the whole suite in well under 3 minutes.
    "quick": SuiteConfig(preset="quick"),
    # For tests and smoke runs: seconds, not minutes. Numbers mean nothing.
    "tiny": SuiteConfig(
        preset="tiny",
        train=TrainConfig(epochs=2),
        attack=AttackConfig(eps=(0.0, 0.1), heatmap_eps=0.1, ifgsm_steps=3, pgd_steps=3, between_pairs=50),
        noise=NoiseConfig(levels=(0.5,), methods=("erm", "mixup:8"), epochs=2),
    ),
}


def parse_eps(value: Any) -> float:
    """An ε given as a number in [0, 1] or as a pixel fraction string such as "4/255"."""
    try:
        eps = float(Fraction(str(value).strip())) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise SuiteError(f"ε {value!r} is not a number; write it as 0.03 or as \"8/255\"") from None
    if not 0.0 <= eps <= 1.0:
        raise SuiteError(f"ε {value!r} is outside [0, 1]; pixels are in [0, 1], so write 8/255 rather than 8")
    return eps


def _coerce(value: Any, like: Any, where: str) -> Any:
    """Convert a TOML/flag value to the type of the default it replaces."""
    if isinstance(like, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_like = like[0] if like else value[0] if value else None
        if where.endswith(".eps") or where.endswith("_eps"):
            return tuple(parse_eps(v) for v in value)
        return tuple(_coerce(v, item_like, where) for v in value)
    if where.endswith("_eps"):
        return parse_eps(value)
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise SuiteError(f"{where} must be true or false, not {value!r}")
        return value
    for kind in (int, float, str):
        if isinstance(like, kind):
            try:
                return kind(value)
            except (TypeError, ValueError):
                raise SuiteError(f"{where} must be a {kind.__name__}, not {value!r}") from None
    return value


def override(config: Any, changes: dict[str, Any], where: str = "config") -> Any:
    """Return ``config`` with ``changes`` applied; nested dicts update nested sections.

    Unknown keys raise a one-line error that lists the valid keys.
    """
    valid = {f.name: f for f in fields(config)}
    updates = {}
    for key, value in changes.items():
        if key not in valid:
            raise SuiteError(f"unknown key {where}.{key}; valid keys: {', '.join(valid)}")
        current = getattr(config, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise SuiteError(f"{where}.{key} must be a table ([{key}] in TOML)")
            updates[key] = override(current, value, f"{where}.{key}" if where != "config" else key)
        else:
            updates[key] = _coerce(value, current, f"{where}.{key}" if where != "config" else key)
    return replace(config, **updates)


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"config file {path} does not exist; pass the path of a .toml file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SuiteError(f"config file {path} is not valid TOML ({err}); fix the syntax") from None


def preset(name: str) -> SuiteConfig:
    if name not in PRESETS:
        raise SuiteError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def build_config(
    preset_name: str | None = None,
    toml_path: str | Path | None = None,
    flags: dict[str, Any] | None = None,
) -> SuiteConfig:
    """Preset, then TOML, then flags (nested dict, e.g. ``{"clean": {"seeds": [0, 1]}}``).

    A ``preset`` key in the TOML file selects the base preset when no flag did.
    """
    table = read_toml(toml_path) if toml_path else {}
    toml_preset = table.pop("preset", None)
    base = preset(preset_name or toml_preset or "quick")
    config = override(base, table)
    config = override(config, flags or {})
    validate(config)
    return config


def validate(config: SuiteConfig) -> None:
    """Check every name and range before anything is trained or written."""
    # Imported here: the registries import this module's dataclasses.
    from attacks import ATTACKS
    from noise import NOISE_MODELS
    from robustness.data import DATASETS
    from robustness.methods import parse_method
    from robustness.models import MODELS
    from robustness.registry import lookup

    lookup(DATASETS, config.data.name, "data set")
    lookup(MODELS, config.train.arch, "model")
    for name in config.attack.attacks:
        lookup(ATTACKS, name, "attack")
    lookup(NOISE_MODELS, config.noise.noise_model, "noise model")
    for spec in config.clean.methods + config.noise.methods:
        parse_method(spec)
    if config.device not in ("auto", "cpu", "cuda"):
        raise SuiteError(f"unknown device {config.device!r}; choose one of: auto, cpu, cuda")
    if not config.clean.seeds or not config.clean.methods:
        raise SuiteError("clean.methods and clean.seeds must not be empty")
    if config.train.epochs < 1 or config.noise.epochs < 1:
        raise SuiteError("epochs must be at least 1")
    for p in config.noise.levels:
        if not 0.0 <= p <= 1.0:
            raise SuiteError(f"noise level {p} is outside [0, 1]; write 0.2 for 20%")
    for key in ("ifgsm_steps", "pgd_steps", "pgd_restarts", "between_pairs", "batch_size"):
        if getattr(config.attack, key) < 1:
            raise SuiteError(f"attack.{key} must be at least 1")
    if config.attack.between_points < 2:
        raise SuiteError("attack.between_points must be at least 2 (λ = 0 and λ = 1)")
    for key in ("ifgsm_step_factor", "pgd_step_factor"):
        if not getattr(config.attack, key) > 0:
            raise SuiteError(f"attack.{key} must be positive; 1 means steps of ε / steps")
    if config.attack.heatmap_eps not in config.attack.eps:
        raise SuiteError(
            f"attack.heatmap_eps {config.attack.heatmap_eps} is not one of attack.eps; pick one of them"
        )


def to_dict(config: SuiteConfig) -> dict[str, Any]:
    """A JSON-ready dict of the whole configuration (tuples become lists)."""
    return dataclasses.asdict(config)
