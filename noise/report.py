"""The label-noise part of the report: blocks for robustness.report, each a pure function of results.json.

    noise_blocks(results, fig_dir)  -> Table 2 side by side, each method against ERM, the grid, realized rates, figures
    noise_reading(results)          -> plain-language sentences for the report's "Reading"
    noise_only_blocks(results, fig_dir) -> the whole document of a `python -m noise` run
"""

from __future__ import annotations

from pathlib import Path

from robustness import figures, paper
from robustness.formatting import compared, count_words, interval_words, p_words, pct, pm, signed

FAMILY_ORDER = ("erm", "dropout", "mixup", "mixup+dropout")
MEMORIZED_BELOW = 0.5  # a corrupted-label training error under 50% = the model fit most of the noise
STILL_FALLING = 0.05  # a drop of > 5 points over the last quarter of training = memorization still under way


def summary_row(noise: dict, spec: str, method: str) -> dict:
    return next(r for r in noise["summary"] if r["spec"] == spec and r["method"] == method)


def family_picks(noise: dict, spec: str) -> list[dict]:
    """Best-of-grid summary rows for one spec, in the paper's family order (ERM, dropout, mixup, ...)."""
    picks = [p for p in noise["best_of_grid"] if p["spec"] == spec]
    picks.sort(key=lambda p: FAMILY_ORDER.index(p["family"]) if p["family"] in FAMILY_ORDER else len(FAMILY_ORDER))
    return [summary_row(noise, spec, p["method"]) | {"grid": p["grid"]} for p in picks]


def is_paper_noise(noise: dict, spec: str) -> bool:
    """The paper's Table 2 used `uniform` noise; only those specs get its numbers beside them."""
    return spec.startswith("uniform:")


def spec_title(noise: dict, row: dict) -> str:
    return figures.noise_label(row["spec"], row["level"], noise["noise_model"])


def table2_blocks(noise: dict) -> list:
    """Table 2's shape: per noise spec and family, this run's best of grid, and the paper's row below it."""
    header = ["noise", "source", "method (best of grid)", "test best", "test last",
              "train err (real labels)", "train err (corrupted labels)"]
    rows = []
    for spec in noise["specs"]:
        for row in family_picks(noise, spec):
            grid = f" (best of {len(row['grid'])})" if len(row["grid"]) > 1 else ""
            rows.append([spec_title(noise, row), f"this run{grid}", row["display"],
                         *(pm(row[col]) for col in paper.TABLE2_COLUMNS)])
            theirs = paper.table2_row(row["level"], row["family"]) if is_paper_noise(noise, spec) else None
            if theirs:
                rows.append(["", f"paper ({paper.TABLE2_SETUP})", theirs[2], *(f"{v:g}" for v in theirs[3:])])
    return [
        ("h2", "Corrupted labels: the paper's Table 2, side by side"),
        ("p", f"The paper's rows come from **{paper.TABLE2_SETUP}** ({paper.PAPER}); this run's from "
              "the data set and model named at the top, so compare directions, not absolute errors. "
              "'Best of grid' is, per method family, the grid entry with the lowest mean best test error "
              "(the paper reports the best model of each grid); a family the paper did not run (e.g. a noisy-label "
              "method such as GCE or co-teaching) gets this run's row alone. Training error on corrupted labels is measured "
              "over the examples whose label was replaced, against the replaced label: high means the noise "
              "was not memorized (under `uniform`, about 90% with 10 classes is the ceiling, since a tenth of "
              "the replacements land on the true class). Errors in %, mean ± std over seeds (the number alone on one seed)."),
        ("table", header, rows),
    ]


def grid_blocks(noise: dict) -> list:
    """Every grid entry: Table 2's columns plus the clean subset."""
    header = ["noise", "method", "seeds", "test best", "test last", "train err (real)", "train err (corrupted)",
              "train err (clean subset)"]
    rows = [[spec_title(noise, r), r["display"], len(r["seeds"]),
             *(pm(r[key]) for key in ("best_test_error", "last_test_error", "last_train_error_real",
                                            "last_train_error_corrupted", "last_train_error_clean"))]
            for r in noise["summary"]]
    return [("h2", "Corrupted labels: the whole grid"), ("table", header, rows)]


