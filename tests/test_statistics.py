"""robustness/statistics.py: the paired two-level bootstrap, the exact tests, power, and compare() on results.json.

Synthetic per-image bits come from a latent-difficulty model: image i has difficulty d_i ~ N(0, 1), shared by
every model (so the families' results are correlated image by image, as on a real test set); model m gets it
wrong when ρ·d_i + sqrt(1 − ρ²)·ε_mi < Φ⁻¹(p_m), with p_m = the family's error + N(0, seed_sd) (the seed
variance). Over the image population, model m's expected error is exactly p_m, so the families' true
difference is known.
"""

from __future__ import annotations

import base64
import json
import math
import time
from statistics import NormalDist

import numpy as np
import pytest

from robustness import statistics as st
from robustness.errors import SuiteError


def family_bits(rng, difficulty, rate, seeds, seed_sd, rho=0.6):
    rates = np.clip(rate + rng.normal(0, seed_sd, seeds), 0.01, 0.99)
    threshold = np.array([NormalDist().inv_cdf(r) for r in rates])
    score = rho * difficulty[None, :] + math.sqrt(1 - rho**2) * rng.standard_normal((seeds, len(difficulty)))
    return score < threshold[:, None]


def pack(bits) -> str:
    return base64.b64encode(np.packbits(np.asarray(bits, bool)).tobytes()).decode("ascii")


# --- the interval -----------------------------------------------------------------------------------


def test_interval_covers_the_true_difference_at_its_nominal_rate():
    """5 seeds per family with a seed sd of 3 points, 200 images, true difference 5 points."""
    covered = 0
    for sim in range(100):
        rng = np.random.default_rng(1000 + sim)
        d = rng.standard_normal(200)
        a, b = family_bits(rng, d, 0.30, 5, 0.03), family_bits(rng, d, 0.25, 5, 0.03)
        low, high = st.compare_bits(a, b, resamples=500, seed=sim).interval
        covered += low <= 5.0 <= high
    assert covered >= 90


def test_verdict_rarely_claims_a_difference_that_is_not_there():
    """True difference 0 with seed variance: the verdict says "not settled" in about 95% or more of runs."""
    claimed = 0
    for sim in range(100):
        rng = np.random.default_rng(3000 + sim)
        d = rng.standard_normal(200)
        a, b = family_bits(rng, d, 0.30, 4, 0.03), family_bits(rng, d, 0.30, 4, 0.03)
        claimed += st.compare_bits(a, b, resamples=500, seed=sim).verdict != "not settled"
    assert claimed <= 10


def test_mcnemar_false_positive_rate_at_no_difference_is_about_five_percent():
    """Two seed pairs of models with the same error rate and no seed variance, 300 shared images."""
    rejected = 0
    for sim in range(400):
        rng = np.random.default_rng(5000 + sim)
        d = rng.standard_normal(300)
        a, b = family_bits(rng, d, 0.30, 2, 0.0), family_bits(rng, d, 0.30, 2, 0.0)
        rejected += st.compare_bits(a, b, resamples=1).p_value < 0.05
    assert 0.02 <= rejected / 400 <= 0.08  # an exact test of discrete counts sits at or a little under 5%


def test_pairing_perfectly_correlated_results_give_a_zero_width_interval():
    """The same per-image results on both sides (one seed each, or seeds that agree image by image)."""
    rng = np.random.default_rng(0)
    bits = rng.random((1, 300)) < 0.3
    for a in (bits, np.repeat(bits, 3, 0)):
        c = st.compare_bits(a, np.repeat(bits, 2, 0))
        assert c.interval == (0.0, 0.0) and c.difference == 0.0
        assert c.p_value == 1.0 and c.verdict == "not settled"


def test_pairing_independent_results_give_a_wider_interval_than_correlated_ones():
    rng = np.random.default_rng(1)
    d = rng.standard_normal(400)
    width = {}
    for rho in (0.0, 0.9):
        a, b = family_bits(rng, d, 0.3, 2, 0.0, rho), family_bits(rng, d, 0.3, 2, 0.0, rho)
        low, high = st.compare_bits(a, b, seed=0).interval
        width[rho] = high - low
    assert width[0.0] > 1.5 * width[0.9] > 0


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 100)) < 0.3, rng.random((3, 100)) < 0.4
    assert st.compare_bits(a, b, seed=7).interval == st.compare_bits(a, b, seed=7).interval
    assert st.compare_bits(a, b, seed=7).interval != st.compare_bits(a, b, seed=8).interval


