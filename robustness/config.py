"""One frozen configuration object per run, built from a named preset, a TOML
file and command-line flags, in that order of precedence (later wins).

Every field has its unit in a comment. Presets are plain ``SuiteConfig``
values in ``robustness.presets``; a TOML file overrides any field by section and key,
and an attack's own settings in its table (``[attack.pgd]``):

    [train]
    epochs = 40
    [attack]
    eps = [0, "2/255", 0.05]
    [attack.pgd]
    steps = 40
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from robustness.errors import SuiteError


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # key of robustness.data.DATASETS, or "imagefolder:PATH"
    test_fraction: float = 0.3  # share held out for testing (stratified); data sets without their own test split only
    split_seed: int = 0  # fixes the train/test split and the subsets, independent of model seeds
    root: str = "data"  # where torchvision's data sets live (downloaded there when missing)
    download: bool = True  # let torchvision download missing files (fails cleanly without network)
    train_subset: int = 0  # stratified, seeded subset of this many training images; 0 = all
    test_subset: int = 0  # the same for the test images; 0 = all
    # The first this many test images in the data set's own order, before test_subset (RobustBench's benchmark
    # evaluates the first 10,000 of CIFAR-10's); 0 = all.
    test_first: int = 0
    mean: tuple[float, ...] = ()  # per-channel input mean in [0, 1]; () = computed on the training split
    std: tuple[float, ...] = ()  # per-channel input std; () = computed on the training split
    skip_bad_images: bool = False  # imagefolder: leave out unreadable images (counted in data.skipped_images) instead of stopping


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "digits_cnn"  # key of robustness.models.MODELS
    epochs: int = 15  # passes over the training set
    batch_size: int = 64  # examples per SGD step
    lr: float = 0.1  # SGD learning rate: the start ("step") or the peak ("onecycle")
    momentum: float = 0.9  # SGD momentum (the paper's value)
    weight_decay: float = 5e-4  # L2 penalty on all weights
    milestones: tuple[float, ...] = (0.5, 0.75)  # schedule "step": lr ÷ 10 at these fractions of `epochs`
    # "step" (÷10 at milestones, per epoch; the paper's) or "onecycle" (linear up, then down, per batch). One-cycle
    # reaches on digits in 15 epochs the clean error "step" reached in 30, and ERM memorizes noisy labels by epoch 20, not 40.
    schedule: str = "onecycle"
    warmup: float = 0.2  # schedule "onecycle": share of all steps spent rising to `lr`
    nesterov: bool = True  # Nesterov momentum (the fast recipes); the paper uses plain momentum
    augment: bool = False  # random crop (padding `crop_padding`) + horizontal flip, per batch on the device
    crop_padding: int = 4  # pixels of padding before the random crop (the paper's 4)
    crop_padding_mode: str = "zeros"  # "zeros" (the paper's) or "reflect" (airbench's): what the padding holds
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on the CPU), "bf16" or "fp32"
    # The memory format of weights and inputs: "auto" = channels_last on CUDA and on the CPU alike (faster on both for
    # convolutions, with other rounding; docs/benchmarks.md), "on" or "off" (NCHW).
    channels_last: str = "auto"
    compile: bool = False  # torch.compile the model for training (CUDA; minutes of compiling first)
    # Per-epoch training-set errors (the memorization curves) on a fixed, seeded sample of this many training images,
    # the last epoch on all of them; 0 = every image every epoch. A sample, since evaluating every training image each
    # epoch was a large share of the label-noise stage (docs/benchmarks.md).
    train_eval_images: int = 512


@dataclass(frozen=True)
class CleanConfig:
    enabled: bool = True  # train the clean models at all (False: evaluate only `models`, --no-train)
    methods: tuple[str, ...] = ("erm", "mixup:1")  # training methods: specs name[:param][,key=value…], + joins, or package.module:factory (docs/methods.md)
    seeds: tuple[int, ...] = (0, 1)  # one separately trained model per method and seed


@dataclass(frozen=True)
class AttackConfig:
    # Keys of attacks.ATTACKS, or "torchattacks:NAME,KEY=VALUE" for any torchattacks L∞ attack: crafted on every
    # model at every ε, white box and transferred to every other model.
    attacks: tuple[str, ...] = ("fgsm", "ifgsm", "pgd")
    norm: str = "linf"  # threat model: "linf" (ε an L∞ radius, pixels in [0, 1]) or "l2" (ε an L2 radius over the whole image)
    eps: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)  # radius in pixel units (images in [0, 1])
    seed: int = 0  # seeds every random attack per source, ε and batch (PGD's start, Square, …): no order dependence
    batch_size: int = 256  # test images crafted at once per source model
    fuse_epsilons: bool = True  # craft the ε of an attack together, stacked in one pass (same numbers; meant for GPUs)
    # Whole batches (a GPU, or chunk_images = 0): at most this many images in one stacked gradient pass (0 = batch_size),
    # a memory budget. The default keeps the peak memory at the naive loop's; the GPU presets raise it to fuse more ε.
    fuse_images: int = 0
    # CPU only: images per gradient pass of a fused attack, the chunks shared out to one worker thread per torch
    # thread (attacks/workers.py). 64 keeps digits_cnn's activations in a core's cache, faster per image than whole
    # batches of 256 (docs/benchmarks.md). Same numbers at any value; in chunks all ε are stacked (fuse_images is for GPUs).
    # 0: whole batches on the calling thread.
    chunk_images: int = 64
    # The ε at which the transfer matrix is drawn and tabulated, and the report's headline ε. None: chosen once the
    # attacks ran, as the largest ε at which no model's white-box error reaches 100% (else the middle ε); a preset's
    # value that is not among a given ε list falls back to None, so --eps alone never needs --heatmap-eps.
    heatmap_eps: float | None = 0.1
    between_pairs: int = 200  # random test pairs (different labels) for the paper's Figure 2 analysis
    between_points: int = 21  # λ values on [0, 1] along each pair's segment
    # Attacks run white box at the headline ε only, after the others (costly ones: AutoAttack, Square); their broken
    # images join the per-image worst case there. An attack also listed in `attacks` runs with those instead.
    worst_case_attacks: tuple[str, ...] = ()
    worst_case_images: int = 0  # a stratified subset of this many test images (seeded by `seed`) for them; 0 = all
    # Each attack's own settings that differ from its defaults, as (attack, key, value) triples sorted by attack and
    # key: TOML's [attack.pgd] steps = 40 is ("pgd", "steps", 40). Given as {"pgd": {"steps": 40}} in Python. The
    # keys, types and ranges are the attack's (its Settings class; docs/configuration.md), checked by
    # robustness.validation before anything runs.
    settings: tuple[tuple[str, str, Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", settings_triples(self.settings))

    def settings_of(self, attack: str) -> dict[str, Any]:
        """The settings ``attack`` is given, as {key: value}: {} when it runs with its defaults."""
        return {key: value for name, key, value in self.settings if name == attack}

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every attack's given settings, {"pgd": {"steps": 40}}: the TOML tables, and config.json's form."""
        out: dict[str, dict[str, Any]] = {}
        for name, key, value in self.settings:
            out.setdefault(name, {})[key] = value
        return out

    def tune(self, attack: str, **values: Any) -> AttackConfig:
        """A copy in which ``attack`` also has ``values``: ``config.tune("pgd", steps=40, restarts=3)``."""
        tables = self.tables()
        tables[attack] = tables.get(attack, {}) | values
        return replace(self, settings=tables)


