"""results.json's records (robustness/records.py) are what docs/results.md says they are, and what runs write."""

import json
import re
from pathlib import Path

import pytest

from robustness.records import ModelRecord, NoiseRunRecord

ROOT = Path(__file__).resolve().parents[1]


def documented_keys(heading: str) -> list[str]:
    """The backticked keys of the first table after ``heading`` in docs/results.md."""
    text = (ROOT / "docs" / "results.md").read_text()
    section = text[text.index(heading):]
    table = re.search(r"\| key \| what \|\n.*?\n((?:\s*\|.*\|\n)+)", section).group(1)
    return [re.match(r"\s*\| `([^`]+)` \|", row).group(1) for row in table.strip("\n").split("\n")]


@pytest.mark.parametrize("heading, record_type", [("## `models.<name>`", ModelRecord), ("- `runs`: one record", NoiseRunRecord)])
def test_docs_list_exactly_the_record_keys(heading, record_type):
    assert sorted(documented_keys(heading)) == sorted(record_type.__required_keys__)


def test_a_run_writes_records_with_exactly_those_keys(small_run):
    results = json.loads((small_run / "results.json").read_text())
    for record in results["models"].values():
        assert set(record) == set(ModelRecord.__required_keys__)
    for run in results["noise"]["runs"]:
        assert set(run) == set(NoiseRunRecord.__required_keys__)
    mixup = next(r for r in results["models"].values() if r["family"] == "mixup")
    assert mixup["params"] == {"mixup_alpha": 1.0} and "alpha" not in mixup
