"""Reading and writing results.json, atomically, and the run's environment record."""

from __future__ import annotations

import io
import json
import os
import platform
import re
import signal
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from robustness.errors import SuiteError
from robustness.formatting import former_attack_names
from robustness.results_check import check_results, shown

SCHEMA_VERSION = 7  # 2: method settings as "params", between_points always; 3: threat_model, worst_case, score_based; 4: noise.attack, runs' under_attack; 5: config.attack.settings (each attack's own table); 6: per-image wrong_bits kept, statistics; 7: autoattack at the reference's strength (before: autoattack-fast), the reference's checks in diagnostics, an ensemble's parts
READABLE_VERSIONS = (5, 6, SCHEMA_VERSION)  # an older run still gets a report: its comparisons come from its units
RETITLED = {7: {"AutoAttack ≥": "AutoAttack-fast (10 steps) ≥"}}  # check names built from former titles (RENAMED_ATTACKS)
REQUIRED_KEYS = ("schema_version", "run_id", "config", "environment", "data", "models", "attacks", "diagnostics", "checks",
                 "between_points", "noise", "statistics", "timing")
NEW_IN_6 = ("statistics",)
TEMP_SUFFIX = ".tmp"  # write_atomic's temporary files are ".<name>.<random>.tmp" beside their target
KILL_AT_ENV = "ROBUSTNESS_TEST_KILL_AT"  # test-only: see fault_point
_hook_calls: dict[str, int] = {}


def fault_point(point: str) -> None:
    """Test-only fault injection: SIGKILL this process at a named point.

    ``ROBUSTNESS_TEST_KILL_AT=POINT`` kills at the first time ``POINT`` is reached,
    ``POINT@N`` at the N-th. Points: ``train-epoch`` (after each training epoch),
    ``attack-cell`` (an attack unit computed, not yet saved), ``write:<file name>``
    (a temporary file written and fsynced, not yet renamed). Unset, this does nothing.
    """
    wanted = os.environ.get(KILL_AT_ENV)
    if not wanted:
        return
    name, _, count = wanted.partition("@")
    if name != point:
        return
    _hook_calls[point] = _hook_calls.get(point, 0) + 1
    if _hook_calls[point] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename: readers never see half a file.

    Any OSError (a full disk, a read-only directory) becomes a one-line SuiteError,
    and the temporary file is removed, so ``path`` is either the old file or the new one.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as err:
        raise SuiteError(f"cannot write {path} ({err.strerror or err}); make {path.parent} writable") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise SuiteError(
                f"cannot write {path} ({err.strerror or err}); free space or fix permissions, then rerun the "
                "same command: finished work is kept"
            ) from None
        raise


# The files the suite writes through write_atomic in a run directory, by folder; their temporary files
# are ".<name>.<8 random characters>.tmp" (tempfile.mkstemp's alphabet). Nothing else is ever deleted.
_RANDOM = r"[a-z0-9_]{8}"
_OWN_TEMPS = {
    ".": rf"\.(config\.json|results\.json|report\.md|report\.html|\.robustness-run)\.{_RANDOM}\{TEMP_SUFFIX}",
    "units": rf"\.(train|attack)-[0-9a-f]{{20}}\.(pt|json)\.{_RANDOM}\{TEMP_SUFFIX}",
    "models": rf"\.[^/]+\.pt\.{_RANDOM}\{TEMP_SUFFIX}",
    "figures": rf"\.[^/]+\.png\.{_RANDOM}\{TEMP_SUFFIX}",
}


def remove_stray_temps(run_dir: Path) -> list[Path]:
    """Delete temporary files that a killed writer of this suite left behind (call it only while holding the
    run lock): only names write_atomic makes for the suite's own files, only in the run directory and its
    ``units/``, ``models/`` and ``figures/`` (never through a symlink, never deeper), so a user's
    ``sub/.notes.tmp`` is never touched."""
    strays = []
    for folder, pattern in _OWN_TEMPS.items():
        where = Path(run_dir) / folder
        if where.is_symlink() or not where.is_dir():
            continue
        strays += [p for p in where.iterdir() if re.fullmatch(pattern, p.name) and p.is_file() and not p.is_symlink()]
    for stray in strays:
        stray.unlink(missing_ok=True)
    return strays


