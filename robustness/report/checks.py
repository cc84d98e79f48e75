"""The sanity checks (attacks/checks.py): every check of every model, warnings first in the verdict."""

from __future__ import annotations

from robustness.report.numbers import threat


def checks_blocks(results: dict) -> list:
    checks = results["checks"]
    warns = [c for c in checks if c["status"] == "warn"]
    rows = [[c["model"], c["check"], c["status"].upper(), c["detail"], c["likely_cause"]] for c in checks]
    verdict = (f"**{len(warns)} warning(s)**: treat the affected robustness numbers with care."
               if warns else f"All {len(checks)} checks pass.")
    return [("h2", f"Sanity checks ({threat(results)})"), ("p", verdict),
            ("table", ["model", "check", "status", "detail", "likely cause"], rows)]
