"""bench/gpu_acceptance.py --toy, as a maintainer runs it: one JSON with every section and sane values.

The toy run is the CPU smoke test of the GPU acceptance run (issue 14): digits, digits_cnn, 3
epochs, 512 training images, torch.compile included (about 25 s on one CPU thread when inductor's
cache is cold, 15 s when warm). Its numbers mean nothing; the keys and their ranges are what is checked.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_acceptance.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

RUN_KEYS = {"method", "seed", "precision", "channels_last", "compile", "clean_accuracy", "clean_error",
            "test_error_per_epoch", "train_seconds", "epoch_seconds", "eval_seconds_per_epoch", "train_img_per_s",
            "train_img_per_s_after_first_epoch", "first_epoch_extra_seconds", "peak_gpu_memory_mib"}
TOP_KEYS = {"kind", "toy", "started_utc", "device", "command", "config", "data", "targets_set", "peak_gpu_memory_note",
            "throughput_note", "models", "attacks", "bf16_vs_fp32", "compile", "suite", "total_seconds", "targets"}


def run(*args, timeout=180):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-acceptance") / "toy.json"
    done = run("--toy", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done, out


def check_run(record: dict, cuda: bool, epochs: int) -> None:
    """One training run's record: every key, accuracy in [0, 1], positive times and throughputs."""
    assert RUN_KEYS <= set(record), RUN_KEYS - set(record)
    assert 0.0 <= record["clean_accuracy"] <= 1.0
    assert math.isclose(record["clean_accuracy"] + record["clean_error"], 1.0)
    assert record["seed"] == 0
    assert len(record["test_error_per_epoch"]) == len(record["epoch_seconds"]) == epochs
    assert record["test_error_per_epoch"][-1] == record["clean_error"]
    assert record["train_seconds"] > 0 and all(s > 0 for s in record["epoch_seconds"])
    # Epochs lie inside fit's wall time. Every number was rounded to 1 ms on its own, so each of the
    # epochs + 1 roundings may move it by up to 0.5 ms.
    rounding = 0.0005 * (len(record["epoch_seconds"]) + 1) + 1e-9
    assert sum(record["epoch_seconds"]) <= record["train_seconds"] + rounding
    assert 0 < record["eval_seconds_per_epoch"] < max(record["epoch_seconds"])
    assert record["train_img_per_s"] > 0 and record["train_img_per_s_after_first_epoch"] > 0
    if cuda:
        assert record["peak_gpu_memory_mib"] > 0
    else:
        assert record["peak_gpu_memory_mib"] is None  # not measured on the CPU, and said so


def test_toy_run_writes_every_section(toy):
    report, done, out = toy
    cuda = torch.cuda.is_available()
    assert TOP_KEYS <= set(report), TOP_KEYS - set(report)
    assert report["kind"] == "gpu-acceptance" and report["toy"] is True
    assert report["device"]["type"] == ("cuda" if cuda else "cpu")
    assert report["device"]["name"] and report["device"]["torch"] == torch.__version__
    assert ("CUDA only" in report["peak_gpu_memory_note"]) != cuda
    assert report["config"]["preset"] == "cifar10-fast" and report["config"]["train"]["arch"] == "digits_cnn"
    epochs = report["config"]["train"]["epochs"]
    assert report["data"]["n_train"] == 512 and report["data"]["n_test"] == 200

    assert set(report["models"]) == {"erm", "mixup"}
    for record in report["models"].values():
        check_run(record, cuda, epochs)
    assert report["models"]["mixup"]["method"] == "mixup:1"
    assert report["models"]["erm"]["clean_accuracy"] > 0.3  # chance is 0.1: training did train

    attacks = report["attacks"]
    assert math.isclose(attacks["eps"], 8 / 255) and attacks["n_test"] == 200
    for name, steps in (("fgsm", 1), ("pgd", 10)):
        cell = attacks[name]
        assert cell["steps"] == steps and cell["img_per_s"] > 0 and cell["seconds"] > 0
        assert 0.0 <= cell["clean_error"] <= cell["white_box_error"] <= 1.0
        assert cell["clean_error"] == report["models"]["erm"]["clean_error"]  # the same model, fp32 either way
        assert (cell["peak_gpu_memory_mib"] is None) != cuda

    precision = report["bf16_vs_fp32"]
    check_run(precision["bf16"], cuda, epochs)
    check_run(precision["fp32"], cuda, epochs)
    assert precision["bf16"]["precision"] == "bfloat16" and precision["fp32"]["precision"] == "fp32"
    # On the CPU "auto" is fp32, so the main ERM run is the fp32 one (on CUDA it is the bf16 one).
    assert precision["fp32" if not cuda else "bf16"]["same_run_as"] == "models.erm"
    points = 100 * (precision["bf16"]["clean_error"] - precision["fp32"]["clean_error"])
    assert math.isclose(precision["difference_points"], points, abs_tol=1e-3)
    assert precision["pass"] == (abs(points) <= 1.0) and precision["meaningful"] is False

    compiled = report["compile"]
    if "skipped" in compiled:
        assert compiled["skipped"]  # a reason, never an empty string
    else:
        check_run(compiled["off"], cuda, epochs)
        check_run(compiled["on"], cuda, epochs)
        assert compiled["off"]["compile"] is False and compiled["on"]["compile"] is True
        assert compiled["speedup_after_first_epoch"] > 0 and compiled["compile_seconds_estimate"] is not None
        assert compiled["off"]["same_run_as"] == "models.erm" and compiled["on"]["same_run_as"] is None
        # Not asserted: equal errors with and without compile (fused kernels may round differently).

    suite = report["suite"]
    assert suite["wall_seconds"] > 0 and Path(suite["run_dir"]).parent == out.parent
    assert {"data", "clean_training", "attacks", "label_noise", "total"} <= set(suite["stages_s"])
    assert all(0 <= a <= 1 for a in suite["clean_accuracy"].values()) and len(suite["clean_accuracy"]) == 4

    targets = report["targets"]
    assert targets["apply"] is False
    assert {"erm_clean_accuracy", "bf16_vs_fp32_points", "suite_seconds"} <= set(targets)
    assert report["total_seconds"] > 0


def test_stdout_is_the_path_and_a_summary(toy):
    report, done, out = toy
    lines = done.stdout.splitlines()
    assert lines[0] == str(out)
    assert any(line.startswith("| erm |") for line in lines) and any(line.startswith("| mixup |") for line in lines)
    assert any("PGD-10" in line for line in lines) and any("bf16 − fp32" in line for line in lines)
    assert "training erm" in done.stderr  # progress goes to stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_without_cuda_the_full_run_stops_with_one_line(tmp_path):
    done = run("--out", str(tmp_path / "x.json"), "--skip-suite", timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0] and "--toy" in lines[0]
    assert not (tmp_path / "x.json").exists()
