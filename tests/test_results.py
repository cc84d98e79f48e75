"""results.json IO (robustness/results.py): atomic writes, schema checks before a report reads anything."""

import json

import pytest

import attacks  # noqa: F401  (registers the attacks: their titles make the check names)
from robustness.__main__ import main as report_main
from robustness.errors import SuiteError
from robustness.formatting import attack_name
from robustness.results import REQUIRED_KEYS, SCHEMA_VERSION, read_results, with_current_names, without_timing, write_json


@pytest.mark.parametrize("content, message", [
    ("{}", f"schema_version is missing; expected the whole number {SCHEMA_VERSION}"),
    (f'{{"schema_version": "{SCHEMA_VERSION}"}}', f'schema_version is "{SCHEMA_VERSION}" .a string.; expected the whole number {SCHEMA_VERSION}'),
    ("[1, 2]", "holds a JSON list, not a results object"),
    ('{"schema_version": 1}', f"schema_version is 1, but this suite reads version {SCHEMA_VERSION}; rerun the run"),
    (f'{{"schema_version": {SCHEMA_VERSION}, "config": {{}}}}', "lacks run_id, environment, data"),
    ("{not json", "is not valid JSON"),
])
def test_a_results_file_this_suite_cannot_read_is_a_one_line_error(tmp_path, content, message, capsys):
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(SuiteError, match=message.replace("[", r"\[")):
        read_results(tmp_path)
    assert report_main(["report", str(tmp_path)]) == 2  # the report command says the same, in one line
    err = capsys.readouterr().err
    assert err.startswith("python -m robustness: error: ") and err.count("\n") == 1


def test_a_run_writes_every_required_key(small_run):
    results = read_results(small_run)
    assert results["schema_version"] == SCHEMA_VERSION and set(REQUIRED_KEYS) <= set(results)


def test_written_json_reads_back_and_timing_is_all_that_without_timing_drops(tmp_path):
    results = {"schema_version": SCHEMA_VERSION, "timing": {"total": 1.0}, "models": {"m": {"train_seconds": 2, "seed": 0}}}
    write_json(tmp_path / "r.json", results)
    assert json.loads((tmp_path / "r.json").read_text()) == results
    assert without_timing(results) == {"schema_version": SCHEMA_VERSION, "models": {"m": {"seed": 0}}}
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_older_files_autoattack_is_read_as_the_10_iteration_variant_that_ran():
    """Before schema 7, ``autoattack`` was torchattacks' 10-iteration ensemble: reading such a file names it
    ``autoattack-fast`` everywhere (cells, config, worst case, statistics, check names), so its report and the
    leaderboard name the variant that ran; a schema-7 file is left as it is."""
    old = {"schema_version": 6, "config": {"attack": {"attacks": ["fgsm"], "worst_case_attacks": ["autoattack", "square"]}},
           "attacks": {"cells": [{"attack": "autoattack", "eps": 0.1}, {"attack": "fgsm", "eps": 0.1}],
                       "worst_case": {"headline": {"headline_attacks": ["autoattack"], "cells": [{"kind": "autoattack"}]}}},
           "statistics": {"families": [{"attack": "autoattack"}]},
           "checks": [{"check": "AutoAttack ≥ PGD", "model": "m"}, {"check": "PGD ≥ I-FGSM", "model": "m"}]}
    read = with_current_names(old)
    assert json.dumps(read).count('"autoattack"') == 0 and json.dumps(read).count('"autoattack-fast"') == 5
    assert [c["attack"] for c in read["attacks"]["cells"]] == ["autoattack-fast", "fgsm"]
    assert read["checks"][0]["check"] == f"{attack_name('autoattack-fast')} ≥ PGD" and read["checks"][1]["check"] == "PGD ≥ I-FGSM"
    assert read["schema_version"] == 6 and old["attacks"]["cells"][0]["attack"] == "autoattack"  # a copy
    assert with_current_names({**old, "schema_version": SCHEMA_VERSION}) == {**old, "schema_version": SCHEMA_VERSION}
