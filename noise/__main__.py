"""``python -m noise``: only the label-noise benchmark, with run_all.py's configuration system.

    python -m noise                                    # the quick preset's noise section
    python -m noise --preset noise-grid                # the paper's whole grid
    python -m noise --levels 0.5 --methods erm mixup:32 dropout:0.8 --seeds 0 1
    python -m noise --specs pairflip:0.4 labels:cifar10n_worse.npy --levels

Precedence: preset < --config TOML (its [noise], [train] and [data] sections) < flags.
Writes <out>/<run-id>/results.json (attacks null, models empty), figures, report.md and report.html.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from robustness.cli import nest
from robustness.config import PRESETS, SuiteConfig, build_config, to_dict
from robustness.errors import SuiteError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m noise",
        description="Train every method of the noise grid on corrupted training labels and report Table 2 "
        "side by side with the paper, memorization curves and the realized noise. "
        "Precedence: preset < --config TOML < flags.",
    )
    p.add_argument("--preset", metavar="NAME", help=f"named configuration: {', '.join(PRESETS)} (default: quick)")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file whose keys override the preset")
    p.add_argument("--out", help="directory that receives <run-id>/ (default: reports)")
    p.add_argument("--run-id", help="name of the run directory (default: noise-<preset>-<date>-<time>)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto = CUDA when available (default: auto)")
    p.add_argument("--noise-model", metavar="NAME", help="the noise model applied at each --levels rate (default: uniform)")
    p.add_argument("--levels", type=float, nargs="*", metavar="P",
                   help="rates of --noise-model, e.g. 0 0.2 0.5 0.8 (give none to run only --specs)")
    p.add_argument("--specs", nargs="+", metavar="SPEC",
                   help="further noise specs: symmetric:P, pairflip:P, matrix:FILE, labels:FILE (.npy/.pt/.csv)")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="training methods: erm, dropout:P, mixup:ALPHA, mixup:ALPHA+dropout:P")
    p.add_argument("--seeds", type=int, nargs="+", metavar="N", help="one model per method, spec and seed")
    p.add_argument("--epochs", type=int, help="epochs of each run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def overrides(args: argparse.Namespace) -> dict:
    """The given flags as config overrides; the benchmark is always on here."""
    return nest({
        ("out",): args.out, ("device",): args.device, ("noise", "enabled"): True,
        ("noise", "noise_model"): args.noise_model, ("noise", "levels"): args.levels,
        ("noise", "specs"): args.specs, ("noise", "methods"): args.methods,
        ("noise", "seeds"): args.seeds, ("noise", "epochs"): args.epochs,
    })


def run(config: SuiteConfig, run_id: str | None = None, progress: bool = True):
    """Load the data, run the benchmark, write results.json and the report; returns the run directory."""
    from noise.benchmark import run_noise
    from robustness import data as datasets
    from robustness.report import build_report
    from robustness.results import SCHEMA_VERSION, environment, write_json
    from robustness.suite import open_run_dir, resolve_device

    device = resolve_device(config.device)
    started = time.perf_counter()
    split = datasets.load(config.data)
    timing = {"data": time.perf_counter() - started}
    run_dir = open_run_dir(config.out, f"noise-{config.preset}", run_id)
    clock = time.perf_counter()
    noise = run_noise(config, split, device, progress)
    timing["label_noise"] = time.perf_counter() - clock
    timing["total"] = time.perf_counter() - started
    results = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "config": to_dict(config),
        "environment": environment(device),
        "data": split.summary(),
        "models": {},  # no clean models and no attacks: a label-noise-only run
        "attacks": None,
        "diagnostics": None,
        "checks": [],
        "noise": noise,
        "timing": {"stages_s": timing, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    write_json(run_dir / "results.json", results)
    build_report(run_dir)
    return run_dir, results


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = build_config(args.preset, args.config, overrides(args))
        run_dir, results = run(config, args.run_id, progress=not args.quiet)
    except SuiteError as err:
        print(f"python -m noise: error: {err}", file=sys.stderr)
        return 2
    from noise.report import noise_headline

    print(f"report: {run_dir / 'report.md'} (and report.html)")
    for line in noise_headline(results):
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