SETTING_TYPES = (bool, int, float, str)  # what one attack setting may be: TOML's scalars


def settings_triples(settings: Any) -> tuple[tuple[str, str, Any], ...]:
    """Attack settings as sorted, hashable (attack, key, value) triples, from {"pgd": {"steps": 40}} or triples."""
    if isinstance(settings, dict):
        pairs = []
        for name, table in settings.items():
            if not isinstance(table, dict):
                raise SuiteError(f"attack.{name} must be a table of settings ([attack.{name}] in TOML), not {table!r}")
            pairs += [(name, key, value) for key, value in table.items()]
    else:
        pairs = [tuple(item) for item in settings]
    for item in pairs:
        if len(item) != 3 or not all(isinstance(part, str) for part in item[:2]):
            raise SuiteError(f"attack.settings holds {item!r}; write each attack's settings as [attack.NAME] KEY = VALUE")
        if not isinstance(item[2], SETTING_TYPES):
            raise SuiteError(f"attack.{item[0]}.{item[1]} must be a number, true/false or text, not {item[2]!r}")
    return tuple(sorted(pairs, key=lambda item: item[:2]))


# The per-attack fields AttackConfig had before each attack owned its settings: old key -> (attacks, new key).
OLD_ATTACK_KEYS = {
    "ifgsm_steps": (("ifgsm",), "steps"), "ifgsm_step_factor": (("ifgsm",), "step_factor"),
    "pgd_steps": (("pgd",), "steps"), "pgd_step_factor": (("pgd",), "step_factor"),
    "pgd_random_start": (("pgd",), "random_start"), "pgd_restarts": (("pgd",), "restarts"),
    "apgd_steps": (("apgd_ce", "apgd_dlr"), "steps"), "fab_steps": (("fab",), "steps"),
    "square_queries": (("square",), "queries"), "mifgsm_steps": (("mifgsm",), "steps"),
    "mifgsm_decay": (("mifgsm",), "decay"), "difgsm_steps": (("difgsm",), "steps"),
    "difgsm_diversity_prob": (("difgsm",), "diversity_prob"),
}


