"""The methods preset end to end at a tiny size, and the leaderboard over runs (robustness/leaderboard.py)."""

import json
import re
import shutil

import pytest

from conftest import single_thread
import numpy as np

from attacks.metrics import wilson
from robustness.__main__ import main as robustness_main
from robustness.comparison import COLUMNS
from robustness.leaderboard import build_leaderboard, newcombe, ranks
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
    bodies = [part.split("</tbody>")[0] for part in page.split("<tbody>")[1:]]
    assert len(bodies) == 3  # a board per preset (methods, tiny), then the runs' settings
    assert [body.count("<tr>") for body in bodies] == [len(models), len(small), 2]
    for title in [title for _, title in COLUMNS] + ["rank: worst case", "rank: white-box PGD"]:
        assert title in page
    assert page.count("<tr>") - sum(body.count("<tr>") for body in bodies) == 3  # a header row per table
    assert "addEventListener(\"click\"" in page and "<script" in page and "http" not in re.sub(r"<!DOCTYPE[^>]*>", "", page)


def test_the_leaderboard_of_a_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert robustness_main(["leaderboard", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has a results.json" in err and err.count("\n") == 1


# --- boards, ranks and ties (robustness/leaderboard.py) ------------------------------------------------


def test_each_entry_names_its_preset_and_images_and_presets_are_never_ranked_together(small_run, tmp_path):
    """The same run twice, once relabelled as a quick run: two boards, each row naming its preset and image count."""
    shutil.copytree(small_run, tmp_path / "runs" / "tiny-run", ignore=shutil.ignore_patterns(".lock"))
    doc = json.loads((small_run / "results.json").read_text())
    doc["config"]["preset"] = "quick"
    (tmp_path / "runs" / "quick-run").mkdir()
    (tmp_path / "runs" / "quick-run" / "results.json").write_text(json.dumps(doc))
    page = build_leaderboard(tmp_path / "runs").read_text()
    assert "<h2>digits, 540 test images, L∞ ε = 0.1 (25.5/255), preset quick (1 run)</h2>" in page
    assert "<h2>digits, 540 test images, L∞ ε = 0.1 (25.5/255), preset tiny (1 run)</h2>" in page
    tiny = page.split("preset tiny (1 run)</h2>")[1].split("</table>")[0]
    assert tiny.count("<tr>") == 1 + 2 and "quick-run" not in tiny  # header, the tiny run's two models only
    assert tiny.count('<td data-sort="tiny">tiny</td>') == 2 and tiny.count('<td data-sort="540">540</td>') == 2


def entry_of(error: float, n: int = 540, run: str = "a", bits=None) -> dict:
    low, high = wilson(round(error * n), n)
    return {"error": error, "error_ci": [low, high], "bits": bits, "run": run}


def test_ties_the_data_cannot_break_share_a_rank():
    rng = np.random.default_rng(0)
    shared = rng.random(540) < 0.3
    better = shared & (rng.random(540) < 0.5)  # a subset of the same images: far fewer wrong, paired
    close = shared.copy()
    close[np.flatnonzero(~shared)[:3]] = True  # 3 more wrong images than `shared`
    entries = [entry_of(close.mean(), bits=close), entry_of(better.mean(), bits=better), entry_of(shared.mean(), bits=shared)]
    assert ranks(entries, {"resamples": 300}) == ["2=", "1", "2="]  # 3 images apart: a tie; half as many: settled
    assert ranks([entries[0], None], {}) == ["1", "–"]


def test_ties_between_runs_use_newcombes_interval_of_independent_errors():
    a, b = entry_of(0.30, run="a"), entry_of(0.33, run="b")  # 3 points on 540 images each: the intervals overlap
    assert ranks([a, b], {}) == ["1=", "1="]
    low, high = newcombe(a, b)
    assert low < -0.03 < 0 < high < 0.03 + 0.06
    assert ranks([entry_of(0.30, run="a"), entry_of(0.45, run="b")], {}) == ["1", "2"]
