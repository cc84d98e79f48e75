"""The worst-case stage (robustness/stages/worst_case.py): one unit per attack × model × batch, joined into the same
numbers as one pass over every image; a killed run keeps its finished batches, and a rerun reuses them."""

import json
import os
import subprocess
import sys

import torch
from conftest import ROOT, single_thread

from attacks.worst import headline_matrix
from robustness.config import override
from robustness.data import load
from robustness.executors import InProcess
from robustness.presets import preset
from robustness.results import KILL_AT_ENV, without_timing
from robustness.stages.attack import AttackRecipe
from robustness.stages.worst_case import worst_case_stage
from robustness.suite import compute_results, prepare, saved_config
from robustness.units import UnitStore

CPU = torch.device("cpu")
# Square (few queries) and APGD-CE (2 steps): a score-based attack that records queries and a gradient one, on 40
# images in batches of 16: three batches (16, 16, 8) per attack × model.
BATCHED = {"attack": {"worst_case_attacks": ["square", "apgd_ce"], "worst_case_images": 40, "batch_size": 16,
                      "square": {"queries": 30}, "apgd_ce": {"steps": 2}}}
IDENTITIES = {"erm_s0": {"stand-in": 0}, "mixup_a1_s0": {"stand-in": 1}}


def stage(config, models, split, store, eps=0.1):
    with single_thread():
        return worst_case_stage(config, IDENTITIES, models, store, InProcess(), split, CPU, False, eps)


def test_autoattack_in_batches_gives_the_numbers_of_one_pass(tiny_models, digits):
    """AutoAttack's cells too (every field an ensemble's cell records), at an ε where APGD-CE breaks every image, so
    that Square, its last part, has nothing left to spend 5,000 queries on."""
    config = override(preset("tiny"), {"attack": {"worst_case_attacks": ["autoattack"], "worst_case_images": 24,
                                                  "batch_size": 8}})
    batched = stage(config, tiny_models, digits, UnitStore(None), eps=0.3)
    with single_thread():
        whole = headline_matrix(tiny_models, digits.test_x, digits.test_y, config.attack, 0.3, CPU)
    assert batched == whole and len(batched["cells"]) == 2


def test_batch_units_join_into_the_numbers_of_one_pass_and_a_rerun_reuses_every_batch(tmp_path, tiny_models, digits):
    config = override(preset("tiny"), BATCHED)
    store = UnitStore(tmp_path)
    batched = stage(config, tiny_models, digits, store)
    with single_thread():  # every attack × model over all 40 images at once, as the stage did before per-batch units
        whole = headline_matrix(tiny_models, digits.test_x, digits.test_y, config.attack, 0.1, CPU)
    assert batched == whole  # every count, per-image bit (wrong_bits) and Square's query median
    assert len(store.computed) == 2 * 2 * 3 and len(set(store.computed)) == 12  # attacks × models × batches
    assert any("queries" in c for c in batched["cells"])

    again = UnitStore(tmp_path)
    assert stage(config, tiny_models, digits, again) == batched
    assert again.computed == [] and len(again.reused) == 12

    lost = sorted((tmp_path / "units").glob("attack-*.json"))[:2]  # as if the run had been killed before these
    for path in lost:
        path.unlink()
    third = UnitStore(tmp_path)
    assert stage(config, tiny_models, digits, third) == batched
    assert len(third.computed) == 2 and len(third.reused) == 10


def test_a_unit_written_before_per_batch_units_is_named_and_recomputed_not_reused(tmp_path, tiny_models, digits, capsys):
    config = override(preset("tiny"), {"attack": {"worst_case_attacks": ["square"], "worst_case_images": 20,
                                                  "batch_size": 16, "square": {"queries": 10}}})
    models = {"erm_s0": tiny_models["erm_s0"]}
    identities = {"erm_s0": IDENTITIES["erm_s0"]}
    old = AttackRecipe.of(config, "square", "erm_s0", identities).worst_case(0.1)  # no batch: the old shape's recipe
    assert "batch" not in old.to_json()["headline"]
    store = UnitStore(tmp_path)
    store.save(old, {"n": 20, "clean": {}, "cells": []})  # a finished unit of the old shape
    with single_thread():
        section = worst_case_stage(config, identities, models, store, InProcess(), digits, CPU, False, 0.1)
    assert "1 worst-case unit(s) of the shape before per-batch units" in capsys.readouterr().err
    assert len(store.computed) == 2 and store.reused == [] and section["n"] == 20  # two batches: 16 and 4 images


SMALL = """preset = "tiny"
[train]
epochs = 1
[clean]
methods = ["erm"]
seeds = [0]
[attack]
attacks = ["fgsm"]
eps = [0, 0.1]
worst_case_attacks = ["square"]
worst_case_images = 48
batch_size = 16
[attack.square]
queries = 30
[noise]
enabled = false
"""


def batch_units(run_dir):
    """The worst-case batch units of a run directory: name -> (batch, per-image result)."""
    out = {}
    for path in (run_dir / "units").glob("attack-*.json"):
        payload = json.loads(path.read_text())
        if "headline" in payload["recipe"]:
            out[path.name] = (payload["recipe"]["headline"]["batch"], payload["result"])
    return out


def test_sigkill_mid_attack_keeps_finished_batches_and_the_rerun_gives_the_same_per_image_results(tmp_path):
    toml = tmp_path / "batched.toml"
    toml.write_text(SMALL)
    # Attack units in order: FGSM (1st), then Square's three batches; killed in the 2nd batch, before its save.
    killed = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--config", str(toml), "--out", "reports",
                             "--run-id", "b", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", KILL_AT_ENV: "attack-cell@3"})
    assert killed.returncode == -9, killed.stderr
    run_dir = tmp_path / "reports" / "b"
    kept = batch_units(run_dir)
    assert [batch for batch, _ in kept.values()] == [[0, 16]] and not (run_dir / "results.json").exists()

    def run(units):  # as run_suite computes a run, on one thread as the killed run did
        config = saved_config(run_dir)
        store = UnitStore(units)
        with single_thread():
            results = compute_results(prepare(config, load(config.data)), store, progress=False)
        return json.loads(json.dumps(without_timing(results))), store

    resumed, store = run(run_dir)
    assert len(store.computed) == 2 and len(store.reused) == 3  # 2 batches; the model, FGSM and batch 1 reused
    units = batch_units(run_dir)
    assert {name: units[name] for name in kept} == kept  # the finished batch was reused as it was
    assert sorted(batch for batch, _ in units.values()) == [[0, 16], [16, 32], [32, 48]]
    # The same configuration uninterrupted: the same units, per-image bits and all, and the same results.
    expected, _ = run(tmp_path / "reference")
    assert batch_units(tmp_path / "reference") == units and expected == resumed
