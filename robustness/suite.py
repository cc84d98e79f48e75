"""The pipeline: one run is data -> clean models -> attacks -> label noise -> results.json -> report.

Every entry point goes through here: ``run_all.py`` and ``python -m noise`` call
``run_suite`` (one with every stage, the other with only the label-noise stage),
and ``robustness.evaluate`` calls ``compute_results`` on models held in memory;
both settle the run first with the one shared setup, ``prepare``. This module holds
the run directory, its lock, the order of the stages and the assembly of results.json;
each stage (its recipe, unit and scheduling) lives in its own module in robustness/stages/.

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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from attacks import evaluate_matrix
from attacks.evaluate import headline_eps
from attacks.metrics import pack_bits, unpack_bits
from robustness import data as datasets
from robustness.checkpoints import NAME_PATTERN, LoadedModel, load_custom_models
from robustness.config import SuiteConfig, check_run_id, check_run_path, fit_heatmap_eps, migrate_attack_keys, override, to_dict
from robustness.presets import preset
from robustness.errors import SuiteError
from robustness.executors import Devices, InProcess, RayExecutor, make_executor, resolve_device
from robustness.methods import Method
from robustness.probe import probe_model
from robustness.records import CheckpointSource, custom_model_record
from robustness.statistics import statistics_section
from robustness.report import build_report
from robustness.results import (
    RUN_MARKER,
    SCHEMA_VERSION,
    environment,
    has_marker,
    read_results,
    remove_stray_temps,
    write_json,
    write_marker,
)
from robustness.stages.attack import attack_matrix, custom_identity
from robustness.stages.label_noise import noise_stage, noisy_labels
from robustness.stages.train import clean_stage
from robustness.stages.worst_case import worst_case_stage
from robustness.threads import ThreadChoice, ThreadGovernor, affinity_cpus, choose_threads
from robustness.units import UnitStore, result_digest, run_lock
from robustness.validation import check_data_fits, check_methods, parse_methods, trained_names, validate


# --- the stages -------------------------------------------------------------------------------


def attack_stage(config: SuiteConfig, models: dict[str, nn.Module], families: dict[str, str], identities: dict[str, dict],
                 split, store, executor, devices: Devices, progress: bool) -> dict:
    """The ``attacks``, ``diagnostics``, ``checks`` and ``between_points`` sections for ``models``: the
    transfer matrix, then the worst-case attacks at the headline ε (chosen from the matrix when not given)."""
    matrix = attack_matrix(config, identities, models, store, executor, split, devices.units, progress)
    eps = headline_eps(matrix, config.attack)["heatmap_eps"]
    headline = worst_case_stage(config, identities, models, store, executor, split, devices.units, progress, eps)
    evaluation = evaluate_matrix(matrix, models, families, split, config.attack, devices.local, headline, keep_bits=True)
    evaluation["attacks"] = with_headline_bits(evaluation["attacks"], matrix, headline)
    return evaluation


def with_headline_bits(attacks: dict, matrix: dict, headline: dict | None) -> dict:
    """The ``attacks`` section (its clean records and cells with their per-image bits, ``evaluate_matrix``'s
    ``keep_bits``) with the headline's bits too, so that every paired comparison (robustness/statistics.py) is a
    function of results.json alone (schema 6): the headline's images as ``images_bits``, and each headline-only
    attack's row (AutoAttack, Square) its ``wrong_bits`` on those images (that attack or a clean mistake, the
    union its ``wrong`` counts)."""
    n = matrix["n"]
    worst = attacks.get("worst_case")
    if not worst or not worst.get("headline"):
        return attacks
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.as_tensor(headline["index"], dtype=torch.long) if headline else slice(None)] = True
    own = {(c["attack"], c["target"]): c["wrong_bits"] for c in (headline or {}).get("cells", []) if c["source"] == c["target"]}
    rows = []
    for row in worst["headline"]["cells"]:
        if (row["kind"], row["target"]) in own:
            clean = unpack_bits(matrix["clean"][row["target"]]["wrong_bits"], n)[mask]
            row = {**row, "wrong_bits": pack_bits(unpack_bits(own[row["kind"], row["target"]], len(clean)) | clean)}
        rows.append(row)
    return {**attacks, "worst_case": {**worst, "headline": {**worst["headline"], "images_bits": pack_bits(mask), "cells": rows}}}


def thread_record(choice: ThreadChoice, governor: ThreadGovernor | None) -> dict:
    """results.json's environment.threads: the choice, and how many units ran on fewer threads under load."""
    return choice.record() | ({"adapted": governor.record()} if governor is not None else {})


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


def in_memory_models(models: Mapping[str, nn.Module], families: Mapping[str, str], split, device,
                     keyed: bool = False) -> dict[str, LoadedModel]:
    """Models passed as objects: moved to ``device``, put in eval mode, probed. ``keyed``: their checkpoint sha256
    is that of their weights (``result_digest`` of the state_dict), so a unit cached in a run directory belongs to
    these weights, as a checkpoint's to its file."""
    out = {}
    for name, model in models.items():
        if not NAME_PATTERN.fullmatch(name):
            raise SuiteError(f"model name {name!r} may hold only letters, digits, '_', '.', '-'; rename it")
        model = model.to(device)
        probe = probe_model(name, model, split, device)
        sha256 = result_digest(model.state_dict()) if keyed else None
        source = CheckpointSource(spec=None, format="in-memory", path=None, sha256=sha256, arch=None, factory=None,
                                  trusted=None, unwrapped=None, normalization="none")
        out[name] = LoadedModel(model, families.get(name, "custom"), source, probe)
    return out


