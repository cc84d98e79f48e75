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

from attacks.evaluate import evaluate_models
from noise.benchmark import run_noise
from robustness import data as datasets
from robustness.checkpoints import fill_clean_errors, load_custom_models
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
        **evaluation,  # attacks, diagnostics, checks
        "noise": noise,
        "timing": {"stages_s": timing, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def run_suite(config: SuiteConfig, run_id: str | None = None, progress: bool = True, trust_checkpoint: bool = False) -> Path:
    """Run every stage of ``config`` and write results.json and the report; returns the run directory.

    ``trust_checkpoint`` lets custom models (``config.models``) load from arbitrary pickles. They are
    loaded and probed before anything is trained or written, so a bad checkpoint costs nothing.
    """
    from robustness.report import build_report

    if not config.clean.enabled and not config.models:
        raise SuiteError("--no-train (clean.enabled = false) leaves nothing to evaluate; add --model NAME=SPEC")
    device = resolve_device(config.device)
    timing, started = {}, time.perf_counter()

    clock = time.perf_counter()
    split = datasets.load(config.data)
    timing["data"] = time.perf_counter() - clock
    custom, custom_records = load_custom_models(config.models, split, device, trust_checkpoint)
    run_dir = new_run_dir(config.out, config.preset, run_id)

    clock = time.perf_counter()
    models, records = train_clean(config, split, device, progress) if config.clean.enabled else ({}, {})
    for name, model in models.items():
        save_state(run_dir / "models" / f"{name}.pt", model)
    timing["clean_training"] = time.perf_counter() - clock

    models.update(custom)
    records.update(custom_records)
    clock = time.perf_counter()
    families = {name: rec["family"] for name, rec in records.items()}
    evaluation = evaluate_models(models, families, split, config.attack, device, progress)
    timing["attacks"] = time.perf_counter() - clock
    fill_clean_errors(records, evaluation)

    clock = time.perf_counter()
    # --no-train means "only the given checkpoints": the noise benchmark would train models, so it is skipped.
    noise = run_noise(config, split, device, progress) if config.noise.enabled and config.clean.enabled else None
    timing["label_noise"] = time.perf_counter() - clock

    timing["total"] = time.perf_counter() - started  # everything but the report (about a second)
    results = results_document(config, run_dir.name, device, split, records, evaluation, noise, timing)
    write_json(run_dir / "results.json", results)
    build_report(run_dir)  # from results.json alone, as `python -m robustness report` does
    return run_dir
