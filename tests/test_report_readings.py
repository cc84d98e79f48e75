"""The report's sentences (robustness/report/readings.py, headline.py), each on a results dict built here.

Each builder below writes only the fields the sentence reads, with round numbers, so every expected
sentence can be worked out by hand from the inputs above it.
"""

from __future__ import annotations

import pytest

from robustness.formatting import eps_label
from robustness.leaderboard import run_settings
from robustness.report import (attack_reading, chance_warnings, headline, method_reading, survival,
                               worst_case_reading)
from robustness.report.methods_compared import comparison_blocks
from robustness.report.readings import reading_lines

EPS = 0.1  # the heatmap ε of every dict built here


def stat(mean: float, std: float = 0.01, n: int = 2) -> dict:
    return {"mean": mean, "std": std, "n": n}


def whitebox_row(attack: str, family: str, mean: float) -> dict:
    return {"attack": attack, "eps": EPS, "kind": "white-box", "source_family": family, "target_family": family} | stat(mean)


def transfer_row(attack: str, source: str, target: str, mean: float) -> dict:
    return {"attack": attack, "eps": EPS, "kind": "transfer", "source_family": source, "target_family": target,
            "mean": mean, "std": 0.0, "count": 2}


def model(family: str, display: str, clean_error: float = 0.05) -> dict:
    return {"family": family, "display": display, "method": family, "clean_error": clean_error, "seed": 0}


def compared_row(family: str, kind: str, attack: str | None, difference: float, interval: list[float] | None,
                 p: float | None, verdict: str, part: str | None = None, seeds: int | None = None,
                 images: int | None = None) -> dict:
    """One row of results.json's ``statistics.families`` (robustness/statistics.py): ``family`` against ERM."""
    return {"family_a": family, "family_b": "erm", "kind": kind, "attack": attack, "eps": EPS, "part": part,
            "difference": difference, "interval": interval, "p_value": p, "verdict": verdict, "seeds_needed": seeds,
            "images_needed": images, "resampled": "seeds and images", "level": "images", "notes": []}


def statistics(*rows: dict) -> dict:
    return {"baseline": "erm", "eps": EPS, "families": list(rows), "noise": [], "left_out": []}


def results_with(attacks: list[str], summary: list[dict], threat_model: str = "Linf", **sections) -> dict:
    """An attack run of ERM and mixup at ε = 0.1: its white-box/transfer ``summary`` rows and any other section."""
    results = {
        "config": {"preset": "tiny", "attack": {"attacks": attacks}},
        "models": {"erm_s0": model("erm", "ERM"), "mixup_s0": model("mixup", "mixup (α=1)")},
        "attacks": {"heatmap_eps": EPS, "heatmap_eps_rule": "given", "threat_model": threat_model, "summary": summary,
                    "cells": [], "worst_case": None},
        "checks": [], "noise": None, "between_points": {"pairs": 0, "lambdas": [0.0, 0.5, 1.0], "summary": {}},
    }
    for key, value in sections.items():
        (results["attacks"] if key == "worst_case" else results)[key] = value
    return results


# --- survival -------------------------------------------------------------------------------------

SETTLED_FGSM = compared_row("mixup", "white-box", "fgsm", -10.0, [-14.0, -6.0], 0.001, "more robust")


def test_survival_says_how_much_of_an_fgsm_advantage_survives_the_worst_case():
    worst = compared_row("mixup", "worst-case", "all", -7.0, [-11.0, -3.0], 0.002, "more robust")
    assert survival("mixup", SETTLED_FGSM, worst) == (
        "mixup under FGSM: −10.0 points [−14.0, −6.0], p = 0.001: more robust; under the worst case: −7.0 points "
        "[−11.0, −3.0], p = 0.002: more robust (70% of the FGSM advantage survives)")


def test_survival_says_when_an_advantage_is_not_settled_under_the_worst_case():
    worst = compared_row("mixup", "worst-case", "all", 3.0, [-1.0, 7.0], 0.2, "not settled", seeds=12, images=4000)
    assert survival("mixup", SETTLED_FGSM, worst) == (
        "mixup under FGSM: −10.0 points [−14.0, −6.0], p = 0.001: more robust; under the worst case: +3.0 points "
        "[−1.0, +7.0], p = 0.20: not settled by this run; about 12 seeds per family (or 4,000 images) would settle a "
        "gap of this size (the FGSM advantage is not settled under the worst case)")


