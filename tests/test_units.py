"""Units of work (robustness/units.py): keys from exactly what determines them, digests, the store."""

import json
from dataclasses import replace

import pytest
import torch

import robustness.methods as methods_module
from robustness.config import override
from robustness.methods import parse_method
from robustness.stages import recipe_from_json
from robustness.stages.attack import AttackRecipe
from robustness.stages.label_noise import noise_recipes
from robustness.stages.train import TrainRecipe, clean_recipes
from robustness.units import UnitStore, result_digest, unit_key
from robustness.validation import load_config, parse_methods, trained_names


def key_of(recipe):
    return recipe.key


def train_recipe(config, method, seed, noise_spec=None):
    return TrainRecipe.of(config, parse_method(method), seed, noise_spec)


def attack_recipe(config, attack, source, models):
    return AttackRecipe.of(config, attack, source, models)


def headline_recipe(config, attack, source, models, eps):
    return AttackRecipe.of(config, attack, source, models).worst_case(eps)


def trained_identity(recipe):
    return recipe.identity()


def test_keys_change_with_what_determines_a_unit_and_only_with_that():
    config = load_config("tiny")
    base = train_recipe(config, "erm", 0)
    assert key_of(base) == key_of(train_recipe(config, "erm", 0))
    assert key_of(base) == key_of(train_recipe(replace(config, device="cpu", out="elsewhere"), "erm", 0))
    assert key_of(base) == key_of(train_recipe(replace(config, attack=replace(config.attack, eps=(0.3,))), "erm", 0))
    for other in [train_recipe(config, "erm", 1), train_recipe(config, "mixup:1", 0), train_recipe(config, "erm", 0, "uniform:0.5"),
                  train_recipe(replace(config, train=replace(config.train, lr=0.01)), "erm", 0),
                  train_recipe(replace(config, data=replace(config.data, split_seed=1)), "erm", 0)]:
        assert key_of(other) != key_of(base)
    models = {"erm_s0": trained_identity(base)}
    cell = attack_recipe(config, "fgsm", "erm_s0", models)
    retrained = {"erm_s0": trained_identity(train_recipe(replace(config, train=replace(config.train, epochs=5)), "erm", 0))}
    assert key_of(attack_recipe(config, "fgsm", "erm_s0", retrained)) != key_of(cell)  # its model changed
    shown = replace(config, attack=replace(config.attack, heatmap_eps=0.0))
    assert key_of(attack_recipe(shown, "fgsm", "erm_s0", models)) == key_of(cell)
    split_otherwise = replace(config, attack=replace(config.attack, chunk_images=0, fuse_images=4000, fuse_epsilons=False))
    assert key_of(attack_recipe(split_otherwise, "fgsm", "erm_s0", models)) == key_of(cell)  # speed only: same numbers
    more_eps = replace(config, attack=replace(config.attack, eps=(0.0, 0.05, 0.1), heatmap_eps=0.1))
    assert key_of(attack_recipe(more_eps, "fgsm", "erm_s0", models)) != key_of(cell)


def test_headline_units_are_keyed_by_the_chosen_eps_and_the_image_subset():
    config = load_config("quick")
    models = {"erm_s0": trained_identity(train_recipe(config, "erm", 0)), "erm_s1": {"unit": "other"}}
    base = headline_recipe(config, "autoattack", "erm_s0", models, 0.1)
    assert base.to_json()["models"] == {"erm_s0": models["erm_s0"]} and base.to_json()["settings"]["eps"] == [0.1]  # white box only
    assert key_of(base) == key_of(headline_recipe(replace(config, attack=replace(config.attack, heatmap_eps=None)),
                                                      "autoattack", "erm_s0", models, 0.1))
    for other in [headline_recipe(config, "autoattack", "erm_s0", models, 0.15),
                  headline_recipe(replace(config, attack=replace(config.attack, worst_case_images=30)), "autoattack", "erm_s0", models, 0.1),
                  headline_recipe(config, "square", "erm_s0", models, 0.1)]:
        assert key_of(other) != key_of(base)
    # The main attack units do not depend on the worst-case settings.
    fewer = replace(config, attack=replace(config.attack, worst_case_images=30, worst_case_attacks=()))
    assert key_of(attack_recipe(fewer, "fgsm", "erm_s0", models)) == key_of(attack_recipe(config, "fgsm", "erm_s0", models))


