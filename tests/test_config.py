"""The configuration (robustness/config.py): precedence, types and ranges, one-line errors."""

import pytest

from robustness.config import check_run_id, parse_eps
from robustness.presets import PRESETS, build_config
from robustness.errors import SuiteError


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
        ({"train": {"epochs_total": 3}}, "unknown key train.epochs_total; valid keys: arch, epochs"),
        ({"attack": {"eps": [0, 8]}}, "outside [0, 1]"),
        ({"attack": {"eps": [-0.1]}}, "ε -0.1 is not a radius ≥ 0"),
        ({"attack": {"eps": [0, 2], "norm": "linf"}}, "ε 2 is outside [0, 1]; L∞ radii are in pixels"),
        ({"attack": {"norm": "l1"}}, "unknown attack.norm 'l1'; choose one of: linf, l2"),
        ({"attack": {"square_queries": 0}}, "attack.square_queries is now attack.square.queries: write [attack.square] queries = 0"),
        ({"attack": {"worst_case_images": -5}}, "attack.worst_case_images must be ≥ 0"),
        ({"attack": {"chunk_images": -1}}, "attack.chunk_images must be ≥ 0 (0 means whole batches)"),
        ({"attack": {"fuse_images": -1}}, "attack.fuse_images must be ≥ 0"),
        ({"attack": {"heatmap_eps": 0.123}}, "is not one of attack.eps"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"clean": {"seeds": [-1]}}, "clean.seeds must be ≥ 0, not -1"),
        ({"clean": {"seeds": [0, 0]}}, "clean.seeds lists seed 0 twice"),
        ({"noise": {"seeds": [3, 1, 3]}}, "noise.seeds lists seed 3 twice"),
        ({"attack": {"attacks": []}}, "attack.attacks must not be empty"),
        ({"attack": {"eps": []}}, "attack.eps must not be empty"),
        ({"train": {"lr": float("nan")}}, "train.lr must be a finite number, not nan"),
        ({"train": {"lr": -1}}, "train.lr must be positive, not -1"),
        ({"train": {"lr": "fast"}}, "train.lr must be a number, not 'fast'"),
        ({"train": {"epochs": 2.5}}, "train.epochs must be a whole number, not 2.5"),
        ({"train": {"epochs": True}}, "train.epochs must be a number, not True"),
        ({"noise": {"epochs": 0}}, "epochs must be at least 1"),
        ({"train": {"momentum": 1.5}}, "train.momentum must be in [0, 1)"),
        ({"statistics": {"resamples": 0}}, "statistics.resamples must be at least 1"),
        ({"statistics": {"resamples": 10**7}}, "statistics.resamples is 10000000, above the ceiling of 1,000,000"),
        ({"statistics": {"alpha": 0.5}}, "statistics.alpha must be in (0, 0.5), not 0.5"),
        ({"statistics": {"power": 1}}, "statistics.power must be in (0, 1), not 1"),
        ({"statistics": {"seed": -1}}, "statistics.seed must be ≥ 0, not -1"),
        ({"statistics": {"baseline": ""}}, "statistics.baseline must name a family"),
        ({"data": {"name": 3.5}}, None),  # a number where a name goes is kept as text: the registry refuses it later
    ],
)
def test_bad_values_give_one_line_errors(flags, message):
    if message is None:
        assert build_config("quick", None, flags).data.name == "3.5"
        return
    with pytest.raises(SuiteError) as err:
        build_config("quick", None, flags)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_l2_radii_above_one_are_accepted_with_the_l2_threat_model():
    config = build_config("quick", None, {"attack": {"norm": "l2", "eps": [0, 0.5, 2], "heatmap_eps": 0.5}})
    assert config.attack.eps == (0.0, 0.5, 2.0) and config.attack.norm == "l2"


def test_whole_numbers_written_as_floats_are_accepted():
    assert build_config("quick", None, {"train": {"epochs": 3.0}}).train.epochs == 3


@pytest.mark.parametrize("run_id", ["../escape", "a/b", ".hidden", "", "x y"])
def test_run_ids_that_are_not_plain_folder_names_are_refused(run_id):
    with pytest.raises(SuiteError, match="must be a plain folder name"):
        check_run_id(run_id)
    assert check_run_id("quick-20261125_1.2") == "quick-20261125_1.2"


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
    with pytest.raises(SuiteError, match="is a directory; pass the path of a .toml file inside it"):
        build_config(None, tmp_path)


@pytest.mark.parametrize("text, value", [("4/255", 4 / 255), ("0.03", 0.03), (0, 0.0), (1, 1.0), (" 8/255 ", 8 / 255)])
def test_eps_in_pixel_fractions_or_unit_interval(text, value):
    assert parse_eps(text) == pytest.approx(value, abs=0)


@pytest.mark.parametrize("text", ["abc", "1/0", "__import__('os')", "-2", "inf"])  # "2" is an L2 radius: check_attack
def test_bad_eps_is_refused(text):
    with pytest.raises(SuiteError):
        parse_eps(text)


def test_eps_without_heatmap_eps_leaves_the_headline_eps_to_be_chosen():
    config = build_config("quick", None, {"attack": {"eps": [0, "2/255", "8/255"]}})
    assert config.attack.heatmap_eps is None  # the preset's 0.1 is not in the list: chosen after the attacks
    assert build_config("quick", None, {"attack": {"eps": [0, 0.1]}}).attack.heatmap_eps == 0.1  # still listed: kept
    given = build_config("quick", None, {"attack": {"eps": [0, "2/255", "8/255"], "heatmap_eps": "2/255"}})
    assert given.attack.heatmap_eps == 2 / 255
    with pytest.raises(SuiteError, match="is not one of attack.eps"):
        build_config("quick", None, {"attack": {"eps": [0, "8/255"], "heatmap_eps": 0.1}})