def with_in_memory(setup: Setup, models: Mapping[str, nn.Module], families: Mapping[str, str] | None = None,
                   keyed: bool = False) -> Setup:
    """``setup`` with ``models`` (objects, ``in_memory_models``) beside its custom models; a name that a trained
    baseline or another model of the run already has is refused with one line."""
    taken = (set(trained_names(setup.config, setup.methods)) | set(setup.custom)) & set(models)
    if taken:
        raise SuiteError(f"model name {min(taken)!r} is also the name of a trained baseline or of another --model; "
                         "rename it")
    added = in_memory_models(models, families or {}, setup.split, setup.devices.local, keyed)
    return replace(setup, custom=setup.custom | added)


def compute_results(setup: Setup, store: UnitStore, progress: bool = True, executor=None,
                    run_dir: Path | None = None) -> dict:
    """Every stage of ``setup.config`` (reusing finished units) and the results.json they make.

    Clean models' weights go to ``run_dir/models/`` when a run directory is given. The attack stage runs
    when there is a model to attack (trained or ``setup.custom``); the label-noise stage when
    ``config.noise.enabled``.
    """
    config, split, devices = setup.config, setup.split, setup.devices
    threads = use_threads(config.threads)
    governor = ThreadGovernor(threads.count, affinity_cpus()) if threads.adaptive else None
    executor = (executor or InProcess()).governed(governor, devices.units)
    started = time.perf_counter()
    try:
        stages, timing = run_stages(setup, store, executor, progress, run_dir)
    finally:
        executor.close()  # worker processes, if it started any, stop with the stages
    torch.set_num_threads(threads.count)  # the governor may have lowered it for the last units: what follows gets the choice
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name if run_dir else None,
        "config": to_dict(config),
        "environment": environment(devices.units) | {"executor": executor.name, "threads": thread_record(threads, governor)},
        "data": split.summary(),
        **stages,
    }
    clock = time.perf_counter()
    results["statistics"] = statistics_section(results, **to_dict(config.statistics))
    timing["statistics"] = time.perf_counter() - clock
    timing["total"] = time.perf_counter() - started
    results["timing"] = {"stages_s": timing, "units": {"computed": len(store.computed), "reused": len(store.reused)}}
    return results


def run_stages(setup: Setup, store: UnitStore, executor, progress: bool, run_dir: Path | None) -> tuple[dict, dict]:
    """results.json's ``models``, the attack stage's sections and ``noise``, and each stage's seconds."""
    config, split, devices, custom = setup.config, setup.split, setup.devices, setup.custom
    timing = {}
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
    return {"models": records, **evaluation, "noise": noise}, timing


# --- the run directory ------------------------------------------------------------------------


OWN_FOLDERS = ("units", "models", "figures")  # the folders the suite writes inside a run directory


def run_target(out: str | Path, prefix: str, run_id: str | None) -> Path:
    """Where a run goes, refused with one line when it is a folder of the user's (not a run this suite wrote):
    ``<out>/<run-id>`` (an existing run directory of that name is reused: its finished units are kept), or
    without a run id a new ``<prefix>-<date>-<time>`` directory (numbered if taken); a path too long for the files
    inside it is refused too (``check_run_path``). Creates nothing."""
    check_run_path(out, run_id)
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
        if isinstance(saved.get("attack"), dict):  # a run started before each attack owned its settings
            saved["attack"] = migrate_attack_keys(saved["attack"])
        config = override(preset(saved.pop("preset")), saved)
    except (ValueError, KeyError, TypeError) as err:
        raise SuiteError(f"{path} is damaged ({err}); start a new run with --run-id") from None
    config = override(config, flags or {})
    config = fit_heatmap_eps(config, given="heatmap_eps" in (flags or {}).get("attack", {}))
    validate(config)
    return config


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True,
              run_dir: str | Path | None = None, trust_checkpoint: bool = False,
              executor: str = "auto", ray_address: str | None = None, prefix: str | None = None,
              in_memory: Mapping[str, nn.Module] | None = None) -> Path:
    """Run every enabled stage of ``config`` in ``run_dir`` (default ``<out>/<run-id>``), reusing its
    finished units, then write results.json and the report; returns the run directory.

    Custom models (``config.models``) are loaded and probed before anything is trained or written, so a
    bad checkpoint costs nothing; ``trust_checkpoint`` lets them load from arbitrary pickles.
    ``executor``: "auto" (in this process; in one-thread worker processes while other processes keep the CPUs
    busy), "in-process", "processes" or "ray" (each unit a Ray task; ``ray_address``: None starts a local instance).
    ``prefix`` names a new run directory, ``{preset}`` standing for the preset's name (default: the name alone).
    ``in_memory``: models passed as objects (``robustness.benchmark``), attacked beside ``config.models``; their
    weights' sha256 keys their units, so the same call on the same run directory resumes.
    """
    if not (config.clean.enabled or config.models or config.noise.enabled or in_memory):
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
    if in_memory:
        setup = with_in_memory(setup, in_memory, keyed=True)
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
    if not isinstance(runner, RayExecutor):
        return Devices.one(resolve_device(name))
    gpus = runner.cluster_has_gpus()
    if name == "cuda" and not gpus:
        raise SuiteError("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu or auto")
    device = torch.device("cuda" if name == "cuda" or (name == "auto" and gpus) else "cpu")
    runner.gpus_per_task = 1 if device.type == "cuda" else 0
    return Devices(device, resolve_device("auto"))
