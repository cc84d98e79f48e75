"""The probe (robustness/probe.py): what a custom model returns, and whether attacks can follow it."""

import pytest
import torch
from torch import nn

from robustness.errors import SuiteError
from robustness.probe import probe_model

CPU = torch.device("cpu")



class Returns(nn.Module):
    """Maps a digits batch through ``fn`` (for probe tests)."""

    def __init__(self, fn):
        super().__init__()
        self.linear = nn.Linear(64, 10)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.linear(x.flatten(1)), x)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda z, x: z[:, :, None], "returns shape 32×10×1 for a batch of 32; it must return N×C logits"),
        (lambda z, x: z[:, :5], "returns 5 scores per image but the data set has 10 classes"),
        (lambda z, x: (z, z), "returns a tuple, not a tensor"),
        (lambda z, x: z * float("nan"), "non-finite"),
        (lambda z, x: z.detach(), "has a zero input gradient"),
        (lambda z, x: z * 0 + (x.flatten(1)[:, :10] > 0.5).float(), "has a zero input gradient"),
    ],
)
def test_probe_failures_are_one_line(digits, fn, message):
    with pytest.raises(SuiteError, match=message) as info:
        probe_model("mine", Returns(fn), digits, CPU)
    assert "'mine'" in str(info.value) and "\n" not in str(info.value)


def test_probe_rejects_wrong_input_shape(digits):
    cifar_sized = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(SuiteError, match=r"fails on a batch of the data set's images \(32×1×8×8.*RuntimeError"):
        probe_model("mine", cifar_sized, digits, CPU)


def test_probe_flags_probabilities_and_sets_eval_mode(digits, capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Dropout(0.5), nn.Softmax(1)).train()
    found = probe_model("soft", model, digits, CPU)
    assert found["outputs"] == "probabilities" and "returns probabilities" in capsys.readouterr().err
    assert not model.training
    assert probe_model("logits", nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), digits, CPU)["outputs"] == "logits"