def test_survival_without_a_settled_fgsm_advantage_claims_nothing_survives_and_no_rule_of_thumb():
    fgsm = compared_row("mixup", "white-box", "fgsm", -1.0, [-3.0, 1.0], 0.4, "not settled", images=9000)
    worst = compared_row("mixup", "worst-case", "all", -0.5, [-2.5, 1.5], 0.6, "not settled")
    said = survival("mixup", fgsm, worst)
    assert said == ("mixup under FGSM: −1.0 points [−3.0, +1.0], p = 0.40: not settled by this run; about 9,000 images "
                    "would settle a gap of this size; under the worst case: −0.5 points [−2.5, +1.5], p = 0.60: not "
                    "settled by this run; neither more seeds nor more images alone would settle a gap this small: both "
                    "must grow")
    assert "within noise" not in said and "survives" not in said
    assert survival("mixup", None, worst) == ("mixup against ERM: not compared: the run kept no per-image results (see "
                                              "the table \"Is it really more robust?\")")


# --- method_reading ---------------------------------------------------------------------------------


def methods_results(threat_model: str = "Linf") -> dict:
    """ERM, mixup, PGD-AT, CutMix and label smoothing, one model each, with white-box FGSM and PGD cells at ε = 0.1
    and their paired comparisons against ERM."""
    errors = {"erm_s0": (0.60, 0.80), "mixup_s0": (0.50, 0.79), "pgd_at_s0": (0.30, 0.35), "cutmix_s0": (0.40, 0.795),
              "smooth_s0": (0.595, 0.795)}
    results = results_with(["fgsm", "pgd"], [], threat_model)
    results["models"] |= {"pgd_at_s0": model("pgd_at", "PGD-AT", 0.10), "cutmix_s0": model("cutmix", "CutMix", 0.06),
                          "smooth_s0": model("label_smoothing", "label smoothing", 0.05)}
    results["attacks"]["cells"] = [{"attack": attack, "eps": EPS, "source": name, "target": name, "error": error}
                                   for name, pair in errors.items() for attack, error in zip(("fgsm", "pgd"), pair)]
    results["checks"] = [{"model": "cutmix_s0", "check": "gradient masking", "status": "warn", "detail": "", "likely_cause": ""},
                         {"model": "pgd_at_s0", "check": "gradient masking", "status": "pass", "detail": "", "likely_cause": ""}]
    results["statistics"] = statistics(
        compared_row("pgd_at", "white-box", "fgsm", -30.0, [-34.0, -26.0], 0.0001, "more robust"),
        compared_row("pgd_at", "white-box", "pgd", -45.0, [-49.0, -41.0], 0.0001, "more robust"),
        compared_row("cutmix", "white-box", "fgsm", -20.0, [-24.0, -16.0], 0.0001, "more robust"),
        compared_row("cutmix", "white-box", "pgd", -0.5, [-3.0, 2.0], 0.7, "not settled", images=60000),
        compared_row("label_smoothing", "white-box", "fgsm", -0.5, [-3.0, 2.0], 0.8, "not settled"),
        compared_row("label_smoothing", "white-box", "pgd", -0.5, [-2.5, 1.5], 0.75, "not settled", images=50000))
    return results


