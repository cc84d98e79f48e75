import pytest

from robustness.config import PRESETS, SuiteConfig, build_config, parse_eps, validate
from robustness.errors import SuiteError


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_named_after_itself(name):
    config = PRESETS[name]
    validate(config)
    assert config.preset == name
    assert isinstance(config, SuiteConfig)


def test_precedence_preset_then_toml_then_flags(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "tiny"\n[train]\nepochs = 7\nlr = 0.01\n[attack]\neps = [0, "4/255", 0.1]\n')
    config = build_config(None, toml, {"train": {"epochs": 3}})
    assert config.preset == "tiny"
    assert config.train.epochs == 3  # the flag wins over the TOML
    assert config.train.lr == 0.01  # the TOML wins over the preset
    assert config.attack.eps == (0.0, 4 / 255, 0.1)
    assert config.noise == PRESETS["tiny"].noise  # untouched sections keep the preset's values


def test_config_is_frozen():
    with pytest.raises(Exception):
        PRESETS["quick"].train.epochs = 1


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"data": {"name": "imagenet1k"}}, "unknown data set 'imagenet1k'; choose one of: cifar10"),
        ({"train": {"arch": "vgg"}}, "unknown model 'vgg'; choose one of:"),
        ({"clean": {"methods": ["cutmix"]}}, "unknown training method 'cutmix'; choose one of: dropout, erm, mixup"),
        ({"attack": {"attacks": ["cw"]}}, "unknown attack 'cw'; choose one of: fgsm, ifgsm"),
        ({"noise": {"noise_model": "gauss"}}, "unknown noise model 'gauss'"),
        ({"train": {"epochs_total": 3}}, "unknown key train.epochs_total; valid keys: arch, epochs"),
        ({"attack": {"eps": [0, 8]}}, "outside [0, 1]"),
        ({"attack": {"eps": [-0.1]}}, "outside [0, 1]"),
        ({"attack": {"heatmap_eps": 0.123}}, "is not one of attack.eps"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_bad_names_give_one_line_errors_listing_valid_names(flags, message):
    with pytest.raises(SuiteError) as err:
        build_config("quick", None, flags)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_presets():
    with pytest.raises(SuiteError, match="unknown preset 'fast'; choose one of: quick, tiny"):
        build_config("fast")


def test_unknown_toml_key_and_malformed_toml(tmp_path):
    bad_key = tmp_path / "a.toml"
    bad_key.write_text("[noise]\nlevel = [0.2]\n")
    with pytest.raises(SuiteError, match="unknown key noise.level; valid keys: enabled, noise_model, levels"):
        build_config(None, bad_key)
    broken = tmp_path / "b.toml"
    broken.write_text("[train\nepochs = 3\n")
    with pytest.raises(SuiteError, match="is not valid TOML"):
        build_config(None, broken)
    with pytest.raises(SuiteError, match="does not exist"):
        build_config(None, tmp_path / "missing.toml")


@pytest.mark.parametrize("text, value", [("4/255", 4 / 255), ("0.03", 0.03), (0, 0.0), (1, 1.0), (" 8/255 ", 8 / 255)])
def test_eps_in_pixel_fractions_or_unit_interval(text, value):
    assert parse_eps(text) == pytest.approx(value, abs=0)


@pytest.mark.parametrize("text", ["abc", "1/0", "__import__('os')", "2"])
def test_bad_eps_is_refused(text):
    with pytest.raises(SuiteError):
        parse_eps(text)
