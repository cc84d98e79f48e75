"""Names checked against the registries before anything runs (robustness/validation.py)."""

import pytest

from robustness.config import PRESETS, SuiteConfig
from robustness.errors import SuiteError
from robustness.validation import load_config, validate


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
        ({"clean": {"methods": ["cutmix"]}}, "unknown training method 'cutmix'; choose one of: dropout, erm, mixup"),
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