# --- the exact tests --------------------------------------------------------------------------------


def test_mcnemar_matches_a_hand_computation():
    # 10 images: A wrong and B right on 1, B wrong and A right on 6, both wrong on 2, both right on 1.
    a = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 0], bool)
    b = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 0], bool)
    # By hand: D = 7 discordant, p = 2·P(X ≤ 1 | Binomial(7, 1/2)) = 2·(1 + 7)/128 = 0.125.
    assert st.mcnemar(a, b) == (1, 6, 0.125)
    assert st.mcnemar(a, a) == (0, 0, 1.0)
    assert st.binomial_two_sided(3, 6) == 1.0


def test_stratified_mcnemar_pools_the_discordant_images():
    # Pairs (1, 6) and (2, 5): 3 of 14 discordant images against A; 2·(1 + 14 + 91 + 364)/2¹⁴ by hand.
    assert st.stratified_mcnemar([(1, 6), (2, 5)]) == pytest.approx(2 * 470 / 2**14)
    c = st.compare_bits(np.array([[1, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]], bool),
                        np.array([[0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]], bool))
    assert [(t.a_only, t.b_only) for t in c.pairs] == [(1, 6), (2, 5)]
    assert c.p_value == pytest.approx(2 * 470 / 2**14) and c.test == st.MCNEMAR


def test_permutation_tests_by_hand():
    # Paired: 3 seeds, every difference positive: 2 of the 8 sign patterns are as extreme.
    assert st.permutation_p([0.3, 0.4, 0.5], [0.2, 0.3, 0.3], paired=True) == pytest.approx(2 / 8)
    # Unpaired, 2 + 2 values fully separated: 2 of the 6 relabelings are as extreme.
    assert st.permutation_p([0.5, 0.6], [0.1, 0.2], paired=False) == pytest.approx(2 / 6)


# --- power ------------------------------------------------------------------------------------------


def test_power_numbers_follow_the_formula():
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    detectable, seeds, images = st.power_numbers(0.04, (0.0004, 0.0009), (2, 2), 0.09, 540, 0.05, 0.8)
    assert detectable == pytest.approx(z * math.sqrt(0.0004 / 2 + 0.0009 / 2 + 0.09 / 540))
    # The seed count is the smallest k at which the observed difference is detected.
    se = lambda k, n: z * math.sqrt(0.0013 / k + 0.09 / n)  # noqa: E731
    assert se(seeds, 540) <= 0.04 < se(seeds - 1, 540)
    assert images is None  # with 2 seeds the seed term alone already exceeds the target
    _, seeds, images = st.power_numbers(0.05, (0.0001, 0.0001), (4, 4), 0.09, 540, 0.05, 0.8)
    assert z * math.sqrt(0.0002 / 4 + 0.09 / images) <= 0.05 < z * math.sqrt(0.0002 / 4 + 0.09 / (images - 1))
    assert st.power_numbers(0.0, (0.001, 0.001), (2, 2), 0.1, 100, 0.05, 0.8)[1:] == (None, None)


def test_image_variance_takes_out_the_models_own_noise():
    """Models that differ from their family only by their own per-image noise (ρ = 0: no shared difficulty,
    the same rate): the families' per-image difference is 0, and the raw Var_i(d_i) is not."""
    rng = np.random.default_rng(6)
    d = rng.standard_normal(2000)
    a, b = family_bits(rng, d, 0.3, 4, 0.0, rho=0.0), family_bits(rng, d, 0.3, 4, 0.0, rho=0.0)
    raw = np.var(st.per_image_difference(a, b), ddof=1)
    assert raw == pytest.approx(0.21 / 2, rel=0.1)  # 0.3·0.7 per model, averaged over 4 seeds on each side
    assert st.image_variance(a, b) < 0.1 * raw
    assert st.image_variance(a[:1], b[:1]) == pytest.approx(np.var(a[0].astype(float) - b[0], ddof=1))