def rate_blocks(noise: dict) -> list:
    """The realized noise next to the nominal one, per spec (over the seeds' corruptions)."""
    rows = []
    for spec in noise["specs"]:
        done = [c for c in noise["corruptions"] if c["spec"] == spec]
        wrong = [c["realized_rate"] for c in done]
        level = done[0]["level"]
        rows.append([spec, "–" if level is None else pct(level), pct(sum(c["replaced_share"] for c in done) / len(done)),
                     f"{pct(sum(wrong) / len(wrong))} ({pct(min(wrong))}–{pct(max(wrong))})", len(done)])
    return [
        ("h2", "Realized noise"),
        ("p", "Nominal = the spec's rate; replaced = share of training labels the noise model drew anew; "
              "wrong = share that differs from the true label (mean, and range over seeds). Under `uniform` "
              "a replacement can land on the true class, so wrong ≈ replaced·(C−1)/C; under `symmetric` and "
              "`pairflip` every replacement is wrong. Test labels are never corrupted."),
        ("table", ["spec", "nominal (%)", "replaced (%)", "wrong (%)", "seeds"], rows),
    ]


def attack_blocks(results: dict, fig_dir: Path) -> list:
    """Models trained on noisy labels under white-box attack (``noise.attack``): a table and a figure; [] when off."""
    noise = results["noise"]
    attack = noise.get("attack")
    if not attack:
        return []
    names = [a.upper() for a in attack["attacks"]]
    header = ["noise", "method", "seeds", "test last (clean)", *(f"{n} at ε = {attack['eps']:g}" for n in names)]
    rows = [[spec_title(noise, r), r["display"], len(r["seeds"]), pm(r["last_test_error"]),
             *(pm(r["under_attack"][a]) for a in attack["attacks"])] for r in noise["summary"]]
    return [
        ("h2", "Corrupted labels under attack"),
        ("p", f"Every label-noise model (its last epoch), attacked white box on all test images at ε = "
              f"{attack['eps']:g} ({attack['eps_rule']}) with the attack stage's {' and '.join(names)} settings. "
              "Test error in %, mean ± std over seeds (the number alone on one seed); the clean column is the same "
              "models without attack."),
        ("table", header, rows),
        ("figure", figures.noise_under_attack(results, fig_dir / "noise_under_attack.png"),
         "Test error under white-box attack against training-label noise, per method"
         + (" (mean ± std over seeds)" if several_seeds(noise) else " (one seed: no spread)")),
    ]


def several_seeds(noise: dict) -> bool:
    return any(len(r["seeds"]) > 1 for r in noise["summary"])


METRIC_WORDS = {"last_test_error": "last-epoch test error", "fitted_share": "corrupted labels fitted",
                "best_test_error": "best test error", "last_train_error_corrupted": "train error on corrupted labels"}


def noise_comparisons(results: dict, spec: str | None = None, method: str | None = None) -> list[dict]:
    """results.json's ``statistics.noise`` rows (each method against the baseline's), of one spec and method."""
    rows = (results.get("statistics") or {}).get("noise", [])
    return [r for r in rows if (spec is None or r["spec"] == spec) and (method is None or r["family_a"] == method)]


def displayed(noise: dict, method: str) -> str:
    return next((r["display"] for r in noise["runs"] if r["method"] == method), method)


