"""noise.attack (white-box FGSM and PGD on every label-noise model, one cached unit each) and the noise-methods
presets. The presets' noisy-label methods live on another branch: the end-to-end run overrides them with
existing methods (erm, mixup:1, dropout:0.5, and label_smoothing:0.1 standing in for a family the paper lacks)."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from attacks.transfer import transfer_matrix
from conftest import CPU, single_thread
from noise import noise_specs
from noise.__main__ import overrides, parser
from robustness.config import override
from robustness.presets import NOISE_METHODS_COMPARED, NOISY_LABEL_METHODS, PRESETS
from robustness.executors import InProcess
from robustness.methods import model_id, parse_method
from robustness.stages.label_noise import NOISE_ATTACKS, noise_attack_eps, noise_recipes, noise_stage
from robustness.stages.train import model_from_state
from robustness.units import UnitStore

ROOT = Path(__file__).resolve().parents[1]
STAND_INS = ["erm", "mixup:1", "dropout:0.5", "label_smoothing:0.1"]


def test_the_noise_methods_presets_grid_seeds_and_attack_flag():
    for name in ("noise-methods", "noise-methods-cifar10"):
        config = PRESETS[name]
        assert noise_specs(config.noise) == ["uniform:0.2", "uniform:0.5", "uniform:0.8", "pairflip:0.4"]
        assert config.noise.seeds == (0, 1) and config.noise.attack
        assert config.noise.methods == config.clean.methods == NOISE_METHODS_COMPARED
        assert set(NOISE_METHODS_COMPARED) >= {"erm", *NOISY_LABEL_METHODS} and any(m.startswith("mixup") for m in NOISE_METHODS_COMPARED)
    assert PRESETS["noise-methods"].data.name == "digits" and PRESETS["noise-methods-cifar10"].data.name == "cifar10"
    assert len(NOISY_LABEL_METHODS) == 6 and PRESETS["thorough"].noise.attack
    assert not PRESETS["quick"].noise.attack  # the default run's budget has no room for it
    overridden = override(PRESETS["noise-methods"], {"noise": {"methods": STAND_INS}})
    assert len(noise_recipes(overridden)) == 4 * len(STAND_INS) * 2  # specs × methods × seeds


def test_the_attack_eps_is_the_headline_else_the_configured_else_the_middle():
    attack = PRESETS["tiny"].attack
    config = replace(PRESETS["tiny"], attack=replace(attack, eps=(0.0, 0.05, 0.1, 0.2), heatmap_eps=None))
    assert noise_attack_eps(config, 0.05)[0] == 0.05
    assert noise_attack_eps(config, None)[0] == 0.1
    assert noise_attack_eps(replace(config, attack=replace(config.attack, heatmap_eps=0.2)), None)[0] == 0.2


@pytest.fixture(scope="module")
def attacked(digits, tmp_path_factory):
    """The tiny preset's label-noise stage with noise.attack on, 2 seeds, its units kept in a store."""
    config = override(PRESETS["tiny"], {"train": {"arch": "mlp"}, "attack": {"pgd": {"steps": 2}},
                                        "noise": {"attack": True, "epochs": 1, "methods": ["erm", "mixup:1"],
                                                  "seeds": [0, 1]}})
    store = UnitStore(tmp_path_factory.mktemp("run"))
    with single_thread():
        noise = noise_stage(config, digits, store, InProcess(), CPU, progress=False)
    return config, store, noise


def test_every_run_is_attacked_and_its_numbers_are_the_attack_stages(attacked, digits):
    config, store, noise = attacked
    eps = config.attack.heatmap_eps
    assert noise["attack"] == {"attacks": list(NOISE_ATTACKS), "eps": eps, "eps_rule": "attack.heatmap_eps"}
    assert len(store.computed) == len(noise["runs"]) * (1 + len(NOISE_ATTACKS))  # a train and two attack units per run
    recipes = noise_recipes(config)
    for run, (key, recipe) in zip(noise["runs"], recipes.items()):
        assert (run["spec"], run["method"], run["seed"]) == key and run["under_attack"]["eps"] == eps
        model = model_from_state(recipe, store.load(recipe)["state_dict"], digits, CPU)
        name = f"{run['spec']} {model_id(parse_method(run['method']), run['seed'])}"  # PGD's random start is seeded by it
        for attack in NOISE_ATTACKS:
            with single_thread():  # the same machinery, called directly: the same count of wrong images
                cell = transfer_matrix({name: model}, digits.test_x, digits.test_y,
                                       replace(config.attack, attacks=(attack,), eps=(eps,)), CPU, progress=False)["cells"][0]
            assert run["under_attack"][attack]["wrong"] == cell["wrong"]
            assert run["under_attack"][attack]["error"] >= run["last_test_error"]  # an attack only adds mistakes
    for row in noise["summary"]:
        group = [r for r in noise["runs"] if (r["spec"], r["method"]) == (row["spec"], row["method"])]
        assert row["under_attack"]["pgd"]["n"] == 2
        assert row["under_attack"]["pgd"]["mean"] == pytest.approx(sum(r["under_attack"]["pgd"]["error"] for r in group) / 2)


