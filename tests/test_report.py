"""The report (robustness/report/, robustness/formatting.py): a pure function of results.json.

Its sentences are tested one by one in tests/test_report_readings.py; here, the sections and the order
``build_report`` walks them in, on the small run's results.json.
"""

import json
import shutil

import pytest

from robustness import report
from robustness.formatting import eps_label, pm, spread
from robustness.report import SECTIONS, Section, build_report, headline, setup_blocks

BLOCK_KINDS = {"h1", "h2", "p", "bullets", "table", "figure"}


def test_pm_shows_a_spread_only_over_more_than_one_value():
    assert pm({"mean": 0.123, "std": 0.004, "n": 3}) == "12.3 ± 0.4"
    assert pm({"mean": 0.123, "std": 0.0, "n": 1}) == "12.3 (1 seed)"
    assert pm({"mean": 0.32, "std": 0.0, "n": 2}) == "32.0 (2 seeds, equal)"  # not "± 0.0": no variance measured
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


@pytest.fixture
def small_results(small_run) -> dict:
    return json.loads((small_run / "results.json").read_text())


@pytest.mark.parametrize("section", SECTIONS, ids=lambda section: section.name)
def test_each_section_returns_blocks_under_its_heading(small_results, tmp_path, section):
    blocks = section.build(small_results, tmp_path)
    assert blocks and all(isinstance(block, tuple) and block[0] in BLOCK_KINDS for block in blocks)
    assert blocks[0][0] == ("h1" if section.name == "verdict" else "h2")  # the verdict leads, under the title
    drawn = {block[1] for block in blocks if block[0] == "figure"}
    assert bool(drawn) == section.draws and all(path.parent == tmp_path and path.is_file() for path in drawn)


def test_the_report_is_its_sections_in_order(small_run, small_results, tmp_path):
    headings = [block[1] for section in SECTIONS for block in section.build(small_results, tmp_path)
                if block[0] in ("h1", "h2")]
    markdown = (small_run / "report.md").read_text()
    assert [line.lstrip("# ") for line in markdown.splitlines() if line.startswith("#")] == headings


def copy_run(small_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(small_run / "results.json", run_dir)
    return run_dir


def test_build_report_walks_the_section_list(small_run, tmp_path, monkeypatch):
    added = Section("from a test", lambda results: [("h2", "A section a test added"),
                                                     ("p", f"It read **{results['run_id']}**.")])
    monkeypatch.setattr(report, "SECTIONS", [*SECTIONS, added])
    run_dir = copy_run(small_run, tmp_path)
    markdown = build_report(run_dir).read_text()
    assert markdown.endswith("## A section a test added\n\nIt read **small**.\n")  # last, as listed
    assert "<h2>A section a test added</h2>\n<p>It read <b>small</b>.</p>" in (run_dir / "report.html").read_text()
    monkeypatch.setattr(report, "SECTIONS", [s for s in SECTIONS if s.name != "sanity checks"])
    assert "## Sanity checks" not in build_report(run_dir).read_text()


def test_an_unchanged_results_json_gives_the_same_report(small_run, tmp_path):
    run_dir = copy_run(small_run, tmp_path)
    assert build_report(run_dir).read_bytes() == (small_run / "report.md").read_bytes()
