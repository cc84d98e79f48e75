"""``python -m robustness report RUN_DIR``: rebuild figures and report from results.json alone."""

import argparse
import sys
from pathlib import Path

from robustness.errors import SuiteError
from robustness.report import build_report
from robustness.results import remove_stray_temps
from robustness.units import LOCK_NAME, run_lock


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustness")
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="rebuild figures, report.md and report.html of a run from its results.json")
    rep.add_argument("run_dir")
    args = p.parse_args(argv)
    try:
        run_dir = Path(args.run_dir)
        if not ((run_dir / "results.json").is_file() or (run_dir / LOCK_NAME).is_file()):
            raise SuiteError(f"{run_dir / 'results.json'} does not exist; pass a run directory written by run_all.py")
        with run_lock(run_dir):  # first: a run that holds the directory may not have written results.json yet
            remove_stray_temps(run_dir)
            path = build_report(run_dir)
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
