"""run_all.py on the tiny preset, as a user runs it: files, JSON structure, the transfer matrix."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.cli import parser

ROOT = Path(__file__).resolve().parents[1]


def run_all(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "run_all.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    done = run_all("--preset", "tiny", "--out", str(out), "--run-id", "t", "--quiet")
    assert done.returncode == 0, done.stderr
    return out / "t", done


def test_report_files_exist(tiny_run):
    run_dir, done = tiny_run
    for name in ["results.json", "report.md", "report.html", "figures/verdict.png", "figures/whitebox.png", "figures/transfer_fgsm.png",
                 "figures/transfer_ifgsm.png", "figures/transfer_pgd.png", "figures/between_points.png", "figures/worst_case.png",
                 "figures/noise_best_last.png", "figures/noise_curves.png", "figures/noise_memorization.png",
                 "models/erm_s0.pt", "models/mixup_a1_s1.pt"]:
        assert (run_dir / name).stat().st_size > 0, name
    assert f"report: {run_dir / 'report.md'}" in done.stdout
    assert "white-box FGSM error" in done.stdout and "worst-case error at ε=0.1" in done.stdout
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 11 and "<table>" in html  # self-contained
    assert not list(run_dir.rglob("*.tmp"))


def test_results_structure_and_four_by_four_matrix(tiny_run):
    run_dir, _ = tiny_run
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results) >= {"schema_version", "run_id", "config", "environment", "data", "models", "attacks",
                            "diagnostics", "checks", "between_points", "noise", "timing"}
    assert results["config"]["preset"] == "tiny"
    assert results["environment"]["device"] == "cpu" and results["environment"]["torch"]
    assert set(results["timing"]["stages_s"]) >= {"data", "clean_training", "attacks", "label_noise", "total"}
    models = list(results["models"])
    assert models == ["erm_s0", "erm_s1", "mixup_a1_s0", "mixup_a1_s1"]
    cells = results["attacks"]["cells"]
    for attack in ("fgsm", "ifgsm", "pgd"):
        for eps in results["config"]["attack"]["eps"]:
            grid = {(c["source"], c["target"]): c for c in cells if c["attack"] == attack and c["eps"] == eps}
            assert set(grid) == {(s, t) for s in models for t in models}  # 4 × 4
    # ε = 0: every cell equals the clean error of its target.
    for c in cells:
        if c["eps"] == 0:
            assert c["wrong"] == results["attacks"]["clean"][c["target"]]["wrong"]
    for name, record in results["models"].items():
        assert record["clean_error"] == results["attacks"]["clean"][name]["error"]
        assert len(record["history"]) == results["config"]["train"]["epochs"]
    run = results["noise"]["runs"][0]
    assert {"best_test_error", "last_test_error", "last_train_error_real", "last_train_error_corrupted"} <= set(run)
    assert run["noise"]["realized_rate"] == pytest.approx(0.45, abs=0.06)  # p·(C−1)/C at p = 0.5


def test_report_is_rebuilt_from_results_alone(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.json").write_text((run_dir / "results.json").read_text())
    done = subprocess.run([sys.executable, "-m", "robustness", "report", str(copy)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (copy / "report.md").read_text() == (run_dir / "report.md").read_text()
    assert len(list((copy / "figures").glob("*.png"))) == 11


def test_report_shows_the_paper_beside_the_run(tiny_run):
    text = (tiny_run[0] / "report.md").read_text()
    assert "paper (arXiv v1)" in text and "CIFAR-10, PreAct ResNet-18, 200 epochs" in text
    assert "mixup → erm" in text and "erm → erm′" in text
    assert "Sanity checks" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "nope"], "unknown preset 'nope'; choose one of: quick, tiny"),
        (["--eps", "0", "9"], "outside [0, 1]"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    done = run_all(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_toml_key_is_one_line_and_writes_nothing(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text("[attack]\nsteps = 3\n")
    done = run_all("--config", str(toml), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "unknown key attack.steps; valid keys:" in done.stderr
    assert not (tmp_path / "out").exists()


def test_help_documents_every_option():
    """Every flag of the parser shows in --help with a help text (the README's block is checked in test_readme.py)."""
    done = run_all("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for action in parser()._actions:
        for flag in action.option_strings:
            assert flag in text, flag
        assert action.help and " ".join(action.help.split())[:40] in text, action.option_strings