def against_baseline_blocks(results: dict) -> list:
    """Each method of the grid against the baseline's method (ERM), per noise spec: the last-epoch test error and
    the share of corrupted labels fitted, through robustness/statistics.py on the seeds (``noise.seeds``)."""
    noise, stats = results["noise"], results.get("statistics") or {}
    rows = noise_comparisons(results)
    base = stats.get("baseline", "erm")
    title = ("h2", f"Corrupted labels: each method against {'ERM' if base == 'erm' else base}")
    if not rows:
        left = [line for line in stats.get("left_out", []) if line.startswith("label noise")]
        return [title, ("p", "No comparison: " + ("; ".join(left) or "the grid has no other method") + ".")]
    seeds = sorted({len(r["models_a"]) for r in rows} | {len(r["models_b"]) for r in rows})
    body = [[spec_title(noise, {"spec": r["spec"], "level": level_of(noise, r["spec"])}), displayed(noise, r["family_a"]),
             METRIC_WORDS.get(r["metric"], r["metric"]), f"{r['error_a']:.1f}", f"{r['error_b']:.1f}",
             signed(r["difference"]), interval_words(r["interval"]), p_words(r["p_value"]),
             would_settle(r), {"more robust": "lower", "less robust": "higher"}.get(r["verdict"], r["verdict"])]
            for r in rows]
    one = ("With one seed per method there is no interval and no test: every verdict is 'not settled'; set "
           "noise.seeds to several seeds (6 or more paired seeds can reach p < 0.05). " if seeds == [1] else "")
    return [title,
            ("p", f"Per noise spec, each method's number minus the baseline's, over the label-noise seeds "
                  f"({' or '.join(map(str, seeds))} seed{'s' * (seeds != [1])} per method, noise.seeds; a seed is both "
                  "the corruption and the model seed, so seeds pair). The interval resamples seeds (no per-image results here), p is an "
                  "exact sign-flip permutation test over the paired seeds, and a verdict (lower / higher) needs the "
                  "interval to exclude 0 and p < the level. " + one + "Lower is better for both: a lower test error, "
                  "fewer corrupted labels fitted (memorized)."),
            ("table", ["noise", "method", "number", "method (%)", "baseline (%)", "difference (points)", "95% interval",
                       "p", "would settle", "verdict"], body)]


def level_of(noise: dict, spec: str) -> float | None:
    return next((r["level"] for r in noise["summary"] if r["spec"] == spec), None)


def would_settle(row: dict) -> str:
    if row["verdict"] != "not settled":
        return "–"
    return f"{count_words(row['seeds_needed'])} seeds" if row["seeds_needed"] else "–"


def noise_blocks(results: dict, fig_dir: Path) -> list:
    """Everything the report shows about label noise; [] when the benchmark did not run."""
    noise = results["noise"]
    if not noise:
        return []
    band = " (band: min–max over seeds)" if several_seeds(noise) else " (one seed: no band)"
    return (
        table2_blocks(noise)
        + against_baseline_blocks(results)
        + [("figure", figures.memorization_curves(results, fig_dir / "noise_memorization.png"),
            "Memorization curves: best of each family's grid, one column per noise level" + band),
           ("figure", figures.noise_best_last(results, fig_dir / "noise_best_last.png"),
            "Best and last test error, whole grid" + (" (mean ± std over seeds)" if several_seeds(noise) else
                                                      " (one seed: no spread)"))]
        + grid_blocks(noise)
        + [("figure", figures.noise_curves(results, fig_dir / "noise_curves.png"), "Training curves, whole grid")]
        + attack_blocks(results, fig_dir)
        + rate_blocks(noise)
        + [("figure", figures.noise_confusion(results, fig_dir / "noise_confusion.png"),
            "Realized true → noisy label transitions (first seed)")]
    )