def migrate_attack_keys(section: dict) -> dict:
    """A saved ``[attack]`` section (config.json of a run started before each attack owned its settings) in
    today's form: each old flat key (``pgd_steps: 10``) moved into its attack's table (``settings.pgd.steps``),
    so such a run still resumes. A section without old keys comes back as it is."""
    old = {key: section[key] for key in OLD_ATTACK_KEYS if key in section}
    if not old:
        return section
    tables = {name: dict(table) for name, table in (section.get("settings") or {}).items()}
    for key, value in old.items():
        names, new = OLD_ATTACK_KEYS[key]
        for name in names:
            tables.setdefault(name, {})[new] = value
    return {key: value for key, value in section.items() if key not in old} | {"settings": tables}


def old_attack_key(key: str, value: Any) -> SuiteError:
    """The one-line error for a per-attack key of the old flat form: it names the new table and key."""
    names, new = OLD_ATTACK_KEYS[key]
    shown = str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, str) else value
    tables = " and ".join(f"[attack.{name}] {new} = {shown}" for name in names)
    return SuiteError(f"attack.{key} is now {' and '.join(f'attack.{n}.{new}' for n in names)}: write {tables} in TOML "
                      f"(each attack has its own table; docs/configuration.md)")


@dataclass(frozen=True)
class NoiseConfig:
    enabled: bool = True  # run the corrupted-label benchmark at all
    noise_model: str = "uniform"  # key of noise.NOISE_MODELS; "uniform" is the paper's convention
    levels: tuple[float, ...] = (0.2, 0.5, 0.8)  # rate of `noise_model`, one benchmark row each
    specs: tuple[str, ...] = ()  # further noise specs run as written: "pairflip:0.4", "matrix:T.npy", "labels:y.csv"
    # One per family (ERM, ERM + dropout, mixup) plus the paper's two mixup picks; "mixup:8+dropout:0.5" trains with both.
    methods: tuple[str, ...] = ("erm", "dropout:0.8", "mixup:8", "mixup:32")  # specs, as clean.methods
    seeds: tuple[int, ...] = (0,)
    epochs: int = 20  # longer than clean training: on digits ERM has fit the noise (all but 2-14% of it) by epoch 20
    train_subset: int = 0  # train each label-noise run on a stratified, seeded subset of this many training images; 0 = all
    # Also attack every label-noise model white box with FGSM and PGD (attack.* settings) at the headline ε (the attack
    # stage's; without one, attack.heatmap_eps or the middle ε): does training on noisy labels change robustness?
    attack: bool = False


@dataclass(frozen=True)
class StatisticsConfig:
    # Every comparison of two families in results.json, the report, the leaderboard and robustness.evaluate
    # (robustness/statistics.py, docs/statistics.md): a difference in error with its interval, a test and a verdict.
    baseline: str = "erm"  # the family every other family is compared with ("Is it really more robust than ERM?")
    resamples: int = 2000  # two-level bootstrap resamples per comparison (seeds within each family, then test images)
    seed: int = 0  # seeds the bootstrap (and a sampled permutation test), so a comparison is the same every time
    alpha: float = 0.05  # the test's level: intervals are 1 − alpha (95%), a verdict needs p < alpha
    power: float = 0.8  # the power at which the detectable difference and the seeds or images needed are given


