"""Run directories: nothing of the user's is overwritten or deleted, and a stopped run says how to resume (issue 19).

- ``<run>/.lock`` is opened with O_NOFOLLOW: a .lock that is a symlink (or a hard link) to a user's file is
  refused in one line and that file stays byte-identical (``python -m robustness report``, a resumed run);
- the suite writes a marker (``.robustness-run``) into every run directory and only writes into folders that hold
  it (or, for runs older than the marker, whose config.json / results.json are this suite's): a user's project
  folder passed as ``--out DIR --run-id proj`` is refused in one line, every byte of it kept;
- stray-temp cleanup removes only write_atomic's names for the suite's own files, in the run directory's own
  folders, never a user's ``.*.tmp``;
- Ctrl-C prints one line (what is kept, the exact command to resume) and exits 130; a failure after units
  finished keeps them and says the same; the resume command then finishes the run from the kept units.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import robustness.suite
from robustness.__main__ import main as robustness_main
from robustness.cli import main as run_all_main
from robustness.errors import SuiteError
from robustness.results import RUN_MARKER, has_marker, remove_stray_temps
from robustness.suite import is_run_dir
from robustness.units import LOCK_NAME, run_lock

ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (symlinks as their target, files as their bytes)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
    return out


@pytest.fixture
def run_copy(small_run, tmp_path) -> Path:
    """A finished run directory of our own to damage (the small run's, without its lock)."""
    run = tmp_path / "reports" / "small"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns(LOCK_NAME))
    return run


@pytest.fixture
def users_file(tmp_path) -> Path:
    path = tmp_path / "thesis.tex"
    path.write_bytes(b"\\section{Results}\n42 pages the user cannot lose\n")
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- the lock ---------------------------------------------------------------------------------


def test_a_new_run_writes_the_marker(small_run):
    assert has_marker(small_run)
    assert json.loads((small_run / RUN_MARKER).read_text())["suite"] == "robustness"


def test_report_refuses_a_lock_that_is_a_symlink_and_leaves_its_target_alone(run_copy, users_file, capsys):
    (run_copy / LOCK_NAME).symlink_to(users_file)
    before = users_file.read_bytes()
    assert robustness_main(["report", str(run_copy)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "is a symbolic link, not the suite's lock file" in line and "delete the link" in line
    assert users_file.read_bytes() == before


def test_a_resumed_run_refuses_a_lock_that_is_a_symlink(run_copy, users_file, capsys):
    (run_copy / LOCK_NAME).symlink_to(users_file)
    before = users_file.read_bytes()
    assert run_all_main(["--resume", str(run_copy), "--quiet"]) == 2
    assert "is a symbolic link" in one_line(capsys.readouterr().err)
    assert users_file.read_bytes() == before


def test_a_lock_that_is_a_hard_link_is_refused(run_copy, users_file):
    os.link(users_file, run_copy / LOCK_NAME)
    before = users_file.read_bytes()
    with pytest.raises(SuiteError, match="not a plain file of its own"):
        with run_lock(run_copy):
            pass
    assert users_file.read_bytes() == before


def test_the_lock_of_a_plain_run_directory_still_works(run_copy):
    with run_lock(run_copy):
        assert (run_copy / LOCK_NAME).read_text() == str(os.getpid())


# --- the marker -------------------------------------------------------------------------------


def users_project(tmp_path) -> Path:
    proj = tmp_path / "out" / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "config.json").write_text('{"name": "my project", "lr": 0.1}\n')
    (proj / "sub" / ".notes.tmp").write_text("half-written notes\n")
    return proj


def test_a_users_project_folder_is_refused_and_kept_byte_for_byte(tmp_path, capsys):
    """The issue's case: it used to overwrite config.json, delete sub/.notes.tmp and write a run into proj."""
    proj = users_project(tmp_path)
    before = snapshot(tmp_path / "out")
    code = run_all_main(["--preset", "tiny", "--out", str(tmp_path / "out"), "--run-id", "proj", "--quiet"])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line == (f"run_all.py: error: {proj} exists and is not a run directory this suite wrote (it has no "
                    f"{RUN_MARKER} marker and no config.json or results.json of this suite); pass another --run-id or --out")
    assert snapshot(tmp_path / "out") == before


def test_report_refuses_a_folder_with_a_results_json_not_of_this_suite(tmp_path, capsys):
    folder = tmp_path / "data"
    (folder / "deep").mkdir(parents=True)
    (folder / "results.json").write_text('{"accuracy": 0.9}\n')
    (folder / "deep" / ".draft.tmp").write_text("mine\n")
    before = snapshot(folder)
    assert robustness_main(["report", str(folder)]) == 2
    assert "schema_version is missing" in one_line(capsys.readouterr().err)
    assert snapshot(folder) == before


@pytest.mark.parametrize("name", ["units", ".lock", "results.json"])
def test_common_names_alone_do_not_make_a_run_directory(tmp_path, name):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / name).mkdir() if name == "units" else (folder / name).write_text("{}")
    assert not is_run_dir(folder)


