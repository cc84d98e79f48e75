"""Pairs for the between-points analysis when different labels are rare or absent: a bounded search, never a hang."""

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attacks.between import MAX_ROUNDS, between_points, draw_pairs
from robustness.config import AttackConfig
from robustness.report import attack_reading, between_blocks

CPU = torch.device("cpu")


@pytest.fixture
def rounds(monkeypatch) -> list:
    """One entry per round of random draws in draw_pairs: the bound is on these, not on time."""
    calls, real = [], torch.randint

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "randint", counting)
    return calls


def assert_different(y, i, j):
    assert len(i) == len(j) and i.dtype == j.dtype == torch.int64
    assert (y[i] != y[j]).all()


@pytest.mark.parametrize("n", [0, 1, 50])
def test_one_label_gives_no_pairs_after_a_bounded_search(n, rounds):
    y = torch.zeros(n, dtype=torch.int64)
    i, j = draw_pairs(y, 200, seed=0)
    assert len(i) == len(j) == 0 and i.dtype == torch.int64
    assert len(rounds) == (MAX_ROUNDS if n > 1 else 0)  # fewer than two points: nothing to draw from


def test_rare_different_labels_stop_at_the_bound_with_the_pairs_found(rounds):
    y = torch.zeros(2000, dtype=torch.int64)
    y[7] = 1  # a random pair differs with probability ~1/1000: fewer than 1 in 256, so the bound ends the search
    i, j = draw_pairs(y, 200, seed=0)
    assert 0 < len(i) < 200 and len(rounds) == MAX_ROUNDS
    assert_different(y, i, j)
    again = draw_pairs(y, 200, seed=0)
    assert torch.equal(again[0], i) and torch.equal(again[1], j)  # seeded


def test_uncommon_but_findable_different_labels_give_exactly_count_pairs(rounds):
    y = torch.zeros(100, dtype=torch.int64)
    y[:5] = 1  # ~1 random pair in 10 differs
    i, j = draw_pairs(y, 200, seed=3)
    assert len(i) == 200 and len(rounds) < MAX_ROUNDS
    assert_different(y, i, j)
    assert set(y[i].tolist()) | set(y[j].tolist()) == {0, 1}


def test_no_pairs_give_an_empty_section_that_the_report_leaves_out(tmp_path):
    split = SimpleNamespace(test_x=torch.rand(30, 1, 8, 8), test_y=torch.zeros(30, dtype=torch.int64))
    models = {name: nn.Sequential(nn.Flatten(), nn.Linear(64, 3)) for name in ("erm_s0", "mixup_a1_s0")}
    families = {"erm_s0": "erm", "mixup_a1_s0": "mixup"}
    section = between_points(models, families, split, AttackConfig(between_pairs=10, between_points=5), CPU)
    assert section["pairs"] == 0 and len(section["lambdas"]) == 5
    assert section["models"]["erm_s0"] == {"miss": [], "grad_norm_mean": [], "grad_norm_std": []}
    assert section["summary"]["mixup"]["miss"] == {"mean": [], "std": []}
    json.dumps(section, allow_nan=False)  # results.json stays valid JSON
    results = {"between_points": section, "config": {"attack": {"attacks": []}}}
    blocks = between_blocks(results, tmp_path)
    assert [kind for kind, *_ in blocks] == ["h2", "p"] and "no pair of test images" in blocks[1][1]
    assert not list(tmp_path.iterdir())  # no empty figure
    assert attack_reading(results, 0.1) == []


def test_between_points_pairs_grid_and_endpoints(tiny_models, digits):
    cfg = AttackConfig(between_pairs=40, between_points=5)
    families = {"erm_s0": "erm", "mixup_a1_s0": "mixup"}
    out = between_points(tiny_models, families, digits, cfg, CPU)
    assert out["lambdas"] == [0.0, 0.25, 0.5, 0.75, 1.0] and out["pairs"] == 40
    i, j = draw_pairs(digits.test_y, 40, cfg.seed)
    assert (digits.test_y[i] != digits.test_y[j]).all()

    def neither(model, x) -> float:
        with torch.no_grad():
            p = model(x).argmax(1)
        return ((p != digits.test_y[i]) & (p != digits.test_y[j])).float().mean().item()

    for name, model in tiny_models.items():
        rec = out["models"][name]
        assert rec["miss"][0] == pytest.approx(neither(model, digits.test_x[j]))
        assert rec["miss"][-1] == pytest.approx(neither(model, digits.test_x[i]))
        assert all(g > 0 for g in rec["grad_norm_mean"]) and len(rec["grad_norm_std"]) == 5
    assert set(out["summary"]) == {"erm", "mixup"} and out["summary"]["erm"]["models"] == 1
    assert between_points(tiny_models, families, digits, cfg, CPU) == out  # deterministic