def test_method_reading_gives_each_other_method_against_erm_with_its_interval():
    lines = method_reading(methods_results())
    assert lines == [
        "PGD-AT: clean error 10.0%, white-box FGSM 30.0% and PGD 35.0% at ε = 0.1 (25.5/255) (ERM: 60.0%, 80.0%): the "
        "robust reference: adversarial training cuts ERM's PGD error by 45.0 points (−45.0 points [−49.0, −41.0], "
        "p < 0.001: more robust), robustness that a stronger attack does not take back.",
        "CutMix: clean error 6.0%, white-box FGSM 40.0% and PGD 79.5% at ε = 0.1 (25.5/255) (ERM: 60.0%, 80.0%): its "
        "FGSM advantage (−20.0 points [−24.0, −16.0], p < 0.001: more robust) is not settled under PGD (−0.5 points "
        "[−3.0, +2.0], p = 0.70: not settled by this run; about 60,000 images would settle a gap of this size). But its "
        "sanity checks warn (gradient masking): trust that only after a stronger attack.",
        "label smoothing: clean error 5.0%, white-box FGSM 59.5% and PGD 79.5% at ε = 0.1 (25.5/255) (ERM: 60.0%, "
        "80.0%): against ERM under PGD: −0.5 points [−2.5, +1.5], p = 0.75: not settled by this run; about 50,000 "
        "images would settle a gap of this size.",
    ]  # mixup is left to the lines above it in the reading


def test_method_reading_is_silent_without_erm_under_pgd():
    results = methods_results()
    results["attacks"]["cells"] = [c for c in results["attacks"]["cells"] if (c["target"], c["attack"]) != ("erm_s0", "pgd")]
    assert method_reading(results) == []


def test_method_reading_without_comparisons_says_so_instead_of_a_rule_of_thumb():
    results = methods_results()
    del results["statistics"]
    lines = method_reading(results)
    assert len(lines) == 3 and all("): not compared: the run kept no per-image results (see the table \"Is it really "
                                   "more robust?\")." in line for line in lines)


# --- worst_case_reading -----------------------------------------------------------------------------


def worst_case_results(attacks: list[str] = ("fgsm", "pgd"), images: str = "subset") -> dict:
    """FGSM: ERM 40%, mixup 30%; worst case over the sweep ERM 62%, mixup 55% (intervals ±5 points); with Square
    on 100 images: FGSM ERM 38%, mixup 36%, worst case ERM 70%, mixup 69% (intervals ±10 points); the paired
    comparisons: settled over the sweep, not settled on the 100 images."""
    def worst(part: str, kind: str, family: str, mean: float) -> dict:
        return {"part": part, "eps": EPS, "kind": kind, "family": family} | stat(mean)

    section = {
        "n": 540,
        "sweep": [{"target": "erm_s0", "eps": EPS, "kind": "all", "error": 0.62, "error_ci": [0.57, 0.67]},
                  {"target": "mixup_s0", "eps": EPS, "kind": "all", "error": 0.55, "error_ci": [0.50, 0.60]}],
        "headline": {"headline_attacks": ["square"], "attacks": ["square", *attacks], "images": images, "n": 100,
                     "subset_seed": 0,
                     "cells": [{"target": "erm_s0", "eps": EPS, "kind": "all", "error": 0.70, "error_ci": [0.60, 0.80]},
                               {"target": "mixup_s0", "eps": EPS, "kind": "all", "error": 0.69, "error_ci": [0.59, 0.79]}]},
        "summary": [worst("sweep", "all", "erm", 0.62), worst("sweep", "all", "mixup", 0.55),
                    worst("headline", "fgsm", "erm", 0.38), worst("headline", "fgsm", "mixup", 0.36),
                    worst("headline", "all", "erm", 0.70), worst("headline", "all", "mixup", 0.69)],
        "flags": [],
    }
    summary = [whitebox_row("fgsm", "erm", 0.40), whitebox_row("fgsm", "mixup", 0.30),
               whitebox_row("pgd", "erm", 0.50), whitebox_row("pgd", "mixup", 0.45)]
    rows = statistics(
        compared_row("mixup", "white-box", "fgsm", -10.0, [-14.0, -6.0], 0.001, "more robust"),
        compared_row("mixup", "worst-case", "all", -7.0, [-11.0, -3.0], 0.002, "more robust", part="sweep"),
        compared_row("mixup", "worst-case", "fgsm", -2.0, [-10.0, 6.0], 0.7, "not settled", part="headline", images=2500),
        compared_row("mixup", "worst-case", "all", -1.0, [-9.0, 7.0], 0.9, "not settled", part="headline", seeds=40))
    return results_with(list(attacks), summary, worst_case=section, statistics=rows)


