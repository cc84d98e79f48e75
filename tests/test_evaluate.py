"""The attack stage's sections from a transfer matrix (attacks/evaluate.py): summary, diagnostics, between points."""

import pytest
import torch

from attacks import evaluate_matrix, evaluate_models, transfer_matrix
from attacks.evaluate import diagnose, headline_eps
from robustness.config import AttackConfig

CPU = torch.device("cpu")
FAMILIES = {"erm_s0": "erm", "mixup_a1_s0": "mixup"}


def test_summary_has_top5_and_success_rate(tiny_models, digits):
    cfg = AttackConfig(eps=(0.1,), attacks=("fgsm",))
    out = evaluate_models(tiny_models, FAMILIES, digits, cfg, CPU, progress=False)
    row = next(r for r in out["attacks"]["summary"] if r["kind"] == "white-box" and r["source_family"] == "erm")
    cell = next(c for c in out["attacks"]["cells"] if c["source"] == c["target"] == "erm_s0")
    assert row["top5"] == {"mean": cell["top5_error"], "std": 0.0, "n": 1}
    assert row["success_rate"]["mean"] == cell["success_rate"]


def test_transfer_summary_averages_every_ordered_pair_of_distinct_models(tiny_models, digits):
    cfg = AttackConfig(eps=(0.1,), attacks=("fgsm",))
    out = evaluate_models(tiny_models, {"erm_s0": "erm", "mixup_a1_s0": "erm"}, digits, cfg, CPU, progress=False)
    row = next(r for r in out["attacks"]["summary"] if r["kind"] == "transfer")
    pairs = [c["error"] for c in out["attacks"]["cells"] if c["source"] != c["target"]]
    assert row["count"] == 2 and row["mean"] == pytest.approx(sum(pairs) / 2)


def test_evaluate_models_is_evaluate_matrix_of_the_transfer_matrix(tiny_models, digits):
    cfg = AttackConfig(eps=(0.0, 0.1), attacks=("fgsm",), between_pairs=20, between_points=3)
    matrix = transfer_matrix(tiny_models, digits.test_x, digits.test_y, cfg, CPU, progress=False)
    direct = evaluate_matrix(matrix, tiny_models, FAMILIES, digits, cfg, CPU)
    assert evaluate_models(tiny_models, FAMILIES, digits, cfg, CPU, progress=False) == direct
    assert set(direct) == {"attacks", "diagnostics", "checks", "between_points"}
    assert direct["between_points"]["pairs"] == 20


def test_diagnose_reports_positive_gradients(tiny_models, masked_model, digits):
    diag = diagnose({**tiny_models, "masked": masked_model}, digits, CPU)
    assert all(diag[name]["input_grad_norm"] > 0 and diag[name]["deterministic"] for name in tiny_models)
    assert diag["masked"]["input_grad_norm"] == 0


def cells(errors: dict[float, float]) -> dict:
    return {"cells": [{"attack": "pgd", "eps": e, "source": "m", "target": "m", "error": err} for e, err in errors.items()]}


def test_headline_eps_is_given_or_the_largest_below_total_failure_or_the_middle():
    given = AttackConfig(eps=(0.0, 0.1, 0.3), heatmap_eps=0.1)
    assert headline_eps(cells({0.0: 0.01, 0.1: 1.0, 0.3: 1.0}), given) == {"heatmap_eps": 0.1, "heatmap_eps_rule": "given"}
    auto = AttackConfig(eps=(0.0, 0.1, 0.2, 0.3), heatmap_eps=None)
    chosen = headline_eps(cells({0.0: 0.01, 0.1: 0.4, 0.2: 0.99, 0.3: 1.0}), auto)
    assert chosen["heatmap_eps"] == 0.2 and "largest ε" in chosen["heatmap_eps_rule"]
    everything_falls = headline_eps(cells({0.0: 0.01, 0.1: 1.0, 0.2: 1.0, 0.3: 1.0}), auto)
    assert everything_falls["heatmap_eps"] == 0.2 and "middle ε" in everything_falls["heatmap_eps_rule"]