# --- one seed, seed-level numbers, verdicts ---------------------------------------------------------


def test_one_seed_per_family_covers_images_only_and_says_so():
    rng = np.random.default_rng(3)
    c = st.compare_bits(rng.random((1, 200)) < 0.3, rng.random((1, 200)) < 0.3)
    assert c.resampled == "images only" and c.seeds_needed is None
    assert any("covers the images only" in note for note in c.notes)
    assert c.interval[0] < c.interval[1]


def test_verdict_changes_from_more_robust_to_not_settled_when_the_seeds_disagree():
    rng = np.random.default_rng(4)
    d = rng.standard_normal(540)
    erm = family_bits(rng, d, 0.40, 2, 0.0)
    agree = family_bits(rng, d, 0.30, 2, 0.0)
    assert st.compare_bits(agree, erm, family_a="mixup", family_b="erm").verdict == "more robust"
    assert st.compare_bits(erm, agree).verdict == "less robust"
    disagree = np.stack([family_bits(rng, d, 0.25, 1, 0.0)[0], family_bits(rng, d, 0.52, 1, 0.0)[0]])
    c = st.compare_bits(disagree, erm)
    assert c.verdict == "not settled" and c.interval[0] < 0 < c.interval[1]
    assert c.seeds_needed is None or c.seeds_needed > 2


def test_seed_level_numbers_go_through_the_same_record_and_say_so():
    c = st.compare_values([0.30, 0.32, 0.31], [0.40, 0.41, 0.43], seeds_a=[0, 1, 2], seeds_b=[2, 1, 0])
    assert c.level == "seeds" and c.resampled == "seeds only" and c.n_images is None
    assert c.test == st.PERMUTATION_PAIRED and c.p_value == pytest.approx(2 / 8)
    assert c.verdict == "not settled"  # 3 seeds cannot reach p < 0.05 with a sign-flip test
    assert any("seed-level numbers only" in note for note in c.notes)
    single = st.compare_values([0.3], [0.4])
    assert single.interval is None and single.verdict == "not settled"
    json.dumps(c.to_dict())


# --- compare() on results.json ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def results():
    """A results.json in the documented schema (docs/results.md) with per-image bits in its cells:
    2 seeds of ERM and mixup, FGSM and PGD at ε = 0 and 0.1, a worst-case sweep, a label-noise stage."""
    rng = np.random.default_rng(11)
    n = 540
    d = rng.standard_normal(n)
    models = {f"{fam}_s{s}": {"family": fam, "seed": s} for fam in ("erm", "mixup") for s in (0, 1)}
    clean = {m: family_bits(rng, d, 0.06, 1, 0.0)[0] for m in models}
    cells, sweep = [], []
    for attack, rate in (("fgsm", 0.35), ("pgd", 0.45)):
        for eps in (0.0, 0.1):
            for source in models:
                for target in models:
                    if eps == 0.0:
                        wrong = clean[target]
                    else:
                        shift = 0.0 if source == target else -0.15
                        wrong = family_bits(rng, d, rate + shift - 0.05 * models[target]["family"].startswith("m"),
                                            1, 0.0)[0] | clean[target]
                    cells.append({"attack": attack, "eps": eps, "source": source, "target": target,
                                  "wrong": int(wrong.sum()), "wrong_bits": pack(wrong)})
    for target in models:
        for eps in (0.0, 0.1):
            groups = {"white-box": lambda c: c["source"] == target, "transfer": lambda c: c["source"] != target,
                      "all": lambda c: True}
            for kind, keep in groups.items():
                mine = [c for c in cells if c["target"] == target and c["eps"] == eps and keep(c)]
                union = clean[target].copy()
                for c in mine:
                    union |= st.unpack(c["wrong_bits"], n)
                sweep.append({"target": target, "eps": eps, "kind": kind, "attacks": sorted({c["attack"] for c in mine}),
                              "sources": sorted({c["source"] for c in mine}), "n": n, "wrong": int(union.sum())})
    runs = [{"spec": "uniform:0.5", "method": fam, "family": fam, "seed": s,
             "last_test_error": base + 0.01 * s, "best_test_error": base - 0.05,
             "last_train_error_corrupted": 0.9 - base}
            for fam, base in (("erm", 0.40), ("mixup", 0.30)) for s in range(4)]
    return {"schema_version": 3, "models": models,
            "attacks": {"n": n, "heatmap_eps": 0.1,
                        "clean": {m: {"wrong": int(b.sum()), "wrong_bits": pack(b)} for m, b in clean.items()},
                        "cells": cells, "worst_case": {"n": n, "sweep": sweep}},
            "noise": {"runs": runs}}


