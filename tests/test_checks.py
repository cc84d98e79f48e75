"""Sanity checks on an evaluation (attacks/checks.py): quiet on honest models, loud on masked and random ones."""

import dataclasses

import pytest
import torch

from attacks import evaluate_models, make_attack
from attacks.checks import run_checks
from attacks.metrics import pack_bits
from robustness.config import AttackConfig
from robustness.errors import SuiteError

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


def test_zero_eps_check_compares_the_images_not_only_their_count():
    """A randomized model can flip different images in equal numbers: same count, other images, still a warning."""
    same_count = constructed({"fgsm": [0.1, 0.5]}, eps=(0.0, 0.1))
    same_count["clean"]["m"]["wrong_bits"] = pack_bits(torch.tensor([True] * 10 + [False] * 90))
    zero_cell = next(c for c in same_count["cells"] if c["eps"] == 0)
    zero_cell["wrong_bits"] = pack_bits(torch.tensor([False] * 90 + [True] * 10))
    status = statuses(same_count)["ε = 0 equals clean"]
    assert status["status"] == "warn" and "other images" in status["detail"]
    zero_cell["wrong_bits"] = same_count["clean"]["m"]["wrong_bits"]
    assert statuses(same_count)["ε = 0 equals clean"]["status"] == "pass"


def test_checks_pass_on_honest_models_and_warn_on_gradient_masking(tiny_models, masked_model, digits):
    models = {"masked": masked_model, **tiny_models}
    families = {"masked": "erm", "erm_s0": "erm", "mixup_a1_s0": "mixup"}
    cfg = AttackConfig(eps=(0.0, 0.05, 0.1), settings={"ifgsm": {"steps": 3}, "pgd": {"steps": 3}})
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models(models, families, subset, cfg, CPU, progress=False)
    status = {(c["model"], c["check"]): c for c in out["checks"]}
    assert status["masked", "non-zero input gradient"]["status"] == "warn"
    assert "gradient masking" in status["masked", "non-zero input gradient"]["likely_cause"]
    # Transfer from an honest model beats the masked model's own blind white-box attack.
    assert status["masked", "white box ≥ transfer"]["status"] == "warn"
    assert all(c["status"] == "pass" for c in out["checks"] if c["model"] == "erm_s0")


def test_checks_warn_on_a_randomized_model(noisy_model, digits):
    cfg = AttackConfig(eps=(0.0, 0.1), heatmap_eps=0.1, settings={"ifgsm": {"steps": 2}, "pgd": {"steps": 2},
                                                                  "autoattack-rand": {"steps": 2, "eot": 2}},
                       worst_case_attacks=("autoattack-rand",), worst_case_images=50, between_pairs=5, between_points=3)
    subset = dataclasses.replace(digits, test_images=digits.test_images[:200], test_y=digits.test_y[:200])
    out = evaluate_models({"noisy": noisy_model}, {"noisy": "erm"}, subset, cfg, CPU, progress=False)
    status = {c["check"]: c for c in out["checks"]}
    assert status["ε = 0 equals clean"]["status"] == "warn"
    assert out["diagnostics"]["noisy"]["deterministic"] is False
    # The reference's check, and the report's word that the EOT version ran (asked for in worst_case_attacks).
    assert status["deterministic forward"]["status"] == "warn"
    assert status["deterministic forward"]["detail"].endswith("AutoAttack-rand (EOT) ran")
    rows = out["attacks"]["worst_case"]["headline"]["cells"]
    assert [list(r["parts"]) for r in rows if r["kind"] == "autoattack-rand"] == [["APGD-CE", "APGD-DLR"]]


def with_worst_case(attacks: dict, headline: list[tuple], sweep: list[tuple] = (), flags: list[dict] = ()) -> dict:
    """``attacks`` plus a worst_case section: headline rows (kind, error) on a subset, sweep rows (ε, kind, error)."""
    rows = [{"target": "m", "eps": 0.1, "kind": kind, "error": err} for kind, err in headline]
    sweep_rows = [{"target": "m", "eps": e, "kind": kind, "error": err} for e, kind, err in sweep]
    return {**attacks, "worst_case": {"sweep": sweep_rows, "flags": list(flags),
                                      "headline": {"images": "subset", "cells": rows}}}


def test_autoattack_below_pgd_warns_on_the_headline_subset():
    attacks = with_worst_case(constructed({"pgd": [0.1, 0.3, 0.5]}), [("pgd", 0.35), ("autoattack", 0.30)])
    status = statuses(attacks)["AutoAttack ≥ PGD"]
    assert status["status"] == "warn" and "headline subset" in status["detail"] and "the reference's 100" in status["likely_cause"]
    fine = with_worst_case(constructed({"pgd": [0.1, 0.3, 0.5]}), [("pgd", 0.35), ("autoattack", 0.36)])
    assert statuses(fine)["AutoAttack ≥ PGD"]["status"] == "pass"


def test_square_beating_every_gradient_attack_warns_of_gradient_masking():
    attacks = with_worst_case(constructed({"fgsm": [0.1, 0.2, 0.3]}), [("fgsm", 0.2), ("pgd", 0.25), ("square", 0.4)])
    status = statuses(attacks)["gradient attacks ≥ Square"]
    assert status["status"] == "warn" and "gradient masking" in status["likely_cause"] and "15.0 points" in status["detail"]
    fine = with_worst_case(constructed({"fgsm": [0.1, 0.2, 0.3]}), [("pgd", 0.25), ("square", 0.2)])
    assert statuses(fine)["gradient attacks ≥ Square"]["status"] == "pass"


