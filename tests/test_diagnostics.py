"""What the checks know about each model (attacks/diagnostics.py), the reference's checks built on it: each fires on
a model built to trip it (tests/conftest.py) and stays silent on the plainly trained ones."""

import sys

import torch
from conftest import Noisy, Purifying, Scaled, Softmaxed

from attacks.checks import run_checks
from attacks.diagnostics import calls_autograd, diagnose

CPU = torch.device("cpu")
REFERENCE_CHECKS = ("deterministic forward", "outputs are logits", "no image with a zero gradient", "forward calls no autograd")


def checks_of(models: dict, digits, attacks: tuple[str, ...] = ("fgsm",)) -> dict:
    """(model, check) -> the check's record, from the models' real diagnostics and a one-cell result per attack."""
    diagnostics = diagnose(models, digits, CPU)
    cells = [{"attack": a, "eps": 0.1, "source": m, "target": m, "error": 0.5, "wrong": 50} for a in attacks for m in models]
    result = {"n": 100, "clean": {m: {"wrong": 5, "error": 0.05} for m in models}, "cells": cells}
    return {(c["model"], c["check"]): c for c in run_checks(result, diagnostics)}


def test_the_reference_checks_are_silent_on_plainly_trained_models(tiny_models, digits):
    status = checks_of(tiny_models, digits)
    for model in tiny_models:
        for check in REFERENCE_CHECKS:
            assert status[model, check]["status"] == "pass", (model, check, status[model, check]["detail"])


def test_a_randomized_model_is_flagged_and_the_report_says_whether_an_eot_attack_ran(tiny_models, digits):
    noisy = Noisy(tiny_models["erm_s0"]).eval()
    state = torch.get_rng_state()
    flagged = checks_of({"noisy": noisy}, digits)["noisy", "deterministic forward"]
    assert torch.equal(torch.get_rng_state(), state)  # five passes, drawn from forked generators
    assert flagged["status"] == "warn" and "autoattack-rand" in flagged["likely_cause"]
    assert "no attack with expectation over transformation ran" in flagged["detail"]
    with_rand = checks_of({"noisy": noisy}, digits, ("fgsm", "autoattack-rand"))["noisy", "deterministic forward"]
    assert with_rand["detail"].endswith("AutoAttack-rand (EOT) ran")


def test_probability_outputs_are_flagged(tiny_models, digits):
    flagged = checks_of({"softmax": Softmaxed(tiny_models["erm_s0"]).eval()}, digits)["softmax", "outputs are logits"]
    assert flagged["status"] == "warn" and "return its logits" in flagged["likely_cause"]


def test_zero_gradients_are_counted_per_image_with_their_likely_cause(tiny_models, masked_model, digits):
    diagnostics = diagnose({"masked": masked_model, "scaled": Scaled(tiny_models["erm_s0"]).eval()}, digits, CPU)
    masked, scaled = diagnostics["masked"]["zero_gradient_images"], diagnostics["scaled"]["zero_gradient_images"]
    assert masked["ce"] == masked["dlr"] == masked["n"] > 0  # rounding: flat everywhere, for every loss
    assert scaled["ce"] > 0 and scaled["dlr"] == 0  # a saturated softmax: the cross-entropy is flat, DLR is not
    status = checks_of({"masked": masked_model, "scaled": Scaled(tiny_models["erm_s0"]).eval()}, digits)
    assert status["masked", "no image with a zero gradient"]["status"] == "warn"
    assert "non-differentiable" in status["masked", "no image with a zero gradient"]["likely_cause"]
    assert "softmax saturates" in status["scaled", "no image with a zero gradient"]["likely_cause"]


def test_a_forward_that_calls_autograd_is_flagged_and_the_tracer_is_put_back(tiny_models, digits):
    dynamic = Purifying(tiny_models["erm_s0"]).eval()
    tracer = sys.gettrace()
    assert calls_autograd(dynamic, digits.test_x[:4]) and not calls_autograd(tiny_models["erm_s0"], digits.test_x[:4])
    assert sys.gettrace() is tracer  # a debugger's or coverage's tracer survives the check
    flagged = checks_of({"dynamic": dynamic}, digits)["dynamic", "forward calls no autograd"]
    assert flagged["status"] == "warn" and "adaptive attack" in flagged["likely_cause"]
