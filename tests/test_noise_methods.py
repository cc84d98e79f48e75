"""ERM + dropout and mixup + dropout: specs, errors, and that the model really drops units."""

import pytest
import torch
from torch import nn

from robustness.config import PRESETS
from robustness.errors import SuiteError
from robustness.methods import parse_method
from robustness.train import fit

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")


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
