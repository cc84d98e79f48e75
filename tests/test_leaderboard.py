"""The methods preset end to end at a tiny size, and the leaderboard over runs (robustness/leaderboard.py)."""

import json
import re
import shutil

import pytest

from conftest import single_thread
from robustness.__main__ import main as robustness_main
from robustness.comparison import COLUMNS
from robustness.suite import run_suite
from robustness.validation import load_config

TINY_METHODS = {"train": {"epochs": 1}, "clean": {"seeds": [0]},
                "attack": {"eps": [0, 0.1], "ifgsm": {"steps": 2}, "pgd": {"steps": 2}, "between_pairs": 20},
                "noise": {"epochs": 1}}


@pytest.fixture(scope="module")
def methods_run(tmp_path_factory):
    """The methods preset at a tiny size: every built-in trick, the full attack stage, 50% label noise."""
    out = tmp_path_factory.mktemp("runs")
    config = load_config("methods", None, TINY_METHODS | {"out": str(out)})
    with single_thread():
        return run_suite(config, run_id="methods-tiny", progress=False)


def test_the_methods_preset_trains_every_trick_and_compares_them(methods_run):
    results = json.loads((methods_run / "results.json").read_text())
    families = [r["family"] for r in results["models"].values()]
    assert families == ["erm", "mixup", "manifold_mixup", "cutmix", "label_smoothing", "pgd_at"]
    n = len(families)
    assert len(results["attacks"]["cells"]) == 3 * 2 * n * n  # attacks × ε × every source × every target
    assert {r["method"] for r in results["noise"]["runs"]} == set(load_config("methods").noise.methods)
    report = (methods_run / "report.md").read_text()
    assert "## Methods compared" in report and "PGD-AT (ε=0.1): clean error" in report
    table = report.split("## Methods compared")[1].split("\n\n")[2]
    assert len(table.strip().splitlines()) == 2 + n  # header, rule, a row per family


def test_the_leaderboard_renders_every_model_of_every_run(methods_run, small_run, tmp_path, capsys):
    root = methods_run.parent
    shutil.copytree(small_run, root / "small")  # a second run under the same folder
    out = tmp_path / "board.html"
    assert robustness_main(["leaderboard", str(root), "--out", str(out)]) == 0
    assert f"leaderboard: {out}" in capsys.readouterr().out
    page = out.read_text()
    models = json.loads((methods_run / "results.json").read_text())["models"]
    small = json.loads((small_run / "results.json").read_text())["models"]
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == len(models) + len(small)
    for title in [title for _, title in COLUMNS]:
        assert title in page
    assert page.count("<tr>") - body.count("<tr>") == 2 + 2  # two header rows, a settings row per run
    assert "addEventListener(\"click\"" in page and "<script" in page and "http" not in re.sub(r"<!DOCTYPE[^>]*>", "", page)


def test_the_leaderboard_of_a_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert robustness_main(["leaderboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has a results.json" in err and err.count("\n") == 1
