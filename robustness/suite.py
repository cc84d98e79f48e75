"""The pipeline: one run is data -> clean models -> attacks -> label noise -> results.json -> report.

Every entry point goes through here: ``run_all.py`` and ``python -m noise`` call
``run_suite`` (one with every stage, the other with only the label-noise stage),
and ``robustness.evaluate`` calls ``compute_results`` on models held in memory.

The work is split into units (robustness/units.py): each trained model and each
attack × source pass is saved in ``<run-dir>/units/`` the moment it finishes,
under a hash of exactly the configuration that determines it. A rerun on the
same directory (same --run-id, or --resume) reuses every finished unit and
computes only the rest; results.json and the report are then rebuilt from the
units. One run at a time holds the directory's lock. Units run in this process
(the default) or as Ray tasks (``--executor ray``, robustness/executors.py);
either way the driver saves each result as it arrives.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks import evaluate_matrix
from attacks.evaluate import headline_eps
from attacks.metrics import unpack_bits
from attacks.worst import headline_attacks
from noise import assemble_noise, corrupt, noise_specs, nominal_rate
from robustness import data as datasets
from robustness.checkpoints import LoadedModel, load_custom_models
from robustness.config import SuiteConfig, check_run_id, fit_heatmap_eps, override, preset, to_dict
from robustness.errors import SuiteError
from robustness.executors import InProcess, Unit, make_executor
from robustness.methods import Method, model_id
from robustness.records import ModelRecord, custom_model_record, noise_run_record, trained_model_record
from robustness.report import build_report
from robustness.results import (
    RUN_MARKER,
    SCHEMA_VERSION,
    environment,
    has_marker,
    read_results,
    remove_stray_temps,
    save_state_dict,
    write_json,
    write_marker,
)
from robustness.threads import ThreadChoice, choose_threads
from robustness.units import AttackRecipe, Recipe, TrainRecipe, UnitStore, attack_unit, model_from_state, run_lock, train_unit
from robustness.validation import check_data_fits, check_methods, parse_methods, trained_names, validate

NOISE_ATTACKS = ("fgsm", "pgd")  # noise.attack: the attack stage's white-box pair, on every label-noise model
ATTACK_FIELDS = ("error", "wrong", "error_ci", "success_rate", "success_rate_ci")  # kept per run in results.json


@dataclass(frozen=True)
class Devices:
    """Where units run (``units``: under Ray, the workers' device) and where the driver's own work
    runs (``local``: diagnostics, the between-points analysis); they differ when the cluster has GPUs
    and this machine has none."""

    units: torch.device
    local: torch.device

    @classmethod
    def one(cls, device: torch.device) -> Devices:
        return cls(device, device)


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


# --- running units: cached ones are loaded, the rest go to the executor ---------------------


def compute_units(recipes: dict[str, Recipe], make_unit: Callable[[str, Recipe], Unit], store: UnitStore, executor,
                  desc: str, progress: bool) -> dict[str, dict]:
    """name -> result for every recipe: reused from ``store`` or computed by ``executor`` and saved at once.

    Units that fail (under Ray: twice) are reported together after the others finished and were saved.
    """
    results = {name: store.load(recipe) for name, recipe in recipes.items()}
    for name, result in results.items():
        if result is not None:
            store.reused.append(recipes[name].key)
    pending = {name: recipe for name, recipe in recipes.items() if results[name] is None}
    todo = [make_unit(name, recipe) for name, recipe in pending.items()]
    names = {unit.key: name for unit, name in zip(todo, pending)}

    def done(unit: Unit, result: dict) -> None:
        store.save(recipes[names[unit.key]], result)
        store.computed.append(unit.key)
        results[names[unit.key]] = result

    failures = executor.run(todo, done, desc, progress)
    if failures:
        raise SuiteError(f"{len(failures)} unit(s) of {desc} failed ({'; '.join(failures.values())}); "
                         "the finished ones are saved: fix the cause and rerun the same command")
    return results


def train_units(recipes: dict[str, TrainRecipe], store, executor, split, device, desc: str, progress: bool) -> dict[str, dict]:
    """Every train unit of ``recipes`` (name -> recipe). In this process an epoch bar shows each model's progress."""
    def make_unit(name: str, recipe: TrainRecipe) -> Unit:
        show = isinstance(executor, InProcess) and progress  # a Ray worker's bar would print on the worker
        return Unit(recipe.key, name, train_unit, (recipe, split, device, epoch_bar(name, recipe) if show else None))

    return compute_units(recipes, make_unit, store, executor, desc, progress)


def epoch_bar(name: str, recipe: TrainRecipe) -> Callable[[dict], None]:
    """A per-epoch progress bar for one model, closed after its last epoch."""
    bar = tqdm(total=recipe.train.epochs, desc=f"  {name}", unit="epoch", leave=False)

    def on_epoch(row: dict) -> None:
        bar.update()
        if bar.n >= bar.total:
            bar.close()

    return on_epoch


# --- the stages -------------------------------------------------------------------------------


def clean_recipes(config: SuiteConfig, methods: dict[str, Method]) -> dict[str, TrainRecipe]:
    """model id (``trained_names``) -> train recipe of every clean method × seed (none with --no-train);
    ``methods``: ``parse_methods(config)``."""
    if not config.clean.enabled:
        return {}
    pairs = [(methods[spec], seed) for spec in config.clean.methods for seed in config.clean.seeds]
    return {name: TrainRecipe.of(config, method, seed) for name, (method, seed) in zip(trained_names(config, methods), pairs)}


def clean_stage(config: SuiteConfig, methods: dict[str, Method], split, store, executor, devices: Devices, progress: bool,
                run_dir: Path | None) -> tuple[dict[str, nn.Module], dict[str, ModelRecord], dict[str, dict]]:
    """The clean models: (name -> model on the local device, name -> record, name -> identity)."""
    recipes = clean_recipes(config, methods)
    units = train_units(recipes, store, executor, split, devices.units, "clean training", progress)
    models, records = {}, {}
    for name, unit in units.items():
        recipe = recipes[name]
        if run_dir is not None:
            save_state_dict(run_dir / "models" / f"{name}.pt", unit["state_dict"])
        records[name] = trained_model_record(recipe.method.fields(), recipe.seed, recipe.train.arch, recipe.key,
                                             unit["history"], unit["seconds"])
        models[name] = model_from_state(recipe, unit["state_dict"], split, devices.local)
    return models, records, {name: recipe.identity() for name, recipe in recipes.items()}


def custom_identity(loaded: LoadedModel) -> dict:
    """What identifies a custom model inside an attack recipe: its file's contents and what sits in front."""
    return {"checkpoint": loaded.source["sha256"], "normalization": loaded.source["normalization"]}


def attack_matrix(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                  split, device, progress: bool) -> dict:
    """transfer_matrix's result for every model, assembled from one cached unit per attack × source."""
    recipes = {f"{attack} from {source}": AttackRecipe.of(config, attack, source, identities)
               for attack in config.attack.attacks for source in identities}
    parts = compute_units(recipes, lambda name, r: Unit(r.key, name, attack_unit, (r, models, split, device)),
                          store, executor, "attacks", progress)
    order = {(c["attack"], c["eps"], c["source"], c["target"]): c for part in parts.values() for c in part["cells"]}
    cells = [order[a, e, s, t] for a in config.attack.attacks for e in config.attack.eps for s in models for t in models]
    first = next(iter(parts.values()))
    return {"n": first["n"], "clean": first["clean"], "cells": cells}


def headline_stage(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                   split, device, progress: bool, eps: float) -> dict | None:
    """The worst-case attacks (``attack.worst_case_attacks``) white box at the headline ``eps``, one cached
    unit per attack × model, as one matrix over their image subset (None when there are none to run)."""
    recipes = {f"{attack} on {source} at ε={eps:g}": AttackRecipe.of(config, attack, source, identities).worst_case(eps)
               for attack in headline_attacks(config.attack) for source in identities}
    if not recipes:
        return None
    parts = compute_units(recipes, lambda name, r: Unit(r.key, name, attack_unit, (r, models, split, device)),
                          store, executor, f"worst case at ε={eps:g}", progress)
    first = next(iter(parts.values()))
    index = unpack_bits(first["images"], len(split.test_y)).nonzero().flatten()
    return {"eps": eps, "n": first["n"], "index": index.tolist(),
            "clean": {name: c for part in parts.values() for name, c in part["clean"].items()},
            "cells": [c for part in parts.values() for c in part["cells"]]}


def attack_stage(config: SuiteConfig, models: dict[str, nn.Module], families: dict[str, str], identities: dict[str, dict],
                 split, store, executor, devices: Devices, progress: bool) -> dict:
    """The ``attacks``, ``diagnostics``, ``checks`` and ``between_points`` sections for ``models``: the
    transfer matrix, then the worst-case attacks at the headline ε (chosen from the matrix when not given)."""
    matrix = attack_matrix(config, identities, models, store, executor, split, devices.units, progress)
    eps = headline_eps(matrix, config.attack)["heatmap_eps"]
    headline = headline_stage(config, identities, models, store, executor, split, devices.units, progress, eps)
    return evaluate_matrix(matrix, models, families, split, config.attack, devices.local, headline)


def noise_recipes(config: SuiteConfig, methods: dict[str, Method] | None = None) -> dict[tuple, TrainRecipe]:
    """(noise spec, method spec, seed) -> train recipe of every label-noise run; ``methods``: ``parse_methods(config)``."""
    nc = config.noise
    methods = methods if methods is not None else parse_methods(config)
    return {(spec, method, seed): TrainRecipe.of(config, methods[method], seed, noise_spec=spec)
            for spec in noise_specs(nc) for method in nc.methods for seed in nc.seeds}


def noise_split(config: SuiteConfig, split):
    """The training split of the label-noise runs: ``noise.train_subset`` of the training images when set."""
    return datasets.training_subset(split, config.noise.train_subset, config.data.split_seed)


def noisy_labels(config: SuiteConfig, split) -> dict:
    """(spec, seed) -> NoisyLabels on the noise runs' split: a bad file, class id or label order (a CIFAR-N
    file's clean_label) fails here, which ``run_suite`` calls before anything trains or is written."""
    nc, split = config.noise, noise_split(config, split)
    return {(spec, seed): corrupt(split.train_y, spec, split.num_classes, seed)
            for spec in noise_specs(nc) for seed in nc.seeds}


def noise_stage(config: SuiteConfig, split, store, executor, device, progress: bool,
                headline: float | None = None, noisy: dict | None = None, methods: dict[str, Method] | None = None) -> dict:
    """The corrupted-label benchmark (noise.benchmark's summaries), one cached unit per run, on
    ``noise.train_subset`` of the training images when set. With ``noise.attack`` every run's model is
    also attacked white box (``noise_attack_stage``) at ``headline`` (the attack stage's headline ε)."""
    nc = config.noise
    noisy = noisy if noisy is not None else noisy_labels(config, split)  # run_suite corrupted them up front
    split = noise_split(config, split)
    recipes = noise_recipes(config, methods)
    named = {f"{spec} {model_id(r.method, seed)}": r for (spec, _, seed), r in recipes.items()}
    trained = train_units(named, store, executor, split, device, "label noise", progress)
    attack, attacked = None, {}
    if nc.attack:
        eps, rule = noise_attack_eps(config, headline)
        attack = {"attacks": list(NOISE_ATTACKS), "eps": eps, "eps_rule": rule}
        attacked = noise_attack_stage(config, named, trained, split, store, executor, device, progress, eps)
    runs = [noise_run_record(spec, nominal_rate(spec), recipe.method.fields(), seed, unit["noise"],
                             unit["history"], unit["seconds"], attacked.get(name))
            for ((spec, _, seed), recipe), (name, unit) in zip(recipes.items(), trained.items())]
    return assemble_noise(nc, runs, noisy) | {"attack": attack}


def noise_attack_eps(config: SuiteConfig, headline: float | None) -> tuple[float, str]:
    """The ε at which label-noise models are attacked, and why: the attack stage's headline ε when it ran,
    else ``attack.heatmap_eps``, else the middle ε > 0 of ``attack.eps`` (no white-box sweep to choose from)."""
    if headline is not None:
        return headline, "the attack stage's headline ε"
    if config.attack.heatmap_eps is not None:
        return config.attack.heatmap_eps, "attack.heatmap_eps"
    moving = sorted(e for e in config.attack.eps if e > 0) or [0.0]
    return moving[len(moving) // 2], "the middle ε > 0 of attack.eps (the attack stage did not run)"


def noise_attack_stage(config: SuiteConfig, named: dict[str, TrainRecipe], trained: dict[str, dict], split, store, executor,
                       device, progress: bool, eps: float) -> dict[str, dict]:
    """Run name -> {attack: its white-box test error record} for every label-noise model: the attack stage's
    FGSM and PGD (``NOISE_ATTACKS``, its settings: steps, step size, random start, seed) at ``eps`` on all test
    images, one cached unit per attack × model (the attack stage's unit: ``AttackRecipe`` / ``attack_unit``)."""
    models = {name: model_from_state(named[name], trained[name]["state_dict"], split, device) for name in named}
    recipes = {f"{attack} on {name} at ε={eps:g}": AttackRecipe.of(config, attack, name, {name: recipe.identity()}).at(eps)
               for name, recipe in named.items() for attack in NOISE_ATTACKS}
    parts = compute_units(recipes, lambda label, r: Unit(r.key, label, attack_unit, (r, models, split, device)),
                          store, executor, f"label-noise models under attack at ε={eps:g}", progress)
    records: dict[str, dict] = {name: {"eps": eps} for name in named}
    for part in parts.values():
        (cell,) = [c for c in part["cells"] if c["eps"] == eps]
        records[cell["source"]][cell["attack"]] = {key: cell[key] for key in ATTACK_FIELDS}
    return records


def use_threads(requested: int) -> ThreadChoice:
    """torch's pools sized by ``choose_threads`` (the attack stage's workers read torch's count, so they agree);
    the inter-op pool too while it can still be sized (torch allows it once, before any inter-op work)."""
    choice = choose_threads(requested, torch_default=torch.get_num_threads())
    torch.set_num_threads(choice.count)
    try:
        torch.set_num_interop_threads(choice.count)
    except RuntimeError:  # already started or set in this process: it stays as it is
        pass
    return choice


@dataclass(frozen=True)
class Setup:
    """What every stage of one run reads, settled before anything trains or is written (``prepare``): the
    configuration, its training methods parsed once (spec -> Method), the data, where units and the driver run,
    the custom models (loaded and probed) and the label-noise runs' corrupted labels (``noisy_labels``)."""

    config: SuiteConfig
    methods: dict[str, Method]
    split: datasets.Split
    devices: Devices
    custom: dict[str, LoadedModel]
    noisy: dict | None


def prepare(config: SuiteConfig, split, devices: Devices | None = None, trust_checkpoint: bool = False) -> Setup:
    """The one setup of ``run_suite`` and ``robustness.evaluate``: every check that needs the data (the
    architecture fits, each training method gives a loss, label files match the split, checkpoints load and
    are probed), so a mistake costs nothing. ``devices`` default: ``config.device`` for both."""
    devices = devices or Devices.one(resolve_device(config.device))
    methods = parse_methods(config)
    check_data_fits(config, split)
    check_methods(config, split, methods)
    # Corrupted once, here: a label file in another order than the split stops before anything trains or is written.
    noisy = noisy_labels(config, split) if config.noise.enabled else None
    custom = load_custom_models(config.models, split, devices.local, trust_checkpoint)
    return Setup(config, methods, split, devices, custom, noisy)


def compute_results(setup: Setup, store: UnitStore, progress: bool = True, executor=None,
                    run_dir: Path | None = None) -> dict:
    """Every stage of ``setup.config`` (reusing finished units) and the results.json they make.

    Clean models' weights go to ``run_dir/models/`` when a run directory is given. The attack stage runs
    when there is a model to attack (trained or ``setup.custom``); the label-noise stage when
    ``config.noise.enabled``.
    """
    config, split, devices, custom = setup.config, setup.split, setup.devices, setup.custom
    executor = executor or InProcess()
    threads = use_threads(config.threads)
    timing, started = {}, time.perf_counter()

    clock = time.perf_counter()
    models, records, identities = clean_stage(config, setup.methods, split, store, executor, devices, progress, run_dir)
    timing["clean_training"] = time.perf_counter() - clock

    clock = time.perf_counter()
    models |= {name: loaded.model for name, loaded in custom.items()}
    identities |= {name: custom_identity(loaded) for name, loaded in custom.items()}
    families = {name: rec["family"] for name, rec in records.items()} | {n: c.family for n, c in custom.items()}
    evaluation = {"attacks": None, "diagnostics": None, "checks": [], "between_points": None}
    if models:
        evaluation = attack_stage(config, models, families, identities, split, store, executor, devices, progress)
        clean = evaluation["attacks"]["clean"]
        records |= {name: custom_model_record(c.family, c.source, c.probe, clean[name]["error"]) for name, c in custom.items()}
    timing["attacks"] = time.perf_counter() - clock

    clock = time.perf_counter()
    headline = evaluation["attacks"]["heatmap_eps"] if evaluation["attacks"] else None
    noise = (noise_stage(config, split, store, executor, devices.units, progress, headline, setup.noisy, setup.methods)
             if config.noise.enabled else None)
    timing["label_noise"] = time.perf_counter() - clock
    timing["total"] = time.perf_counter() - started
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name if run_dir else None,
        "config": to_dict(config),
        "environment": environment(devices.units) | {"executor": executor.name, "threads": threads.record()},
        "data": split.summary(),
        "models": records,
        **evaluation,
        "noise": noise,
        "timing": {"stages_s": timing, "units": {"computed": len(store.computed), "reused": len(store.reused)}},
    }


# --- the run directory ------------------------------------------------------------------------


OWN_FOLDERS = ("units", "models", "figures")  # the folders the suite writes inside a run directory


def run_target(out: str | Path, prefix: str, run_id: str | None) -> Path:
    """Where a run goes, refused with one line when it is a folder of the user's (not a run this suite wrote):
    ``<out>/<run-id>`` (an existing run directory of that name is reused: its finished units are kept), or
    without a run id a new ``<prefix>-<date>-<time>`` directory (numbered if taken). Creates nothing."""
    out = Path(out)
    if run_id:
        candidate = out / check_run_id(run_id)
        check_run_dir(candidate, "pass another --run-id or --out")
        return candidate
    base = f"{prefix}-{datetime.now():%Y%m%d-%H%M%S}"
    candidate, k = out / base, 1
    while candidate.exists() or candidate.is_symlink():
        k += 1
        candidate = out / f"{base}-{k}"
    return candidate


def make_run_dir(candidate: Path) -> Path:
    try:
        candidate.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SuiteError(f"cannot create run directory {candidate} ({err.strerror}); pass a writable --out") from None
    return candidate


def check_run_dir(path: Path, advice: str) -> None:
    """Refuse, with one line, a folder the suite would write into that is not empty and not a run directory it wrote."""
    if path.is_symlink() and not path.is_dir():
        raise SuiteError(f"{path} is a symbolic link to a file, not a run directory; {advice}")
    if path.is_dir() and any(path.iterdir()) and not is_run_dir(path):
        raise SuiteError(f"{path} exists and is not a run directory this suite wrote (it has no {RUN_MARKER} "
                         f"marker and no config.json or results.json of this suite); {advice}")
    for name in OWN_FOLDERS:  # a symlinked units/ or figures/ would send the suite's files into someone's folder
        if (path / name).is_symlink():
            raise SuiteError(f"{path / name} is a symbolic link; a run directory's {name}/ must be its own folder: "
                             f"remove the link, or {advice}")


def is_run_dir(path: Path) -> bool:
    """A run directory this suite wrote: it holds the marker (``.robustness-run``), or, for runs written before
    the marker existed, its config.json is this suite's configuration or its results.json passes the full
    results check. A folder that merely holds files with those names is not one."""
    if has_marker(path):
        return True
    if is_suite_config(path / "config.json"):
        return True
    try:
        read_results(path)
    except SuiteError:
        return False
    return True


def is_suite_config(path: Path) -> bool:
    """Whether ``path`` is a config.json this suite wrote: a JSON object naming a preset, every key one of ours."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        saved = json.loads(path.read_text())
        override(preset(saved.pop("preset")), saved)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError, SuiteError):
        return False
    return True


def saved_config(run_dir: str | Path, flags: dict | None = None) -> SuiteConfig:
    """The configuration a run directory was started with (its config.json, or for runs older than
    config.json, results.json's), with ``flags`` applied on top."""
    path = Path(run_dir) / "config.json"
    if not path.is_file() and (Path(run_dir) / "results.json").is_file():
        path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise SuiteError(f"{run_dir} has no config.json, so it is not a run directory to resume; "
                         "pass reports/<run-id> of a run started by run_all.py")
    try:
        saved = json.loads(path.read_text())
        saved = saved["config"] if path.name == "results.json" else saved
        config = override(preset(saved.pop("preset")), saved)
    except (ValueError, KeyError, TypeError) as err:
        raise SuiteError(f"{path} is damaged ({err}); start a new run with --run-id") from None
    config = override(config, flags or {})
    config = fit_heatmap_eps(config, given="heatmap_eps" in (flags or {}).get("attack", {}))
    validate(config)
    return config


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True,
              run_dir: str | Path | None = None, trust_checkpoint: bool = False,
              executor: str = "in-process", ray_address: str | None = None, prefix: str | None = None) -> Path:
    """Run every enabled stage of ``config`` in ``run_dir`` (default ``<out>/<run-id>``), reusing its
    finished units, then write results.json and the report; returns the run directory.

    Custom models (``config.models``) are loaded and probed before anything is trained or written, so a
    bad checkpoint costs nothing; ``trust_checkpoint`` lets them load from arbitrary pickles.
    ``executor="ray"`` runs each unit as a Ray task (``ray_address``: None starts a local instance).
    ``prefix`` names a new run directory, ``{preset}`` standing for the preset's name (default: the name alone).
    """
    if not (config.clean.enabled or config.models or config.noise.enabled):
        raise SuiteError("--no-train (clean.enabled = false) leaves nothing to evaluate; add --model NAME=SPEC")
    # Where the run goes is settled first, so a folder of the user's is refused before any work or any write.
    if run_dir:
        target = Path(run_dir)
        check_run_dir(target, "pass a run directory written by run_all.py")
    else:
        target = run_target(config.out, (prefix or "{preset}").format(preset=config.preset), run_id)
    runner = make_executor(executor, ray_address)
    devices = run_devices(config.device, runner)
    clock = time.perf_counter()
    split = datasets.load(config.data)
    data_seconds = time.perf_counter() - clock
    setup = prepare(config, split, devices, trust_checkpoint)
    run_dir = make_run_dir(target)
    with run_lock(run_dir):
        try:
            write_marker(run_dir)
            remove_stray_temps(run_dir)
            write_json(run_dir / "config.json", to_dict(config))
            results = compute_results(setup, UnitStore(run_dir), progress, runner, run_dir)
            results["timing"]["stages_s"] = {"data": data_seconds, **results["timing"]["stages_s"]}
            results["timing"]["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            write_json(run_dir / "results.json", results)
            build_report(run_dir)  # from results.json alone, as `python -m robustness report` does
        except KeyboardInterrupt:
            raise RunStopped("interrupted", run_dir) from None
        except SuiteError as err:
            raise RunStopped(str(err), run_dir) from None
    return run_dir


class RunStopped(SuiteError):
    """A run that stopped (Ctrl-C, or a one-line error) after its directory was opened: every unit that
    finished is saved in ``run_dir/units`` and a rerun with ``--resume run_dir`` reuses them."""

    def __init__(self, reason: str, run_dir: Path):
        self.reason, self.run_dir = reason, Path(run_dir)
        self.interrupted = reason == "interrupted"
        super().__init__(f"{reason}; {self.kept()}: finish it with --resume {self.run_dir}")

    def finished_units(self) -> int:
        units = self.run_dir / "units"
        return sum(1 for p in units.iterdir() if not p.name.startswith(".")) if units.is_dir() else 0

    def kept(self) -> str:
        count = self.finished_units()
        return f"{count} finished unit{'s' if count != 1 else ''} kept in {self.run_dir / 'units'}"


def run_devices(name: str, runner) -> Devices:
    """Where units run, and where the driver works. Under Ray units run on the workers' device (a
    cluster's GPUs, one per task), which this machine may not have."""
    if isinstance(runner, InProcess):
        return Devices.one(resolve_device(name))
    gpus = runner.cluster_has_gpus()
    if name == "cuda" and not gpus:
        raise SuiteError("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu or auto")
    device = torch.device("cuda" if name == "cuda" or (name == "auto" and gpus) else "cpu")
    runner.gpus_per_task = 1 if device.type == "cuda" else 0
    return Devices(device, resolve_device("auto"))