# --- the marker: which folders are run directories this suite wrote ---------------------------

RUN_MARKER = ".robustness-run"  # a small JSON file the suite writes into every run directory it creates
MARKER = {"suite": "robustness", "marker_version": 1,
          "what": "a run directory written by run_all.py or python -m noise; see docs/resume-and-ray.md"}


def has_marker(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds this suite's marker (a plain file, not a symlink, naming the suite)."""
    path = Path(run_dir) / RUN_MARKER
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("suite") == MARKER["suite"]
    except (OSError, ValueError, AttributeError):
        return False


def write_marker(run_dir: Path) -> None:
    write_json(Path(run_dir) / RUN_MARKER, MARKER)


def without_timing(results: Any) -> Any:
    """``results`` without its timing fields (the ``timing`` section and every ``*_seconds`` key),
    which are the only fields allowed to differ between two runs of one configuration on the CPU."""
    if isinstance(results, dict):
        return {k: without_timing(v) for k, v in results.items() if k != "timing" and not k.endswith("_seconds")}
    if isinstance(results, list):
        return [without_timing(v) for v in results]
    return results


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode())


def save_state_dict(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def read_results(run_dir: str | Path) -> dict:
    """A run's results.json, checked whole (robustness/results_check.py) before anything reads it: a file
    that is not as this suite writes it stops with one line naming the first bad field."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise SuiteError(f"{path} does not exist; pass a run directory written by run_all.py")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SuiteError(f"{path} is not valid JSON ({err}); rerun the suite to rewrite it") from None
    except RecursionError:
        raise SuiteError(f"{path} nests deeper than any results.json this suite writes; rerun the suite to "
                         "rewrite it") from None
    check_schema(results, path)
    return with_current_names(check_results(results, str(path)))


def with_current_names(results: dict) -> dict:
    """``results`` with every attack named as today's suite names what ran (an older file's ``autoattack`` is
    ``autoattack-fast``, in the cells, the config, the worst case, the statistics and the check names), so its report
    and the leaderboard name the variant that ran; ``schema_version`` stays, so that its units, which keep the
    former names, are matched through ``former_attack_names`` (robustness/statistics.py)."""
    version = results["schema_version"]
    names = former_attack_names(version)
    if not names:
        return results
    titles = {old: new for since, pairs in RETITLED.items() if version < since for old, new in pairs.items()}
    out = renamed(results, names)
    for check in out.get("checks") or []:
        for old, new in titles.items():
            if check.get("check", "").startswith(old):
                check["check"] = new + check["check"][len(old):]
    return out


def renamed(value: Any, names: dict[str, str]) -> Any:
    """A copy of a JSON value with every string equal to a key of ``names`` (as a value or as an object's key) renamed."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [renamed(item, names) for item in value]
    if isinstance(value, dict):
        return {names.get(key, key): renamed(item, names) for key, item in value.items()}
    return value


def check_schema(results: Any, path: Path) -> None:
    """A results.json this version can read: a JSON object of this schema version with every top-level key."""
    if not isinstance(results, dict):
        raise SuiteError(f"{path} holds a JSON {type(results).__name__}, not a results object; rerun the suite to rewrite it")
    version = results.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        held = "is missing" if "schema_version" not in results else f"is {shown(version)}"
        raise SuiteError(f"{path}: schema_version {held}; expected the whole number {SCHEMA_VERSION}: "
                         "rerun the suite to rewrite it")
    if version not in READABLE_VERSIONS:
        raise SuiteError(f"{path}: schema_version is {version}, but this suite reads version {SCHEMA_VERSION}; "
                         "rerun the run (finished units are reused) to rewrite it (versions 5 and 6 still read)")
    missing = [key for key in REQUIRED_KEYS if key not in results and (version >= 6 or key not in NEW_IN_6)]
    if missing:
        raise SuiteError(f"{path} lacks {', '.join(missing)}; rerun the suite to rewrite it")


def environment(device: torch.device) -> dict:
    """Library versions and the device, so a reader knows what produced the numbers."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        **{name: metadata.version(name) for name in ("torchvision", "torchattacks", "scikit-learn", "numpy")},
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_threads": torch.get_num_threads(),
    }
