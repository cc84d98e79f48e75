"""Training methods (robustness/methods.py): specs, mixup's batch and loss, α = 0 equals ERM, dropout."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustness.config import PRESETS, TrainConfig
from robustness.errors import SuiteError
from robustness.methods import METHODS, mix_batch, mixup_loss, parse_method
from robustness.train import fit

CPU = torch.device("cpu")


def test_every_registered_method_parses():
    for name in METHODS:
        method = parse_method(name)
        assert method.family and method.label and method.display


def test_method_specs():
    assert parse_method("mixup").alpha == 1.0
    assert parse_method("mixup:8").label == "mixup_a8"
    assert parse_method("erm").alpha == 0.0
    with pytest.raises(SuiteError, match="not a number"):
        parse_method("mixup:big")
    with pytest.raises(SuiteError, match="takes no parameter"):
        parse_method("erm:2")
    with pytest.raises(SuiteError, match="must be ≥ 0"):
        parse_method("mixup:-1")


def test_mixed_loss_equals_cross_entropy_against_mixed_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(16, 10)
    y_a, y_b = torch.randint(0, 10, (16,)), torch.randint(0, 10, (16,))
    lam = 0.3
    target = lam * F.one_hot(y_a, 10).float() + (1 - lam) * F.one_hot(y_b, 10).float()
    soft = -(target * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(mixup_loss(logits, y_a, y_b, lam), soft, atol=1e-6)


def test_mix_batch_is_a_convex_combination_with_an_in_batch_partner():
    x = torch.rand(32, 1, 8, 8)
    y = torch.arange(32)  # unique labels, so y_b is the permutation itself
    mixed, y_a, y_b, lam = mix_batch(x, y, 1.0, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert 0 < lam < 1 and torch.equal(y_a, y)
    assert sorted(y_b.tolist()) == list(range(32))
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[y_b], atol=1e-6)


def test_alpha_zero_returns_the_batch_unchanged():
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    mixed, y_a, y_b, lam = mix_batch(x, y, 0.0, np.random.default_rng(0), torch.Generator())
    assert lam == 1.0 and mixed is x and torch.equal(y_a, y_b)


def test_mixup_with_alpha_zero_trains_exactly_like_erm(digits):
    cfg = TrainConfig(epochs=2)
    erm = fit("digits_cnn", parse_method("erm"), digits, 3, cfg, CPU)
    mix0 = fit("digits_cnn", parse_method("mixup:0"), digits, 3, cfg, CPU)
    for a, b in zip(erm.model.state_dict().values(), mix0.model.state_dict().values()):
        assert torch.equal(a, b)
    assert erm.history == mix0.history


def test_mixup_with_positive_alpha_differs_from_erm(digits):
    cfg = TrainConfig(epochs=1)
    erm = fit("digits_cnn", parse_method("erm"), digits, 3, cfg, CPU)
    mix = fit("digits_cnn", parse_method("mixup:1"), digits, 3, cfg, CPU)
    assert not torch.equal(erm.model[1][0].weight, mix.model[1][0].weight)


def test_dropout_and_combined_specs():
    d = parse_method("dropout:0.7")
    assert (d.family, d.dropout, d.alpha, d.display) == ("dropout", 0.7, 0.0, "ERM + dropout (p=0.7)")
    both = parse_method("mixup:8+dropout:0.5")
    assert (both.family, both.alpha, both.dropout, both.label) == ("mixup+dropout", 8.0, 0.5, "mixup_a8_dropout_p0.5")
    assert parse_method("dropout:0.5+mixup:8").family == "mixup+dropout"  # same family whichever comes first
    for spec, message in [("dropout:1", r"\[0, 1\)"), ("dropout:-0.1", r"\[0, 1\)"), ("erm+dropout:0.5", "adds erm"),
                          ("mixup:1+mixup:2", "same thing twice"), ("mixup:1+dropout:0.5+dropout:0.7", "more than two"),
                          ("mixup:8+cutout", "unknown training method 'cutout'")]:
        with pytest.raises(SuiteError, match=message):
            parse_method(spec)


def test_dropout_reaches_the_model_and_changes_training(digits):
    cfg = PRESETS["tiny"].train
    plain = fit("mlp", parse_method("erm"), digits, 0, cfg, CPU, epochs=1)
    dropped = fit("mlp", parse_method("dropout:0.9"), digits, 0, cfg, CPU, epochs=1)
    assert [m.p for m in dropped.model.modules() if isinstance(m, nn.Dropout)] == [0.9]
    assert plain.history[0]["loss"] != dropped.history[0]["loss"]
    # mixup with α = 0 mixes nothing, so mixup:0 + dropout:0.9 trains exactly as dropout:0.9.
    same = fit("mlp", parse_method("mixup:0+dropout:0.9"), digits, 0, cfg, CPU, epochs=1)
    assert same.history == dropped.history
