"""``python -m robustness report RUN_DIR``: rebuild figures and report from results.json alone.
``python -m robustness leaderboard FOLDER``: every model of every run under FOLDER on one HTML page."""

import argparse
import sys
from pathlib import Path

from robustness.errors import SuiteError
from robustness.leaderboard import build_leaderboard
from robustness.report import build_report
from robustness.results import has_marker, read_results, remove_stray_temps, write_marker
from robustness.suite import check_run_dir
from robustness.units import run_lock


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
        path = report(Path(args.run_dir))
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are replaced atomically: the old report, or the new one
        print("python -m robustness: interrupted; the run directory is unchanged apart from finished figures; "
              f"rerun python -m robustness report {args.run_dir}", file=sys.stderr)
        return 130
    print(f"report: {path}")
    return 0


def report(run_dir: Path) -> Path:
    """Rebuild a run's report. Only in a run directory this suite wrote: one with its marker, or (written before
    the marker existed) whose results.json passes the whole check, which then gets the marker."""
    if not has_marker(run_dir):
        read_results(run_dir)  # one line naming what is missing or the first bad field; nothing written yet
    check_run_dir(run_dir, "pass a run directory written by run_all.py")
    with run_lock(run_dir):  # first: a run that holds the directory may not have written results.json yet
        write_marker(run_dir)
        remove_stray_temps(run_dir)
        return build_report(run_dir)


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
