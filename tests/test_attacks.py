import dataclasses

import pytest
import torch
from torch import nn

from attacks import ATTACKS, transfer_matrix
from attacks.checks import run_checks
from attacks.evaluate import diagnose, evaluate_models
from robustness.config import AttackConfig
from robustness.train import predict

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def batch(digits):
    return digits.test_x[:128], digits.test_y[:128]


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_attack_stays_in_the_eps_ball_and_in_pixel_range(name, eps, tiny_models, batch):
    x, y = batch
    adv = ATTACKS[name](tiny_models["erm_s0"], eps, AttackConfig())(x, y)
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() > 0  # it did move


@pytest.mark.parametrize("name", list(ATTACKS))
def test_eps_zero_changes_nothing(name, tiny_models, batch):
    x, y = batch
    adv = ATTACKS[name](tiny_models["erm_s0"], 0.0, AttackConfig())(x, y)
    assert torch.equal(adv, x)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_raises_error(name, tiny_models, batch):
    x, y = batch
    model = tiny_models["erm_s0"]
    adv = ATTACKS[name](model, 0.2, AttackConfig())(x, y)
    assert (predict(model, adv) != y).float().mean() > (predict(model, x) != y).float().mean()


def test_ifgsm_with_one_step_of_eps_equals_fgsm(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    fgsm = ATTACKS["fgsm"](model, 0.1, AttackConfig())(x, y)
    ifgsm = ATTACKS["ifgsm"](model, 0.1, AttackConfig(ifgsm_steps=1))(x, y)
    assert torch.allclose(fgsm, ifgsm, atol=1e-7)


def test_ifgsm_uses_equal_steps_of_eps_over_steps(tiny_models):
    attack = ATTACKS["ifgsm"](tiny_models["erm_s0"], 0.1, AttackConfig(ifgsm_steps=10))
    assert attack.steps == 10 and attack.alpha == pytest.approx(0.01) and attack.eps == 0.1


def test_transfer_matrix_diagonal_is_white_box_and_off_diagonal_is_transfer(tiny_models, batch):
    x, y = batch
    # Deterministic attacks only: PGD's random start is seeded per batch (tested against the naive loop instead).
    cfg = AttackConfig(attacks=("fgsm", "ifgsm"), eps=(0.0, 0.1), ifgsm_steps=3, batch_size=50)  # ragged last batch
    result = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    names = list(tiny_models)
    assert len(result["cells"]) == len(cfg.attacks) * len(cfg.eps) * len(names) ** 2
    for cell in result["cells"]:
        source, target = tiny_models[cell["source"]], tiny_models[cell["target"]]
        adv = ATTACKS[cell["attack"]](source, cell["eps"], cfg)(x, y)
        assert cell["wrong"] == int((predict(target, adv) != y).sum())
        assert cell["error"] == cell["wrong"] / len(y)
    for name in names:
        assert result["clean"][name]["wrong"] == int((predict(tiny_models[name], x) != y).sum())


class HardThreshold(nn.Module):
    """Masks gradients: the forward rounds its input, so the input gradient is exactly zero."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x))


def test_checks_pass_on_honest_models_and_warn_on_gradient_masking(tiny_models, digits):
    masked = {"masked": HardThreshold(tiny_models["erm_s0"]).eval(), **tiny_models}
    families = {"masked": "erm", "erm_s0": "erm", "mixup_a1_s0": "mixup"}
    cfg = AttackConfig(eps=(0.0, 0.05, 0.1), ifgsm_steps=3, pgd_steps=3)
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models(masked, families, subset, cfg, CPU, progress=False)
    status = {(c["model"], c["check"]): c for c in out["checks"]}
    assert status["masked", "non-zero input gradient"]["status"] == "warn"
    assert "gradient masking" in status["masked", "non-zero input gradient"]["likely_cause"]
    # Transfer from an honest model beats the masked model's own blind white-box attack.
    assert status["masked", "white box ≥ transfer"]["status"] == "warn"
    assert status["erm_s0", "non-zero input gradient"]["status"] == "pass"
    assert status["erm_s0", "ε = 0 equals clean"]["status"] == "pass"
    assert all(c["status"] == "pass" for c in out["checks"] if c["model"] == "erm_s0")


def test_checks_warn_on_a_randomized_model(tiny_models, digits):
    class Noisy(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x) + 5 * torch.randn(len(x), 10)

    models = {"noisy": Noisy(tiny_models["erm_s0"])}
    cfg = AttackConfig(eps=(0.0, 0.1), ifgsm_steps=2, pgd_steps=2)
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models(models, {"noisy": "erm"}, subset, cfg, CPU, progress=False)
    status = {c["check"]: c["status"] for c in out["checks"]}
    assert status["ε = 0 equals clean"] == "warn"
    assert out["diagnostics"]["noisy"]["deterministic"] is False


def test_diagnose_reports_positive_gradients(tiny_models, digits):
    diag = diagnose(tiny_models, digits, CPU)
    assert all(d["input_grad_norm"] > 0 and d["deterministic"] for d in diag.values())


def test_checks_monotone_and_iterative_fire_on_constructed_numbers():
    cells = []
    for attack, errs in (("fgsm", [0.1, 0.5, 0.3]), ("ifgsm", [0.1, 0.2, 0.25])):
        for eps, err in zip((0.0, 0.1, 0.2), errs):
            cells.append({"attack": attack, "eps": eps, "source": "m", "target": "m", "error": err, "wrong": int(err * 100)})
    attacks = {"clean": {"m": {"wrong": 10, "error": 0.1}}, "cells": cells}
    status = {c["check"]: c for c in run_checks(attacks, {"m": {"input_grad_norm": 1.0}})}
    assert status["error rises with ε"]["status"] == "warn"
    assert status["I-FGSM ≥ FGSM"]["status"] == "warn"
    assert status["ε = 0 equals clean"]["status"] == "pass"
