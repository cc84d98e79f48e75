"""The verdict (robustness/report/verdict.py) and the comparisons behind every sentence that compares families:
on a constructed results dict with per-image bits, and on an existing run directory of the previous schema."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from robustness import figures
from robustness.__main__ import main as robustness_main
from robustness.report.readings import whitebox_reading
from robustness.report.verdict import robustness_table_blocks, verdict_blocks
from robustness.statistics import pack, statistics_section

N = 540
EPS = 0.1


def two_seed_results(mixup_rates: tuple[float, float]) -> dict:
    """ERM and mixup, two seeds each, FGSM at ε = 0.1 on 540 images: ERM's seeds get 40% wrong, mixup's seeds
    ``mixup_rates``; images drawn independently per model (seeded), clean mistakes 5%."""
    rng = np.random.default_rng(7)
    rates = {"erm_s0": 0.40, "erm_s1": 0.40, "mixup_s0": mixup_rates[0], "mixup_s1": mixup_rates[1]}
    models = {name: {"family": name.split("_")[0], "seed": int(name[-1]), "display": name} for name in rates}
    clean = {name: rng.random(N) < 0.05 for name in rates}
    cells, summary = [], []
    for name, rate in rates.items():
        wrong = (rng.random(N) < rate) | clean[name]
        cells.append({"attack": "fgsm", "eps": EPS, "source": name, "target": name, "wrong": int(wrong.sum()),
                      "error": float(wrong.mean()), "wrong_bits": pack(wrong)})
    for family in ("erm", "mixup"):
        errors = [c["error"] for c in cells if c["target"].startswith(family)]
        summary.append({"attack": "fgsm", "eps": EPS, "kind": "white-box", "source_family": family,
                        "target_family": family, "mean": float(np.mean(errors)), "std": float(np.std(errors)), "count": 2})
    results = {"run_id": "constructed", "config": {"attack": {"attacks": ["fgsm"]}}, "models": models, "noise": None,
               "attacks": {"n": N, "heatmap_eps": EPS, "heatmap_eps_rule": "given", "threat_model": "Linf",
                           "summary": summary, "worst_case": None, "cells": cells,
                           "clean": {m: {"wrong": int(b.sum()), "wrong_bits": pack(b)} for m, b in clean.items()}}}
    results["statistics"] = statistics_section(results, resamples=1000)
    return results


def test_the_reading_changes_from_more_robust_to_not_settled_when_the_seeds_disagree(tmp_path):
    agree = two_seed_results((0.25, 0.27))  # both mixup seeds well below ERM's 40%
    disagree = two_seed_results((0.15, 0.50))  # one far below, one above: about the same mean gap, no agreement
    said_agree, said_disagree = whitebox_reading(agree, "fgsm", EPS)[0], whitebox_reading(disagree, "fgsm", EPS)[0]
    assert said_agree.endswith(": more robust.") and "not settled" not in said_agree
    assert "not settled by this run; about" in said_disagree and "would settle a gap of this size" in said_disagree
    rows = {name: r["statistics"]["families"][1] for name, r in (("agree", agree), ("disagree", disagree))}
    low, high = rows["disagree"]["interval"]
    assert rows["agree"]["interval"][1] < 0 and low < 0 < high  # the seeds' disagreement widens the interval over 0
    assert rows["disagree"]["p_value"] < 0.05  # the models differ on these images; the seeds do not agree how
    for results, verdict in ((agree, "more robust"), (disagree, "not settled")):
        blocks = verdict_blocks(results, tmp_path)
        assert blocks[0] == ("h1", "Robustness report: constructed") and blocks[2][0] == "figure"
        assert "**Is it really more robust than ERM?**" in blocks[1][1] and "2 seeds per family" in blocks[1][1]
        table = next(b for b in robustness_table_blocks(results) if b[0] == "table")
        assert [row[1] for row in table[2]] == ["clean", "FGSM"] and table[2][1][-1] == verdict


def schema_5(doc: dict) -> dict:
    """A schema-6 results.json as the previous schema wrote it: no statistics, no per-image bits, no
    [statistics] configuration."""
    attacks = doc["attacks"]
    for record in [*attacks["clean"].values(), *attacks["cells"], *attacks["worst_case"]["headline"]["cells"]]:
        record.pop("wrong_bits", None)
    attacks["worst_case"]["headline"].pop("images_bits")
    del doc["statistics"], doc["config"]["statistics"]
    return doc | {"schema_version": 5}


def table_of(markdown: str) -> str:
    return markdown.split("## Is it really more robust?")[1].split("\n## ")[0]


def full_set_rows(table: str) -> list[str]:
    """The table's rows on every test image (not the headline subset's)."""
    return [line for line in table.splitlines() if line.startswith("| ") and " images" not in line.split("|")[2]]


def test_the_report_command_on_an_older_run_adds_the_table_from_its_units_without_rerunning(small_run, tmp_path, capsys):
    run = tmp_path / "old"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns(".lock", "report.*", "figures"))
    (run / "results.json").write_text(json.dumps(schema_5(json.loads((small_run / "results.json").read_text()))))
    units = {p.name: p.stat().st_mtime_ns for p in (run / "units").iterdir()}
    before = (run / "results.json").read_bytes()
    assert robustness_main(["report", str(run)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (run / "units").iterdir()} == units  # nothing recomputed
    assert (run / "results.json").read_bytes() == before  # nor rewritten
    made, stored = (run / "report.md").read_text(), (small_run / "report.md").read_text()
    # The same comparisons as the run that kept them. The headline subset's rows need that subset's units in the
    # shape schema 5 wrote (one per attack × model); this run's are per batch (schema 6), so they are left out here.
    rows = full_set_rows(table_of(stored))
    assert len(rows) >= 4 and full_set_rows(table_of(made)) == rows
    assert "| mixup | worst case + Square (50 images) |" in table_of(stored)
    shutil.rmtree(run / "units")  # an older run without its units: the report says why there is no table
    assert robustness_main(["report", str(run)]) == 0
    assert "No comparison: no per-image results (wrong_bits)" in table_of((run / "report.md").read_text())
    capsys.readouterr()


@pytest.fixture
def drawn(monkeypatch):
    """Every figure drawn, kept open for inspection instead of saved."""
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig) or path)
    return kept


def test_one_seed_gets_no_spread_printed_or_drawn(small_run, tmp_path, drawn):
    results = json.loads((small_run / "results.json").read_text())
    assert results["config"]["clean"]["seeds"] == [0] and results["config"]["noise"]["seeds"] == [0]
    report = (small_run / "report.md").read_text()
    assert "± 0.0" not in report and "band: min–max" not in report and "(one seed: no spread)" in report
    figures.between_points(results, tmp_path / "a.png")
    figures.noise_best_last(results, tmp_path / "b.png")
    figures.memorization_curves(results, tmp_path / "c.png")
    between, best_last, memorization = drawn
    assert not any(ax.collections for ax in between.axes)  # no ± std band
    assert all(container.errorbar is None for ax in best_last.axes for container in ax.containers)  # no ± std bar
    assert not any(ax.collections for ax in memorization.axes)  # no min–max band
    assert "one seed: no spread" in best_last.axes[0].get_title()
