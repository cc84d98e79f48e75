"""Names checked against the registries before anything runs (robustness/validation.py)."""

import pytest

from robustness.config import SuiteConfig
from robustness.presets import PRESETS
from robustness.errors import SuiteError
from robustness.validation import check_methods, load_config, validate


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_named_after_itself(name):
    config = PRESETS[name]
    validate(config)
    assert config.preset == name
    assert isinstance(config, SuiteConfig)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"data": {"name": "imagenet1k"}}, "unknown data set 'imagenet1k'; choose one of: cifar10"),
        ({"train": {"arch": "vgg"}}, "unknown model 'vgg'; choose one of:"),
        ({"clean": {"methods": ["cutmixx"]}}, "unknown training method 'cutmixx'; choose one of: bootstrap, coteaching, cutmix, dropout"),
        ({"attack": {"attacks": ["cw"]}}, "unknown attack 'cw'; choose one of: apgd_ce, apgd_dlr, autoattack"),
        ({"noise": {"noise_model": "gauss"}}, "unknown noise model 'gauss'"),
        ({"noise": {"specs": ["uniform:1.5"]}}, "noise uniform:1.5 has p outside [0, 1]"),
        ({"models": ["nope"]}, "model spec 'nope' has no NAME="),
        ({"models": ["erm_s0=x.pt2"]}, "model name 'erm_s0' is used twice"),
    ],
)
def test_bad_names_give_one_line_errors_listing_valid_names(flags, message):
    with pytest.raises(SuiteError) as err:
        load_config("quick", None, flags)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


NAN_METHOD = """
from robustness.methods import Method


class Nan(Method):
    name = "nan"

    def custom_loss(self, logits, batch):
        return logits.sum() * float("nan")


def make():
    return Nan()


def vector():
    class Vector(Method):
        name = "vector"

        def custom_loss(self, logits, batch):
            return logits.sum(1)
    return Vector()
"""


@pytest.mark.parametrize("factory, message", [("make", "gives a loss of nan"), ("vector", r"gives a loss of shape \[8\]")])
def test_a_method_whose_loss_is_not_a_finite_scalar_stops_before_training(tmp_path, monkeypatch, digits, factory, message):
    (tmp_path / "bad_losses.py").write_text(NAN_METHOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_config("tiny", None, {"clean": {"methods": ["erm", f"bad_losses:{factory}"]}})
    with pytest.raises(SuiteError, match=message):
        check_methods(config, digits)
    check_methods(load_config("tiny"), digits)  # the built-in ones pass
