"""``python -m noise``: only the label-noise benchmark, through the same pipeline as run_all.py.

    python -m noise                                    # the quick preset's noise section
    python -m noise --preset noise-grid                # the paper's whole grid
    python -m noise --levels 0.5 --methods erm mixup:32 dropout:0.8 --seeds 0 1
    python -m noise --specs pairflip:0.4 labels:cifar10n_worse.npy --levels
    python -m noise --preset cifar10-fast --levels --specs labels:CIFAR-10_human.pt:worse_label --attack
    python -m noise --resume reports/noise-quick-20261125-120000   # finish an interrupted run

Precedence: preset < --config TOML (its [noise], [train] and [data] sections) < flags.
It runs ``robustness.suite.run_suite`` with only the label-noise stage enabled, so a run
writes config.json, holds the directory's lock, saves every finished model as a unit and
resumes from them. Writes <out>/<run-id>/results.json (attacks null, models empty),
figures, report.md and report.html.
"""

from __future__ import annotations

import argparse
import os
import sys

from robustness.cli import add_process_flags, add_run_flags, shared_overrides, start
from robustness.config import nest
from robustness.threads import passive_openmp

ONLY_NOISE = {("noise", "enabled"): True, ("clean", "enabled"): False, ("models",): []}  # the other stages off


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m noise",
        description="Train every method of the noise grid on corrupted training labels and report Table 2 "
        "side by side with the paper, memorization curves and the realized noise. "
        "Precedence: preset < --config TOML < flags.",
    )
    add_run_flags(p, run_id="noise-<preset>-<date>-<time>", reused="its finished runs")
    p.add_argument("--noise-model", metavar="NAME", help="the noise model applied at each --levels rate (default: uniform)")
    p.add_argument("--levels", type=float, nargs="*", metavar="P",
                   help="rates of --noise-model, e.g. 0 0.2 0.5 0.8 (give none to run only --specs)")
    p.add_argument("--specs", nargs="+", metavar="SPEC",
                   help="further noise specs: symmetric:P, pairflip:P, matrix:FILE, labels:FILE (.npy/.pt/.csv), "
                   "labels:FILE:KEY (a dict of label arrays, e.g. CIFAR-10_human.pt:worse_label)")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="training methods: erm, dropout:P, mixup:ALPHA, mixup:ALPHA+dropout:P")
    p.add_argument("--seeds", type=int, nargs="+", metavar="N", help="one model per method, spec and seed")
    p.add_argument("--epochs", type=int, help="epochs of each run")
    p.add_argument("--attack", action="store_true", default=None,
                   help="also attack every model white box with FGSM and PGD at the headline ε (noise.attack)")
    add_process_flags(p)
    return p


def overrides(args: argparse.Namespace) -> dict:
    """The given flags as config overrides, with only the label-noise stage on."""
    return nest(ONLY_NOISE | shared_overrides(args) | {
        ("noise", "noise_model"): args.noise_model, ("noise", "levels"): args.levels,
        ("noise", "specs"): args.specs, ("noise", "methods"): args.methods,
        ("noise", "seeds"): args.seeds, ("noise", "epochs"): args.epochs, ("noise", "attack"): args.attack,
    })


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return start(args, overrides(args), "python -m noise", prefix="noise-{preset}")


def with_passive_openmp() -> None:
    """``python -m noise`` imports the noise package, and so torch, before this file runs, too late for
    libgomp to read a wait policy: set it (robustness/threads.py) and start again, once (then it is set)."""
    if passive_openmp():
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


if __name__ == "__main__":
    with_passive_openmp()
    sys.exit(main())