@dataclass(frozen=True)
class SuiteConfig:
    preset: str = "quick"  # the preset the run started from (--preset, or the TOML key preset)
    device: str = "auto"  # "auto" (CUDA if available), "cpu" or "cuda"
    # torch's threads and the attack stage's worker threads; 0 = OMP_NUM_THREADS if set, else the CPUs this process may
    # use (affinity mask, capped by a cgroup quota; robustness/threads.py). Speed only: not part of any unit's key.
    threads: int = 0
    out: str = "reports"  # runs are written to <out>/<run-id>/
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)
    # Custom models, "NAME=SPEC" (see robustness/checkpoints.py), attacked beside the trained ones.
    models: tuple[str, ...] = ()


RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")  # a plain folder name: never a path that leaves --out


# Ceilings no real run needs to reach (docs/configuration.md): 10⁹ epochs or steps would otherwise start without a word
# and never finish. The paper trains 200 epochs; Croce & Hein's APGD runs 100 steps, Square 5,000-10,000 queries.
MAX_EPOCHS = 10_000
MAX_STEPS = 100_000  # iterations of one attack (I-FGSM, PGD, APGD, FAB, MI-FGSM, DI-FGSM)
MAX_QUERIES = 1_000_000  # Square's forward passes per image
MAX_RESTARTS = 1_000  # PGD runs per example
MAX_RESAMPLES = 1_000_000  # bootstrap resamples of one comparison (2,000 take 0.05 s at 4 models × 540 images)
MAX_SEED = 2**32 - 1  # numpy's legacy seeds and torch's generators both take any seed in [0, 2³² − 1]
NAME_MAX = 255  # bytes in one file name (ext4, XFS, APFS, NTFS)
PATH_MAX = 4096  # bytes in a whole path (Linux)
DEFAULT_RUN_ID_ROOM = 48  # bytes of a generated run id: <preset>-<date>-<time>[-k]
RUN_FILE_ROOM = 128  # bytes the longest file the suite writes inside a run adds (units/attack-<hash>.json, figures/...)


def parse_eps(value: Any) -> float:
    """An ε given as a number ≥ 0 or as a pixel fraction string a/b, e.g. "4/255" or "25.5/255" (the report prints
    ε that way). Its upper bound depends on the threat model (attack.norm), so ``check_attack`` checks it once the
    whole configuration is known."""
    try:
        eps = _fraction(value.strip()) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        raise SuiteError(f"ε {value!r} is not a number; write it as 0.03 or as \"8/255\"") from None
    if not eps >= 0.0 or not math.isfinite(eps):
        raise SuiteError(f"ε {value!r} is not a radius ≥ 0; write a distance such as 0.03 or \"8/255\"")
    return eps


def _fraction(text: str) -> float:
    """ "25.5/255" -> 0.1, "0.03" -> 0.03: Fraction alone reads "8/255" but not a decimal numerator."""
    numerator, slash, denominator = text.partition("/")
    if not slash:
        return float(Fraction(text))
    if "/" in denominator:
        raise ValueError(f"{text!r} has more than one '/'")
    return float(Fraction(numerator.strip()) / Fraction(denominator.strip()))


