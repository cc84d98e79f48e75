"""coteaching:noise: the label-noise stage makes the forget rate each level's noise rate (Han et al. 2018)
before a unit key is made, so the key and results.json hold the concrete number."""

from dataclasses import replace

import pytest

from conftest import run_noise
from robustness.config import NoiseConfig
from robustness.errors import SuiteError
from robustness.methods import parse_method
from robustness.presets import PRESETS
from robustness.stages.label_noise import noise_recipes
from robustness.stages.train import clean_recipes

LEVELS_AND_SPECS = NoiseConfig(levels=(0.2, 0.5, 0.8), specs=("pairflip:0.4",), methods=("coteaching:noise",),
                               seeds=(0,), epochs=1, train_subset=200)


def config(noise=LEVELS_AND_SPECS):
    return replace(PRESETS["tiny"], train=replace(PRESETS["tiny"].train, arch="mlp"), noise=noise)


def test_the_forget_rate_is_each_levels_noise_rate_and_the_key_differs():
    recipes = noise_recipes(config())
    rates = {spec: recipe.method.param for (spec, _, _), recipe in recipes.items()}
    assert rates == {"uniform:0.2": 0.2, "uniform:0.5": 0.5, "uniform:0.8": 0.8, "pairflip:0.4": 0.4}
    assert all(r.method.spec == f"coteaching:{r.method.param:g}" for r in recipes.values())
    assert len({r.key for r in recipes.values()}) == 4


def test_other_methods_and_a_combination_resolve_as_written():
    erm = parse_method("erm")
    assert erm.at_noise_rate(0.5, "uniform:0.5") is erm
    assert parse_method("mixup:8+coteaching:noise").at_noise_rate(0.4, "pairflip:0.4").spec == "mixup:8+coteaching:0.4"


@pytest.mark.parametrize("spec, message", [("coteaching:often", "or the word noise")])
def test_a_bad_word_is_one_line(spec, message):
    with pytest.raises(SuiteError, match=message) as error:
        parse_method(spec)
    assert "\n" not in str(error.value)


def test_a_spec_without_a_rate_is_one_line():
    with pytest.raises(SuiteError, match="needs a noise rate"):
        parse_method("coteaching:noise").at_noise_rate(None, "labels:x.npy")


def test_a_tiny_run_records_the_concrete_rate(digits):
    noise = replace(LEVELS_AND_SPECS, levels=(0.5,), specs=())
    result = run_noise(config(noise), digits)
    assert {run["method"] for run in result["runs"]} == {"coteaching:0.5"}


def test_clean_models_forget_nothing():
    base = config()
    clean = replace(base, clean=replace(base.clean, methods=("coteaching:noise",), seeds=(0,)))
    methods = {"coteaching:noise": parse_method("coteaching:noise")}
    (recipe,) = clean_recipes(clean, methods).values()
    assert recipe.method.param == 0.0 and recipe.method.spec == "coteaching:0"
