"""The label-noise report (noise/report.py): each method against ERM through robustness/statistics.py."""

from __future__ import annotations

import pytest

from noise.report import against_baseline_blocks, noise_reading
from robustness.statistics import statistics_section


def noise_results(seeds: int) -> dict:
    """ERM and mixup (α=8) under 50% uniform noise, ``seeds`` paired seeds: mixup's last-epoch test error is 10
    points below ERM's on every seed, and it fits 30 points fewer corrupted labels."""
    runs = []
    for method, family, display, test, corrupted in (("erm", "erm", "ERM", 0.40, 0.10), ("mixup:8", "mixup", "mixup (α=8)", 0.30, 0.40)):
        for seed in range(seeds):
            runs.append({"spec": "uniform:0.5", "level": 0.5, "method": method, "family": family, "display": display,
                         "seed": seed, "last_test_error": test + 0.01 * seed, "best_test_error": test - 0.02,
                         "last_train_error_corrupted": corrupted + 0.005 * seed, "history": []})
    summary = [{"spec": "uniform:0.5", "level": 0.5, "method": m, "family": f, "display": d, "seeds": list(range(seeds)),
                "best_test_error": {"mean": t - 0.02, "std": 0.0}, "last_test_error": {"mean": t, "std": 0.0},
                "last_train_error_corrupted": {"mean": 0.1, "std": 0.0}}
               for m, f, d, t in (("erm", "erm", "ERM", 0.40), ("mixup:8", "mixup", "mixup (α=8)", 0.30))]
    noise = {"noise_model": "uniform", "specs": ["uniform:0.5"], "runs": runs, "summary": summary,
             "best_of_grid": [{"spec": "uniform:0.5", "family": f, "method": m, "grid": [m]}
                              for m, f in (("erm", "erm"), ("mixup:8", "mixup"))]}
    results = {"models": {}, "attacks": None, "noise": noise}
    return results | {"statistics": statistics_section(results, resamples=500)}


def test_each_method_against_erm_on_the_noise_seeds():
    six = noise_results(6)
    rows = six["statistics"]["noise"]
    assert [(r["family_a"], r["family_b"], r["metric"]) for r in rows] == [("mixup:8", "erm", "last_test_error"),
                                                                           ("mixup:8", "erm", "fitted_share")]
    assert rows[0]["difference"] == pytest.approx(-10.0) and rows[0]["verdict"] == "more robust"
    assert rows[0]["p_value"] == pytest.approx(2 / 64)  # 6 paired seeds all one way: the smallest sign-flip p
    assert rows[1]["difference"] == pytest.approx(-30.0)  # fitted share = 1 − corrupted-label error: 60% against 90%
    table = against_baseline_blocks(six)[2]
    assert [row[2] for row in table[2]] == ["last-epoch test error", "corrupted labels fitted"]
    assert [row[-1] for row in table[2]] == ["lower", "lower"]
    reading = noise_reading(six)[0]
    assert "Against ERM: mixup (α=8): last-epoch test error −10.0 points [" in reading and ": lower" in reading


def test_one_noise_seed_gives_no_interval_and_says_to_run_more():
    one = noise_results(1)
    assert all(r["interval"] is None and r["verdict"] == "not settled" for r in one["statistics"]["noise"])
    blocks = against_baseline_blocks(one)
    assert "With one seed per method there is no interval and no test" in blocks[1][1]
    assert blocks[2][2][0][6:8] == ["no interval", "no test"]
    assert noise_reading(one)[0].endswith(
        "Against ERM, not settled (one seed per method gives no interval and no test; run several noise.seeds): "
        "mixup (α=8): last-epoch test error −10.0 points, corrupted labels fitted −30.0 points.")