def _number(value: Any, kind: type, where: str) -> int | float:
    """``value`` as an int or a finite float. TOML's true/false and 2.5-as-epochs are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SuiteError(f"{where} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise SuiteError(f"{where} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise SuiteError(f"{where} must be a finite number, not {value!r}")
    if kind is int:
        if number != int(number):
            raise SuiteError(f"{where} must be a whole number, not {value!r}")
        return int(number)
    return number


OPTIONAL = ("attack.heatmap_eps",)  # fields that may be None (JSON null in a saved config.json)


def coerce(value: Any, like: Any, where: str) -> Any:
    """Convert a TOML/flag value to the type of the default it replaces."""
    if value is None and where in OPTIONAL:
        return None
    if isinstance(like, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_like = like[0] if like else value[0] if value else None
        if where.endswith(".eps") or where.endswith("_eps"):
            return tuple(parse_eps(v) for v in value)
        return tuple(coerce(v, item_like, where) for v in value)
    if where.endswith("_eps"):
        return parse_eps(value)
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise SuiteError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(like, (int, float)):
        return _number(value, type(like), where)
    if isinstance(like, str):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise SuiteError(f"{where} must be a string, not {value!r}")
        return str(value)
    return value


def override(config: Any, changes: dict[str, Any], where: str = "config") -> Any:
    """Return ``config`` with ``changes`` applied; nested dicts update nested sections.

    Unknown keys raise a one-line error that lists the valid keys. In ``[attack]``, a table
    (``[attack.pgd] steps = 40``) sets one attack's own settings (``AttackConfig.settings``), merged
    key by key over the ones already there; which attacks and keys exist is checked one layer up.
    """
    valid = {f.name: f for f in fields(config)}
    updates = {}
    if isinstance(config, AttackConfig):
        changes, tables = attack_tables(changes, where)
        if tables:
            merged = config.tables()
            for name, table in tables.items():
                merged[name] = merged.get(name, {}) | table
            updates["settings"] = merged
    for key, value in changes.items():
        if key not in valid:
            raise SuiteError(f"unknown key {where}.{key}; valid keys: {', '.join(valid)}")
        current = getattr(config, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise SuiteError(f"{where}.{key} must be a table ([{key}] in TOML)")
            updates[key] = override(current, value, f"{where}.{key}" if where != "config" else key)
        else:
            updates[key] = coerce(value, current, f"{where}.{key}" if where != "config" else key)
    return replace(config, **updates)


def attack_tables(changes: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """``[attack]`` changes split into its own fields and the attacks' tables: a table under an attack's
    name, or config.json's ``settings = {"pgd": {...}}``. An old flat key (``pgd_steps``) names its new one."""
    plain, tables = {}, {}
    for key, value in changes.items():
        if key in OLD_ATTACK_KEYS:
            raise old_attack_key(key, value)
        if key == "settings":  # config.json's form: every table at once
            given = value if isinstance(value, dict) else AttackConfig(settings=value).tables()
        elif isinstance(value, dict):
            given = {key: value}
        else:
            plain[key] = value
            continue
        for name, table in given.items():
            if not isinstance(table, dict):
                raise SuiteError(f"{where}.{name} must be a table of settings ([attack.{name}] in TOML), not {table!r}")
            tables[name] = tables.get(name, {}) | table
    settings_triples(tables)  # each table's values are scalars: a one-line error otherwise
    return plain, tables


def nest(pairs: dict[tuple[str, ...], object]) -> dict:
    """{("noise", "seeds"): [0, 1], ...} -> {"noise": {"seeds": [0, 1]}}, leaving out flags not given (None)."""
    overrides: dict = {}
    for keys, value in pairs.items():
        if value is None:
            continue
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return overrides


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise SuiteError(f"config file {path} is a directory; pass the path of a .toml file inside it")
    if not path.is_file():
        raise SuiteError(f"config file {path} does not exist; pass the path of a .toml file")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SuiteError(f"config file {path} is not valid TOML ({err}); fix the syntax") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise SuiteError(f"config file {path} is not valid TOML (nested too deeply to parse); fix the syntax") from None


def fit_heatmap_eps(config: SuiteConfig, given: bool) -> SuiteConfig:
    """A heatmap ε the user did not give that is not among the ε to attack at becomes None (chosen after
    the attacks), so ``--eps 0 2/255 8/255`` alone works; one the user gave must be in the list."""
    attack = config.attack
    if given or attack.heatmap_eps is None or attack.heatmap_eps in attack.eps:
        return config
    return replace(config, attack=replace(attack, heatmap_eps=None))


def check_run_id(run_id: str) -> str:
    """A run id names one folder inside --out: letters, digits, '_', '.', '-', not starting with '.', and at most
    NAME_MAX bytes (the file system refuses longer names with "File name too long")."""
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise SuiteError(f"run id {run_id!r} must be a plain folder name (letters, digits, '_', '.', '-'); "
                         "use --out to choose where runs go")
    if len(os.fsencode(run_id)) > NAME_MAX:
        raise SuiteError(f"run id {run_id[:20]}… is {len(os.fsencode(run_id))} bytes long, more than the {NAME_MAX} a "
                         "file name may have; pass a shorter --run-id")
    return run_id


