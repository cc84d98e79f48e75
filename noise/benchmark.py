"""The corrupted-label benchmark (the paper's section 3.4): every noise level × method × seed,
each model trained from scratch on labels corrupted by one noise model."""

from __future__ import annotations

from statistics import mean, pstdev

from tqdm.auto import tqdm

from noise.core import corrupt
from robustness.config import SuiteConfig
from robustness.methods import Method, model_id, parse_method
from robustness.train import fit


def run_noise(config: SuiteConfig, split, device, progress: bool) -> dict:
    """The corrupted-label benchmark: every noise level × method × seed, trained from scratch."""
    nc = config.noise
    jobs = [(p, parse_method(spec), seed) for p in nc.levels for spec in nc.methods for seed in nc.seeds]
    bar = tqdm(total=len(jobs) * nc.epochs, desc="label noise", unit="epoch", disable=not progress)
    runs = []
    for level, method, seed in jobs:
        spec = f"{nc.noise_model}:{level:g}"
        bar.set_postfix_str(f"{spec} {model_id(method, seed)}")
        noisy = corrupt(split.train_y, spec, split.num_classes, seed)
        trained = fit(
            config.train.arch, method, split, seed, config.train, device,
            labels=noisy.labels, replaced=noisy.replaced, epochs=nc.epochs, on_epoch=lambda _: bar.update(),
        )
        runs.append(noise_record(level, method, seed, noisy, trained))
    bar.close()
    return {"noise_model": nc.noise_model, "levels": list(nc.levels), "runs": runs, "summary": summarize_noise(runs)}


def noise_record(level, method: Method, seed: int, noisy, trained) -> dict:
    history = trained.history
    best = min(history, key=lambda row: row["test_error"])
    last = history[-1]
    return {
        "level": level,
        "method": method.spec,
        "family": method.family,
        "display": method.display,
        "seed": seed,
        "noise": noisy.summary(),
        "best_test_error": best["test_error"],
        "best_epoch": best["epoch"],
        "last_test_error": last["test_error"],
        "last_train_error_real": last["train_error_real"],
        "last_train_error_corrupted": last.get("train_error_corrupted"),
        "history": history,
        "train_seconds": trained.seconds,
    }


NOISE_COLUMNS = ("best_test_error", "last_test_error", "last_train_error_real", "last_train_error_corrupted")


def summarize_noise(runs: list[dict]) -> list[dict]:
    """Mean ± std over seeds of Table 2's columns, per noise level and method."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["level"], run["method"]), []).append(run)
    summary = []
    for (level, method), group in groups.items():
        row = {"level": level, "method": method, "family": group[0]["family"], "display": group[0]["display"],
               "seeds": [r["seed"] for r in group],
               "realized_rate": mean(r["noise"]["realized_rate"] for r in group)}
        for col in NOISE_COLUMNS:
            values = [r[col] for r in group if r[col] is not None]
            row[col] = {"mean": mean(values), "std": pstdev(values)} if values else None
        summary.append(row)
    return summary


