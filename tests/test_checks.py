"""Sanity checks on an evaluation (attacks/checks.py): quiet on honest models, loud on masked and random ones."""

import dataclasses

import torch

from attacks import evaluate_models
from attacks.checks import run_checks
from robustness.config import AttackConfig

CPU = torch.device("cpu")


def constructed(errors: dict[str, list[float]], eps=(0.0, 0.1, 0.2)) -> dict:
    cells = [{"attack": attack, "eps": e, "source": "m", "target": "m", "error": err, "wrong": int(err * 100)}
             for attack, errs in errors.items() for e, err in zip(eps, errs)]
    return {"clean": {"m": {"wrong": 10, "error": 0.1}}, "cells": cells}


def statuses(attacks: dict) -> dict:
    return {c["check"]: c for c in run_checks(attacks, {"m": {"input_grad_norm": 1.0}})}


def test_monotone_and_iterative_checks_fire_on_constructed_numbers():
    status = statuses(constructed({"fgsm": [0.1, 0.5, 0.3], "ifgsm": [0.1, 0.2, 0.25]}))
    assert status["error rises with ε"]["status"] == "warn"
    assert status["I-FGSM ≥ FGSM"]["status"] == "warn"
    assert status["ε = 0 equals clean"]["status"] == "pass"


def test_stronger_attack_check_fires_on_constructed_numbers():
    status = statuses(constructed({"fgsm": [0.1, 0.3], "ifgsm": [0.1, 0.5], "pgd": [0.1, 0.4]}, eps=(0.0, 0.1)))
    assert status["I-FGSM ≥ FGSM"]["status"] == "pass"
    assert status["PGD ≥ I-FGSM"]["status"] == "warn" and "PGD steps" in status["PGD ≥ I-FGSM"]["likely_cause"]


def test_checks_pass_on_honest_models_and_warn_on_gradient_masking(tiny_models, masked_model, digits):
    models = {"masked": masked_model, **tiny_models}
    families = {"masked": "erm", "erm_s0": "erm", "mixup_a1_s0": "mixup"}
    cfg = AttackConfig(eps=(0.0, 0.05, 0.1), ifgsm_steps=3, pgd_steps=3)
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models(models, families, subset, cfg, CPU, progress=False)
    status = {(c["model"], c["check"]): c for c in out["checks"]}
    assert status["masked", "non-zero input gradient"]["status"] == "warn"
    assert "gradient masking" in status["masked", "non-zero input gradient"]["likely_cause"]
    # Transfer from an honest model beats the masked model's own blind white-box attack.
    assert status["masked", "white box ≥ transfer"]["status"] == "warn"
    assert all(c["status"] == "pass" for c in out["checks"] if c["model"] == "erm_s0")


def test_checks_warn_on_a_randomized_model(noisy_model, digits):
    cfg = AttackConfig(eps=(0.0, 0.1), ifgsm_steps=2, pgd_steps=2)
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models({"noisy": noisy_model}, {"noisy": "erm"}, subset, cfg, CPU, progress=False)
    status = {c["check"]: c["status"] for c in out["checks"]}
    assert status["ε = 0 equals clean"] == "warn"
    assert out["diagnostics"]["noisy"]["deterministic"] is False
