"""The label-noise part of the report: blocks for robustness.report, each a pure function of results.json.

    noise_blocks(results, fig_dir)  -> Table 2 side by side, the grid, realized rates, figures
    noise_reading(results)          -> plain-language sentences for the report's "Reading"
    noise_only_blocks(results, fig_dir) -> the whole document of a `python -m noise` run
"""

from __future__ import annotations

from pathlib import Path

from robustness import figures, paper
from robustness.formatting import pct, pm

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
              "the replacements land on the true class). Errors in %, mean ± std over seeds."),
        ("table", header, rows),
    ]


def grid_blocks(noise: dict) -> list:
    """Every grid entry: Table 2's columns plus the clean subset."""
    header = ["noise", "method", "seeds", "test best", "test last", "train err (real)", "train err (corrupted)",
              "train err (clean subset)"]
    rows = [[spec_title(noise, r), r["display"], len(r["seeds"]), pm(r["best_test_error"]), pm(r["last_test_error"]),
             pm(r["last_train_error_real"]), pm(r["last_train_error_corrupted"]), pm(r["last_train_error_clean"])]
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
              "Test error in %, mean ± std over seeds; the clean column is the same models without attack."),
        ("table", header, rows),
        ("figure", figures.noise_under_attack(results, fig_dir / "noise_under_attack.png"),
         "Test error under white-box attack against training-label noise, per method (mean ± std over seeds)"),
    ]


def noise_blocks(results: dict, fig_dir: Path) -> list:
    """Everything the report shows about label noise; [] when the benchmark did not run."""
    noise = results["noise"]
    if not noise:
        return []
    return (
        table2_blocks(noise)
        + [("figure", figures.memorization_curves(results, fig_dir / "noise_memorization.png"),
            "Memorization curves: best of each family's grid, one column per noise level (band: min–max over seeds)"),
           ("figure", figures.noise_best_last(results, fig_dir / "noise_best_last.png"),
            "Best and last test error, whole grid (mean ± std over seeds)")]
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
        ranked = min(picks, key=lambda r: r["last_test_error"]["mean"])
        title = spec_title(noise, picks[0])
        lines.append((title if title == spec else f"{title} ({spec})") + ", test error — " + "; ".join(parts)
                     + f". Lowest last-epoch test error: {ranked['display']}.")
    return lines


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