def test_worst_case_reading_over_the_sweep_and_with_the_extra_attacks():
    sweep, extra = worst_case_reading(worst_case_results(), EPS)
    assert sweep == ("How much FGSM overstates robustness at ε = 0.1 (25.5/255) (worst case over FGSM, PGD and "
                     "transfer, 540 images): error under FGSM → worst case, erm 40.0% → 62.0%; mixup 30.0% → 55.0%. "
                     "Against ERM: mixup under FGSM: −10.0 points [−14.0, −6.0], p = 0.001: more robust; under the worst "
                     "case: −7.0 points [−11.0, −3.0], p = 0.002: more robust (70% of the FGSM advantage survives).")
    assert extra == ("How much FGSM overstates robustness at ε = 0.1 (25.5/255) (worst case over Square, FGSM, PGD and "
                     "transfer, stratified subset of 100 images): error under FGSM → worst case, erm 38.0% → 70.0%; "
                     "mixup 36.0% → 69.0%. Against ERM: mixup under FGSM: −2.0 points [−10.0, +6.0], p = 0.70: not "
                     "settled by this run; about 2,500 images would settle a gap of this size; under the worst case: "
                     "−1.0 points [−9.0, +7.0], p = 0.90: not settled by this run; about 40 seeds per family would "
                     "settle a gap of this size. On 100 images one error's 95% interval spans about ±10 points: a spot "
                     "check; `worst_case_images = 0` or `--preset thorough` measures every image.")
    assert not any("within noise" in line for line in (sweep, extra))


def test_worst_case_reading_says_nothing_on_all_images_of_a_spot_check_and_nothing_without_fgsm():
    sweep, extra = worst_case_reading(worst_case_results(images="all"), EPS)
    assert "spot check" not in extra and extra.endswith("would settle a gap of this size.")
    assert worst_case_reading(worst_case_results(attacks=["pgd"]), EPS) == []
    assert worst_case_reading(results_with(["fgsm"], []), EPS) == []  # no worst-case section


# --- attack_reading ---------------------------------------------------------------------------------


def test_attack_reading_says_whether_the_fgsm_advantage_holds_against_pgd():
    summary = [whitebox_row("fgsm", "erm", 0.40), whitebox_row("fgsm", "mixup", 0.30),
               whitebox_row("pgd", "erm", 0.60), whitebox_row("pgd", "mixup", 0.52)]
    holds = statistics(SETTLED_FGSM, compared_row("mixup", "white-box", "pgd", -8.0, [-12.0, -4.0], 0.003, "more robust"))
    assert attack_reading(results_with(["fgsm", "pgd"], summary, statistics=holds), EPS) == [
        "Is FGSM robustness real? At ε = 0.1 (25.5/255) mixup's white-box error is 10.0 points below ERM's under FGSM "
        "(−10.0 points [−14.0, −6.0], p = 0.001: more robust) and 8.0 points below under PGD (−8.0 points [−12.0, "
        "−4.0], p = 0.003: more robust): the advantage holds against the stronger attack."]
    summary[3] = whitebox_row("pgd", "mixup", 0.62)
    gone = statistics(SETTLED_FGSM, compared_row("mixup", "white-box", "pgd", 2.0, [-3.0, 7.0], 0.4, "not settled", seeds=30))
    assert attack_reading(results_with(["fgsm", "pgd"], summary, statistics=gone), EPS) == [
        "Is FGSM robustness real? At ε = 0.1 (25.5/255) mixup's white-box error is 10.0 points below ERM's under FGSM "
        "(−10.0 points [−14.0, −6.0], p = 0.001: more robust) and 2.0 points above under PGD (+2.0 points [−3.0, "
        "+7.0], p = 0.40: not settled by this run; about 30 seeds per family would settle a gap of this size): the "
        "FGSM advantage is not settled under the stronger attack."]
    assert attack_reading(results_with(["fgsm"], summary[:2]), EPS) == []  # no PGD: nothing to compare


