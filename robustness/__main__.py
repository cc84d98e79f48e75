"""``python -m robustness report RUN_DIR``: rebuild figures and report from results.json alone."""

import argparse
import sys

from robustness.errors import SuiteError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m robustness")
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="rebuild figures, report.md and report.html of a run from its results.json")
    rep.add_argument("run_dir")
    args = p.parse_args(argv)
    from robustness.report import build_report

    try:
        path = build_report(args.run_dir)
    except SuiteError as err:
        print(f"python -m robustness: error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
