"""Resume: finished units are reused, damaged ones recomputed, and a changed setting recomputes only what depends on it."""

import json
import shutil

import pytest
import torch
from conftest import single_thread

from robustness.config import OLD_ATTACK_KEYS, AttackConfig, migrate_attack_keys, to_dict
from robustness.data import load
from robustness.executors import Auto
from robustness.presets import preset
from robustness.results import without_timing
from robustness.suite import compute_results, prepare, saved_config
from robustness.units import UnitStore

CPU = torch.device("cpu")


@pytest.fixture
def copied(tmp_path, small_run):
    """A copy of the finished small run, and its configuration as run_all.py built it."""
    run_dir = tmp_path / "small"
    shutil.copytree(small_run, run_dir)
    return run_dir, saved_config(run_dir)


def rerun(config, run_dir):
    """compute_results as run_suite calls it (the default executor), as JSON (tuples become lists), and the store that saw it."""
    store = UnitStore(run_dir)
    with single_thread():  # as conftest.run_small made the run: diagnostics are recomputed, not cached
        results = compute_results(prepare(config, load(config.data)), store, progress=False, executor=Auto(),
                                  run_dir=run_dir)
    return json.loads(json.dumps(results)), store


def test_unchanged_rerun_computes_nothing_and_gives_the_same_results(copied):
    run_dir, config = copied
    results, store = rerun(config, run_dir)
    # 2 models, 1 attack × 2 sources, Square at the headline ε on each model, 1 noise run
    assert store.computed == [] and len(store.reused) == 7
    assert without_timing(results) == without_timing(json.loads((run_dir / "results.json").read_text()))


@pytest.mark.parametrize(
    "change, recomputed",
    [
        ({"attack": {"heatmap_eps": 0}}, 2),  # the sweep's units stay; the 2 headline units are keyed by the ε
        ({"attack": {"worst_case_images": 30}}, 2),  # the same 2, keyed by their image subset
        ({"noise": {"epochs": 2}}, 1),  # the one label-noise run
        # One attack unit covers every ε of one source (so FGSM's gradient is shared across ε):
        # a new ε recomputes the attack's 2 units, never the models nor the headline units.
        ({"attack": {"eps": [0, 0.05, 0.1]}}, 2),
    ],
)
def test_a_changed_setting_recomputes_only_what_depends_on_it(copied, change, recomputed):
    run_dir, config = copied
    changed = saved_config(run_dir, change)  # validated as --resume RUN_DIR with flags
    results, store = rerun(changed, run_dir)
    assert len(store.computed) == recomputed
    assert len(store.reused) == 7 - recomputed
    if "eps" in change.get("attack", {}):
        assert {c["eps"] for c in results["attacks"]["cells"]} == {0, 0.05, 0.1}


def test_damaged_cached_units_are_recomputed_not_trusted(copied, capsys):
    run_dir, config = copied
    expected = json.loads((run_dir / "results.json").read_text())
    train_file = sorted((run_dir / "units").glob("train-*.pt"))[0]
    train_file.write_bytes(train_file.read_bytes()[:1000])  # truncated
    attack_file = sorted((run_dir / "units").glob("attack-*.json"))[0]
    attack_file.write_text('{"key": "')  # cut mid-write (cannot happen with write_atomic, but disks fail)
    foreign = sorted((run_dir / "units").glob("attack-*.json"))[1]
    payload = json.loads(foreign.read_text())
    payload["result"]["cells"][0]["wrong"] += 1
    payload["key"] = "0" * 20  # a unit saved under the wrong name
    foreign.write_text(json.dumps(payload))
    results, store = rerun(config, run_dir)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: cached unit")]
    assert len(warnings) == 3 and all(line.endswith("; recomputing it") for line in warnings)
    assert len(store.computed) == 3
    assert without_timing(results) == without_timing(expected)


def test_resume_flag_uses_the_saved_configuration(copied, capsys):
    from robustness.cli import main

    run_dir, _ = copied
    (run_dir / "results.json").unlink()
    assert main(["--resume", str(run_dir), "--quiet"]) == 0
    results = json.loads((run_dir / "results.json").read_text())
    assert results["timing"]["units"] == {"computed": 0, "reused": 7}
    assert results["config"]["train"]["epochs"] == 1
    assert f"report: {run_dir / 'report.md'}" in capsys.readouterr().out


def test_report_command_rebuilds_figures_and_report_from_results_alone(tmp_path, small_run):
    from robustness.__main__ import main

    copy = tmp_path / "only-results"
    copy.mkdir()
    shutil.copy(small_run / "results.json", copy / "results.json")
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.md").read_text() == (small_run / "report.md").read_text()
    assert sorted(p.name for p in (copy / "figures").iterdir()) == sorted(p.name for p in (small_run / "figures").iterdir())
    assert (copy / "report.html").stat().st_size > 0 and not list(copy.rglob("*.tmp"))


def test_a_run_started_before_attacks_owned_their_settings_still_resumes(tmp_path):
    """An old config.json holds the flat per-attack keys (pgd_steps, square_queries, …): they move into the
    attacks' tables, so --resume gives the configuration the run was started with."""
    config = preset("tiny")
    saved = json.loads(json.dumps(to_dict(config)))
    tables = saved["attack"].pop("settings")
    saved["attack"] |= {"pgd_steps": tables["pgd"]["steps"], "ifgsm_steps": tables["ifgsm"]["steps"],
                        "square_queries": tables["square"]["queries"], "fab_steps": 10, "mifgsm_decay": 1.0}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    resumed = saved_config(tmp_path)
    assert resumed.attack.settings_of("pgd") == config.attack.settings_of("pgd")
    assert resumed.attack.settings_of("square") == config.attack.settings_of("square")
    assert resumed.attack.settings_of("fab") == {"steps": 10} and resumed.attack.settings_of("mifgsm") == {"decay": 1.0}
    assert resumed.attack.eps == config.attack.eps and resumed.train == config.train
    assert not set(OLD_ATTACK_KEYS) & set(migrate_attack_keys(saved["attack"]))
    assert migrate_attack_keys({"eps": [0.1]}) == {"eps": [0.1]}  # nothing old: unchanged
    assert isinstance(resumed.attack, AttackConfig)
