"""PGD, the fused crafters, the streamed matrix against the naive loop, metrics, checks, between points."""

import dataclasses

import pytest
import torch
from torch import nn

from attacks import ATTACKS
from attacks.between import between_points, draw_pairs
from attacks.checks import run_checks
from attacks.evaluate import evaluate_models
from attacks.metrics import Tally, score, wilson
from attacks.naive import naive_matrix
from attacks.registry import FUSED
from attacks.seeding import craft_seed, seeded
from attacks.transfer import transfer_matrix
from robustness.config import AttackConfig

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def batch(digits):
    return digits.test_x[:96], digits.test_y[:96]


def test_pgd_without_random_start_and_with_bims_steps_matches_bim(tiny_models, batch):
    x, y = batch
    cfg = AttackConfig(ifgsm_steps=7, pgd_steps=7, pgd_step_factor=1.0, pgd_random_start=False)
    for eps in (0.05, 0.2):
        bim = ATTACKS["ifgsm"](tiny_models["erm_s0"], eps, cfg)(x, y)
        pgd = ATTACKS["pgd"](tiny_models["erm_s0"], eps, cfg)(x, y)
        assert (bim - pgd).abs().max() <= 1e-6


def test_pgd_settings_reach_torchattacks(tiny_models):
    cfg = AttackConfig(pgd_steps=20, pgd_step_factor=2.5, pgd_random_start=False)
    attack = ATTACKS["pgd"](tiny_models["erm_s0"], 0.1, cfg)
    assert (attack.steps, attack.random_start) == (20, False) and attack.alpha == pytest.approx(2.5 * 0.1 / 20)
    restarts = ATTACKS["pgd"](tiny_models["erm_s0"], 0.1, dataclasses.replace(cfg, pgd_restarts=3))
    assert len(restarts.attacks) == 3


def test_pgd_random_start_is_seeded_and_restarts_only_add_errors(tiny_models, batch):
    x, y = batch
    model = tiny_models["mixup_a1_s0"]
    cfg = AttackConfig(pgd_steps=2)
    runs = []
    for _ in range(2):
        with seeded(7, CPU):
            runs.append(ATTACKS["pgd"](model, 0.1, cfg)(x, y))
    assert torch.equal(*runs)
    with seeded(7, CPU):
        more = ATTACKS["pgd"](model, 0.1, dataclasses.replace(cfg, pgd_restarts=3))(x, y)
    assert (model(more).argmax(1) != y).sum() >= (model(runs[0]).argmax(1) != y).sum()


@pytest.mark.parametrize("name", list(FUSED))
def test_fused_crafter_is_bit_identical_to_torchattacks_per_eps(name, tiny_models, batch):
    x, y = batch
    eps = [0.0, 0.03, 0.1, 0.25]
    cfg = AttackConfig(eps=tuple(eps), ifgsm_steps=3, pgd_steps=3)
    seeds = [craft_seed(0, name, e, "m", 0) for e in eps]
    fused = FUSED[name](tiny_models["erm_s0"], x, y, eps, cfg, seeds)
    assert fused.shape == (len(eps), *x.shape)
    for k, (e, seed) in enumerate(zip(eps, seeds)):
        with seeded(seed, CPU):
            assert torch.equal(fused[k], ATTACKS[name](tiny_models["erm_s0"], e, cfg)(x, y)), (name, e)


def test_streamed_matrix_equals_the_naive_loop_exactly(tiny_models, batch):
    x, y = batch[0][:50], batch[1][:50]
    cfg = AttackConfig(eps=(0.0, 0.05, 0.15), ifgsm_steps=2, pgd_steps=2, batch_size=20)  # ragged last batch
    naive = naive_matrix(tiny_models, x, y, cfg, CPU)
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive
    # Every optimisation switched off gives the same numbers too.
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False, fuse=(), freeze_weights=False) == naive


def test_pgd_restarts_in_the_matrix_equal_the_naive_loop(tiny_models, batch):
    x, y = batch[0][:40], batch[1][:40]
    cfg = AttackConfig(attacks=("pgd",), eps=(0.0, 0.1), pgd_steps=2, pgd_restarts=2, batch_size=20)
    assert transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False) == naive_matrix(tiny_models, x, y, cfg, CPU)


def test_attack_stage_leaves_models_as_it_found_them(tiny_models, batch):
    x, y = batch
    model = tiny_models["erm_s0"]
    model.train()
    transfer_matrix({"m": model}, x, y, AttackConfig(eps=(0.1,), attacks=("fgsm",)), CPU, progress=False)
    assert model.training and all(p.requires_grad for p in model.parameters())
    model.eval()


