"""The label-noise benchmark: its record structure, summary and best-of-grid, determinism, and the
paper's finding reproduced on digits (a seeded regression test)."""

from dataclasses import replace
from statistics import mean, pstdev

import numpy as np
import pytest
from conftest import run_noise

from noise import noise_specs
from robustness.config import NoiseConfig
from robustness.presets import PRESETS


def small_config(noise: NoiseConfig, arch="mlp"):
    return replace(PRESETS["tiny"], train=replace(PRESETS["tiny"].train, arch=arch), noise=noise)


@pytest.fixture(scope="module")
def grid(digits, tmp_path_factory):
    """Two seeds × every kind of noise model × two methods, one epoch each, on an MLP."""
    folder = tmp_path_factory.mktemp("noise")
    mine = (digits.train_y * 3 + 1) % 10
    mine[::2] = digits.train_y[::2]  # half the user's labels are right
    np.save(folder / "mine.npy", mine.numpy())
    noise = NoiseConfig(levels=(0.5,), specs=("pairflip:0.3", f"labels:{folder / 'mine.npy'}"),
                        methods=("erm", "mixup:8+dropout:0.5"), seeds=(0, 1), epochs=1)
    return noise, run_noise(small_config(noise), digits)


def test_every_spec_method_and_seed_is_run_with_the_corrupted_clean_split(grid, digits):
    noise, result = grid
    assert result["specs"] == noise_specs(noise) == ["uniform:0.5", "pairflip:0.3", noise.specs[1]]
    assert len(result["runs"]) == 3 * 2 * 2 and len(result["corruptions"]) == 3 * 2
    for run in result["runs"]:
        row = run["history"][-1]
        # Every noise model gets the memorization split: corrupted examples vs their label, clean vs truth.
        assert row["train_error_corrupted"] is not None and row["train_error_uncorrupted"] is not None
        replaced = run["noise"]["replaced_share"]
        n = len(digits.train_y)
        wrong_on_noisy = row["train_error_corrupted"] * replaced * n + row["train_error_uncorrupted"] * (1 - replaced) * n
        # Outside the corrupted set the noisy and true labels agree, so the two halves add up to the noisy-label error.
        if run["spec"] != "uniform:0.5":  # under uniform, some "replaced" labels equal the truth: the halves overlap
            assert wrong_on_noisy == pytest.approx(row["train_error_noisy"] * n, abs=1e-6)
    user = next(r for r in result["runs"] if r["spec"].startswith("labels:"))
    assert user["level"] is None and user["noise"]["realized_rate"] == pytest.approx(0.5, abs=0.01)


def test_summary_is_mean_and_std_over_seeds_and_best_of_grid_is_the_lowest(grid):
    _, result = grid
    for row in result["summary"]:
        runs = [r for r in result["runs"] if (r["spec"], r["method"]) == (row["spec"], row["method"])]
        assert row["seeds"] == [0, 1]
        values = [r["last_test_error"] for r in runs]
        assert row["last_test_error"] == {"mean": pytest.approx(mean(values)), "std": pytest.approx(pstdev(values)), "n": 2}
    for pick in result["best_of_grid"]:
        rows = [r for r in result["summary"] if (r["spec"], r["family"]) == (pick["spec"], pick["family"])]
        best = min(rows, key=lambda r: r["best_test_error"]["mean"])
        assert pick["method"] == best["method"] and pick["grid"] == [r["method"] for r in rows]
    assert {p["family"] for p in result["best_of_grid"]} == {"erm", "mixup+dropout"}


def test_same_seed_same_numbers(grid, digits):
    noise, result = grid
    again = run_noise(small_config(noise), digits)
    strip = lambda res: [{k: v for k, v in r.items() if k != "train_seconds"} for r in res["runs"]]  # noqa: E731
    assert strip(again) == strip(result)


def test_mixup_resists_50_percent_uniform_noise_where_erm_memorizes(digits):
    """The paper's finding (Table 2), seeded, on digits with the MLP (the CNN shows it too, at 40 epochs,
    for 6× the time). Measured at 80 epochs over seeds 0 and 1 (torch 2.14, CPU): last test error ERM
    33.9/29.4% vs mixup α=32 7.4/5.7%; training error on the corrupted labels ERM 5.6/7.9% vs mixup
    85.4/83.0%. At 40 epochs ERM is only half-way (54%), at 120 it has fit all but 0.2%."""
    noise = NoiseConfig(levels=(0.5,), methods=("erm", "mixup:32"), seeds=(0,), epochs=80)
    result = run_noise(small_config(noise), digits)
    erm, mix = ({r["method"]: r for r in result["runs"]}[m] for m in ("erm", "mixup:32"))
    assert mix["last_test_error"] < erm["last_test_error"] - 0.15
    assert mix["last_train_error_corrupted"] > erm["last_train_error_corrupted"] + 0.5
    # ERM's test error rose after its best epoch: it memorized the noise, as in the paper.
    assert erm["last_test_error"] > erm["best_test_error"] + 0.1