def check_run_path(out: str | Path, run_id: str | None) -> None:
    """The run directory's path, with room for the files the suite writes inside it, fits in PATH_MAX bytes and
    every folder name of --out in NAME_MAX: checked before anything is written."""
    name = check_run_id(run_id) if run_id else DEFAULT_RUN_ID_ROOM * "x"
    path = Path(os.path.abspath(Path(out) / name))
    long_part = next((part for part in Path(out).parts if len(os.fsencode(part)) > NAME_MAX), None)
    if long_part is not None:
        raise SuiteError(f"--out has a folder name of {len(os.fsencode(long_part))} bytes, more than the {NAME_MAX} a "
                         "file name may have; pass a shorter --out")
    if len(os.fsencode(str(path))) + RUN_FILE_ROOM > PATH_MAX:
        raise SuiteError(f"the run directory's path is {len(os.fsencode(str(path)))} bytes long and the files inside "
                         f"it would pass the {PATH_MAX} bytes a path may have; pass a shorter --out or --run-id")


def _seeds(seeds: tuple[int, ...], where: str) -> None:
    if any(s < 0 for s in seeds):
        raise SuiteError(f"{where} must be ≥ 0, not {min(seeds)}; seeds are 0, 1, 2, ...")
    if any(s > MAX_SEED for s in seeds):
        raise SuiteError(f"{where} must be at most {MAX_SEED} (2³² − 1, what numpy and torch accept), not "
                         f"{max(seeds)}; seeds are 0, 1, 2, ...")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise SuiteError(f"{where} lists seed {repeated[0]} twice; give each seed once (the spread over seeds needs distinct ones)")


def check_values(config: SuiteConfig) -> None:
    """Every value in range, before anything is trained or written (names: robustness.validation)."""
    if config.device not in ("auto", "cpu", "cuda"):
        raise SuiteError(f"unknown device {config.device!r}; choose one of: auto, cpu, cuda")
    if not 0 <= config.threads <= 1024:
        raise SuiteError(f"threads must be between 0 and 1024, not {config.threads}; 0 sizes them to this process's CPUs")
    if config.clean.enabled and not (config.clean.seeds and config.clean.methods):
        raise SuiteError("clean.methods and clean.seeds must not be empty")
    _seeds(config.clean.seeds, "clean.seeds")
    _seeds(config.noise.seeds, "noise.seeds")
    _seeds((config.data.split_seed,), "data.split_seed")
    _seeds((config.attack.seed,), "attack.seed")
    if config.train.epochs < 1 or config.noise.epochs < 1:
        raise SuiteError("epochs must be at least 1")
    for where, epochs in (("train.epochs", config.train.epochs), ("noise.epochs", config.noise.epochs)):
        check_ceiling(where, epochs, MAX_EPOCHS, "the paper trains 200")
    if config.noise.train_subset < 0:
        raise SuiteError("noise.train_subset must be ≥ 0 (0 means every training image)")
    for p in config.noise.levels:
        if not 0.0 <= p <= 1.0:
            raise SuiteError(f"noise level {p} is outside [0, 1]; write 0.2 for 20%")
    check_training(config.train, config.data)
    check_attack(config.attack)
    check_statistics(config.statistics)


def check_statistics(stats: StatisticsConfig) -> None:
    """The [statistics] fields: a bootstrap that resamples, a level and a power that are probabilities."""
    check_count("statistics.resamples", stats.resamples, MAX_RESAMPLES, "2,000 give a stable 95% interval")
    _seeds((stats.seed,), "statistics.seed")
    if not 0.0 < stats.alpha < 0.5:
        raise SuiteError(f"statistics.alpha must be in (0, 0.5), not {stats.alpha:g}; 0.05 gives 95% intervals")
    if not 0.0 < stats.power < 1.0:
        raise SuiteError(f"statistics.power must be in (0, 1), not {stats.power:g}; 0.8 is the usual choice")
    if not stats.baseline:
        raise SuiteError("statistics.baseline must name a family, e.g. \"erm\"")


def check_ceiling(where: str, value: int, ceiling: int, reference: str) -> None:
    """Refuse a count no real run needs (10⁹ epochs would start without a word and never end)."""
    if value > ceiling:
        raise SuiteError(f"{where} is {value}, above the ceiling of {ceiling:,} ({reference}); give a smaller "
                         "number (docs/configuration.md lists the ceilings)")


