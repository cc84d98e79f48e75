"""Orchestration: one run is data -> clean models -> attacks -> label noise -> results.json -> report.

Each stage is a function of plain values; ``run_suite`` strings them together
and writes ``<out>/<run-id>/``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from attacks.between import between_points
from attacks.evaluate import evaluate_models
from noise.benchmark import run_noise
from robustness import data as datasets
from robustness.config import SuiteConfig, to_dict
from robustness.errors import SuiteError
from robustness.methods import model_id, parse_method
from robustness.results import SCHEMA_VERSION, environment, save_state, write_json
from robustness.train import fit


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SuiteError("--device cuda was asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def train_clean(config: SuiteConfig, split, device, progress: bool) -> tuple[dict[str, nn.Module], dict]:
    """Every clean method × seed: the models, and their records for results.json."""
    jobs = [(parse_method(spec), seed) for spec in config.clean.methods for seed in config.clean.seeds]
    bar = tqdm(total=len(jobs) * config.train.epochs, desc="clean training", unit="epoch", disable=not progress)
    models, records = {}, {}
    for method, seed in jobs:
        name = model_id(method, seed)
        bar.set_postfix_str(name)
        trained = fit(config.train.arch, method, split, seed, config.train, device, on_epoch=lambda _: bar.update())
        models[name] = trained.model
        records[name] = {
            "method": method.spec,
            "family": method.family,
            "display": method.display,
            "alpha": method.alpha,
            "seed": seed,
            "arch": config.train.arch,
            "clean_error": trained.history[-1]["test_error"],
            "history": trained.history,
            "train_seconds": trained.seconds,
        }
    bar.close()
    return models, records


def new_run_dir(out: str | Path, preset: str, run_id: str | None) -> Path:
    """``<out>/<run-id>``, created empty; a run id that is taken gets a numbered suffix."""
    out = Path(out)
    base = run_id or f"{preset}-{datetime.now():%Y%m%d-%H%M%S}"
    candidate, k = out / base, 1
    while candidate.exists():
        k += 1
        candidate = out / f"{base}-{k}"
    try:
        candidate.mkdir(parents=True)
    except OSError as err:
        raise SuiteError(f"cannot create run directory {candidate} ({err.strerror}); pass a writable --out") from None
    return candidate


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True) -> Path:
    """Run every stage of ``config`` and write results.json and the report; returns the run directory."""
    from robustness.report import build_report

    device = resolve_device(config.device)
    timing, started = {}, time.perf_counter()

    clock = time.perf_counter()
    split = datasets.load(config.data)
    timing["data"] = time.perf_counter() - clock
    run_dir = new_run_dir(config.out, config.preset, run_id)

    clock = time.perf_counter()
    models, records = train_clean(config, split, device, progress)
    for name, model in models.items():
        save_state(run_dir / "models" / f"{name}.pt", model)
    timing["clean_training"] = time.perf_counter() - clock

    clock = time.perf_counter()
    families = {name: rec["family"] for name, rec in records.items()}
    evaluation = evaluate_models(models, families, split, config.attack, device, progress)
    evaluation["between_points"] = between_points(models, families, split, config.attack, device)
    timing["attacks"] = time.perf_counter() - clock

    clock = time.perf_counter()
    noise = run_noise(config, split, device, progress) if config.noise.enabled else None
    timing["label_noise"] = time.perf_counter() - clock

    timing["total"] = time.perf_counter() - started  # everything but the report (about a second)
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "config": to_dict(config),
        "environment": environment(device),
        "data": split.summary(),
        "models": records,
        **evaluation,  # attacks, diagnostics, checks, between_points
        "noise": noise,
        "timing": {"stages_s": timing, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    write_json(run_dir / "results.json", results)
    build_report(run_dir)  # from results.json alone, as `python -m robustness report` does
    return run_dir
