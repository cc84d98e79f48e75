"""``python -m robustness report RUN_DIR``: rebuild figures and report from results.json alone.
``python -m robustness leaderboard FOLDER``: every model of every run under FOLDER on one HTML page."""

import argparse
import sys
from pathlib import Path

from robustness.errors import SuiteError
from robustness.leaderboard import build_leaderboard
from robustness.report import build_report
from robustness.results import remove_stray_temps
from robustness.units import LOCK_NAME, run_lock


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustness")
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="rebuild figures, report.md and report.html of a run from its results.json")
    rep.add_argument("run_dir")
    board = sub.add_parser("leaderboard", help="one self-contained, sortable HTML page comparing every model of every "
                           "run under a folder")
    board.add_argument("root", help="the folder that holds the runs, e.g. reports")
    board.add_argument("--out", help="where to write the page (default: ROOT/leaderboard.html)")
    args = p.parse_args(argv)
    if args.command == "leaderboard":
        return leaderboard(args.root, args.out)
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


def leaderboard(root: str, out: str | None) -> int:
    try:
        path = build_leaderboard(root, out)
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    print(f"leaderboard: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