def memorization_verdict(noise: dict, row: dict) -> str:
    """Did this method fit the corrupted labels by the last epoch, and was it still heading there?"""
    corrupted = row["last_train_error_corrupted"]
    if corrupted is None:
        return "no label was corrupted"
    if corrupted["mean"] < MEMORIZED_BELOW:
        return f"memorized the noise (fits all but {pct(corrupted['mean'])}% of the corrupted labels)"
    runs = [r for r in noise["runs"] if r["spec"] == row["spec"] and r["method"] == row["method"]]
    quarter = [r["history"][len(r["history"]) * 3 // 4]["train_error_corrupted"] for r in runs]
    drop = sum(quarter) / len(quarter) - corrupted["mean"]
    if drop > STILL_FALLING:
        return (f"had not memorized it yet, but its corrupted-label error fell {100 * drop:.0f} points over the "
                "last quarter of training: memorization is delayed, perhaps not prevented (train longer to tell)")
    return "did not memorize the noise (its corrupted-label error held steady over the last quarter of training)"


def noise_reading(results: dict) -> list[str]:
    """One sentence per noise spec: ERM against the best dropout and mixup, and whether each memorized."""
    noise = results["noise"]
    if not noise:
        return []
    lines = []
    for spec in noise["specs"]:
        picks = family_picks(noise, spec)
        if not picks:
            continue
        parts = [f"{r['display']}: best {pm(r['best_test_error'], suffix='%')}, last {pm(r['last_test_error'], suffix='%')}, "
                 f"{memorization_verdict(noise, r)}" for r in picks]
        title = spec_title(noise, picks[0])
        lines.append((title if title == spec else f"{title} ({spec})") + ", test error — " + "; ".join(parts) + "."
                     + against_reading(results, spec, picks))
    return lines


def against_reading(results: dict, spec: str, picks: list[dict]) -> str:
    """' Against ERM: mixup (α=8): last-epoch test error −10.0 points [..], p = ..: lower, …', or, on one seed
    per method (no interval, no test), the differences alone and what to run; '' without comparisons."""
    found = [(row, noise_comparisons(results, spec, row["method"])) for row in picks]
    found = [(row, rows) for row, rows in found if rows]
    if not found:
        return ""
    if all(c["interval"] is None for _, rows in found for c in rows):
        return (" Against ERM, not settled (one seed per method gives no interval and no test; run several noise.seeds): "
                + "; ".join(f"{row['display']}: " + ", ".join(f"{METRIC_WORDS.get(c['metric'], c['metric'])} "
                                                                f"{signed(c['difference'])} points" for c in rows)
                            for row, rows in found) + ".")
    return " Against ERM: " + "; ".join(
        f"{row['display']}: " + ", ".join(f"{METRIC_WORDS.get(c['metric'], c['metric'])} {compared(c, 'lower', 'higher')}"
                                          for c in rows) for row, rows in found) + "."


def noise_headline(results: dict) -> list[str]:
    """The lines printed at the end of a run: the best of each family's grid, per noise spec."""
    noise = results["noise"]
    return [f"noise {spec_title(noise, row)}, {row['display']}: last test error {pm(row['last_test_error'], suffix='%')}, "
            f"train error on corrupted labels {pm(row['last_train_error_corrupted'], suffix='%')}"
            for spec in noise["specs"] for row in family_picks(noise, spec)]


def noise_only_blocks(results: dict, fig_dir: Path) -> list:
    """The document of a noise-only run (``python -m noise``)."""
    cfg, data, env = results["config"], results["data"], results["environment"]
    nc = cfg["noise"]
    wall = results["timing"]["stages_s"]
    setup = [
        ("h1", f"Label-noise report: {results['run_id']}"),
        ("p", f"Preset **{cfg['preset']}** on **{data['name']}** ({data['n_train']} training, {data['n_test']} test "
              f"images, {len(data['classes'])} classes), model **{cfg['train']['arch']}**, {nc['epochs']} epochs per "
              f"run, methods {', '.join(nc['methods'])}, seeds {nc['seeds']}, device **{env['device']}** "
              f"({env['device_name']}), torch {env['torch']}. Stage wall times (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in wall.items()) + "."),
        ("p", "This is not a replication of the paper, whose Table 2 comes from CIFAR-10 with a PreAct ResNet-18 "
              "trained for 200 epochs. Every number below is in `results.json` beside this file."),
        ("h2", "Reading"),
        ("bullets", noise_reading(results)),
    ]
    return setup + noise_blocks(results, fig_dir)