def test_compare_reads_every_kind_from_results(results):
    n = 540
    erm = np.stack([st.unpack(c["wrong_bits"], n) for c in results["attacks"]["cells"]
                    if c["attack"] == "pgd" and c["eps"] == 0.1 and c["source"] == c["target"] and c["target"].startswith("erm")])
    c = st.compare(results, "mixup", "erm", "white-box", "pgd", 0.1)
    assert c.models_a == ("mixup_s0", "mixup_s1") and c.models_b == ("erm_s0", "erm_s1")
    assert c.error_b == pytest.approx(100 * erm.mean()) and c.n_images == n
    assert c.difference == pytest.approx(c.error_a - c.error_b)
    assert c.verdict == "more robust" and c.interval[1] < 0
    for kind, attack in (("clean", None), ("transfer", "fgsm"), ("worst-case", None), ("worst-case", "white-box"),
                         ("worst-case", "transfer")):
        got = st.compare(results, "mixup", "erm", kind, attack, None if kind == "clean" else 0.1, resamples=200)
        assert got.level == "images" and got.resampled == "seeds and images"
    one = st.compare(results, "mixup_s0", "erm_s1", "white-box", "fgsm", 0.1, resamples=200)
    assert one.resampled == "images only" and one.models_a == ("mixup_s0",)
    json.dumps(st.robustness_table(results, resamples=200))


def test_compare_label_noise_on_seed_level_numbers(results):
    c = st.compare(results, "mixup", "erm", "noise", spec="uniform:0.5")
    assert c.level == "seeds" and c.difference == pytest.approx(-10.0)
    assert c.test == st.PERMUTATION_PAIRED and c.p_value == pytest.approx(2 / 16)
    fitted = st.compare(results, "mixup", "erm", "noise", spec="uniform:0.5", metric="fitted_share")
    assert fitted.error_a == pytest.approx(40.0) and fitted.error_b == pytest.approx(50.0)


def test_robustness_table_rows(results):
    rows = st.robustness_table(results, resamples=200)
    assert [r["row"] for r in rows] == ["clean", "FGSM", "PGD", "worst case"]
    assert all(r["family_a"] == "mixup" and r["family_b"] == "erm" and r["verdict"] in st.VERDICTS for r in rows)
    assert rows[-1]["eps"] == 0.1 and rows[-1]["attack"] == "all"


