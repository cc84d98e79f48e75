"""SIGKILL at known points (ROBUSTNESS_TEST_KILL_AT, test-only), rerun, and get exactly the uninterrupted result."""

import json
import os
import shutil

from conftest import run_small

from robustness.results import KILL_AT_ENV, without_timing


def results_of(run_dir):
    return without_timing(json.loads((run_dir / "results.json").read_text()))


def units(run_dir, kind):
    return sorted(p.name for p in (run_dir / "units").glob(f"{kind}-*"))


def test_killed_in_training_attacks_and_report_then_rerun_equals_uninterrupted(tmp_path, small_toml, small_run):
    run_dir = tmp_path / "reports" / "small"

    killed = run_small(tmp_path, small_toml, env={KILL_AT_ENV: "train-epoch@2"})  # 2nd model, after its epoch
    assert killed.returncode == -9, killed.stderr
    assert len(units(run_dir, "train")) == 1 and not (run_dir / "results.json").exists()

    killed = run_small(tmp_path, small_toml, env={KILL_AT_ENV: "attack-cell@2"})  # 2nd cell, before its save
    assert killed.returncode == -9, killed.stderr
    assert len(units(run_dir, "train")) == 2 and len(units(run_dir, "attack")) == 1
    assert not (run_dir / "results.json").exists()

    killed = run_small(tmp_path, small_toml, env={KILL_AT_ENV: "write:report.html"})  # temp written, not renamed
    assert killed.returncode == -9, killed.stderr
    assert list(run_dir.glob(".report.html.*.tmp")), "the kill point was not reached"
    assert units(run_dir, "attack") == units(small_run, "attack") and units(run_dir, "train") == units(small_run, "train")

    done = run_small(tmp_path, small_toml)
    assert done.returncode == 0, done.stderr
    assert results_of(run_dir) == results_of(small_run)
    assert json.loads((run_dir / "results.json").read_text())["timing"]["units"] == {"computed": 0, "reused": 7}
    assert not list(run_dir.rglob("*.tmp"))
    assert (run_dir / "report.html").stat().st_size > 0


def test_second_run_on_a_locked_directory_is_refused_and_changes_nothing(tmp_path, small_toml, small_run,
                                                                        monkeypatch, capsys):
    from robustness.cli import main
    from robustness.units import run_lock

    run_dir = tmp_path / "reports" / "small"
    shutil.copytree(small_run, run_dir)
    monkeypatch.chdir(tmp_path)
    with run_lock(run_dir):  # what a running run holds (flock: a second open file conflicts even in one process)
        before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
        assert main(["--config", str(small_toml), "--out", "reports", "--run-id", "small", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert f"run directory reports/small is in use by another run (pid {os.getpid()}); wait for it" in err
    assert "another --run-id" in err
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_report_command_waits_for_no_one_and_refuses_a_locked_run(tmp_path, small_run, capsys):
    from robustness.__main__ import main
    from robustness.units import run_lock

    run_dir = tmp_path / "copy"
    shutil.copytree(small_run, run_dir)
    with run_lock(run_dir):
        assert main(["report", str(run_dir)]) == 2
    assert "is in use by another run" in capsys.readouterr().err


def test_report_on_a_run_still_before_its_results_names_the_lock(tmp_path, capsys):
    """A run that holds its directory has not written results.json yet: the lock is what to report."""
    from robustness.__main__ import main
    from robustness.results import write_marker
    from robustness.units import run_lock

    run_dir = tmp_path / "running"
    run_dir.mkdir()
    with run_lock(run_dir):
        write_marker(run_dir)  # as run_suite does first, under the lock
        assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "is in use by another run" in err and "does not exist" not in err
