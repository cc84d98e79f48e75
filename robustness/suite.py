"""Orchestration: one run is data -> clean models -> attacks -> label noise -> results.json -> report.

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks.between import between_points
from attacks.evaluate import evaluate_models
from noise.benchmark import assemble_noise, noise_record, noise_specs as noise_spec_list
from noise.core import corrupt
from robustness import data as datasets
from robustness.checkpoints import fill_clean_errors, load_custom_models
from robustness.config import SuiteConfig, override, preset, to_dict, validate
from robustness.errors import SuiteError
from robustness.executors import InProcess, Unit, make_executor
from robustness.methods import model_id, parse_method
from robustness.results import SCHEMA_VERSION, environment, remove_stray_temps, save_state_dict, write_json
from robustness.units import (LOCK_NAME, UnitStore, attack_spec, attack_unit, model_from_state,
                              run_lock, train_spec, train_unit, trained_identity, unit_key)


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


# --- running units: cached ones are loaded, the rest go to the executor ---------------------


def compute_units(specs: dict[str, dict], make_unit: Callable[[str, dict], Unit], store: UnitStore, executor,
                  desc: str, progress: bool) -> dict[str, dict]:
    """name -> result for every spec: reused from ``store`` or computed by ``executor`` and saved at once.

    Units that fail (under Ray: twice) are reported together after the others finished and were saved.
    """
    results = {name: store.load(spec) for name, spec in specs.items()}
    for name, result in results.items():
        if result is not None:
            store.reused.append(unit_key(specs[name]))
    pending = {name: spec for name, spec in specs.items() if results[name] is None}
    todo = [make_unit(name, spec) for name, spec in pending.items()]
    names = {unit.key: name for unit, name in zip(todo, pending)}

    def done(unit: Unit, result: dict) -> None:
        store.save(specs[names[unit.key]], result)
        store.computed.append(unit.key)
        results[names[unit.key]] = result

    failures = executor.run(todo, done, desc, progress)
    if failures:
        raise SuiteError(f"{len(failures)} unit(s) of {desc} failed ({'; '.join(failures.values())}); "
                         "the finished ones are saved: fix the cause and rerun the same command")
    return results


def train_units(specs: dict[str, dict], store, executor, split, device, desc: str, progress: bool) -> dict[str, dict]:
    """Every train unit of ``specs`` (name -> spec). In this process an epoch bar shows each model's progress."""
    def make_unit(name: str, spec: dict) -> Unit:
        show = isinstance(executor, InProcess) and progress  # a Ray worker's bar would print on the worker
        return Unit(unit_key(spec), name, train_unit, (spec, split, device, epoch_bar(name, spec) if show else None))

    return compute_units(specs, make_unit, store, executor, desc, progress)


def epoch_bar(name: str, spec: dict) -> Callable[[dict], None]:
    """A per-epoch progress bar for one model, closed after its last epoch."""
    bar = tqdm(total=spec["train"]["epochs"], desc=f"  {name}", unit="epoch", leave=False)

    def on_epoch(row: dict) -> None:
        bar.update()
        if bar.n >= bar.total:
            bar.close()

    return on_epoch


# --- the stages -------------------------------------------------------------------------------


def clean_specs(config: SuiteConfig) -> dict[str, dict]:
    """model id -> train spec of every clean method × seed (none with --no-train)."""
    if not config.clean.enabled:
        return {}
    return {model_id(parse_method(spec), seed): train_spec(config, spec, seed)
            for spec in config.clean.methods for seed in config.clean.seeds}


def model_record(spec: dict, unit: dict) -> dict:
    """A clean model's entry in results.json."""
    method = parse_method(spec["method"])
    return {
        "method": method.spec,
        "family": method.family,
        "display": method.display,
        "alpha": method.alpha,
        "seed": spec["seed"],
        "arch": spec["train"]["arch"],
        "unit": unit_key(spec),
        "clean_error": unit["history"][-1]["test_error"],
        "history": unit["history"],
        "train_seconds": unit["seconds"],
    }


def model_identities(specs: dict[str, dict], records: dict[str, dict]) -> dict[str, dict]:
    """name -> what identifies each model in an attack spec: a train unit, or a checkpoint's contents."""
    return {name: trained_identity(specs[name]) if name in specs else
            {"checkpoint": rec["checkpoint"]["sha256"], "normalization": rec["checkpoint"].get("normalization")}
            for name, rec in records.items()}