@pytest.mark.parametrize("call, words", [
    (lambda r: st.compare(r, "cutmix", "erm", "clean"), "no family or model 'cutmix'"),
    (lambda r: st.compare(r, "mixup", "erm", "white-box", "pgd"), "needs attack= and eps="),
    (lambda r: st.compare(r, "mixup", "erm", "white-box", "pgd", 0.3), "no pgd cell at ε=0.3"),
    (lambda r: st.compare(r, "mixup", "erm", "heatmap"), "unknown comparison kind"),
    (lambda r: st.compare(r, "erm", "erm", "clean"), "not with itself"),
    (lambda r: st.compare(r, "mixup", "erm", "noise", spec="pairflip:0.4"), "no label-noise runs"),
    (lambda r: st.compare({**r, "attacks": {**r["attacks"], "clean": {m: {"wrong": 1} for m in r["models"]}}},
                          "mixup", "erm", "clean"), "with_unit_bits"),
])
def test_bad_requests_are_one_line_suite_errors(results, call, words):
    with pytest.raises(SuiteError) as err:
        call(results)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_with_unit_bits_reads_the_bits_from_the_run_units(results, tmp_path):
    """results.json keeps counts; the run's attack units keep the bits (docs/results.md, units/)."""
    attacks = results["attacks"]
    stripped = {**results, "attacks": {**attacks,
                                       "cells": [{k: v for k, v in c.items() if k != "wrong_bits"} for c in attacks["cells"]],
                                       "clean": {m: {"wrong": c["wrong"]} for m, c in attacks["clean"].items()}}}
    (tmp_path / "units").mkdir()
    for source in results["models"]:
        unit = {"key": source, "recipe": {}, "digest": "",
                "result": {"n": attacks["n"], "clean": attacks["clean"],
                           "cells": [c for c in attacks["cells"] if c["source"] == source]}}
        (tmp_path / "units" / f"attack-{source}.json").write_text(json.dumps(unit))
    (tmp_path / "units" / "attack-broken.json").write_text("{not json")
    loaded = st.with_unit_bits(stripped, tmp_path)
    assert st.compare(loaded, "mixup", "erm", "worst-case", resamples=300) == \
        st.compare(results, "mixup", "erm", "worst-case", resamples=300)


def test_default_size_runs_in_a_fraction_of_a_second_of_cpu():
    """4 models × 540 images, 2,000 resamples (CPU time, so a loaded machine does not fail it)."""
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 540)) < 0.3, rng.random((2, 540)) < 0.35
    start = time.process_time()
    st.compare_bits(a, b)
    assert time.process_time() - start < 1.0


def test_an_older_runs_units_are_matched_under_the_former_attack_name(results, tmp_path):
    """A schema-6 run's AutoAttack units say ``autoattack``; its results.json, as read, says ``autoattack-fast``
    (robustness.results.with_current_names): the bits are still found (robustness.formatting.former_attack_names)."""
    attacks = results["attacks"]
    renamed_cells = [{**{k: v for k, v in c.items() if k != "wrong_bits"}, "attack": "autoattack-fast"}
                     for c in attacks["cells"]]
    old = {**results, "schema_version": 6, "attacks": {**attacks, "cells": renamed_cells}}
    (tmp_path / "units").mkdir()
    unit = {"key": "k", "recipe": {}, "digest": "",
            "result": {"n": attacks["n"], "clean": attacks["clean"],
                       "cells": [{**c, "attack": "autoattack"} for c in attacks["cells"]]}}
    (tmp_path / "units" / "attack-k.json").write_text(json.dumps(unit))
    loaded = st.with_unit_bits(old, tmp_path)
    assert [c["wrong_bits"] for c in loaded["attacks"]["cells"]] == [c["wrong_bits"] for c in attacks["cells"]]
    assert all("wrong_bits" not in c for c in st.with_unit_bits({**old, "schema_version": 7}, tmp_path)["attacks"]["cells"])


def test_seed_level_counts_never_fall_below_the_exact_tests_floor():
    """Two seeds with a large, steady gap: the sign-flip test's smallest p is 2/2² = 0.5, so no verdict, and the
    seeds that would settle it are at least 6 (2/2⁵ = 0.0625 ≥ 0.05 > 2/2⁶), not the normal approximation's 2."""
    from robustness.statistics import compare_values, fewest_seeds_for_a_verdict, smallest_p

    assert (fewest_seeds_for_a_verdict(True, 0.05), fewest_seeds_for_a_verdict(False, 0.05)) == (6, 4)
    assert smallest_p(6, True) == 2 / 64 and smallest_p(4, False) == 2 / 70
    two = compare_values([0.02, 0.021], [0.10, 0.104], seeds_a=(0, 1), seeds_b=(0, 1))
    assert two.p_value == 0.5 and two.verdict == "not settled" and two.seeds_needed == 6
    assert any("at least 6 seeds per family" in note for note in two.notes)
    six = compare_values([0.02 + k / 1000 for k in range(6)], [0.10 + k / 1000 for k in range(6)],
                         seeds_a=range(6), seeds_b=range(6))
    assert six.p_value == 2 / 64 and six.verdict != "not settled" and not any("at least" in n for n in six.notes)
