"""The clean models: each model's test error, under a warning for any model near chance."""

from __future__ import annotations

from robustness.formatting import pct
from robustness.report.readings import chance_warnings


def clean_blocks(results: dict) -> list:
    rows = [[name, rec["display"], "–" if rec["seed"] is None else rec["seed"], pct(rec["clean_error"])] for name, rec in results["models"].items()]
    warnings = [("p", f"**Warning**: {line}.") for line in chance_warnings(results)]
    return [("h2", "Clean models"), *warnings, ("table", ["model", "method", "seed", "test error (%)"], rows)]
