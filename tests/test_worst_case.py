"""The per-image worst case (attacks/worst.py), Square as a score-based black box, and AutoAttack against PGD."""

import dataclasses

import pytest
import torch
from torch import nn

from attacks import evaluate_models, make_attack, transfer_matrix
from attacks.metrics import pack_bits, unpack_bits
from attacks.seeding import craft_seed
from attacks.worst import headline_images
from robustness.config import AttackConfig
from robustness.seeding import seeded
from robustness.train import predict

CPU = torch.device("cpu")
FAMILIES = {"erm_s0": "erm", "mixup_a1_s0": "mixup"}


def test_bits_pack_and_unpack():
    flags = torch.rand(541, generator=torch.Generator().manual_seed(0)) > 0.5
    text = pack_bits(flags)
    assert len(text) <= 4 * (541 // 8 + 1) // 3 + 4 and torch.equal(unpack_bits(text, 541), flags)


def wrong_by_hand(models, name: str, attack: str, eps: float, x, y, settings: AttackConfig, target: str) -> torch.Tensor:
    """Which images ``target`` gets wrong on ``attack``'s examples crafted on ``name`` (one batch, the stage's seed)."""
    if eps == 0:
        return predict(models[target], x) != y
    seed = craft_seed(settings.seed, attack, eps, name, 0)
    with seeded(seed, CPU):
        adv = make_attack(attack, settings).build(models[name], eps, seed)(x, y)
    return predict(models[target], adv) != y


def test_the_worst_case_is_the_union_of_each_attacks_broken_images(tiny_models, digits):
    split = dataclasses.replace(digits, test_images=digits.test_images[:90], test_y=digits.test_y[:90])
    x, y = split.test_x, split.test_y
    cfg = AttackConfig(attacks=("fgsm", "pgd"), eps=(0.0, 0.1), heatmap_eps=0.1, batch_size=256, worst_case_attacks=("square",),
                       worst_case_images=30, between_pairs=5, between_points=2,
                       settings={"pgd": {"steps": 3}, "square": {"queries": 40}})
    out = evaluate_models(tiny_models, FAMILIES, split, cfg, CPU, progress=False)
    section = out["attacks"]["worst_case"]
    names = list(tiny_models)
    for target in names:
        clean = predict(tiny_models[target], x) != y
        for eps in cfg.eps:
            own = [wrong_by_hand(tiny_models, target, a, eps, x, y, cfg, target) for a in cfg.attacks]
            other = [wrong_by_hand(tiny_models, s, a, eps, x, y, cfg, target) for a in cfg.attacks for s in names if s != target]
            expected = {"white-box": clean | own[0] | own[1], "transfer": clean | other[0] | other[1]}
            expected["all"] = expected["white-box"] | expected["transfer"]
            for kind, wrong in expected.items():
                row = next(r for r in section["sweep"] if (r["target"], r["eps"], r["kind"]) == (target, eps, kind))
                assert row["wrong"] == int(wrong.sum()) and row["error"] == int(wrong.sum()) / len(y), (target, eps, kind)
                assert row["flipped"] == int((wrong & ~clean).sum())
        # At the headline ε, on the stratified subset, with Square crafted on the subset alone.
        index = headline_images(y, cfg)
        assert len(index) == 30 and section["headline"]["n"] == 30 and section["headline"]["images"] == "subset"
        xs, ys = x[index], y[index]
        square = wrong_by_hand(tiny_models, target, "square", 0.1, xs, ys, cfg, target)
        own = [wrong_by_hand(tiny_models, target, a, 0.1, x, y, cfg, target)[index] for a in cfg.attacks]
        other = [wrong_by_hand(tiny_models, s, a, 0.1, x, y, cfg, target)[index] for a in cfg.attacks for s in names if s != target]
        union = clean[index] | square | own[0] | own[1] | other[0] | other[1]
        rows = {r["kind"]: r for r in section["headline"]["cells"] if r["target"] == target}
        assert rows["all"]["wrong"] == int(union.sum()) and rows["square"]["wrong"] == int((clean[index] | square).sum())
        assert rows["white-box"]["attacks"] == ["fgsm", "pgd"]  # Square reads no gradient: it joins "all" only
        assert rows["fgsm"]["wrong"] == int((clean[index] | own[0]).sum())
    # The bits stay in the units: results.json gets the aggregates.
    assert all("wrong_bits" not in c for c in out["attacks"]["cells"] + list(out["attacks"]["clean"].values()))
    summary = {(r["part"], r["eps"], r["kind"], r["family"]): r for r in section["summary"]}
    erm_all = next(r for r in section["sweep"] if (r["target"], r["eps"], r["kind"]) == ("erm_s0", 0.1, "all"))
    assert summary["sweep", 0.1, "all", "erm"]["mean"] == erm_all["error"]


def test_flags_count_images_a_weaker_attack_broke_and_a_stronger_one_missed(tiny_models, digits):
    split = dataclasses.replace(digits, test_images=digits.test_images[:60], test_y=digits.test_y[:60])
    cfg = AttackConfig(attacks=("fgsm", "ifgsm"), eps=(0.1,), heatmap_eps=0.1, worst_case_attacks=(), between_pairs=5,
                       between_points=2, settings={"ifgsm": {"steps": 2}})
    out = evaluate_models(tiny_models, FAMILIES, split, cfg, CPU, progress=False)
    x, y = split.test_x, split.test_y
    for target in tiny_models:
        fgsm, ifgsm = (wrong_by_hand(tiny_models, target, a, 0.1, x, y, cfg, target) for a in ("fgsm", "ifgsm"))
        count = int((fgsm & ~ifgsm).sum())
        flags = [f for f in out["attacks"]["worst_case"]["flags"] if f["target"] == target]
        assert [f["count"] for f in flags] == ([count] if count else [])
        if flags:
            assert (flags[0]["weaker"], flags[0]["stronger"], flags[0]["share"]) == ("fgsm", "ifgsm", count / 60)
    assert out["attacks"]["worst_case"]["headline"]["headline_attacks"] == []


class Forbidden(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits):
        return logits.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("a score-based black box must never take a gradient")


class NoBackward(nn.Module):
    """The model's logits, but any backward pass through them raises."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return Forbidden.apply(self.model(x))


def test_square_runs_on_a_model_that_refuses_every_backward_pass(tiny_models, batch):
    x, y = batch[0][:48], batch[1][:48]
    model = NoBackward(tiny_models["erm_s0"]).eval()
    with pytest.raises(RuntimeError, match="never take a gradient"):
        make_attack("fgsm").build(model, 0.1)(x, y)
    cfg = AttackConfig(attacks=("square",), eps=(0.0, 0.15), settings={"square": {"queries": 100}})
    result = transfer_matrix({"m": model}, x, y, cfg, CPU, progress=False)
    cell = next(c for c in result["cells"] if c["eps"] == 0.15)
    assert cell["flipped"] > 0 and cell["queries"]["successes"] == cell["flipped"]
    assert 1 <= cell["queries"]["median"] <= 101 and cell["queries"]["budget"] == 100
    assert "queries" not in next(c for c in result["cells"] if c["eps"] == 0.0)


def test_square_counts_the_queries_torchattacks_spends(tiny_models, batch):
    x, y = batch[0][:24], batch[1][:24]
    model = tiny_models["mixup_a1_s0"]
    attack = make_attack("square", AttackConfig(settings={"square": {"queries": 30}}))
    counted = []

    class Counter(nn.Module):  # counts forward passes per image (rows of the batch it sees are images)
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, images):
            counted.append(len(images))
            return self.model(images)

    with seeded(5, CPU):
        square = attack.build(Counter(), 0.1, seed=5)
        adv = square(x, y)
    spent = attack.queries(square)
    right = predict(model, x) == y
    broken = right & (predict(model, adv) != y)
    assert (spent[~right] == 0).all() and (spent[right] >= 1).all() and (spent[right & ~broken] == 31).all()
    # torchattacks' own count: one query for the start, one per iteration the image was still standing
    assert int(spent.sum()) == sum(counted[1:-1])  # minus perturb's clean pass and its final check


def test_autoattack_breaks_at_least_what_pgd_breaks_on_a_trained_digits_model(tiny_models, batch):
    x, y = batch[0][:32], batch[1][:32]
    model = tiny_models["erm_s0"]
    errors = {}
    # PGD-10, as the default run, against AutoAttack at a tenth of the reference's iterations and queries (at full
    # strength this test took 23 s; tests/test_autoattack_reference.py holds the ensemble against the reference)
    settings = AttackConfig(settings={"pgd": {"steps": 10}, "autoattack": {"steps": 10, "queries": 500}})
    for name in ("pgd", "autoattack"):
        seed = craft_seed(0, name, 0.15, "erm_s0", 0)
        with seeded(seed, CPU):
            adv = make_attack(name, settings).build(model, 0.15, seed)(x, y)
        errors[name] = int((predict(model, adv) != y).sum())
    assert errors["autoattack"] >= errors["pgd"] > int((predict(model, x) != y).sum())
