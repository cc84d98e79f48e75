"""Orchestration: one run is data -> clean models -> attacks -> label noise -> results.json -> report.

The work is split into units (robustness/units.py): each trained model and each
attack × ε × source cell is saved in ``<run-dir>/units/`` the moment it
finishes, under a hash of exactly the configuration that determines it. A rerun
on the same directory (same --run-id, or --resume) reuses every finished unit
and computes only the rest; results.json and the report are then rebuilt from
the units. One run at a time holds the directory's lock.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks.evaluate import evaluate_models
from noise.benchmark import noise_record, summarize_noise
from robustness import data as datasets
from robustness.config import SuiteConfig, override, preset, to_dict, validate
from robustness.errors import SuiteError
from robustness.methods import model_id, parse_method
from robustness.results import SCHEMA_VERSION, environment, remove_stray_temps, save_state_dict, write_json
from robustness.train import TrainedModel
from robustness.units import (LOCK_NAME, NoiseSummary, UnitStore, attack_spec, attack_unit, model_from_state,
                              run_lock, train_spec, train_unit, unit_key)


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def train_models(specs: dict[str, dict], store: UnitStore, split, device, desc: str, progress: bool,
                 keep_state: bool = True) -> dict[str, dict]:
    """Every train unit of ``specs`` (name -> spec), from the cache or trained and saved at once.

    ``keep_state=False`` drops the weights once saved, where only histories are needed (label noise).
    """
    epochs = sum(spec["train"]["epochs"] for spec in specs.values())
    bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not progress)
    results = {}
    for name, spec in specs.items():
        bar.set_postfix_str(name)
        results[name] = store.get_or_compute(
            spec, lambda: train_unit(spec, split, device, on_epoch=lambda _: bar.update()),
            on_reuse=lambda r: bar.update(len(r["history"])),
        )
        if not keep_state:
            results[name] = {k: v for k, v in results[name].items() if k != "state_dict"}
    bar.close()
    return results


def clean_specs(config: SuiteConfig) -> dict[str, dict]:
    """model id -> train spec of every clean method × seed."""
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


def attack_specs(config: SuiteConfig, specs: dict[str, dict]) -> list[dict]:
    """The attack unit of every attack × ε × source, in the order of transfer_matrix's cells; each needs
    every clean model of ``specs`` (model id -> train spec)."""
    return [attack_spec(config, attack, eps, source, specs)
            for attack in config.attack.attacks for eps in config.attack.eps for source in specs]


def attack_matrix(config: SuiteConfig, specs: dict[str, dict], states: dict[str, dict], models: dict[str, nn.Module],
                  store: UnitStore, split, device, progress: bool) -> dict:
    """transfer_matrix's result for every model, assembled from one cached unit per attack × ε × source."""
    cells = attack_specs(config, specs)
    bar = tqdm(total=len(cells), desc="attacks", unit="cell", disable=not progress)
    parts = []
    for spec in cells:
        bar.set_postfix_str(f"{spec['attack']} ε={spec['eps']:g} {spec['source']}")
        parts.append(store.get_or_compute(spec, lambda: attack_unit(spec, states, split, device, models)))
        bar.update()
    bar.close()
    return {"n": parts[0]["n"], "clean": parts[0]["clean"], "cells": [c for part in parts for c in part["cells"]]}


def noise_specs(config: SuiteConfig) -> dict[tuple, dict]:
    """(level, method spec, seed) -> train spec of every label-noise run."""
    nc = config.noise
    return {(level, spec, seed): train_spec(config, spec, seed, noise_level=level)
            for level in nc.levels for spec in nc.methods for seed in nc.seeds}


def run_noise_units(config: SuiteConfig, store: UnitStore, split, device, progress: bool) -> dict:
    """The corrupted-label benchmark (noise.benchmark's records and summary), one cached unit per run."""
    specs = noise_specs(config)
    named = {f"{spec['noise']['spec']} {model_id(parse_method(m), seed)}": spec for (_, m, seed), spec in specs.items()}
    units = dict(zip(specs, train_models(named, store, split, device, "label noise", progress, keep_state=False).values()))
    runs = [noise_record(level, parse_method(method), seed, NoiseSummary(unit["noise"]),
                         TrainedModel(None, unit["history"], unit["seconds"]))
            for (level, method, seed), unit in units.items()]
    return {"noise_model": config.noise.noise_model, "levels": list(config.noise.levels), "runs": runs,
            "summary": summarize_noise(runs)}


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


def compute_results(config: SuiteConfig, split, device, store: UnitStore, run_dir: Path, progress: bool) -> dict:
    """Every unit of ``config`` (reusing finished ones) and the results.json they make."""
    timing, started = {}, time.perf_counter()

    clock = time.perf_counter()
    specs = clean_specs(config)
    units = train_models(specs, store, split, device, "clean training", progress)
    records = {name: model_record(specs[name], unit) for name, unit in units.items()}
    states = {name: unit["state_dict"] for name, unit in units.items()}
    for name, state in states.items():
        save_state_dict(run_dir / "models" / f"{name}.pt", state)
    timing["clean_training"] = time.perf_counter() - clock

    clock = time.perf_counter()
    models = {name: model_from_state(rec["arch"], rec["method"], states[name], split, device)
              for name, rec in records.items()}
    matrix = attack_matrix(config, specs, states, models, store, split, device, progress)
    families = {name: rec["family"] for name, rec in records.items()}
    evaluation = evaluate_models(models, families, split, config.attack, device, progress, matrix=matrix)
    timing["attacks"] = time.perf_counter() - clock

    clock = time.perf_counter()
    noise = run_noise_units(config, store, split, device, progress) if config.noise.enabled else None
    timing["label_noise"] = time.perf_counter() - clock
    timing["total"] = time.perf_counter() - started
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "config": to_dict(config),
        "environment": environment(device),
        "data": split.summary(),
        "models": records,
        **evaluation,  # attacks, diagnostics, checks
        "noise": noise,
        "timing": {"stages_s": timing, "units": {"computed": len(store.computed), "reused": len(store.reused)}},
    }


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True,
              run_dir: str | Path | None = None) -> Path:
    """Run every stage of ``config`` in ``run_dir`` (default ``<out>/<run-id>``), reusing its finished
    units, then write results.json and the report; returns the run directory."""
    from robustness.report import build_report

    device = resolve_device(config.device)
    clock = time.perf_counter()
    split = datasets.load(config.data)
    data_seconds = time.perf_counter() - clock
    run_dir = Path(run_dir) if run_dir else open_run_dir(config.out, config.preset, run_id)
    with run_lock(run_dir):
        remove_stray_temps(run_dir)
        write_json(run_dir / "config.json", to_dict(config))
        results = compute_results(config, split, device, UnitStore(run_dir), run_dir, progress)
        results["timing"]["stages_s"] = {"data": data_seconds, **results["timing"]["stages_s"]}
        results["timing"]["finished_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(run_dir / "results.json", results)
        build_report(run_dir)  # from results.json alone, as `python -m robustness report` does
    return run_dir