def attack_specs(config: SuiteConfig, identities: dict[str, dict]) -> dict[tuple, dict]:
    """(attack, source) -> the attack unit crafted on that source at every ε, in transfer_matrix's order."""
    return {(attack, source): attack_spec(config, attack, source, identities)
            for attack in config.attack.attacks for source in identities}


def attack_matrix(config: SuiteConfig, identities: dict[str, dict], models: dict[str, nn.Module], store, executor,
                  split, device, progress: bool) -> dict:
    """transfer_matrix's result for every model, assembled from one cached unit per attack × source."""
    specs = attack_specs(config, identities)
    named = {f"{attack} from {source}": spec for (attack, source), spec in specs.items()}
    parts = compute_units(named, lambda name, spec: Unit(unit_key(spec), name, attack_unit, (spec, models, split, device)),
                          store, executor, "attacks", progress)
    order = {(c["attack"], c["eps"], c["source"], c["target"]): c for part in parts.values() for c in part["cells"]}
    cells = [order[a, e, s, t] for a in config.attack.attacks for e in config.attack.eps for s in models for t in models]
    first = next(iter(parts.values()))
    return {"n": first["n"], "clean": first["clean"], "cells": cells}


def noise_specs(config: SuiteConfig) -> dict[tuple, dict]:
    """(noise spec, method spec, seed) -> train spec of every label-noise run."""
    nc = config.noise
    return {(spec, method, seed): train_spec(config, method, seed, noise_spec=spec)
            for spec in noise_spec_list(nc) for method in nc.methods for seed in nc.seeds}


def run_noise_units(config: SuiteConfig, store, executor, split, device, progress: bool) -> dict:
    """The corrupted-label benchmark (noise.benchmark's records and summaries), one cached unit per run."""
    nc = config.noise
    # Corrupt once up front: a bad file or class id fails before the first model trains.
    noisy = {(spec, seed): corrupt(split.train_y, spec, split.num_classes, seed)
             for spec in noise_spec_list(nc) for seed in nc.seeds}
    specs = noise_specs(config)
    named = {f"{spec} {model_id(parse_method(m), seed)}": s for (spec, m, seed), s in specs.items()}
    units = dict(zip(specs, train_units(named, store, executor, split, device, "label noise", progress).values()))
    runs = [noise_record(spec, parse_method(method), seed, unit["noise"], unit["history"], unit["seconds"])
            for (spec, method, seed), unit in units.items()]
    return assemble_noise(nc, runs, noisy)