def test_a_rerun_reuses_every_unit_and_gives_the_same_numbers(attacked, digits):
    config, store, noise = attacked
    again = UnitStore(store.dir.parent)
    with single_thread():
        second = noise_stage(config, digits, again, InProcess(), CPU, progress=False)
    assert again.computed == [] and len(again.reused) == len(store.computed)
    assert [r["under_attack"] for r in second["runs"]] == [r["under_attack"] for r in noise["runs"]]


def test_off_by_default_and_then_nothing_is_attacked(digits):
    config = override(PRESETS["tiny"], {"train": {"arch": "mlp"}, "noise": {"epochs": 1, "methods": ["erm"]}})
    store = UnitStore(None)
    with single_thread():
        noise = noise_stage(config, digits, store, InProcess(), CPU, progress=False)
    assert noise["attack"] is None and all(r["under_attack"] is None for r in noise["runs"])
    assert all(row["under_attack"] is None for row in noise["summary"]) and len(store.computed) == len(noise["runs"])


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_noise_methods_end_to_end_report_and_leaderboard(tmp_path):
    """The noise-methods preset's grid, seeds and attack flag, shrunk (mlp, 1 epoch, 200 test images)."""
    toml = tmp_path / "nm.toml"
    toml.write_text('preset = "noise-methods"\n[data]\ntest_subset = 200\n[train]\narch = "mlp"\nepochs = 1\n'
                    f'[clean]\nmethods = {json.dumps(STAND_INS)}\n[attack]\nbetween_pairs = 20\n[attack.pgd]\nsteps = 2\n'
                    f'[noise]\nepochs = 1\nmethods = {json.dumps(STAND_INS)}\n')
    done = run("run_all.py", "--config", str(toml), "--out", str(tmp_path / "out"), "--run-id", "nm", "--quiet")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "out" / "nm"
    results = json.loads((run_dir / "results.json").read_text())
    noise = results["noise"]
    assert noise["specs"] == ["uniform:0.2", "uniform:0.5", "uniform:0.8", "pairflip:0.4"]
    assert len(noise["runs"]) == 4 * len(STAND_INS) * 2
    assert noise["attack"]["eps"] == results["attacks"]["heatmap_eps"] and "headline" in noise["attack"]["eps_rule"]
    assert all(0 <= r["under_attack"][a]["error"] <= 1 for r in noise["runs"] for a in NOISE_ATTACKS)
    report = (run_dir / "report.md").read_text()
    assert (run_dir / "figures" / "noise_under_attack.png").stat().st_size > 0
    attack_table = report.split("## Corrupted labels under attack")[1].split("\n## ")[0]
    assert attack_table.count("\n| ") == 1 + 4 * len(STAND_INS)  # header + a row per spec × method
    table2 = report.split("## Corrupted labels: the paper's Table 2")[1].split("\n## ")[0]
    for display in ("ERM", "dropout", "mixup", "label smoothing"):
        assert table2.count(display) >= 4, display  # every spec has a row of every family, the paper's or not
    done = run("-m", "robustness", "leaderboard", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    board = (tmp_path / "out" / "leaderboard.html").read_text()
    assert all(f"{model}" in board for model in results["models"])


def test_python_m_noise_attack_flag_sets_noise_attack():
    assert overrides(parser().parse_args(["--attack"]))["noise"]["attack"] is True
    assert "attack" not in overrides(parser().parse_args([]))["noise"]  # the preset's value stands