class FormerRecipe:
    """A recipe as the code before revisions wrote it: its JSON as saved, its key from that JSON."""

    kind = "attack"

    def __init__(self, recipe: dict):
        self.recipe = recipe

    def to_json(self) -> dict:
        return self.recipe

    @property
    def key(self) -> str:
        return unit_key(self.recipe)


def test_a_unit_of_the_former_10_iteration_autoattack_is_recomputed_not_reused(tmp_path):
    """A run directory from before keeps its autoattack units under keys without the attack's revision: the
    reference-strength autoattack looks for other keys, so those units are never read back as its numbers; every
    attack whose code did not change keeps its key (no revision in its recipe)."""
    config = load_config("quick")
    models = {"erm_s0": trained_identity(train_recipe(config, "erm", 0))}
    now = headline_recipe(config, "autoattack", "erm_s0", models, 0.1)
    before = {k: v for k, v in now.to_json().items() if k != "revision"}  # what the former code saved
    assert now.to_json()["revision"] == 1 and unit_key(before) != now.key
    store = UnitStore(tmp_path)
    store.save(FormerRecipe(before), {"n": 50, "clean": {}, "cells": []})  # a finished unit the former code saved
    assert store.load(FormerRecipe(before)) is not None and store.load(now) is None
    for attack in ("fgsm", "ifgsm", "pgd", "square", "autoattack-fast"):
        assert "revision" not in attack_recipe(config, attack, "erm_s0", models).to_json()
    assert key_of(headline_recipe(config, "autoattack-fast", "erm_s0", models, 0.1)) != now.key


def test_a_batch_is_part_of_a_worst_case_key_and_data_test_first_only_when_set():
    """Each batch of a worst-case attack is its own unit; data.test_first (the benchmark's first N images), added
    after runs were written, leaves every recipe as it was at 0, so those runs' units keep their keys."""
    config = load_config("quick")
    models = {"erm_s0": trained_identity(train_recipe(config, "erm", 0))}
    whole = headline_recipe(config, "autoattack", "erm_s0", models, 0.1)
    batches = [whole.batch(0, 256), whole.batch(256, 512)]
    assert len({key_of(whole), *map(key_of, batches)}) == 3 and batches[1].to_json()["headline"]["batch"] == [256, 512]
    assert "batch" not in whole.to_json()["headline"]  # the shape of a unit written before per-batch units
    first = override(config, {"data": {"test_first": 100}})
    for make in (lambda c: train_recipe(c, "erm", 0), lambda c: attack_recipe(c, "fgsm", "erm_s0", models)):
        assert "test_first" not in make(config).to_json()["data"] and make(first).to_json()["data"]["test_first"] == 100
        assert key_of(make(first)) != key_of(make(config))


def test_result_digest_sees_every_number_and_every_tensor_bit():
    result = {"state_dict": {"w": torch.ones(3)}, "history": [{"epoch": 1, "test_error": 0.25}], "noise": None}
    same = {"noise": None, "history": [{"test_error": 0.25, "epoch": 1}], "state_dict": {"w": torch.ones(3)}}
    assert result_digest(result) == result_digest(same)  # key order does not matter
    flipped = torch.ones(3)
    flipped.view(torch.int32)[1] ^= 1  # one bit of one weight
    for other in [{**result, "history": [{"epoch": 1, "test_error": 0.26}]}, {**result, "state_dict": {"w": flipped}},
                  {**result, "state_dict": {"w": torch.ones(3, dtype=torch.float64)}}]:
        assert result_digest(other) != result_digest(result)


@pytest.fixture
def stored_attack_unit(tmp_path):
    recipe = attack_recipe(load_config("tiny"), "fgsm", "m", {"m": {"unit": "k"}})
    result = {"n": 10, "clean": {"m": {"wrong": 2}}, "cells": [{"attack": "fgsm", "eps": 0.1, "wrong": 7}]}
    store = UnitStore(tmp_path)
    store.save(recipe, result)
    return store, recipe, result