def test_attack_reading_says_what_happens_halfway_between_test_points():
    def family(miss: float, grad: float) -> dict:
        return {"miss": {"mean": [0.0, miss, 0.0]}, "grad_norm_mean": {"mean": [1.0, grad, 1.0]}}

    between = {"pairs": 10, "lambdas": [0.0, 0.5, 1.0], "summary": {"erm": family(0.20, 2.0), "mixup": family(0.10, 1.0)}}
    assert attack_reading(results_with(["fgsm"], [], between_points=between), EPS) == [
        "Halfway between test points, 10.0% of mixup's predictions are neither label against 20.0% of ERM's, and its "
        "input gradient is 0.50× ERM's (the paper: both lower for mixup)."]


# --- chance_warnings ------------------------------------------------------------------------------


def test_chance_warnings_name_each_model_near_chance_and_only_those():
    checks = [{"model": "erm_s0", "check": "clean error below chance", "status": "warn",
               "detail": "clean error 88.0% against chance 90.0%", "likely_cause": "too few epochs"},
              {"model": "mixup_s0", "check": "clean error below chance", "status": "pass", "detail": "", "likely_cause": ""},
              {"model": "mixup_s0", "check": "gradient masking", "status": "warn", "detail": "", "likely_cause": ""}]
    assert chance_warnings(results_with(["fgsm"], [], checks=checks)) == [
        "model erm_s0: clean error 88.0% against chance 90.0%, so its robustness numbers mean nothing; too few epochs"]
    assert chance_warnings({"checks": None}) == []  # a label-noise-only run has no checks


# --- the headline -----------------------------------------------------------------------------------


def test_the_headline_prints_the_worst_case_once_beside_fgsm_even_when_fgsm_is_not_listed_first():
    results = worst_case_results(attacks=["pgd", "fgsm"])
    lines = headline(results)
    worst = [k for k, line in enumerate(lines) if line.startswith("worst-case error")]
    assert len(worst) == 2  # the sweep's and the extra attacks', once each (it was printed twice, after PGD too)
    assert lines[0].startswith("white-box FGSM error at ε=0.1 (25.5/255) (%): erm 40.0 ± 1.0, mixup 30.0 ± 1.0")
    assert worst == [1, 2] and lines[3].startswith("white-box PGD error")
    assert lines[1] == ("worst-case error at ε=0.1 (25.5/255) (PGD, FGSM and transfer, 540 images) (%): "
                        "erm 62.0 ± 1.0, mixup 55.0 ± 1.0")
    assert lines[2].endswith("; FGSM on the same images: erm 38.0 ± 1.0, mixup 36.0 ± 1.0")
    assert lines[-1] == "sanity checks: 0 warning(s)"


def test_without_fgsm_the_worst_case_follows_the_first_attack():
    lines = headline(worst_case_results(attacks=["pgd", "ifgsm"]))
    assert [line.split(" error")[0] for line in lines] == ["white-box PGD", "worst-case", "worst-case", "white-box I-FGSM",
                                                            "more robust than ERM? (worst case at ε=0.1 (25.5/255); "
                                                            "difference in", "sanity checks: 0 warning(s)"]
    assert lines[4].endswith("p): mixup −7.0 points [−11.0, −3.0], p = 0.002, more robust")  # the verdict, in one line


# --- the L2 radius ----------------------------------------------------------------------------------


def test_eps_label_needs_the_threat_model():
    with pytest.raises(TypeError):
        eps_label(0.5)  # no default: a forgotten threat model printed L2 radii as '/255'
    assert eps_label(0.5, "L2") == "0.5 (L2)" and eps_label(8 / 255, "Linf") == "0.0314 (8.0/255)"


def test_an_l2_run_prints_l2_radii_everywhere():
    results = methods_results("L2")
    results["environment"] = {"device": "cpu"}
    results["data"] = {"name": "digits", "n_train": 1, "n_test": 1}
    results["config"] |= {"train": {"arch": "digits_cnn", "epochs": 1}, "clean": {"seeds": [0]}}
    results["_dir"] = "l2-run"
    said = method_reading(results) + [comparison_blocks(results)[1][1], run_settings(results)["headline ε"]]
    assert all("ε = 0.1 (L2)" in line for line in said[:-1]) and said[-1] == "0.1 (L2)"
    assert not any("/255" in line for line in said + reading_lines(results))