def check_count(where: str, value: int, ceiling: int, reference: str) -> None:
    """A count of steps, queries or restarts: at least 1 and at most ``ceiling`` (e.g. ``MAX_STEPS``)."""
    if value < 1:
        raise SuiteError(f"{where} must be at least 1")
    check_ceiling(where, value, ceiling, reference)


def check_training(train: TrainConfig, data: DataConfig) -> None:
    """The data and training fields of the real-data and GPU path."""
    choices = {"schedule": ("step", "onecycle"), "precision": ("auto", "bf16", "fp32"),
               "channels_last": ("auto", "on", "off"), "crop_padding_mode": ("zeros", "reflect")}
    for key, valid in choices.items():
        if getattr(train, key) not in valid:
            raise SuiteError(f"unknown train.{key} {getattr(train, key)!r}; choose one of: {', '.join(valid)}")
    if not train.lr > 0:
        raise SuiteError(f"train.lr must be positive, not {train.lr:g}; the paper's CIFAR-10 value is 0.1")
    if not 0.0 <= train.momentum < 1.0 or train.weight_decay < 0:
        raise SuiteError("train.momentum must be in [0, 1) and train.weight_decay ≥ 0")
    if train.train_eval_images < 0:
        raise SuiteError("train.train_eval_images must be ≥ 0 (0 means every training image every epoch)")
    if train.batch_size < 1 or train.crop_padding < 0 or not 0.0 < train.warmup < 1.0:
        raise SuiteError("train.batch_size must be ≥ 1, train.crop_padding ≥ 0 and train.warmup in (0, 1)")
    if data.train_subset < 0 or data.test_subset < 0 or data.test_first < 0:
        raise SuiteError("data.train_subset, data.test_subset and data.test_first must be ≥ 0 (0 means the whole split)")
    if len(data.mean) != len(data.std) or any(s <= 0 for s in data.std):
        raise SuiteError("data.mean and data.std must be given together, one positive std per channel")


def check_attack(attack: AttackConfig) -> None:
    """The shared [attack] fields; each attack checks its own settings (``attacks.base.Attack.check``)."""
    if not attack.attacks:
        raise SuiteError("attack.attacks must not be empty; name at least one, e.g. attacks = [\"fgsm\"]")
    if not attack.eps:
        raise SuiteError("attack.eps must not be empty; give at least one radius, e.g. eps = [0, \"8/255\"]")
    repeated = sorted({e for e in attack.eps if attack.eps.count(e) > 1})
    if repeated:
        raise SuiteError(f"attack.eps lists ε {repeated[0]:g} twice; give each radius once")
    if attack.fuse_images < 0:
        raise SuiteError("attack.fuse_images must be ≥ 0 (0 means attack.batch_size)")
    if attack.chunk_images < 0:
        raise SuiteError("attack.chunk_images must be ≥ 0 (0 means whole batches)")
    for key in ("between_pairs", "batch_size"):
        if getattr(attack, key) < 1:
            raise SuiteError(f"attack.{key} must be at least 1")
    if attack.between_points < 2:
        raise SuiteError("attack.between_points must be at least 2 (λ = 0 and λ = 1)")
    if attack.norm not in ("linf", "l2"):
        raise SuiteError(f"unknown attack.norm {attack.norm!r}; choose one of: linf, l2")
    if attack.norm == "linf" and max(attack.eps) > 1:
        raise SuiteError(f"ε {max(attack.eps):g} is outside [0, 1]; L∞ radii are in pixels in [0, 1], so write 8/255 rather "
                         "than 8 (or set attack.norm = \"l2\" for L2 radii)")
    if attack.worst_case_images < 0:
        raise SuiteError("attack.worst_case_images must be ≥ 0 (0 means every test image)")
    if attack.heatmap_eps is not None and attack.heatmap_eps not in attack.eps:
        raise SuiteError(f"attack.heatmap_eps {attack.heatmap_eps:g} is not one of attack.eps; pick one of them, "
                         "or leave it out to have it chosen")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of the whole configuration, or of one section (tuples become lists; the attacks'
    settings become their tables, ``"settings": {"pgd": {"steps": 40}}``, as TOML writes them)."""
    out = dataclasses.asdict(config)
    if isinstance(config, SuiteConfig):
        out["attack"]["settings"] = config.attack.tables()
    elif isinstance(config, AttackConfig):
        out["settings"] = config.tables()
    return out