def test_a_saved_unit_loads_back_as_it_was(stored_attack_unit):
    store, recipe, result = stored_attack_unit
    assert store.load(recipe) == result


def test_a_hand_edited_unit_is_recomputed_with_a_one_line_warning(stored_attack_unit, capsys):
    store, recipe, _ = stored_attack_unit
    path = store.path(recipe)
    payload = json.loads(path.read_text())
    payload["result"]["cells"][0]["wrong"] = 0  # a false number, key and recipe untouched
    path.write_text(json.dumps(payload))
    assert store.load(recipe) is None
    err = capsys.readouterr().err
    assert err == (f"warning: cached unit {path.name} is unreadable (ValueError: its result does not match its digest: edited or "
                   "damaged); recomputing it\n")


def test_a_unit_of_another_recipe_is_not_reused(stored_attack_unit, capsys):
    store, recipe, _ = stored_attack_unit
    other = replace(recipe, source="n")
    store.path(recipe).rename(store.path(other))  # saved under another unit's name
    assert store.load(other) is None
    assert "it belongs to another unit" in capsys.readouterr().err


def test_a_recipe_goes_to_json_and_back_unchanged_and_its_key_is_the_json_hash():
    config = load_config("quick")
    trained = train_recipe(config, "mixup:1+dropout:0.5", 1, "uniform:0.5")
    attack = attack_recipe(config, "pgd", "m", {"m": trained.identity(), "c": {"checkpoint": "f00d"}})
    for recipe in [trained, train_recipe(config, "erm", 0), attack, attack.at(0.1), attack.worst_case(0.1),
                   attack.worst_case(0.1).batch(256, 512)]:
        saved = recipe.to_json()
        assert recipe_from_json(saved).to_json() == saved and recipe.key == unit_key(saved)
        assert json.loads(json.dumps(saved)) == saved  # plain JSON: what a unit file holds
    loaded = recipe_from_json(trained.to_json())
    assert loaded.method.spec == "mixup:1+dropout:0.5" and loaded.train.epochs == config.noise.epochs != config.train.epochs
    assert loaded.noise == trained.noise and loaded.noise.spec == "uniform:0.5"


def test_an_attack_unit_runs_its_one_attack_at_its_eps_and_never_keys_how_the_work_is_split():
    config = load_config("quick")
    recipe = attack_recipe(config, "ifgsm", "m", {"m": {"unit": "k"}, "n": {"unit": "j"}})
    worst = recipe.worst_case(0.05)
    assert worst.models == {"m": {"unit": "k"}} and worst.settings.eps == (0.05,)
    run = worst.attack_config()
    assert run.attacks == ("ifgsm",) and run.heatmap_eps == 0.05 and run.worst_case_images == config.attack.worst_case_images
    assert "headline" not in recipe.to_json() and worst.to_json()["headline"] == {"eps": 0.05, "images": run.worst_case_images}
    assert not set(recipe.to_json()["settings"]) & {"attacks", "heatmap_eps", "chunk_images", "fuse_images", "fuse_epsilons"}


def test_the_stages_carry_the_methods_parsed_once_and_name_models_as_trained_names(monkeypatch):
    config = override(load_config("tiny"), {"clean": {"methods": ["erm", "mixup:1+dropout:0.5"], "seeds": [0, 1]},
                                            "noise": {"enabled": True, "methods": ["mixup:1+dropout:0.5"]}})
    methods = parse_methods(config)
    assert list(methods) == ["erm", "mixup:1+dropout:0.5"]  # each spec once, clean and label-noise runs together
    parsed = []
    monkeypatch.setattr(methods_module, "parse_one", lambda text: parsed.append(text))  # any parse from here on is seen
    clean, noisy = clean_recipes(config, methods), noise_recipes(config, methods)
    assert list(clean) == trained_names(config, methods) == ["erm_s0", "erm_s1", "mixup_a1_dropout_p0.5_s0",
                                                             "mixup_a1_dropout_p0.5_s1"]
    assert all(recipe.method is methods[recipe.method.spec] for recipe in [*clean.values(), *noisy.values()])
    assert [(spec, seed) for (_, spec, seed) in noisy] == [("mixup:1+dropout:0.5", 0)] * len(noisy)
    assert parsed == []