def test_transfer_worst_case_above_white_box_worst_case_warns():
    sweep = [(0.1, "white-box", 0.3), (0.1, "transfer", 0.45), (0.2, "white-box", 0.5), (0.2, "transfer", 0.5)]
    status = statuses(with_worst_case(constructed({"fgsm": [0.1, 0.3, 0.5]}), [], sweep))["white-box worst case ≥ transfer"]
    assert status["status"] == "warn" and "ε=0.1" in status["detail"] and "gradient masking" in status["likely_cause"]


def test_many_images_a_weaker_attack_broke_and_a_stronger_missed_warn():
    flag = {"target": "m", "eps": 0.1, "images": "all", "weaker": "fgsm", "stronger": "pgd", "count": 9, "share": 0.09, "n": 100}
    status = statuses(with_worst_case(constructed({"fgsm": [0.1, 0.3, 0.5]}), [], [], [flag]))["stronger attacks break a superset"]
    assert status["status"] == "warn" and "FGSM broke 9 image(s) (9.0%) that PGD missed" in status["detail"]
    few = {**flag, "count": 1, "share": 0.01}
    assert statuses(with_worst_case(constructed({"fgsm": [0.1, 0.3, 0.5]}), [], [], [few]))[
        "stronger attacks break a superset"]["status"] == "pass"


def test_autoattack_with_its_own_square_is_not_a_gradient_attack_square_must_beat():
    """AutoAttack runs Square itself, so the standalone Square is held against the pure gradient attacks only."""
    attacks = with_worst_case(constructed({"fgsm": [0.1, 0.2, 0.3]}), [("pgd", 0.25), ("autoattack", 0.45), ("square", 0.4)])
    assert statuses(attacks)["gradient attacks ≥ Square"]["status"] == "warn"


def test_autoattack_fast_is_held_against_pgd_too():
    attacks = with_worst_case(constructed({"pgd": [0.1, 0.3, 0.5]}), [("pgd", 0.35), ("autoattack-fast", 0.30)])
    status = statuses(attacks)["AutoAttack-fast (10 steps) ≥ PGD"]
    assert status["status"] == "warn" and "run autoattack" in status["likely_cause"]


def evaluate_worst_case(models: dict, split, settings: dict, images: int = 100) -> dict:
    """The models' checks after FGSM and a cheap AutoAttack at the headline ε, through the suite's evaluation."""
    cfg = AttackConfig(attacks=("fgsm",), eps=(0.0, 0.1), heatmap_eps=0.1, worst_case_attacks=("autoattack",),
                       worst_case_images=images, between_pairs=5, between_points=3, settings={"autoattack": settings})
    out = evaluate_models(models, dict.fromkeys(models, "erm"), split, cfg, CPU, progress=False)
    return {(c["model"], c["check"]): c for c in out["checks"]} | {"attacks": out["attacks"]}


def test_square_breaking_what_autoattacks_gradient_attacks_left_warns_on_a_masked_model(tiny_models, masked_model, digits):
    status = evaluate_worst_case({"masked": masked_model, "erm_s0": tiny_models["erm_s0"]}, digits,
                                 {"steps": 5, "queries": 100})
    check = "Square adds nothing to AutoAttack's gradient attacks"
    assert status["masked", check]["status"] == "warn" and "gradient masking" in status["masked", check]["likely_cause"]
    assert "Square broke" in status["masked", check]["detail"] and "(headline subset)" in status["masked", check]["detail"]
    assert status["erm_s0", check]["status"] == "pass"
    rows = [r for r in status["attacks"]["worst_case"]["headline"]["cells"] if r["kind"] == "autoattack"]
    assert all(sum(r["parts"].values()) == r["flipped"] for r in rows)  # each broken image counted once, by its part
    assert list(rows[0]["parts"]) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]


class FirstClasses(torch.nn.Module):
    """A digits model cut down to its first ``k`` outputs: a classifier of ``k`` classes."""

    def __init__(self, model, k: int):
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x):
        return self.model(x)[:, : self.k]


def test_too_few_classes_for_autoattack_warns_and_leaves_the_dlr_part_out(tiny_models, digits):
    keep = digits.test_y < 3
    three = dataclasses.replace(digits, test_images=digits.test_images[keep], test_y=digits.test_y[keep],
                                classes=digits.classes[:3])
    status = evaluate_worst_case({"three": FirstClasses(tiny_models["erm_s0"], 3).eval()}, three, {"steps": 3, "queries": 30},
                                 images=60)
    check = status["three", "enough classes for AutoAttack"]
    assert check["status"] == "warn" and "not comparable" in check["likely_cause"]
    assert "AutoAttack left out APGD-T (needs 4 classes)" in check["detail"] and "ran 2 target classes" in check["detail"]
    row = next(r for r in status["attacks"]["worst_case"]["headline"]["cells"] if r["kind"] == "autoattack")
    assert list(row["parts"]) == ["APGD-CE", "FAB-T", "Square"]
    ten = statuses(constructed({"autoattack": [0.1, 0.3, 0.5]}))  # digits' 10 classes: the standard version
    assert "enough classes for AutoAttack" not in ten  # the chance check's class count is not given there
    assert {c["check"]: c["status"] for c in run_checks(constructed({"autoattack": [0.1, 0.3, 0.5]}),
                                                        {"m": {"input_grad_norm": 1.0}}, 10)}["enough classes for AutoAttack"] == "pass"


def test_an_attack_that_cannot_run_on_so_few_classes_is_one_line():
    with pytest.raises(SuiteError, match="attack 'apgd_dlr' needs at least 3 classes"):
        make_attack("apgd_dlr", num_classes=2)
