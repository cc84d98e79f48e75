"""The report (robustness/report.py, robustness/formatting.py): a pure function of results.json."""

import json

import pytest

from robustness.formatting import eps_label, pm, spread
from robustness.report import headline, setup_blocks


def test_pm_shows_a_spread_only_over_more_than_one_value():
    assert pm({"mean": 0.123, "std": 0.004, "n": 3}) == "12.3 ± 0.4"
    assert pm({"mean": 0.123, "std": 0.0, "n": 1}) == "12.3 (1 seed)"
    assert pm({"mean": 0.5, "std": 0.0, "count": 1}, "model pair", suffix="%") == "50.0% (1 model pair)"
    assert pm(None) == "–"
    assert spread(0.25, 0.0, 1) == "0.25" and spread(0.25, 0.01, 2) == "0.25 ± 0.01"
    assert eps_label(8 / 255, "Linf") == "0.0314 (8.0/255)" and eps_label(0.5, "L2") == "0.5 (L2)"


def test_a_one_seed_run_prints_no_spread_and_says_one_seed(small_run):
    report = (small_run / "report.md").read_text()
    assert "± 0.0" not in report and "(1 seed)" in report


def test_an_automatic_headline_eps_is_said(small_run):
    results = json.loads((small_run / "results.json").read_text())
    assert results["attacks"]["heatmap_eps_rule"] == "given" and not any("chosen automatically" in line for line in headline(results))
    results["attacks"] |= {"heatmap_eps": 0.1, "heatmap_eps_rule": "largest ε at which no white-box error reaches 100%"}
    said = [line for line in headline(results) if "chosen automatically" in line]
    assert said == [("The headline ε = 0.1 (25.5/255) was chosen automatically: the largest ε at which no white-box "
                     "error reaches 100%.")]


@pytest.mark.parametrize("section", ["Reading", "Sanity checks (L∞)", "Transfer (black box, L∞)", "Worst case over attacks (L∞)",
                                     "Score-based black box (L∞)"])
def test_the_report_has_its_sections(small_run, section):
    assert f"## {section}" in (small_run / "report.md").read_text()


def test_the_setup_line_names_the_label_noise_training_subset(small_run):
    results = json.loads((small_run / "results.json").read_text())
    setup = setup_blocks(results)[1][1]
    assert f"{results['config']['noise']['epochs']} epochs under label noise (" in setup  # no subset: nothing said
    results["config"]["noise"]["train_subset"] = 5000
    assert f"{results['config']['noise']['epochs']} epochs under label noise on a 5000-image training subset (" in setup_blocks(results)[1][1]
