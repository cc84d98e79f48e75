"""The corrupted-label benchmark (the paper's section 3.4): every noise spec × method × seed,
each model trained from scratch on labels corrupted by one noise model.

The result (``results["noise"]``, documented in docs/results.md) holds every run with its
per-epoch history (``robustness.records.noise_run_record``), a mean ± std summary per spec and
method, and the best method of each family's grid per spec, picked as the paper picks it
(lowest best test error). The runs themselves are trained by the pipeline (robustness/suite.py).
"""

from __future__ import annotations

from statistics import mean, pstdev

from noise.core import nominal_rate
from robustness.config import NoiseConfig

# Table 2's columns, plus the clean subset's training error (the other half of a memorization curve).
NOISE_COLUMNS = ("best_test_error", "last_test_error", "last_train_error_real", "last_train_error_corrupted",
                 "last_train_error_clean")
SELECT_BY = "best_test_error"  # how "best of grid" is picked: the paper reports the best model of each grid


def noise_specs(noise: NoiseConfig) -> list[str]:
    """``noise_model`` at every level, then the extra ``specs``, e.g. ["uniform:0.2", "pairflip:0.4"]."""
    return list(dict.fromkeys([f"{noise.noise_model}:{level:g}" for level in noise.levels] + list(noise.specs)))


def assemble_noise(nc: NoiseConfig, runs: list[dict], noisy: dict) -> dict:
    """results.json's ``noise`` section from the runs and the corruptions ((spec, seed) -> NoisyLabels)."""
    summary = summarize_noise(runs)
    return {
        "noise_model": nc.noise_model,
        "levels": list(nc.levels),
        "specs": noise_specs(nc),
        "corruptions": [labels.summary() | {"level": nominal_rate(spec)} for (spec, _), labels in noisy.items()],
        "runs": runs,
        "summary": summary,
        "best_of_grid": best_of_grid(summary),
    }


def stat(values: list[float | None]) -> dict | None:
    """{"mean", "std", "n"} (population std over the seeds whose value exists), or None."""
    values = [v for v in values if v is not None]
    return {"mean": mean(values), "std": pstdev(values), "n": len(values)} if values else None


def summarize_noise(runs: list[dict]) -> list[dict]:
    """Mean ± std over seeds of every column, per noise spec and method, in run order."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["spec"], run["method"]), []).append(run)
    summary = []
    for (spec, method), group in groups.items():
        first = group[0]
        row = {"spec": spec, "level": first["level"], "method": method, "family": first["family"],
               "display": first["display"], "seeds": [r["seed"] for r in group],
               "realized_rate": mean(r["noise"]["realized_rate"] for r in group),
               "replaced_share": mean(r["noise"]["replaced_share"] for r in group)}
        row.update({col: stat([r[col] for r in group]) for col in NOISE_COLUMNS})
        row["under_attack"] = attack_summary(group)
        summary.append(row)
    return summary


def attack_summary(group: list[dict]) -> dict | None:
    """{"eps", attack: {mean, std, n} of its white-box test error} over the seeds of one spec × method,
    or None when the runs were not attacked (``noise.attack`` off)."""
    if any(r.get("under_attack") is None for r in group):
        return None
    attacks = [key for key in group[0]["under_attack"] if key != "eps"]
    return {"eps": group[0]["under_attack"]["eps"]} | {a: stat([r["under_attack"][a]["error"] for r in group]) for a in attacks}


def best_of_grid(summary: list[dict]) -> list[dict]:
    """Per spec and family, the method with the lowest mean best test error (the paper's pick)."""
    best: dict[tuple, dict] = {}
    for row in summary:
        key = (row["spec"], row["family"])
        score = row[SELECT_BY]["mean"]
        if key not in best or score < best[key][SELECT_BY]["mean"]:
            best[key] = row
    return [{"spec": spec, "level": row["level"], "family": family, "method": row["method"],
             "display": row["display"], "selected_by": SELECT_BY,
             "grid": [r["method"] for r in summary if (r["spec"], r["family"]) == (spec, family)]}
            for (spec, family), row in best.items()]
