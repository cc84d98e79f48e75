"""Units of work (robustness/units.py): keys from exactly what determines them, digests, the store."""

import json
from dataclasses import replace

import pytest
import torch

from robustness.units import (
    UnitStore,
    attack_recipe,
    headline_recipe,
    result_digest,
    train_recipe,
    trained_identity,
    unit_key,
)
from robustness.validation import load_config


def test_keys_change_with_what_determines_a_unit_and_only_with_that():
    config = load_config("tiny")
    base = train_recipe(config, "erm", 0)
    assert unit_key(base) == unit_key(train_recipe(config, "erm", 0))
    assert unit_key(base) == unit_key(train_recipe(replace(config, device="cpu", out="elsewhere"), "erm", 0))
    assert unit_key(base) == unit_key(train_recipe(replace(config, attack=replace(config.attack, eps=(0.3,))), "erm", 0))
    for other in [train_recipe(config, "erm", 1), train_recipe(config, "mixup:1", 0), train_recipe(config, "erm", 0, "uniform:0.5"),
                  train_recipe(replace(config, train=replace(config.train, lr=0.01)), "erm", 0),
                  train_recipe(replace(config, data=replace(config.data, split_seed=1)), "erm", 0)]:
        assert unit_key(other) != unit_key(base)
    models = {"erm_s0": trained_identity(base)}
    cell = attack_recipe(config, "fgsm", "erm_s0", models)
    retrained = {"erm_s0": trained_identity(train_recipe(replace(config, train=replace(config.train, epochs=5)), "erm", 0))}
    assert unit_key(attack_recipe(config, "fgsm", "erm_s0", retrained)) != unit_key(cell)  # its model changed
    shown = replace(config, attack=replace(config.attack, heatmap_eps=0.0))
    assert unit_key(attack_recipe(shown, "fgsm", "erm_s0", models)) == unit_key(cell)
    split_otherwise = replace(config, attack=replace(config.attack, chunk_images=0, fuse_images=4000, fuse_epsilons=False))
    assert unit_key(attack_recipe(split_otherwise, "fgsm", "erm_s0", models)) == unit_key(cell)  # speed only: same numbers
    more_eps = replace(config, attack=replace(config.attack, eps=(0.0, 0.05, 0.1), heatmap_eps=0.1))
    assert unit_key(attack_recipe(more_eps, "fgsm", "erm_s0", models)) != unit_key(cell)


def test_headline_units_are_keyed_by_the_chosen_eps_and_the_image_subset():
    config = load_config("quick")
    models = {"erm_s0": trained_identity(train_recipe(config, "erm", 0)), "erm_s1": {"unit": "other"}}
    base = headline_recipe(config, "autoattack", "erm_s0", models, 0.1)
    assert base["models"] == {"erm_s0": models["erm_s0"]} and base["settings"]["eps"] == [0.1]  # white box only
    assert unit_key(base) == unit_key(headline_recipe(replace(config, attack=replace(config.attack, heatmap_eps=None)),
                                                      "autoattack", "erm_s0", models, 0.1))
    for other in [headline_recipe(config, "autoattack", "erm_s0", models, 0.15),
                  headline_recipe(replace(config, attack=replace(config.attack, worst_case_images=30)), "autoattack", "erm_s0", models, 0.1),
                  headline_recipe(config, "square", "erm_s0", models, 0.1)]:
        assert unit_key(other) != unit_key(base)
    # The main attack units do not depend on the worst-case settings.
    fewer = replace(config, attack=replace(config.attack, worst_case_images=30, worst_case_attacks=()))
    assert unit_key(attack_recipe(fewer, "fgsm", "erm_s0", models)) == unit_key(attack_recipe(config, "fgsm", "erm_s0", models))


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
    assert err == (f"warning: cached unit {path.name} is unreadable (its result does not match its digest: edited or "
                   "damaged); recomputing it\n")


def test_a_unit_of_another_recipe_is_not_reused(stored_attack_unit, capsys):
    store, recipe, _ = stored_attack_unit
    other = {**recipe, "source": "n"}
    store.path(recipe).rename(store.path(other))  # saved under another unit's name
    assert store.load(other) is None
    assert "it belongs to another unit" in capsys.readouterr().err