def test_cells_carry_top5_success_rate_and_intervals(tiny_models, batch):
    x, y = batch
    cfg = AttackConfig(eps=(0.0, 0.2), attacks=("fgsm",), batch_size=40)
    result = transfer_matrix(tiny_models, x, y, cfg, CPU, progress=False)
    for cell in result["cells"]:
        target = tiny_models[cell["target"]]
        assert cell["correct_clean"] == int((predict_labels(target, x) == y).sum())
        assert cell["top5_wrong"] <= cell["wrong"] and 0 <= cell["flipped"] <= cell["correct_clean"]
        assert cell["success_rate"] == cell["flipped"] / cell["correct_clean"]
        for key in ("error", "top5_error", "success_rate"):
            low, high = cell[f"{key}_ci"]
            assert low <= cell[key] <= high
        if cell["eps"] == 0:
            assert cell["flipped"] == 0 and cell["wrong"] == result["clean"][cell["target"]]["wrong"]


def predict_labels(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def test_wilson_interval_known_values():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 10)[0] == 0 and wilson(0, 10)[1] > 0
    assert wilson(0, 0) is None


def test_top5_only_with_more_than_five_classes():
    five = nn.Linear(4, 5)
    wrong1, wrong5 = score(five, torch.rand(8, 4), torch.zeros(8, dtype=torch.long))
    assert wrong5 is None and len(wrong1) == 8
    tally = Tally()
    tally.add(wrong1, wrong5)
    assert tally.clean_record()["top5_error"] is None


def test_stronger_attack_check_fires_on_constructed_numbers():
    cells = []
    for attack, errs in (("fgsm", [0.1, 0.3]), ("ifgsm", [0.1, 0.5]), ("pgd", [0.1, 0.4])):
        for eps, err in zip((0.0, 0.1), errs):
            cells.append({"attack": attack, "eps": eps, "source": "m", "target": "m", "error": err, "wrong": int(err * 100)})
    attacks = {"clean": {"m": {"wrong": 10, "error": 0.1}}, "cells": cells}
    status = {c["check"]: c for c in run_checks(attacks, {"m": {"input_grad_norm": 1.0}})}
    assert status["I-FGSM ≥ FGSM"]["status"] == "pass"
    assert status["PGD ≥ I-FGSM"]["status"] == "warn" and "PGD steps" in status["PGD ≥ I-FGSM"]["likely_cause"]


class Rounded(nn.Module):
    """Masks gradients: rounds its input to 0/1 first, so ∇x is exactly zero."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x))


def test_every_gradient_attack_is_blind_on_a_masked_model(tiny_models, digits):
    """The checks' warnings on such a model are tested in test_attacks.py; here: why they must fire."""
    masked = Rounded(tiny_models["erm_s0"]).eval()
    x, y = digits.test_x[:64], digits.test_y[:64]
    for name in ATTACKS:
        cfg = AttackConfig(pgd_random_start=False)
        assert torch.equal(ATTACKS[name](masked, 0.1, cfg)(x, y), x), name  # sign(0) = 0: nothing moves


def test_summary_has_top5_and_success_rate(tiny_models, digits):
    cfg = AttackConfig(eps=(0.1,), attacks=("fgsm",))
    out = evaluate_models(tiny_models, {"erm_s0": "erm", "mixup_a1_s0": "mixup"}, digits, cfg, CPU, progress=False)
    row = next(r for r in out["attacks"]["summary"] if r["kind"] == "white-box" and r["source_family"] == "erm")
    cell = next(c for c in out["attacks"]["cells"] if c["source"] == c["target"] == "erm_s0")
    assert row["top5"] == {"mean": cell["top5_error"], "std": 0.0}
    assert row["success_rate"]["mean"] == cell["success_rate"]


def test_between_points_pairs_grid_and_endpoints(tiny_models, digits):
    cfg = AttackConfig(between_pairs=40, between_points=5)
    families = {"erm_s0": "erm", "mixup_a1_s0": "mixup"}
    out = between_points(tiny_models, families, digits, cfg, CPU)
    assert out["lambdas"] == [0.0, 0.25, 0.5, 0.75, 1.0] and out["pairs"] == 40
    i, j = draw_pairs(digits.test_y, 40, cfg.seed)
    assert (digits.test_y[i] != digits.test_y[j]).all()
    for name, model in tiny_models.items():
        rec = out["models"][name]
        pred_j, pred_i = predict_labels(model, digits.test_x[j]), predict_labels(model, digits.test_x[i])
        neither = lambda p: ((p != digits.test_y[i]) & (p != digits.test_y[j])).float().mean().item()  # noqa: E731
        assert rec["miss"][0] == pytest.approx(neither(pred_j)) and rec["miss"][-1] == pytest.approx(neither(pred_i))
        assert all(g > 0 for g in rec["grad_norm_mean"]) and len(rec["grad_norm_std"]) == 5
    assert set(out["summary"]) == {"erm", "mixup"} and out["summary"]["erm"]["models"] == 1
    assert between_points(tiny_models, families, digits, cfg, CPU) == out  # deterministic