def results_document(config: SuiteConfig, run_id: str, device, split, records: dict, evaluation: dict,
                     noise: dict | None, timing: dict) -> dict:
    """Everything results.json holds (docs/results.md), from the stages' outputs."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "config": to_dict(config),
        "environment": environment(device),
        "data": split.summary(),
        "models": records,
        **evaluation,  # attacks, diagnostics, checks, between_points
        "noise": noise,
        "timing": {"stages_s": timing},
    }


def train_clean(config: SuiteConfig, split, device, progress: bool) -> tuple[dict[str, nn.Module], dict]:
    """The clean models of ``config``, trained in this process with nothing saved (the Python API's baselines)."""
    specs = clean_specs(config)
    units = train_units(specs, UnitStore(None), InProcess(), split, device, "clean training", progress)
    records = {name: model_record(specs[name], unit) for name, unit in units.items()}
    models = {name: model_from_state(rec["arch"], rec["method"], units[name]["state_dict"], split, device)
              for name, rec in records.items()}
    return models, records


def compute_results(config: SuiteConfig, split, device, store: UnitStore, run_dir: Path, progress: bool,
                    custom: tuple[dict, dict] = ({}, {}), executor=None, local_device=None) -> dict:
    """Every unit of ``config`` (reusing finished ones) and the results.json they make.

    ``custom`` is (models, records) of checkpoints given with --model, already loaded and probed.
    Units run on ``device``; what runs here (diagnostics, between-points analysis) on ``local_device``,
    which differs under Ray when the workers have GPUs and this machine has none.
    """
    executor = executor or InProcess()
    local_device = local_device or device
    timing, started = {}, time.perf_counter()

    clock = time.perf_counter()
    specs = clean_specs(config)
    units = train_units(specs, store, executor, split, device, "clean training", progress)
    records = {name: model_record(specs[name], unit) for name, unit in units.items()}
    for name, unit in units.items():
        save_state_dict(run_dir / "models" / f"{name}.pt", unit["state_dict"])
    timing["clean_training"] = time.perf_counter() - clock

    clock = time.perf_counter()
    models = {name: model_from_state(rec["arch"], rec["method"], units[name]["state_dict"], split, local_device)
              for name, rec in records.items()}
    models.update(custom[0])
    records.update(custom[1])
    identities = model_identities(specs, records)
    matrix = attack_matrix(config, identities, models, store, executor, split, device, progress)
    families = {name: rec["family"] for name, rec in records.items()}
    evaluation = evaluate_models(models, families, split, config.attack, local_device, progress, matrix=matrix)
    evaluation["between_points"] = between_points(models, families, split, config.attack, local_device)
    fill_clean_errors(records, evaluation)
    timing["attacks"] = time.perf_counter() - clock

    clock = time.perf_counter()
    # --no-train means "only the given checkpoints": the noise benchmark would train models, so it is skipped.
    run_noise = config.noise.enabled and config.clean.enabled
    noise = run_noise_units(config, store, executor, split, device, progress) if run_noise else None
    timing["label_noise"] = time.perf_counter() - clock
    timing["total"] = time.perf_counter() - started
    results = results_document(config, run_dir.name, device, split, records, evaluation, noise, timing)
    results["environment"]["executor"] = executor.name
    results["timing"]["units"] = {"computed": len(store.computed), "reused": len(store.reused)}
    return results


# --- the run directory ------------------------------------------------------------------------


def open_run_dir(out: str | Path, preset: str, run_id: str | None) -> Path:
    """``<out>/<run-id>``: an existing run directory of that name is reused (its finished units are kept);
    without a run id, a new ``<preset>-<date>-<time>`` directory (numbered if taken)."""
    out = Path(out)
    if run_id:
        candidate = out / run_id
        if candidate.is_dir() and any(candidate.iterdir()) and not is_run_dir(candidate):
            raise SuiteError(f"{candidate} exists and is not a run directory; pass another --run-id or --out")
    else:
        base = f"{preset}-{datetime.now():%Y%m%d-%H%M%S}"
        candidate, k = out / base, 1
        while candidate.exists():
            k += 1
            candidate = out / f"{base}-{k}"
    try:
        candidate.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SuiteError(f"cannot create run directory {candidate} ({err.strerror}); pass a writable --out") from None
    return candidate


def is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in ("config.json", "results.json", "units", LOCK_NAME))


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
    validate(config)
    return config


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True,
              run_dir: str | Path | None = None, trust_checkpoint: bool = False,
              executor: str = "in-process", ray_address: str | None = None) -> Path:
    """Run every stage of ``config`` in ``run_dir`` (default ``<out>/<run-id>``), reusing its finished
    units, then write results.json and the report; returns the run directory.

    Custom models (``config.models``) are loaded and probed before anything is trained or written, so a
    bad checkpoint costs nothing; ``trust_checkpoint`` lets them load from arbitrary pickles.
    ``executor="ray"`` runs each unit as a Ray task (``ray_address``: None starts a local instance).
    """
    from robustness.report import build_report

    if not config.clean.enabled and not config.models:
        raise SuiteError("--no-train (clean.enabled = false) leaves nothing to evaluate; add --model NAME=SPEC")
    runner = make_executor(executor, ray_address)
    device = units_device(config.device, runner)
    local_device = device if isinstance(runner, InProcess) else resolve_device("auto")
    clock = time.perf_counter()
    split = datasets.load(config.data)
    data_seconds = time.perf_counter() - clock
    custom = load_custom_models(config.models, split, local_device, trust_checkpoint)
    run_dir = Path(run_dir) if run_dir else open_run_dir(config.out, config.preset, run_id)
    with run_lock(run_dir):
        remove_stray_temps(run_dir)
        write_json(run_dir / "config.json", to_dict(config))
        results = compute_results(config, split, device, UnitStore(run_dir), run_dir, progress, custom, runner,
                                  local_device)
        results["timing"]["stages_s"] = {"data": data_seconds, **results["timing"]["stages_s"]}
        results["timing"]["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(run_dir / "results.json", results)
        build_report(run_dir)  # from results.json alone, as `python -m robustness report` does
    return run_dir


def units_device(name: str, runner) -> torch.device:
    """The device units run on. Under Ray it is the workers' (a cluster's GPUs), not this machine's."""
    if isinstance(runner, InProcess):
        return resolve_device(name)
    gpus = runner.cluster_has_gpus()
    if name == "cuda" and not gpus:
        raise SuiteError("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu or auto")
    device = torch.device("cuda" if name == "cuda" or (name == "auto" and gpus) else "cpu")
    runner.gpus_per_task = 1 if device.type == "cuda" else 0  # one GPU per task, as the issue asks
    return device
