"""results.json is checked whole before ``report`` and ``leaderboard`` read it (robustness/results_check.py).

Before the check, a hand-edited file ended in tracebacks (KeyError 'error', "Unknown format code 'f' for
object of type 'str'", "'list' object has no attribute 'values'", "'NoneType' object is not iterable",
RecursionError, ...) and NaN, inf or an error of 500% were drawn silently. Here every field of a real
results.json (one per list and per map, so every kind of field) gets each bad value in turn: the check either
refuses it with one line that names that field, or accepts it, and then report and leaderboard succeed.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.errors import SuiteError
from robustness.leaderboard import build_leaderboard
from robustness.report import build_report
from robustness.results import SCHEMA_VERSION, check_schema, read_results
from robustness.results_check import MAX_DEPTH, at, check_results, spelled

ROOT = Path(__file__).resolve().parents[1]
DEEP = "DEEP"  # stands for lists nested far deeper than MAX_DEPTH; spliced in as text (json.dumps would recurse)
BAD_VALUES = [None, "x", [], {}, math.nan, math.inf, -1, 5, 1e308, -0.5, True, DEEP]


@pytest.fixture(scope="module")
def real(small_run) -> dict:
    """The small run's results.json, parsed (a fresh copy per use: json.loads of the text)."""
    return json.loads((small_run / "results.json").read_text())


def as_text(doc: dict) -> str:
    return json.dumps(doc).replace(json.dumps(DEEP), "[" * 50_000 + "]" * 50_000)


def fields(doc, path=()) -> list[tuple]:
    """The path of every field, taking the first item of each list and the first entry of each map of names
    (models, families): one of each kind of field, not all 2,000 cells."""
    out = [path] if path else []
    if isinstance(doc, dict):
        keys = list(doc)
        if path and path[-1] in ("models", "clean", "diagnostics", "summary") and all(isinstance(doc[k], dict) for k in keys):
            keys = keys[:1]
        for key in keys:
            out += fields(doc[key], path + (key,))
    elif isinstance(doc, list) and doc:
        out += fields(doc[0], path + (0,))
    return out