def test_a_run_written_before_the_marker_still_reports_and_gets_the_marker(run_copy):
    (run_copy / RUN_MARKER).unlink()
    assert is_run_dir(run_copy)  # its config.json and results.json are this suite's
    assert robustness_main(["report", str(run_copy)]) == 0
    assert has_marker(run_copy)


def test_a_run_written_before_the_marker_resumes_from_its_config_json(run_copy):
    (run_copy / RUN_MARKER).unlink()
    (run_copy / "results.json").unlink()  # killed before results.json: config.json and units are all there is
    assert is_run_dir(run_copy)
    assert run_all_main(["--resume", str(run_copy), "--quiet"]) == 0
    assert has_marker(run_copy)
    assert json.loads((run_copy / "results.json").read_text())["timing"]["units"]["computed"] == 0


def test_a_symlinked_units_folder_is_refused(run_copy, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run_copy / "units", elsewhere)
    (run_copy / "units").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    assert run_all_main(["--resume", str(run_copy), "--quiet"]) == 2
    assert "units is a symbolic link" in one_line(capsys.readouterr().err)
    assert snapshot(elsewhere) == before


# --- stray temporary files --------------------------------------------------------------------


def test_cleanup_removes_only_the_suites_own_temp_names(run_copy, capsys):
    ours = [run_copy / ".results.json.k2j_9x0a.tmp", run_copy / ".config.json.abcdefgh.tmp",
            run_copy / "units" / f".attack-{'0' * 20}.json.x1y2z3w4.tmp", run_copy / "figures" / ".whitebox.png.qwertyui.tmp"]
    users = [run_copy / ".notes.tmp", run_copy / "sub" / ".notes.tmp", run_copy / "sub" / ".results.json.abcdefgh.tmp",
             run_copy / "units" / "deeper" / f".attack-{'0' * 20}.json.x1y2z3w4.tmp", run_copy / ".results.json.tmp",
             run_copy / "figures" / ".my plot.tmp"]
    for path in ours + users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert sorted(remove_stray_temps(run_copy)) == sorted(ours)
    assert not any(p.exists() for p in ours) and all(p.read_text() == "x" for p in users)


def test_report_leaves_a_users_hidden_temp_files_below_the_run_alone(run_copy, capsys):
    notes = run_copy / "notes" / ".draft.md.abcdefgh.tmp"
    notes.parent.mkdir()
    notes.write_text("mine\n")
    assert robustness_main(["report", str(run_copy)]) == 0
    assert notes.read_text() == "mine\n"


# --- stopping: Ctrl-C, and a failure after units finished -------------------------------------


def test_a_failure_after_units_finished_keeps_them_and_says_how_to_resume(run_copy, monkeypatch, capsys):
    (run_copy / "results.json").unlink()
    units = sorted(p.name for p in (run_copy / "units").iterdir())

    def report_fails(run_dir):
        raise SuiteError("cannot draw figures/whitebox.png (disk full)")

    monkeypatch.setattr(robustness.suite, "build_report", report_fails)
    assert run_all_main(["--resume", str(run_copy), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == (f"run_all.py: error: cannot draw figures/whitebox.png (disk full); {len(units)} finished units kept "
                    f"in {run_copy / 'units'}: once the cause is fixed, resume with python run_all.py --resume {run_copy}")
    assert sorted(p.name for p in (run_copy / "units").iterdir()) == units
    monkeypatch.undo()
    assert run_all_main(shlex.split(line.rsplit("resume with python run_all.py ", 1)[1]) + ["--quiet"]) == 0
    assert json.loads((run_copy / "results.json").read_text())["timing"]["units"]["computed"] == 0


def test_ctrl_c_prints_one_line_exits_130_and_the_run_resumes(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "run_all.py"), "--preset", "tiny", "--seeds", "0", "--no-noise", "--out",
               str(out), "--run-id", "r", "--quiet"]
    # SIGINT back to its default in the child: a shell that starts pytest in the background (`pytest &`) ignores
    # SIGINT for it, the children inherit that, and Python then never raises KeyboardInterrupt (the run finished, 0).
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    units = out / "r" / "units"
    deadline = time.monotonic() + 300
    while not (units.is_dir() and list(units.glob("train-*.pt"))):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    line = one_line(err)
    kept = [p for p in units.iterdir() if not p.name.startswith(".")]
    assert line.startswith(f"run_all.py: interrupted; {len(kept)} finished unit")
    assert line.endswith(f"resume with python run_all.py --resume {out / 'r'}")
    assert kept and not (out / "r" / "results.json").exists()
    resume = shlex.split(line.rsplit("resume with ", 1)[1])
    assert resume[:2] == ["python", "run_all.py"]
    done = subprocess.run([sys.executable, str(ROOT / "run_all.py"), *resume[2:], "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "r" / "results.json").read_text())
    assert results["timing"]["units"]["reused"] >= len(kept)