def substituted(doc: dict, path: tuple, value) -> dict:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def checked(text: str, where: str = "results.json") -> dict:
    """What read_results does with the text of a results.json."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise SuiteError(f"{where} nests deeper than any results.json this suite writes") from None
    check_schema(doc, Path(where))
    return check_results(doc, where)


def test_the_real_file_passes(real):
    assert check_results(json.loads(json.dumps(real)))["run_id"] == "small"


def test_every_field_with_every_bad_value_is_refused_by_name_or_reads(real, tmp_path):
    """The fuzz: ~200 fields x 12 values. A refusal is one line naming the field (or a field inside it: an
    object replaced by {} lacks its first key); what is accepted is then read by report and leaderboard."""
    original = json.dumps(real)
    accepted: dict[str, list[tuple]] = {}
    refused = 0
    for path in fields(real):
        for value in BAD_VALUES:
            doc = substituted(json.loads(original), path, value)
            try:
                checked(as_text(doc))
            except SuiteError as err:
                message = str(err)
                assert "\n" not in message, message
                name = spelled(at(*path))
                named = message.partition(": ")[2]  # the first bad field: the one substituted, or one inside it
                if value == DEEP:
                    assert "nest" in message, message
                elif path[0] == "config":  # the configuration, or a cell it no longer covers
                    assert named.startswith("config") or "config.attack" in named, message
                elif name == "models":  # every section naming a model no longer finds it
                    assert named.startswith("models") or "models (" in named, message
                else:
                    assert named.startswith((f"{name} ", f"{name}.", f"{name}[")), (name, value, message)
                refused += 1
            else:
                accepted.setdefault(repr(value), []).append(path)
    assert refused > 1000  # the check refuses most of these; the rest must read
    # Accepted substitutions of one value, all in one file: report and leaderboard read it without a traceback.
    late = []
    for value_repr, paths in accepted.items():
        value = next(v for v in BAD_VALUES if repr(v) == value_repr)
        doc, done = json.loads(original), []
        for path in paths:
            if not any(path[:len(outer)] == outer for outer in done):  # not inside a field already replaced
                substituted(doc, path, copy.deepcopy(value))
                done.append(path)
        text = as_text(doc)
        try:
            checked(text)
        except SuiteError:
            continue  # together they are refused; each alone was fine
        run = tmp_path / f"v{len(list(tmp_path.iterdir()))}" / "run"
        run.mkdir(parents=True)
        (run / "results.json").write_text(text)
        try:
            assert build_report(run).is_file() and build_leaderboard(run.parent).is_file()
        except SuiteError as err:  # what the check let through may still stop, but in one line (READ_ERRORS)
            assert "\n" not in str(err) and "passed the results check but cannot be drawn" in str(err), err
            late.append(f"{value_repr}: {err}")
    print("\n".join(late))  # with -s: what the check could still learn


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["attacks"]["cells"][0].pop("error"), "attacks.cells[0].error is missing"),
    (lambda d: d["models"]["erm_s0"].__setitem__("clean_error", "x"),
     'models.erm_s0.clean_error is "x" (a string); expected a number in [0, 1]'),
    (lambda d: d.__setitem__("models", list(d["models"].values())), "models is a list; expected an object"),
    (lambda d: d.__setitem__("checks", None), "checks is null; expected a list"),
    (lambda d: d["noise"].__setitem__("runs", None), "noise.runs is null; expected a list"),
    (lambda d: d["models"]["erm_s0"].__setitem__("clean_error", math.nan), "models.erm_s0.clean_error is NaN"),
    (lambda d: d["models"]["erm_s0"].__setitem__("clean_error", math.inf), "models.erm_s0.clean_error is Infinity"),
    (lambda d: d["models"]["erm_s0"].__setitem__("clean_error", 5.0), "models.erm_s0.clean_error is 5.0; expected a number in [0, 1]"),
    (lambda d: d["models"]["erm_s0"].__setitem__("clean_error", -0.5), "models.erm_s0.clean_error is -0.5"),
    (lambda d: d["models"]["erm_s0"].__setitem__("train_seconds", 1e308), "models.erm_s0.train_seconds is 1e+308"),
    (lambda d: d["attacks"]["cells"][0].__setitem__("wrong", -1), "attacks.cells[0].wrong is -1; expected a whole number"),
    (lambda d: d["attacks"]["cells"][0].__setitem__("target", "nobody"),
     'attacks.cells[0].target is "nobody" (a string); expected a model of models (erm_s0, mixup_a1_s0)'),
    (lambda d: d["config"]["train"].__setitem__("epochs", "many"), "config is an object; expected this suite's configuration"),
    (lambda d: d.__setitem__("schema_version", str(SCHEMA_VERSION)),
     f'schema_version is "{SCHEMA_VERSION}" (a string); expected the whole number {SCHEMA_VERSION}'),
])
def test_the_issue_s_cases_get_one_line_naming_the_field(real, edit, expected):
    doc = json.loads(json.dumps(real))
    edit(doc)
    with pytest.raises(SuiteError) as caught:
        checked(as_text(doc))
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert message.count(str(SCHEMA_VERSION)) <= 2 if "schema_version" in expected else True  # not "'4' ... version 4" twice over


def test_deep_nesting_is_refused_without_recursion_error(real):
    doc = json.loads(json.dumps(real))
    doc["checks"] = DEEP
    with pytest.raises(SuiteError, match="nests deeper"):
        checked(as_text(doc))
    nested = 0
    for _ in range(MAX_DEPTH + 5):  # deeper than the limit but shallow enough for json itself
        nested = [nested]
    doc["checks"] = nested
    with pytest.raises(SuiteError, match=r"checks(\[0\])+ is .*expected at most \d+ levels of nesting"):
        checked(json.dumps(doc))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robustness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_report_and_leaderboard_stop_with_one_line_and_exit_2(small_run, tmp_path):
    run = tmp_path / "runs" / "bad"
    run.mkdir(parents=True)
    doc = json.loads((small_run / "results.json").read_text())
    doc["models"]["erm_s0"]["clean_error"] = 5.0
    (run / "results.json").write_text(json.dumps(doc))
    before = sorted(p.name for p in run.iterdir())
    done = cli("report", str(run), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"python -m robustness: error: {run / 'results.json'}: models.erm_s0.clean_error is 5.0; expected a number "
        "in [0, 1]; rerun the run to rewrite it (finished units are reused)"]
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written: no lock, no marker, no figures
    shutil.copytree(small_run, tmp_path / "runs" / "good", ignore=shutil.ignore_patterns(".lock"))
    done = cli("leaderboard", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "leaves out" in done.stderr and "models.erm_s0.clean_error is 5.0" in done.stderr
    assert "Traceback" not in done.stderr


def test_read_results_refuses_a_deep_file_in_one_line(tmp_path, real):
    doc = json.loads(json.dumps(real))
    doc["noise"] = DEEP
    (tmp_path / "results.json").write_text(as_text(doc))
    with pytest.raises(SuiteError, match="nests deeper") as caught:
        read_results(tmp_path)
    assert "\n" not in str(caught.value)
